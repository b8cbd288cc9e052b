package syncer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"mypt"
	"mypt/syncer"
)

// Function-field fakes: the pull loop's own tests with the real cache and the real driver are in
// adapters/mssql (sync_test.go), so that syncer never imports an adapter.
type fakeSource struct{}

func (fakeSource) Name() string                                                    { return "fake" }
func (fakeSource) Bound(context.Context) ([]byte, error)                           { return make([]byte, 8), nil }
func (fakeSource) Retryable(error) bool                                            { return false }
func (fakeSource) ReadKeys(context.Context, mypt.Entity, func(string) error) error { return nil }
func (fakeSource) ReadChanges(context.Context, mypt.Entity, []byte, []byte, func(string, []byte, mypt.Row, error) error) error {
	return nil
}

type fakeCache struct{}

func (fakeCache) ApplyBatch(context.Context, mypt.Batch) (mypt.BatchResult, error) {
	return mypt.BatchResult{}, nil
}
func (fakeCache) StageBatch(context.Context, string, mypt.Entity, int, []mypt.Record) error {
	return nil
}
func (fakeCache) PublishStage(context.Context, string, mypt.Entity, []byte) (mypt.BatchResult, error) {
	return mypt.BatchResult{}, nil
}
func (fakeCache) ResumeStage(context.Context, string, mypt.Entity) (mypt.BatchResult, bool, error) {
	return mypt.BatchResult{}, false, nil
}
func (fakeCache) DiscardStage(context.Context, string, mypt.Entity) error        { return nil }
func (fakeCache) Watermark(context.Context, string, mypt.Entity) ([]byte, error) { return nil, nil }
func (fakeCache) MissingKeys(context.Context, mypt.Entity, func(func(string) error) error,
	func(int, int, int) error, func(string) error) error {
	return nil
}

// PM-1 and PM-2: building the puller twice on one registry does not panic, and every entity's
// series exists (at 0) before anything happened.
// With mis.entities set to a few entities, the freshness gauges (what /readyz and the
// staleness alert read) have series for those only; the other metrics keep every entity.
func TestFreshnessGaugesOnlyForPulledEntities(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	pulled := []mypt.Entity{mypt.EntityStudent, mypt.EntityAttendanceMark}
	if _, err := syncer.NewPuller(syncer.PullOptions{Source: fakeSource{}, Cache: fakeCache{}, Registerer: reg, Entities: pulled}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{
		"mypt_sync_last_success_timestamp_seconds": len(pulled), "mypt_sync_watermark_age_seconds": len(pulled),
		"mypt_sync_passes_total": 2 * len(mypt.Entities),
	} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != want {
			t.Errorf("%s: %d series (%v), want %d", name, n, err, want)
		}
	}
}

func TestMetricsRegisteredOnceAndAtZero(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	for i := 0; i < 2; i++ {
		if _, err := syncer.NewPuller(syncer.PullOptions{Source: fakeSource{}, Cache: fakeCache{}, Registerer: reg}); err != nil {
			t.Fatal(err)
		}
	}
	for name, perEntity := range map[string]int{
		"mypt_sync_passes_total": 2, "mypt_sync_rows_total": 4, "mypt_sync_last_success_timestamp_seconds": 1,
		"mypt_sync_watermark_age_seconds": 1, "mypt_reconcile_deletes_total": 1, "mypt_sync_pass_duration_seconds": 1,
	} {
		n, err := testutil.GatherAndCount(reg, name)
		if err != nil {
			t.Fatal(err)
		}
		if want := perEntity * len(mypt.Entities); n != want {
			t.Errorf("%s: %d series, want %d", name, n, want)
		}
	}
}

// A restarted Puller learns the last successful passes from the run history: LastSuccess and
// the gauges describe the cache before any pass runs. An entity the history does not know
// keeps LastSuccess at zero; a history that cannot be read leaves everything as before.
func TestLastSuccessFromHistory(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	at := now.Add(-10 * time.Minute)
	history := func(context.Context) (map[mypt.Entity]time.Time, error) {
		return map[mypt.Entity]time.Time{mypt.EntityStudent: at, mypt.EntityCourse: at.Add(-time.Hour)}, nil
	}
	reg := prometheus.NewRegistry()
	p, err := syncer.NewPuller(syncer.PullOptions{Source: fakeSource{}, Cache: fakeCache{}, Registerer: reg,
		Entities: []mypt.Entity{mypt.EntityStudent, mypt.EntityCourse}, Now: func() time.Time { return now }, LastSuccess: history})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.LastSuccess(); !got.Equal(at.Add(-time.Hour)) {
		t.Errorf("LastSuccess = %v, want the oldest entity's %v", got, at.Add(-time.Hour))
	}
	gauge := func(name string, e mypt.Entity) float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == string(e) {
					return m.GetGauge().GetValue()
				}
			}
		}
		t.Fatalf("%s{entity=%q} not found", name, e)
		return 0
	}
	if v := gauge("mypt_sync_last_success_timestamp_seconds", mypt.EntityStudent); v != float64(at.Unix()) {
		t.Errorf("last success gauge = %v, want %v", v, at.Unix())
	}
	if v := gauge("mypt_sync_watermark_age_seconds", mypt.EntityCourse); v != 70*60 {
		t.Errorf("watermark age gauge = %v, want 4200", v)
	}
	// An entity that is not pulled has no series (TestFreshnessGaugesOnlyForPulledEntities).
	if n, err := testutil.GatherAndCount(reg, "mypt_sync_last_success_timestamp_seconds"); err != nil || n != 2 {
		t.Errorf("last success gauge: %d series (%v), want the 2 pulled entities", n, err)
	}

	// An entity never synced: not current, whatever the others say.
	p, err = syncer.NewPuller(syncer.PullOptions{Source: fakeSource{}, Cache: fakeCache{}, Registerer: prometheus.NewRegistry(),
		Entities: []mypt.Entity{mypt.EntityStudent, mypt.EntityMarkType}, Now: func() time.Time { return now }, LastSuccess: history})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.LastSuccess(); !got.IsZero() {
		t.Errorf("LastSuccess with mark_type never synced = %v", got)
	}
	// The history cannot be read: the Puller still starts.
	p, err = syncer.NewPuller(syncer.PullOptions{Source: fakeSource{}, Cache: fakeCache{}, Registerer: prometheus.NewRegistry(),
		LastSuccess: func(context.Context) (map[mypt.Entity]time.Time, error) { return nil, errors.New("disk gone") }})
	if err != nil || !p.LastSuccess().IsZero() {
		t.Errorf("unreadable history: %v, LastSuccess %v", err, p.LastSuccess())
	}
}
