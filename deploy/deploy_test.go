package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"mypt/adapters/sqlite"
	"mypt/portal"
)

// tool returns the path of a command the deploy checks need, failing (never
// skipping) when it is missing: scripts/test installs it.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found (Debian package %s): run ./scripts/test, which installs it", name, pkg)
	}
	return path
}

func run(t *testing.T, stdin []byte, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPromtoolCheckRules(t *testing.T) {
	t.Parallel()
	out := run(t, nil, tool(t, "promtool", "prometheus"), "check", "rules", "prometheus/alerts.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules:\n%s", out)
	}
}

func TestPromtoolTestRulesFiresEveryAlert(t *testing.T) {
	t.Parallel()
	run(t, nil, tool(t, "promtool", "prometheus"), "test", "rules", "prometheus/alerts_test.yml")

	// Every alert has a test case in which it fires.
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, "prometheus/alerts_test.yml", &tests)
	fired := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fired[a.Alertname] = true
			}
		}
	}
	for _, r := range alertRules(t) {
		if !fired[r.Alert] {
			t.Errorf("alert %s is never shown firing in alerts_test.yml", r.Alert)
		}
	}
}

func TestPromtoolCheckConfig(t *testing.T) {
	t.Parallel()
	run(t, nil, tool(t, "promtool", "prometheus"), "check", "config", "prometheus/prometheus.yml")
}

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func alertRules(t *testing.T) []alertRule {
	t.Helper()
	var f struct {
		Groups []struct {
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, "prometheus/alerts.yml", &f)
	var rules []alertRule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

func TestAlertRulesCoverTheBriefAndUsePlanMetrics(t *testing.T) {
	t.Parallel()
	rules := alertRules(t)
	var names []string
	for _, r := range rules {
		names = append(names, r.Alert)
		if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("%s: needs a severity label and summary and description annotations", r.Alert)
		}
		if rb := r.Annotations["runbook"]; rb != "docs/operations.md#"+strings.ToLower(r.Alert) {
			t.Errorf("%s: runbook annotation %q, want the alert's section in docs/operations.md", r.Alert, rb)
		}
		checkPromQL(t, r.Alert, r.Expr, []string{"up", "probe_success"})
	}
	for _, want := range []string{
		"MyptSyncStale", "MyptSyncFailing", "MyptSyncRowsRejected", "MyptPushRowsRejected",
		"MyptMailboxDisconnected", "MyptOutboxBacklog", "MyptUnusualLockoutRate", "MyptReadinessFailing",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("alerts.yml has no %s", want)
		}
	}
	// The operations guide has a section for each alert.
	guide, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatalf("the operations guide: %v", err)
	}
	for _, n := range names {
		if !bytes.Contains(guide, []byte("### "+n)) {
			t.Errorf("docs/operations.md has no \"### %s\" section", n)
		}
	}
}

