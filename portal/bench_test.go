package portal

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAttendancePage measures the attendance page of a signed-in parent at 64 concurrent
// connections beside a static 5 KB HTML page on the same router (and middleware), in the
// same run, and prints both rates, their p99 latencies and the ratio (goal ≥ 0.4).
func BenchmarkAttendancePage(b *testing.B) {
	h := newHarness(b, func(o *Options) { o.Portal.InsecureCookies = true; o.AuditFlushInterval = 200 * time.Millisecond })
	// The static page: 5 KB of HTML on the public router, behind the same middleware and served
	// the way handleStatic serves the stylesheet.
	router := h.srv.routesPublic()
	staticPage := staticHTML(5 << 10)
	h.srv.handle(router, ListenerPublic, "GET", "/bench/static-5k", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		http.ServeContent(w, r, "static-5k.html", startTime, bytes.NewReader(staticPage))
	}))
	ts := httptest.NewServer(h.srv.publicHandler(router))
	defer ts.Close()
	const conns = 64
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// Sign in once over the benchmark server; every worker shares the session cookie.
	h.ts = ts
	c := h.client()
	if r := h.login(c, parentEmail, parentPass); r.StatusCode != http.StatusSeeOther {
		b.Fatalf("sign in: %d", r.StatusCode)
	}
	u, _ := url.Parse(ts.URL)
	var cookie *http.Cookie
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "mypt_session" {
			cookie = ck
		}
	}
	if cookie == nil {
		b.Fatal("no session cookie")
	}

	type result struct {
		n       int
		elapsed time.Duration
		lat     []time.Duration
		size    int
	}
	measure := func(path string, withCookie bool, d time.Duration, into *result) {
		var (
			n       atomic.Int64
			mu      sync.Mutex
			wg      sync.WaitGroup
			failed  atomic.Value
			bodyLen atomic.Int64
		)
		deadline := time.Now().Add(d)
		start := time.Now()
		for i := 0; i < conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				local := make([]time.Duration, 0, 4096)
				for time.Now().Before(deadline) {
					req, _ := http.NewRequest("GET", ts.URL+path, nil)
					if withCookie {
						req.AddCookie(cookie)
					}
					t0 := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						failed.Store(err.Error())
						return
					}
					m, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						failed.Store(fmt.Sprintf("%s: status %d", path, resp.StatusCode))
						return
					}
					local = append(local, time.Since(t0))
					bodyLen.Store(m)
					n.Add(1)
				}
				mu.Lock()
				into.lat = append(into.lat, local...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		if f := failed.Load(); f != nil {
			b.Fatal(f)
		}
		into.elapsed += time.Since(start)
		into.n += int(n.Load())
		into.size = int(bodyLen.Load())
	}
	summary := func(r *result) (rate float64, p99 time.Duration) {
		slices.Sort(r.lat)
		if len(r.lat) > 0 {
			p99 = r.lat[len(r.lat)*99/100]
		}
		return float64(r.n) / r.elapsed.Seconds(), p99
	}

	const staticPath = "/bench/static-5k"
	page := "/students/" + seedStudent + "/attendance?year=2018"
	if p := os.Getenv("BENCH_PAGE"); p != "" {
		page = p
	}
	var warm, static, attendance result
	measure(page, true, 300*time.Millisecond, &warm) // warm the page cache and connections
	measure(staticPath, false, 300*time.Millisecond, &warm)
	b.ResetTimer()
	// Interleave the two so that load from elsewhere on the machine hits both alike.
	for round := 0; round < 3; round++ {
		measure(staticPath, false, time.Second, &static)
		measure(page, true, time.Second, &attendance)
	}
	b.StopTimer()
	staticRate, staticP99 := summary(&static)
	pageRate, pageP99 := summary(&attendance)
	staticSize, pageSize := static.size, attendance.size
	ratio := pageRate / staticRate
	b.ReportMetric(staticRate, "static_req/s")
	b.ReportMetric(pageRate, "attendance_req/s")
	b.ReportMetric(ratio, "ratio")
	b.Logf("static %d B: %.0f req/s, p99 %s", staticSize, staticRate, staticP99)
	b.Logf("attendance %d B: %.0f req/s, p99 %s", pageSize, pageRate, pageP99)
	b.Logf("ratio attendance/static = %.2f (goal ≥ 0.4)", ratio)
	fmt.Printf("BenchmarkAttendancePage: static %d B %.0f req/s p99 %s; attendance %d B %.0f req/s p99 %s; ratio %.2f\n",
		staticSize, staticRate, staticP99, pageSize, pageRate, pageP99, ratio)
}

// staticHTML is an HTML page of exactly n bytes.
func staticHTML(n int) []byte {
	head := "<!doctype html>\n<html lang=\"en-GB\"><head><meta charset=\"utf-8\"><title>Static</title></head><body>\n"
	tail := "</body></html>\n"
	var b bytes.Buffer
	b.WriteString(head)
	for b.Len()+len(tail) < n {
		line := "<p>Attendance is the sessions attended out of the sessions that count.</p>\n"
		if rest := n - len(tail) - b.Len(); rest < len(line) {
			line = strings.Repeat(" ", rest)
		}
		b.WriteString(line)
	}
	b.WriteString(tail)
	return b.Bytes()
}
