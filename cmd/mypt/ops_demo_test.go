package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"mypt/portal"
)

// TestDemoMetricsAndHealth scrapes the running demo's internal listener: the
// exposition passes promtool check metrics, carries no email, password, token
// or student id among its labels after parents' pages were requested, and
// /healthz and /readyz answer in their JSON shapes.
func TestDemoMetricsAndHealth(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found (Debian package prometheus): run ./scripts/test, which installs it")
	}
	lines, publicURL, internalURL := startDemo(t, 10)

	var secrets []string // what must never appear in /metrics
	for _, l := range lines {
		f := strings.Fields(l)
		switch {
		case len(f) == 4 && f[0] == "login":
			secrets = append(secrets, f[1], f[2])
			for _, id := range strings.Split(f[3], ",") {
				secrets = append(secrets, id)
				// Parents' pages by raw path, signed out: the route label must stay the pattern.
				for _, p := range []string{"/students/" + id + "/attendance?year=2018", "/students/" + id + "/documents/x"} {
					resp, err := http.Get(publicURL + p)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
				}
			}
		case len(f) == 3 && f[0] == "push":
			secrets = append(secrets, f[2])
		}
	}
	if len(secrets) == 0 {
		t.Fatalf("the demo printed no logins: %q", lines)
	}

	get := func(path string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(internalURL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}

	code, text := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", code)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics on the demo's /metrics: %v\n%s", err, out)
	}
	// Only label text: a sample value may happen to equal a numeric id.
	var labels strings.Builder
	for _, line := range strings.Split(string(text), "\n") {
		if open, end := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}'); !strings.HasPrefix(line, "#") && open >= 0 && end > open {
			labels.WriteString(line[open:end+1] + "\n")
		}
	}
	for _, s := range secrets {
		if strings.Contains(labels.String(), s) {
			t.Errorf("a /metrics label carries %q (an email, password, token or student id)", s)
		}
	}
	for _, want := range []string{"mypt_build_info{", `mypt_http_requests_total{code="2xx",listener="public",method="GET",route="/students/:id/attendance"}`, "go_goroutines ", "process_start_time_seconds "} {
		if !bytes.Contains(text, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	if code, body := get("/healthz"); code != http.StatusOK || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
		t.Errorf("GET /healthz = %d %s", code, body)
	}
	code, body := get("/readyz")
	var ready portal.ReadyzResponse
	if err := json.Unmarshal(body, &ready); err != nil {
		t.Fatalf("GET /readyz body %q: %v", body, err)
	}
	if code != http.StatusOK || ready.Status != "ready" || len(ready.Checks) == 0 {
		t.Errorf("GET /readyz = %d %+v", code, ready)
	}
}
