package portal

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// scrape serves g through MetricsHandler and returns the exposition text.
func scrape(t *testing.T, g prometheus.Gatherer) string {
	t.Helper()
	rec := httptest.NewRecorder()
	MetricsHandler(g).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// seriesWithPrefix returns the sample lines of text whose metric name starts with prefix.
func seriesWithPrefix(text, prefix string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return out
}

func TestNewRegistryTwiceHasBuildInfoAndRuntimeCollectors(t *testing.T) {
	t.Parallel()
	for i := range 2 { // PM-1: building twice must not panic or share state
		reg := NewRegistry("1.2.3")
		text := scrape(t, reg)
		want := fmt.Sprintf(`mypt_build_info{goversion=%q,version="1.2.3"} 1`, runtime.Version())
		if !strings.Contains(text, want) {
			t.Fatalf("registry %d: exposition lacks %s:\n%s", i, want, text)
		}
		for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes"} {
			if len(seriesWithPrefix(text, name)) == 0 {
				t.Errorf("registry %d: no %s series", i, name)
			}
		}
		if runtime.GOOS == "linux" && len(seriesWithPrefix(text, "process_resident_memory_bytes")) == 0 {
			t.Errorf("registry %d: no process collector series", i)
		}
	}
}

func TestBuildInfoEmptyVersionFallsBack(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewBuildInfoCollector(""))
	text := scrape(t, reg)
	if !strings.Contains(text, `version="`) || strings.Contains(text, `version=""`) {
		t.Fatalf("empty version not replaced:\n%s", text)
	}
}

func TestNewHTTPMetricsTwiceOnOneRegistryReusesCollectors(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	a := NewHTTPMetrics(reg)
	b := NewHTTPMetrics(reg) // PM-1: would panic with promauto/MustRegister
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	a.InstrumentHandler(ListenerPublic, "/login", ok).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/login", nil))
	b.InstrumentHandler(ListenerInternal, "/healthz", ok).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
	if got := testutil.ToFloat64(a.requests.WithLabelValues(ListenerInternal, "/healthz", "GET", "2xx")); got != 1 {
		t.Fatalf("second HTTPMetrics does not share the registered counter: got %v", got)
	}
	// Both registries' worth of metrics are gathered without a duplicate error.
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}

func TestInstrumentHandlerLabels(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := NewHTTPMetrics(reg)
	cases := []struct {
		name       string
		method     string
		handler    http.HandlerFunc
		wantMethod string
		wantCode   string
	}{
		{"implicit 200 on write", "GET", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }, "GET", "2xx"},
		{"no write at all is 200", "POST", func(w http.ResponseWriter, r *http.Request) {}, "POST", "2xx"},
		{"redirect", "POST", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/", http.StatusSeeOther) }, "POST", "3xx"},
		{"not found", "GET", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, "GET", "4xx"},
		{"server error", "GET", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, "GET", "5xx"},
		{"only first status counts", "GET", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404); w.WriteHeader(500) }, "GET", "4xx"},
		{"odd method is other", "BREW", func(w http.ResponseWriter, r *http.Request) {}, "other", "2xx"},
	}
	for i, c := range cases {
		route := fmt.Sprintf("/case/%d", i)
		h := m.InstrumentHandler(ListenerPublic, route, c.handler)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(c.method, route, nil))
		if got := testutil.ToFloat64(m.requests.WithLabelValues(ListenerPublic, route, c.wantMethod, c.wantCode)); got != 1 {
			t.Errorf("%s: %s/%s counter = %v, want 1", c.name, c.wantMethod, c.wantCode, got)
		}
	}
	if n := testutil.CollectAndCount(m.duration); n != len(cases) {
		t.Errorf("duration histograms = %d, want one per route (%d)", n, len(cases))
	}
}

func TestInstrumentHandlerCountsPanicAs5xx(t *testing.T) {
	t.Parallel()
	m := NewHTTPMetrics(prometheus.NewRegistry())
	h := m.InstrumentHandler(ListenerPublic, "/boom", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("boom")
	}))
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic was swallowed; net/http must still see it")
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/boom", nil))
	}()
	if got := testutil.ToFloat64(m.requests.WithLabelValues(ListenerPublic, "/boom", "GET", "5xx")); got != 1 {
		t.Fatalf("panicking request counted %v times as 5xx", got)
	}
}

