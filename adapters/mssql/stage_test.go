package mssql_test

// A pass larger than one batch is staged while it is read and applied only once read to its
// end: a fault anywhere in the read leaves the cache and watermark as before the pass.

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt"
	"mypt/adapters/mssql"
	"mypt/adapters/mssql/mssqltest"
	"mypt/adapters/sqlite"
	"mypt/syncer"
)

// stageCounter is the real cache, counting the batches staged.
type stageCounter struct {
	*sqlite.Store
	staged atomic.Int64
}

func (c *stageCounter) StageBatch(ctx context.Context, source string, e mypt.Entity, seq int, recs []mypt.Record) error {
	err := c.Store.StageBatch(ctx, source, e, seq, recs)
	if err == nil {
		c.staged.Add(1)
	}
	return err
}

func TestFaultMidMultiBatchPassLeavesCacheUnchanged(t *testing.T) {
	t.Parallel()
	forEachMIS(t, misOptions{}, func(t *testing.T, m mis) {
		const batch, n = 500, 6000
		r := newMISRig(t, m, college(3, 2), func(o *syncer.PullOptions) {
			o.BatchRows, o.PassTimeout = batch, 2*time.Minute // -race on a loaded machine
		})
		ctx := ctxT(t)
		if err := r.puller.RunOnce(ctx, "", false); err != nil {
			t.Fatal(err)
		}
		// 6,000 new marks: the next attendance pass has twelve batches.
		i := 0
		if err := m.LoadValues(ctx, "mypt.AttendanceMark", markCols, func(row []any) bool {
			if i == n {
				return false
			}
			markValues(i, "L", row)
			i++
			return true
		}); err != nil {
			t.Fatal(err)
		}
		cache := &stageCounter{Store: r.store}
		faulty, err := syncer.NewPuller(syncer.PullOptions{Source: r.src, Cache: cache, Registerer: prometheus.NewRegistry(),
			RetryAttempts: 1, PassTimeout: 3 * time.Second, BatchRows: batch})
		if err != nil {
			t.Fatal(err)
		}
		// Rows for tds; bytes from the server for the proxy of tsql and sqlserver (a mark row is
		// 100–200 bytes on the wire, so 256 KiB is several batches into the pass).
		for _, f := range []misFault{
			{Kind: mssqltest.FaultDrop, Rows: 4600, Bytes: 256 << 10, Match: "AttendanceMark"}, // nine batches staged
			{Kind: mssqltest.FaultStall, Rows: n - 1, Bytes: 384 << 10, Match: "AttendanceMark"},
			{Kind: mssqltest.FaultDrop, Rows: 750, Bytes: 96 << 10, Match: "AttendanceMark"}, // one batch read and held back
		} {
			name := map[mssqltest.FaultKind]string{mssqltest.FaultStall: "stall", mssqltest.FaultDrop: "drop"}[f.Kind]
			t.Run(fmt.Sprintf("%s-after-%d-rows-%dKiB", name, f.Rows, f.Bytes>>10), func(t *testing.T) {
				before, wmBefore := dump(t, r.store), watermarks(t, r.store)
				cache.staged.Store(0)
				m.Fault(t, f)
				err := faulty.RunOnce(ctx, mypt.EntityAttendanceMark, false)
				if err == nil {
					t.Fatal("the faulty pass succeeded")
				}
				staged := cache.staged.Load()
				t.Logf("failed as expected with %d batches staged: %v", staged, err)
				if f.Rows >= 3*batch && staged < 2 {
					t.Errorf("the fault struck after %d staged batches; it was meant to strike mid-pass", staged)
				}
				assertCacheAsBefore(t, r.store, before, wmBefore)
			})
		}
		if err := r.puller.RunOnce(ctx, mypt.EntityAttendanceMark, false); err != nil {
			t.Fatal(err)
		}
		if got := count(t, r.store, "attendance_mark", "mark_id NOT LIKE 'KS%'"); got != n {
			t.Errorf("after recovery %d of the %d new marks cached", got, n)
		}
		runs, err := r.store.SyncRuns(ctx, mypt.EntityAttendanceMark, 1)
		if err != nil || len(runs) != 1 || runs[0].Read != n || runs[0].Upserted != n {
			t.Errorf("the recovering pass's run: %+v %v", runs, err)
		}
	})
}

// A pull of many small batches equals the push of the same college in one batch.
func TestMultiBatchPullEqualsSingleBatch(t *testing.T) {
	t.Parallel()
	rows := college(8, 40)
	ctx := ctxT(t)
	small := newRig(t, rows, mssqltest.Options{}, func(o *syncer.PullOptions) { o.BatchRows = 7 })
	whole := newRig(t, rows, mssqltest.Options{}, nil)
	for _, r := range []*rig{small, whole} {
		if err := r.puller.RunOnce(ctx, "", false); err != nil {
			t.Fatal(err)
		}
	}
	a, b := dump(t, small.store), dump(t, whole.store)
	if len(a) != len(rows) || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("batches of 7 cached %d rows, one batch %d; contents equal: %v", len(a), len(b), fmt.Sprint(a) == fmt.Sprint(b))
	}
	if fmt.Sprint(watermarks(t, small.store)) != fmt.Sprint(watermarks(t, whole.store)) {
		t.Errorf("watermarks differ: %v vs %v", watermarks(t, small.store), watermarks(t, whole.store))
	}
	// A change then arrives; the small-batch rig applies it like the other.
	for _, r := range []*rig{small, whole} {
		if err := mssql.LoadRows(ctx, r.srv, nil, []mypt.Row{student("S99", "Late", "Comer")}); err != nil {
			t.Fatal(err)
		}
		if err := r.puller.RunOnce(context.WithoutCancel(ctx), mypt.EntityStudent, false); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, small.store, "student", "student_id = 'S99'"); n != 1 {
		t.Error("the later change was not applied")
	}
}

// BenchmarkStagedPass measures what staging costs: a full pull of 200,000 marks staged in ten
// batches (the default mis.batch_rows) beside the same pull applied in one transaction, in the
// same run.
func BenchmarkStagedPass(b *testing.B) {
	const n = 200_000
	srv := benchServer(b, n)
	src, err := mssql.Open(context.Background(), mssql.Options{DSN: srv.DSN()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { src.Close() })
	var took [2]time.Duration
	for i := 0; i < b.N; i++ {
		for j, rows := range []int{20_000, n} {
			store := openStore(b, fmt.Sprintf("stage%d-%d.db", i, j))
			p, err := syncer.NewPuller(syncer.PullOptions{Source: src, Cache: store, Registerer: prometheus.NewRegistry(),
				PassTimeout: time.Hour, BatchRows: rows, Entities: []mypt.Entity{mypt.EntityAttendanceMark}})
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if err := p.RunOnce(context.Background(), mypt.EntityAttendanceMark, false); err != nil {
				b.Fatal(err)
			}
			took[j] += time.Since(start)
			if got, _ := store.CountRows(context.Background(), mypt.EntityAttendanceMark); got != n {
				b.Fatalf("synced %d of %d", got, n)
			}
		}
	}
	staged, whole := took[0]/time.Duration(b.N), took[1]/time.Duration(b.N)
	b.ReportMetric(staged.Seconds()/whole.Seconds(), "x_one_tx")
	b.Logf("full pull of %d marks: staged in batches of 20,000 %s, one transaction %s (staged/one %.2f)",
		n, staged.Round(time.Millisecond), whole.Round(time.Millisecond), staged.Seconds()/whole.Seconds())
}
