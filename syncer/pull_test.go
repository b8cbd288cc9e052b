package syncer_test

import (
	"context"
	"testing"

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
func (fakeCache) Watermark(context.Context, string, mypt.Entity) ([]byte, error) { return nil, nil }
func (fakeCache) EntityKeys(context.Context, mypt.Entity, func(string) error) error {
	return nil
}
func (fakeCache) MissingKeys(context.Context, mypt.Entity, func(func(string) error) error,
	func(int, int, int) error, func(string) error) error {
	return nil
}

// PM-1 and PM-2: building the puller twice on one registry does not panic, and every entity's
// series exists (at 0) before anything happened.
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
