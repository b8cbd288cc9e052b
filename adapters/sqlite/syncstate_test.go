package sqlite

import (
	"context"
	"strings"
	"testing"
	"time"

	"mypt"
)

// The last success per entity: the newest successful incremental or full pass of the source;
// failures, reconciliations and other sources do not count. The look-up uses the index.
func TestLastSyncSuccess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := MustOpen(t)
	t0 := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	run := func(source string, e mypt.Entity, kind string, min int, ok bool) {
		t.Helper()
		start := t0.Add(time.Duration(min) * time.Minute)
		if err := s.RecordSyncRun(ctx, SyncRun{Source: source, Entity: e, Kind: kind, StartedAt: start,
			FinishedAt: start.Add(30 * time.Second), Success: ok}); err != nil {
			t.Fatal(err)
		}
	}
	run("mssql", mypt.EntityStudent, "full", 0, true)
	run("mssql", mypt.EntityStudent, "incremental", 5, true)
	run("mssql", mypt.EntityStudent, "incremental", 10, false) // failed: not a success
	run("mssql", mypt.EntityStudent, "reconcile", 11, true)    // a reconciliation alone does not count
	run("other", mypt.EntityStudent, "incremental", 20, true)  // another source
	run("mssql", mypt.EntityCourse, "incremental", 3, false)   // never succeeded
	run("mssql", mypt.EntityAttendanceMark, "full", 2, true)

	got, err := s.LastSyncSuccess(ctx, "mssql")
	if err != nil {
		t.Fatal(err)
	}
	want := map[mypt.Entity]time.Time{
		mypt.EntityStudent:        t0.Add(5*time.Minute + 30*time.Second),
		mypt.EntityAttendanceMark: t0.Add(2*time.Minute + 30*time.Second),
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for e, w := range want {
		if !got[e].Equal(w) {
			t.Errorf("%s: %v, want %v", e, got[e], w)
		}
	}
	if got, err := MustOpen(t).LastSyncSuccess(ctx, "mssql"); err != nil || len(got) != 0 {
		t.Errorf("empty history: %v %v", got, err)
	}

	rows, err := s.ReadDB().QueryContext(ctx, "EXPLAIN QUERY PLAN "+lastSyncSuccessSQL, "mssql", "student")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if p := strings.Join(plan, "; "); !strings.Contains(p, "sync_run_entity") || strings.Contains(p, "TEMP B-TREE") {
		t.Errorf("the look-up does not use the index: %s", p)
	}
}
