package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ReadinessCheck is one condition /readyz requires: the cache is open, the
// schema is current, the last successful sync is recent enough, the mailbox is
// connected. Check returns nil when the condition holds; its error text is
// shown on the internal listener, so it must name the cause without secrets or
// personal data.
type ReadinessCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// CheckTimeout bounds each readiness check so a hung dependency makes /readyz
// answer 503 promptly instead of hanging the prober.
const CheckTimeout = 3 * time.Second

// HealthzHandler answers 200 {"status":"ok"} while the process can serve HTTP.
// It checks nothing else: a liveness probe that fails on a dependency outage
// would restart a healthy process.
func HealthzHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeHealthJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// ReadyzResponse is the JSON body of /readyz.
type ReadyzResponse struct {
	Status string        `json:"status"` // "ready" or "not_ready"
	Checks []CheckResult `json:"checks"`
	Failed []string      `json:"failed"` // names of failed checks, in check order; empty when ready
}

// CheckResult is one check's outcome in ReadyzResponse.
type CheckResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// ReadyzHandler runs every check concurrently, each bounded by CheckTimeout,
// and answers 200 when all pass or 503 when any fails, with a ReadyzResponse
// naming each check and the failed ones. No checks means ready. A check that
// panics counts as failed. A check still running from an earlier request (a
// dependency that ignores its context) is not started again but reported as
// failed, so a hung dependency costs one goroutine, not one per probe.
func ReadyzHandler(checks []ReadinessCheck) http.Handler {
	busy := make([]atomic.Bool, len(checks))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp := runReadiness(r.Context(), checks, busy)
		code := http.StatusOK
		if resp.Status != "ready" {
			code = http.StatusServiceUnavailable
		}
		writeHealthJSON(w, code, resp)
	})
}

// RunReadiness runs checks as ReadyzHandler does and returns the result; the
// CLI and tests use it without HTTP.
func RunReadiness(ctx context.Context, checks []ReadinessCheck) ReadyzResponse {
	return runReadiness(ctx, checks, make([]atomic.Bool, len(checks)))
}

func runReadiness(ctx context.Context, checks []ReadinessCheck, busy []atomic.Bool) ReadyzResponse {
	results := make([]CheckResult, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runCheck(ctx, c, &busy[i])
		}()
	}
	wg.Wait()
	resp := ReadyzResponse{Status: "ready", Checks: results, Failed: []string{}}
	for _, res := range results {
		if !res.OK {
			resp.Status = "not_ready"
			resp.Failed = append(resp.Failed, res.Name)
		}
	}
	return resp
}

func runCheck(ctx context.Context, c ReadinessCheck, busy *atomic.Bool) CheckResult {
	if c.Check == nil {
		return CheckResult{Name: c.Name, Error: "no check function"}
	}
	if !busy.CompareAndSwap(false, true) {
		return CheckResult{Name: c.Name, Error: "the previous run of this check has not returned yet"}
	}
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		var err error
		func() {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("check panicked: %v", p)
				}
			}()
			err = c.Check(ctx)
		}()
		// Not busy before the answer is sent: a probe that follows at once must run the check
		// again, not find the one that has just answered still marked as running.
		busy.Store(false)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return CheckResult{Name: c.Name, Error: err.Error()}
		}
		return CheckResult{Name: c.Name, OK: true}
	case <-ctx.Done():
		return CheckResult{Name: c.Name, Error: fmt.Sprintf("check did not answer within %s", CheckTimeout)}
	}
}

// MaxAgeCheck is a ReadinessCheck that fails when last reports an instant
// older than maxAge before now(), or the zero time (never happened), or an
// error. Use it for "last successful sync within the configured age".
func MaxAgeCheck(name string, maxAge time.Duration, now func() time.Time, last func(ctx context.Context) (time.Time, error)) ReadinessCheck {
	return ReadinessCheck{Name: name, Check: func(ctx context.Context) error {
		t, err := last(ctx)
		if err != nil {
			return err
		}
		if t.IsZero() {
			return fmt.Errorf("never succeeded since the cache was created")
		}
		if age := now().Sub(t); age > maxAge {
			return fmt.Errorf("last success %s ago at %s, more than the allowed %s",
				age.Round(time.Second), t.UTC().Format(time.RFC3339), maxAge)
		}
		return nil
	}}
}

// OldestGaugeTimestamp returns a func for MaxAgeCheck that reads the gauge
// metric (seconds since the epoch, e.g. mypt_sync_last_success_timestamp_seconds)
// from g and reports the oldest value across its label sets, so one stale
// entity makes the check fail. A value of 0 means never and yields the zero
// time; a metric with no series at all is an error.
func OldestGaugeTimestamp(g prometheus.Gatherer, metric string) func(ctx context.Context) (time.Time, error) {
	return func(ctx context.Context) (time.Time, error) {
		oldest, err := MinGaugeValue(g, metric)
		if err != nil {
			return time.Time{}, err
		}
		if oldest <= 0 {
			return time.Time{}, nil
		}
		sec, frac := math.Modf(oldest)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
}

// GaugeCheck is a ReadinessCheck that fails unless every series of the
// gauge metric in g is at least min, e.g. mypt_mailbox_connected >= 1. A
// metric with no series fails too (the component is not running).
func GaugeCheck(name string, g prometheus.Gatherer, metric string, min float64, failure string) ReadinessCheck {
	return ReadinessCheck{Name: name, Check: func(ctx context.Context) error {
		v, err := MinGaugeValue(g, metric)
		if err != nil {
			return err
		}
		if v < min {
			return errors.New(failure)
		}
		return nil
	}}
}

// MinGaugeValue gathers g and returns the smallest value among the series of
// the gauge metric. It is an error when the metric has no series.
func MinGaugeValue(g prometheus.Gatherer, metric string) (float64, error) {
	families, err := g.Gather()
	if err != nil && len(families) == 0 {
		return 0, fmt.Errorf("gather %s: %w", metric, err)
	}
	lowest, found := math.Inf(1), false
	for _, mf := range families {
		if mf.GetName() != metric {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetGauge() == nil {
				continue
			}
			found = true
			lowest = math.Min(lowest, m.GetGauge().GetValue())
		}
	}
	if !found {
		return 0, fmt.Errorf("no %s series: is the component enabled?", metric)
	}
	return lowest, nil
}

// writeHealthJSON renders v into a buffer first so an encoding error cannot leave a
// half-written body behind a 200.
func writeHealthJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}