var (
	selectorRE  = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}`)
	myptNameRE  = regexp.MustCompile(`\bmypt_[a-z0-9_]+`)
	matcherRE   = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	groupingRE  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	commonLabel = []string{"instance", "job", "le", "__name__"}
)

// checkPromQL fails t when expr names a metric outside the plan (or extra),
// matches a label the metric does not have, or matches a label value the
// component never exports.
func checkPromQL(t *testing.T, where, expr string, extra []string) {
	t.Helper()
	for _, p := range promQLProblems(expr, extra) {
		t.Errorf("%s: %s", where, p)
	}
}

func promQLProblems(expr string, extra []string) []string {
	var problems []string
	errorf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	used := map[string]planMetric{}
	for _, name := range myptNameRE.FindAllString(expr, -1) {
		m, ok := planMetricByName(name)
		if !ok {
			errorf("%s is not a metric in the plan", name)
			continue
		}
		used[name] = m
	}
	for _, sel := range selectorRE.FindAllStringSubmatch(expr, -1) {
		name := sel[1]
		m, ok := used[name]
		if !ok {
			if !slices.Contains(extra, name) {
				errorf("selector on %s, which is neither a plan metric nor one of %v", name, extra)
			}
			continue
		}
		for _, mt := range matcherRE.FindAllStringSubmatch(sel[2], -1) {
			label, op, value := mt[1], mt[2], mt[3]
			if !slices.Contains(m.labels, label) && !slices.Contains(commonLabel, label) {
				errorf("%s has no label %q", name, label)
				continue
			}
			known := m.values[label]
			if known == nil || strings.Contains(value, "$") { // free-form, or a Grafana variable
				continue
			}
			vals := []string{value}
			if op == "=~" || op == "!~" {
				vals = strings.Split(value, "|")
			}
			for _, v := range vals {
				if !slices.Contains(known, v) {
					errorf("%s{%s%s%q}: %q is not one of %v", name, label, op, value, v, known)
				}
			}
		}
	}
	var allowed []string
	allowed = append(allowed, commonLabel...)
	for _, m := range used {
		allowed = append(allowed, m.labels...)
	}
	for _, g := range groupingRE.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" && !slices.Contains(allowed, l) {
				errorf("groups by %q, a label none of its metrics has", l)
			}
		}
	}
	return problems
}

func TestPromQLChecker(t *testing.T) {
	t.Parallel()
	// The checker itself must catch the mistakes it exists for.
	for _, bad := range []string{
		`mypt_sync_pass_total`,                          // misspelt
		`mypt_sync_passes_total{result="failed"}`,       // value never exported
		`sum by (entiy) (mypt_sync_passes_total)`,       // label typo
		`mypt_outbox_pending{transport="smtp"}`,         // label the gauge lacks
		`node_load1{job="x"}`,                           // foreign metric
		`mypt_signins_total{result=~"failure|blocked"}`, // one regex value unknown
	} {
		if len(promQLProblems(bad, nil)) == 0 {
			t.Errorf("checkPromQL accepted %s", bad)
		}
	}
}

// exposition builds a registry the way cmd/mypt does (portal.NewRegistry with
// build info, Go and process collectors; the HTTP metrics; the cache size
// collector on a real file) and adds the remaining plan metrics with every
// known label value at 0, as their components do at start-up (PM-2).
func exposition(t *testing.T) []byte {
	t.Helper()
	reg := portal.NewRegistry("v0.0.0-test")
	httpm := portal.NewHTTPMetrics(reg)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	httpm.InstrumentHandler(portal.ListenerPublic, "/students/:id/attendance", ok).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/students/123/attendance", nil))
	httpm.InstrumentHandler(portal.ListenerInternal, "/metrics", ok)

	db := filepath.Join(t.TempDir(), "mypt.db")
	if err := os.WriteFile(db, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(sqlite.NewSizeCollector(db))

	for _, m := range planMetrics {
		switch m.name {
		case "mypt_build_info", "mypt_http_requests_total", "mypt_http_request_duration_seconds", "mypt_cache_size_bytes":
			continue // registered above by their real code
		}
		help := "Plan metric " + m.name + " as its component exports it."
		combos := labelCombos(m)
		switch m.typ {
		case "counter":
			v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: m.name, Help: help}, m.labels)
			reg.MustRegister(v)
			for _, c := range combos {
				v.WithLabelValues(c...)
			}
		case "gauge":
			v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: m.name, Help: help}, m.labels)
			reg.MustRegister(v)
			for _, c := range combos {
				v.WithLabelValues(c...)
			}
		case "histogram":
			v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: m.name, Help: help}, m.labels)
			reg.MustRegister(v)
			for _, c := range combos {
				v.WithLabelValues(c...)
			}
		default:
			t.Fatalf("%s: unknown type %s", m.name, m.typ)
		}
	}

	// Scrape it the way Prometheus does, through the /metrics handler.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	portal.MetricsHandler(reg).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	return rec.Body.Bytes()
}

// labelCombos lists every combination of the known label values (free-form
// labels get one placeholder value).
func labelCombos(m planMetric) [][]string {
	combos := [][]string{{}}
	for _, l := range m.labels {
		vals := m.values[l]
		if vals == nil {
			vals = []string{"example"}
		}
		var next [][]string
		for _, c := range combos {
			for _, v := range vals {
				next = append(next, append(slices.Clone(c), v))
			}
		}
		combos = next
	}
	return combos
}

func TestPromtoolCheckMetrics(t *testing.T) {
	t.Parallel()
	text := exposition(t)
	promtool := tool(t, "promtool", "prometheus")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	for _, m := range planMetrics {
		if !bytes.Contains(text, []byte("# TYPE "+m.name+" "+m.typ+"\n")) {
			t.Errorf("exposition has no %s of type %s", m.name, m.typ)
		}
	}
}

func TestDashboardUsesOnlyPlanMetrics(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("grafana/dashboards/mypt.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if dash["uid"] == "" || dash["title"] == "" {
		t.Fatal("dashboard needs a uid and a title")
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "definition") {
					exprs = append(exprs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(dash)
	if len(exprs) < 20 {
		t.Fatalf("only %d queries in the dashboard", len(exprs))
	}
	seen := map[string]bool{}
	for i, e := range exprs {
		checkPromQL(t, fmt.Sprintf("dashboard query %d", i), e, nil)
		for _, n := range myptNameRE.FindAllString(e, -1) {
			if m, ok := planMetricByName(n); ok {
				seen[m.name] = true
			}
		}
	}
	for _, m := range planMetrics {
		if !seen[m.name] {
			t.Errorf("no dashboard panel shows %s", m.name)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestComposeFile(t *testing.T) {
	t.Parallel()
	var compose struct {
		Services map[string]struct {
			Image   string   `yaml:"image"`
			Volumes []string `yaml:"volumes"`
			Build   *struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
		} `yaml:"services"`
	}
	readYAML(t, "compose.yaml", &compose)
	for _, s := range []string{"mypt", "mssql", "mssql-init", "dovecot", "mailpit", "prometheus", "grafana", "blackbox"} {
		if _, ok := compose.Services[s]; !ok {
			t.Errorf("compose.yaml has no %s service", s)
		}
	}
	if b := compose.Services["mypt"].Build; b == nil || b.Dockerfile != "deploy/Dockerfile" || b.Context != ".." {
		t.Errorf("mypt service must build deploy/Dockerfile from the repository root, got %+v", b)
	}
	if img := compose.Services["mssql"].Image; !strings.Contains(img, "mssql/server:2022") {
		t.Errorf("mssql image %q, want SQL Server 2022", img)
	}
	// Every file bind-mounted from deploy/ exists (deploy/mssql is the mssql
	// engineer's and may not be merged yet).
	for name, s := range compose.Services {
		for _, v := range s.Volumes {
			src := strings.SplitN(v, ":", 2)[0]
			if !strings.HasPrefix(src, "./") || src == "./mssql" {
				continue
			}
			if _, err := os.Stat(src); err != nil {
				t.Errorf("service %s mounts %s: %v", name, src, err)
			}
		}
	}
}

func TestComposeDovecotConfig(t *testing.T) {
	t.Parallel()
	doveconf := tool(t, "doveconf", "dovecot-imapd")
	out := run(t, nil, doveconf, "-c", "compose/dovecot/dovecot.conf", "-n")
	for _, want := range []string{"protocols = imap", "passdb {", `mailbox "Needs review"`} {
		if !strings.Contains(out, want) {
			t.Errorf("doveconf -n lacks %q:\n%s", want, out)
		}
	}
}

func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	var kust struct {
		Resources []string `yaml:"resources"`
	}
	readYAML(t, "k8s/kustomization.yaml", &kust)
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		if !slices.Contains(kust.Resources, filepath.Base(f)) {
			t.Errorf("%s is not listed in kustomization.yaml", f)
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); err != nil {
				if err.Error() == "EOF" {
					break
				}
				t.Fatalf("%s: %v", f, err)
			}
			if doc == nil {
				continue
			}
			kind, _ := doc["kind"].(string)
			meta, _ := doc["metadata"].(map[string]any)
			if doc["apiVersion"] == nil || kind == "" || meta["name"] == nil {
				t.Errorf("%s: a document lacks apiVersion, kind or metadata.name", f)
			}
			kinds[kind]++
			if kind == "Deployment" {
				spec := doc["spec"].(map[string]any)
				if spec["replicas"] != 1 {
					t.Errorf("%s: replicas = %v, want exactly 1 (single SQLite writer)", f, spec["replicas"])
				}
				if st, _ := spec["strategy"].(map[string]any); st["type"] != "Recreate" {
					t.Errorf("%s: strategy %v, want Recreate so two pods never share the cache", f, spec["strategy"])
				}
				if !bytes.Contains(raw, []byte("single")) || !bytes.Contains(raw, []byte("writer")) {
					t.Errorf("%s: the comment saying why there is one replica is missing", f)
				}
			}
		}
	}
	for _, k := range []string{"Deployment", "PersistentVolumeClaim", "Service", "ServiceMonitor"} {
		if kinds[k] == 0 {
			t.Errorf("no %s among the manifests", k)
		}
	}
}

func TestSystemdUnits(t *testing.T) {
	t.Parallel()
	unit, err := os.ReadFile("systemd/mypt.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"User=mypt", "ProtectSystem=strict", "NoNewPrivileges=yes", "StateDirectory=mypt",
		"PrivateTmp=yes", "CapabilityBoundingSet=\n", "ProtectHome=yes", "RestrictAddressFamilies="} {
		if !bytes.Contains(unit, []byte(d)) {
			t.Errorf("mypt.service lacks %q", strings.TrimSpace(d))
		}
	}
	// systemd-analyze verify checks every directive; the binary is not
	// installed here, so the units are verified with /bin/true in its place.
	analyze := tool(t, "systemd-analyze", "systemd")
	dir := t.TempDir()
	var paths []string
	for _, name := range []string{"mypt.service", "mypt-backup.service", "mypt-backup.timer"} {
		raw, err := os.ReadFile(filepath.Join("systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bytes.ReplaceAll(raw, []byte("/usr/local/bin/mypt"), []byte("/bin/true")), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	cmd := exec.Command(analyze, append([]string{"verify"}, paths...)...)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=warning")
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	if strings.Count(s, "\nFROM ") < 2 {
		t.Error("Dockerfile is not multi-stage")
	}
	for _, want := range []string{"CGO_ENABLED=0", "USER 65532", "./cmd/mypt", "distroless/static"} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}
