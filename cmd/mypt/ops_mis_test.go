package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt"
	"mypt/adapters/mssql"
	"mypt/adapters/mssql/mssqltest"
	"mypt/adapters/sqlite"
	"mypt/config"
	"mypt/portal"
	"mypt/syncer"
)

// switchProxy forwards TCP connections to target while up; going down cuts
// every open connection and refuses new ones (accepted, then closed at once),
// as when the MIS server or the network path to it goes away.
type switchProxy struct {
	ln     net.Listener
	target string
	up     atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

func newSwitchProxy(t *testing.T, target string) *switchProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &switchProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.up.Store(true)
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.setUp(false) })
	return p
}

func (p *switchProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // listener closed at cleanup
		}
		if !p.up.Load() {
			c.Close()
			continue
		}
		go p.forward(c)
	}
}

func (p *switchProxy) forward(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(s, c); done <- struct{}{} }()
	go func() { io.Copy(c, s); done <- struct{}{} }()
	<-done
	c.Close()
	s.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

func (p *switchProxy) setUp(up bool) {
	p.up.Store(up)
	if up {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// contractMIS is a TDS test server (TLS offered) with the contract's tables holding rows,
// closed when the test ends.
func contractMIS(t *testing.T, ctx context.Context, rows []mypt.Row) *mssqltest.Server {
	t.Helper()
	srv, err := mssqltest.New(mssqltest.Options{TLS: mssqltest.TLSOptional, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := mssql.CreateContract(ctx, srv); err != nil {
		t.Fatal(err)
	}
	if err := mssql.LoadRows(ctx, srv, nil, rows); err != nil {
		t.Fatal(err)
	}
	return srv
}

// proxiedMIS is a TDS test server holding rows, reached through a proxy the test can cut:
// the DSN to use and the proxy.
func proxiedMIS(t *testing.T, ctx context.Context, rows []mypt.Row) (*url.URL, *switchProxy) {
	t.Helper()
	srv := contractMIS(t, ctx, rows)
	proxy := newSwitchProxy(t, srv.Addr())
	u, err := url.Parse(srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	u.Host = proxy.ln.Addr().String()
	return u, proxy
}

// steppingClock is a clock at 3 December 2026 09:00 UTC that moves only when advanced.
func steppingClock() (clock func() time.Time, advance func(time.Duration)) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	return func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
		func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
}

// TestReadyzFollowsTheMIS: the real pull loop over go-mssqldb to the TDS
// test server, and /readyz built from opsReadinessChecks on the same
// registry. Not ready before the first pass; ready after it; the MIS goes
// away past the allowed age and /readyz answers 503 naming the sync check;
// the MIS comes back, a pass succeeds, ready again.
func TestReadyzFollowsTheMIS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dob, _ := mypt.ParseDate("2008-03-14")
	u, proxy := proxiedMIS(t, ctx, []mypt.Row{
		mypt.MarkType{Mark: "/", Description: "Present", Status: 1},
		mypt.Student{StudentID: "S1", LegalFirstNames: "Ann", LegalLastName: "Lee", DateOfBirth: dob,
			College: "north", Status: mypt.StudentCurrent},
	})
	clock, advance := steppingClock()

	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mypt.db"), sqlite.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	mis := config.DefaultMIS()
	mis.RetryAttempts, mis.RetryBackoff, mis.RetryMaxBackoff = 1, time.Millisecond, time.Millisecond
	mis.PassTimeout = 30 * time.Second
	src, err := openMISSource(ctx, mis, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	reg := portal.NewRegistry("test")
	puller, err := newMISPuller(mis, src, store, nil, reg, clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	readyz := portal.ReadyzHandler(opsReadinessChecks(reg, opsReadiness{PullEnabled: true, MaxSyncAge: time.Hour, Now: clock}))
	probe := func() (int, portal.ReadyzResponse) {
		rec := httptest.NewRecorder()
		readyz.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		var resp portal.ReadyzResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatalf("/readyz body %q: %v", rec.Body, err)
		}
		return rec.Code, resp
	}

	if code, resp := probe(); code != http.StatusServiceUnavailable || !strings.Contains(resp.Checks[0].Error, "never") {
		t.Fatalf("before the first pass: %d %+v", code, resp)
	}
	if err := puller.RunOnce(ctx, "", true); err != nil {
		t.Fatalf("first pass: %v", err)
	}
	if code, resp := probe(); code != http.StatusOK {
		t.Fatalf("after the first pass: %d %+v", code, resp)
	}

	proxy.setUp(false) // the MIS goes away
	advance(61 * time.Minute)
	if err := puller.RunOnce(ctx, "", false); err == nil {
		t.Fatal("a pass with the MIS down succeeded")
	}
	code, resp := probe()
	if code != http.StatusServiceUnavailable || !reflect.DeepEqual(resp.Failed, []string{"sync"}) ||
		!strings.Contains(resp.Checks[0].Error, "1h1m0s ago") {
		t.Fatalf("MIS down past the allowed age: %d %+v", code, resp)
	}

	proxy.setUp(true) // back
	var passErr error
	for range 3 { // the pool may hand out one connection cut while down
		if passErr = puller.RunOnce(ctx, "", false); passErr == nil {
			break
		}
	}
	if passErr != nil {
		t.Fatalf("pass after the MIS came back: %v", passErr)
	}
	if code, resp := probe(); code != http.StatusOK {
		t.Fatalf("MIS back: %d %+v", code, resp)
	}
}

// TestReadyzAfterRestart: a restart (a new Puller and registry on the same cache file) is ready
// at once when the run history says the cache is current, without a pass — here the MIS is
// unreachable after the restart, so none can succeed — and the readiness age limit still
// applies: the history ages, and a restart on a stale history is not ready.
func TestReadyzAfterRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u, proxy := proxiedMIS(t, ctx, testRows(2))
	clock, advance := steppingClock()
	mis := config.DefaultMIS()
	mis.RetryAttempts, mis.RetryBackoff, mis.RetryMaxBackoff = 1, time.Millisecond, time.Millisecond
	mis.PassTimeout = 30 * time.Second
	path := filepath.Join(t.TempDir(), "mypt.db")

	// start is one start of the process: the cache file opened, a source, a registry, a Puller
	// and /readyz on that registry.
	type process struct {
		store  *sqlite.Store
		puller *syncer.Puller
		reg    *prometheus.Registry
		probe  func() (int, portal.ReadyzResponse)
	}
	start := func() *process {
		t.Helper()
		store, err := sqlite.Open(ctx, path, sqlite.Options{Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		src, err := openMISSource(ctx, mis, u.String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { src.Close() })
		reg := portal.NewRegistry("test")
		p, err := newMISPuller(mis, src, store, nil, reg, clock, nil)
		if err != nil {
			t.Fatal(err)
		}
		readyz := portal.ReadyzHandler(opsReadinessChecks(reg, opsReadiness{PullEnabled: true, MaxSyncAge: time.Hour, Now: clock}))
		return &process{store: store, puller: p, reg: reg, probe: func() (int, portal.ReadyzResponse) {
			rec := httptest.NewRecorder()
			readyz.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			var resp portal.ReadyzResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatalf("/readyz body %q: %v", rec.Body, err)
			}
			return rec.Code, resp
		}}
	}

	first := start()
	if code, resp := first.probe(); code != http.StatusServiceUnavailable || !strings.Contains(resp.Checks[0].Error, "never") {
		t.Fatalf("a new cache before its first pass: %d %+v", code, resp)
	}
	if err := first.puller.RunOnce(ctx, "", true); err != nil {
		t.Fatalf("first pass: %v", err)
	}
	passed := first.puller.LastSuccess()
	if code, resp := first.probe(); code != http.StatusOK || passed.IsZero() {
		t.Fatalf("after the first pass: %d %+v", code, resp)
	}
	first.store.Close()

	// Restart ten minutes later; the MIS is unreachable from then on.
	advance(10 * time.Minute)
	second := start()
	proxy.setUp(false)
	if code, resp := second.probe(); code != http.StatusOK {
		t.Fatalf("restarted on a current cache, before any pass: %d %+v", code, resp)
	}
	if got := second.puller.LastSuccess(); !got.Equal(passed) {
		t.Errorf("LastSuccess after restart = %v, want %v", got, passed)
	}
	for _, e := range mypt.Entities {
		if v := gaugeValue(t, second.reg, "mypt_sync_last_success_timestamp_seconds", "entity", string(e)); v != float64(passed.Unix()) {
			t.Errorf("last success gauge of %s = %v, want %v", e, v, passed.Unix())
		}
		if v := gaugeValue(t, second.reg, "mypt_sync_watermark_age_seconds", "entity", string(e)); v != clock().Sub(passed).Seconds() {
			t.Errorf("watermark age of %s = %v, want %v", e, v, clock().Sub(passed).Seconds())
		}
	}
	if err := second.puller.RunOnce(ctx, "", false); err == nil {
		t.Fatal("a pass with the MIS down succeeded")
	}
	if code, resp := second.probe(); code != http.StatusOK {
		t.Fatalf("a failed pass within the allowed age: %d %+v", code, resp)
	}
	// The age limit still applies to what the history said.
	advance(61 * time.Minute)
	if code, resp := second.probe(); code != http.StatusServiceUnavailable || !strings.Contains(resp.Checks[0].Error, "ago") {
		t.Fatalf("history past the allowed age: %d %+v", code, resp)
	}
	second.store.Close()

	// A restart on a stale history is not ready either (the MIS is back, as mypt needs it to
	// start, but no pass has run yet).
	proxy.setUp(true)
	third := start()
	if code, resp := third.probe(); code != http.StatusServiceUnavailable || !reflect.DeepEqual(resp.Failed, []string{"sync"}) ||
		!strings.Contains(resp.Checks[0].Error, "ago") {
		t.Fatalf("restarted on a stale history: %d %+v", code, resp)
	}
}