func TestInstrumentHandlerKeepsFlusher(t *testing.T) {
	t.Parallel()
	m := NewHTTPMetrics(prometheus.NewRegistry())
	var flushErr error
	h := m.InstrumentHandler(ListenerInternal, "/stream", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		flushErr = http.NewResponseController(w).Flush()
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/stream", nil))
	if flushErr != nil {
		t.Fatalf("Flush through the instrumented writer: %v", flushErr)
	}
}

// newTestRouter builds a router the way the portal does: every route through
// HTTPMetrics, and the not-found and method-not-allowed answers instrumented
// under fixed route labels.
func newTestRouter(m *HTTPMetrics) *httprouter.Router {
	r := httprouter.New()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(httprouter.ParamsFromContext(r.Context()).ByName("id"), "x") {
			http.NotFound(w, r) // a student the account may not see
			return
		}
		io.WriteString(w, "ok")
	})
	m.Handle(r, ListenerPublic, "GET", "/students/:id/attendance", ok)
	m.Handle(r, ListenerPublic, "GET", "/students/:id/documents/:doc", ok)
	m.Handle(r, ListenerPublic, "GET", "/verify-email", ok)
	m.Handle(r, ListenerPublic, "POST", "/verify-email", ok)
	m.Handle(r, ListenerPublic, "GET", "/reset-password", ok)
	r.NotFound = m.InstrumentHandler(ListenerPublic, RouteNotFound, http.HandlerFunc(http.NotFound))
	r.MethodNotAllowed = m.InstrumentHandler(ListenerPublic, RouteMethodNotAllowed, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}))
	return r
}

func TestRandomIDsAndTokensAddNoSeries(t *testing.T) {
	t.Parallel()
	reg := NewRegistry("test")
	m := NewHTTPMetrics(reg)
	router := newTestRouter(m)
	before := seriesWithPrefix(scrape(t, reg), "mypt_http_")
	if len(before) == 0 {
		t.Fatal("no mypt_http_ series exported before the first request (PM-2)")
	}

	rng := rand.New(rand.NewPCG(7, 7))
	token := func() string {
		const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
		b := make([]byte, 8+rng.IntN(40))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	var used []string
	for i := range 10_000 {
		id, tok := token(), token()
		if i%100 == 0 {
			used = append(used, id, tok)
		}
		var method, target string
		switch i % 7 {
		case 0:
			method, target = "GET", "/students/"+id+"/attendance?year="+tok
		case 1:
			method, target = "GET", "/students/"+id+"x/attendance" // 404 from the handler
		case 2:
			method, target = "GET", "/students/"+id+"/documents/"+tok
		case 3:
			method, target = "GET", "/verify-email?token="+tok
		case 4:
			method, target = "POST", "/verify-email?token="+tok
		case 5:
			method, target = "GET", "/"+id+"/"+tok // no such route
		case 6:
			method, target = "POST", "/reset-password?token="+tok // 405
		}
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
		if i%7 == 6 && rec.Code != http.StatusMethodNotAllowed {
			t.Fatalf("%s %s = %d, want 405", method, target, rec.Code)
		}
	}

	text := scrape(t, reg)
	after := seriesWithPrefix(text, "mypt_http_")
	if len(after) != len(before) {
		t.Fatalf("10,000 requests changed the mypt_http_ series count from %d to %d", len(before), len(after))
	}
	for _, s := range used {
		if strings.Contains(text, s) {
			t.Fatalf("exposition carries a request id or token %q", s)
		}
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues(ListenerPublic, "/students/:id/attendance", "GET", "2xx")); got < 1000 {
		t.Fatalf("attendance 2xx = %v, want ~1429", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues(ListenerPublic, RouteNotFound, "GET", "4xx")); got < 1000 {
		t.Fatalf("not_found 4xx = %v, want ~1429", got)
	}
}

func TestMetricsHandlerServesDespiteBrokenCollector(t *testing.T) {
	t.Parallel()
	reg := NewRegistry("test")
	reg.MustRegister(brokenCollector{})
	rec := httptest.NewRecorder()
	MetricsHandler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte("mypt_build_info")) {
		t.Fatalf("GET /metrics with one failing collector = %d:\n%s", rec.Code, rec.Body)
	}
}

type brokenCollector struct{}

var brokenDesc = prometheus.NewDesc("mypt_test_broken", "A collector that always fails.", nil, nil)

func (brokenCollector) Describe(ch chan<- *prometheus.Desc) { ch <- brokenDesc }
func (brokenCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(brokenDesc, fmt.Errorf("always broken"))
}
