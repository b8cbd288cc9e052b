package portal

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func getReadyz(t *testing.T, h http.Handler, ctx context.Context) (int, ReadyzResponse) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil).WithContext(ctx))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q", ct)
	}
	var resp ReadyzResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return rec.Code, resp
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	HealthzHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
		t.Fatalf("GET /healthz = %d %q", rec.Code, rec.Body)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	pass := func(context.Context) error { return nil }
	fail := func(context.Context) error { return errors.New("last success 2h0m0s ago") }
	cases := []struct {
		name       string
		checks     []ReadinessCheck
		wantCode   int
		wantStatus string
		wantFailed []string
	}{
		{"no checks is ready", nil, 200, "ready", []string{}},
		{"all pass", []ReadinessCheck{{"cache", pass}, {"schema", pass}}, 200, "ready", []string{}},
		{"one fails", []ReadinessCheck{{"cache", pass}, {"sync", fail}, {"mailbox", pass}}, 503, "not_ready", []string{"sync"}},
		{"two fail in order", []ReadinessCheck{{"mailbox", fail}, {"cache", pass}, {"sync", fail}}, 503, "not_ready", []string{"mailbox", "sync"}},
		{"panic fails", []ReadinessCheck{{"schema", func(context.Context) error { panic("oops") }}}, 503, "not_ready", []string{"schema"}},
		{"nil func fails", []ReadinessCheck{{Name: "cache"}}, 503, "not_ready", []string{"cache"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			code, resp := getReadyz(t, ReadyzHandler(c.checks), context.Background())
			if code != c.wantCode || resp.Status != c.wantStatus || !reflect.DeepEqual(resp.Failed, c.wantFailed) {
				t.Fatalf("got %d %+v, want %d %s failed=%v", code, resp, c.wantCode, c.wantStatus, c.wantFailed)
			}
			if len(resp.Checks) != len(c.checks) {
				t.Fatalf("checks listed = %d, want %d", len(resp.Checks), len(c.checks))
			}
			for i, res := range resp.Checks {
				if res.Name != c.checks[i].Name {
					t.Errorf("check %d named %q, want %q", i, res.Name, c.checks[i].Name)
				}
				if !res.OK && res.Error == "" {
					t.Errorf("failed check %q has no error text", res.Name)
				}
			}
		})
	}
}

func TestReadyzHungCheckFailsWhenContextEnds(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	hung := ReadinessCheck{"mailbox", func(context.Context) error { <-release; return nil }} // ignores ctx
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	code, resp := getReadyz(t, ReadyzHandler([]ReadinessCheck{hung}), ctx)
	if code != 503 || !reflect.DeepEqual(resp.Failed, []string{"mailbox"}) {
		t.Fatalf("hung check: %d %+v", code, resp)
	}
}

func TestMaxAgeCheck(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	cases := []struct {
		name    string
		last    time.Time
		err     error
		wantErr string
	}{
		{"fresh", now.Add(-30 * time.Minute), nil, ""},
		{"exactly max age", now.Add(-time.Hour), nil, ""},
		{"stale", now.Add(-90 * time.Minute), nil, "1h30m0s ago"},
		{"never", time.Time{}, nil, "never succeeded"},
		{"lookup error", time.Time{}, errors.New("cache: closed"), "cache: closed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			chk := MaxAgeCheck("sync", time.Hour, clock, func(context.Context) (time.Time, error) { return c.last, c.err })
			err := chk.Check(context.Background())
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("err = %v, want %q", err, c.wantErr)
			}
		})
	}
}

func TestOldestGaugeTimestamp(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mypt_sync_last_success_timestamp_seconds", Help: "h"}, []string{"entity"})
	reg.MustRegister(g)
	last := OldestGaugeTimestamp(reg, "mypt_sync_last_success_timestamp_seconds")
	if _, err := last(context.Background()); err == nil {
		t.Fatal("no series: want an error")
	}
	g.WithLabelValues("student").Set(1_700_000_100)
	g.WithLabelValues("contact").Set(1_700_000_000.5)
	got, err := last(context.Background())
	if err != nil || !got.Equal(time.Unix(1_700_000_000, 500_000_000)) {
		t.Fatalf("oldest = %v, %v", got, err)
	}
	g.WithLabelValues("meeting").Set(0) // never synced yet (PM-2 zero)
	if got, err := last(context.Background()); err != nil || !got.IsZero() {
		t.Fatalf("with a never-synced entity = %v, %v; want zero time", got, err)
	}
}

// TestReadyzFollowsSyncAge is the readiness story with the metric the pull
// syncer exports: fresh, then the MIS goes away past the allowed age (503
// naming the sync check), then a pass succeeds again (200).
func TestReadyzFollowsSyncAge(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	reg := NewRegistry("test")
	lastSuccess := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mypt_sync_last_success_timestamp_seconds", Help: "h"}, []string{"entity"})
	reg.MustRegister(lastSuccess)
	succeed := func() {
		for _, e := range []string{"student", "attendance_mark"} {
			lastSuccess.WithLabelValues(e).Set(float64(clock().Unix()))
		}
	}
	succeed()
	h := ReadyzHandler([]ReadinessCheck{
		{"cache", func(context.Context) error { return nil }},
		MaxAgeCheck("sync", time.Hour, clock, OldestGaugeTimestamp(reg, "mypt_sync_last_success_timestamp_seconds")),
	})
	if code, resp := getReadyz(t, h, context.Background()); code != 200 {
		t.Fatalf("fresh: %d %+v", code, resp)
	}
	advance(61 * time.Minute) // MIS down: no pass succeeds
	code, resp := getReadyz(t, h, context.Background())
	if code != 503 || !reflect.DeepEqual(resp.Failed, []string{"sync"}) || !strings.Contains(resp.Checks[1].Error, "1h1m0s ago") {
		t.Fatalf("stale: %d %+v", code, resp)
	}
	succeed() // MIS back
	if code, resp := getReadyz(t, h, context.Background()); code != 200 {
		t.Fatalf("recovered: %d %+v", code, resp)
	}
}
