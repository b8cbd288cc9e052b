package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt"
	"mypt/syncer"
)

// BenchmarkReconcileMemory measures the peak memory of reconciling 250,000 and 1,000,000 keys of which 1%
// are gone from the MIS, with the key sets compared in Go maps (old, as syncer did before
// Cache.MissingKeys) and through the real Puller and Cache.MissingKeys (new). It reports the
// peak Go heap above the baseline (sampled every millisecond) and, on Linux, the peak resident
// set above the baseline (VmHWM after clear_refs), which also counts SQLite's page caches (the
// driver allocates them outside the Go heap) and pages of the memory-mapped cache file.
//
//	go test ./adapters/sqlite -run '^$' -bench ReconcileMemory -benchtime 1x
func BenchmarkReconcileMemory(b *testing.B) {
	for _, n := range []int{250_000, 1_000_000} {
		benchReconcileMemory(b, n)
	}
}

func benchReconcileMemory(b *testing.B, n int) {
	const every = 100
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "mypt.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fill := func(where string) {
		_, err := s.WriteDB().ExecContext(ctx, fmt.Sprintf(`WITH RECURSIVE i(v) AS (SELECT 1 UNION ALL SELECT v+1 FROM i WHERE v < %d)
			INSERT OR IGNORE INTO course (course_id, code, title, level, academic_year, row_hash)
			SELECT printf('%%08X-0000-4000-8000-%%012X', v, v*7919), 'X', 'Course', '3', 2018, x'00' FROM i WHERE %s`, n, where))
		if err != nil {
			b.Fatal(err)
		}
	}
	fill("1=1")
	src := benchSource{n: n, every: every}
	gone := n / every

	report := func(b *testing.B, run func() error) {
		var peakHeap, peakRSS float64
		for range b.N {
			b.StopTimer()
			fill(fmt.Sprintf("v %% %d = 0", every)) // put back what the last iteration deleted
			runtime.GC()
			debug.FreeOSMemory()
			base := heapObjects()
			baseRSS, rssOK := resetPeakRSS()
			stop := sampleHeap()
			b.StartTimer()
			err := run()
			b.StopTimer()
			peak := stop()
			if err != nil {
				b.Fatal(err)
			}
			peakHeap = max(peakHeap, float64(peak-base)/(1<<20))
			if rssOK {
				if hwm, ok := peakRSSNow(); ok {
					peakRSS = max(peakRSS, (float64(hwm)-float64(baseRSS))/(1<<20))
				}
			}
			if left, _ := s.CountRows(ctx, mypt.EntityCourse); left != n-gone {
				b.Fatalf("%d courses left, want %d", left, n-gone)
			}
		}
		b.ReportMetric(peakHeap, "peak-heap-MiB")
		b.ReportMetric(peakRSS, "peak-rss-MiB")
		b.Logf("%s: %d keys, %d deleted: peak Go heap +%.1f MiB, peak RSS +%.1f MiB", b.Name(), n, gone, peakHeap, peakRSS)
	}

	// new first: the old one leaves pages of the memory-mapped cache file resident.
	b.Run(fmt.Sprintf("new-scratch/keys=%d", n), func(b *testing.B) {
		p, err := syncer.NewPuller(syncer.PullOptions{Source: src, Cache: s, Entities: []mypt.Entity{mypt.EntityCourse},
			Registerer: prometheus.NewRegistry(), PassTimeout: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		report(b, func() error { return p.Reconcile(ctx, mypt.EntityCourse, false) })
	})
	b.Run(fmt.Sprintf("old-maps/keys=%d", n), func(b *testing.B) {
		report(b, func() error { return oldReconcile(ctx, s, src, mypt.EntityCourse, 20000) })
	})
}

// benchSource is an MIS of n course keys, without every every-th one.
type benchSource struct{ n, every int }

func (benchSource) Name() string                          { return "bench" }
func (benchSource) Bound(context.Context) ([]byte, error) { return []byte{0, 0, 0, 0, 0, 0, 0, 9}, nil }
func (benchSource) Retryable(error) bool                  { return false }
func (benchSource) ReadChanges(context.Context, mypt.Entity, []byte, []byte, func(string, []byte, mypt.Row, error) error) error {
	return nil
}
func (src benchSource) ReadKeys(_ context.Context, _ mypt.Entity, fn func(string) error) error {
	for v := 1; v <= src.n; v++ {
		if v%src.every == 0 {
			continue
		}
		if err := fn(fmt.Sprintf("%08X-0000-4000-8000-%012X", v, v*7919)); err != nil {
			return err
		}
	}
	return nil
}

// oldReconcile is syncer's reconcile before Cache.MissingKeys: the MIS's key set in a map, the
// keys to delete in a slice.
func oldReconcile(ctx context.Context, s *Store, src syncer.Source, e mypt.Entity, batchRows int) error {
	mis := map[string]struct{}{}
	if err := src.ReadKeys(ctx, e, func(k string) error { mis[k] = struct{}{}; return nil }); err != nil {
		return err
	}
	var gone []string
	cached := 0
	if err := s.EntityKeys(ctx, e, func(k string) error {
		cached++
		if _, ok := mis[k]; !ok {
			gone = append(gone, k)
		}
		return nil
	}); err != nil {
		return err
	}
	if float64(len(gone)) > 0.2*float64(cached) {
		return fmt.Errorf("too many deletes")
	}
	for len(gone) > 0 {
		k := min(len(gone), batchRows)
		recs := make([]mypt.Record, k)
		for i, key := range gone[:k] {
			recs[i] = mypt.Record{Entity: e, Op: mypt.OpDelete, Key: key}
		}
		if _, err := s.ApplyBatch(ctx, mypt.Batch{Source: src.Name(), Mode: mypt.ModeDelta, Records: recs}); err != nil {
			return err
		}
		gone = gone[k:]
	}
	return nil
}

func heapObjects() uint64 {
	m := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(m)
	return m[0].Value.Uint64()
}

// sampleHeap samples the heap's object bytes every millisecond until the returned func is
// called, which returns the highest sample.
func sampleHeap() func() uint64 {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var peak uint64
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, heapObjects())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return max(peak, heapObjects())
	}
}

// resetPeakRSS resets the process's peak resident set to its current one (Linux) and returns it.
func resetPeakRSS() (uint64, bool) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return 0, false
	}
	return procStatus("VmRSS:")
}

func peakRSSNow() (uint64, bool) { return procStatus("VmHWM:") }

func procStatus(field string) (uint64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
