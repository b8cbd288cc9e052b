package mssql_test

// Integration tests of the whole pull path: go-mssqldb over TCP to the MIS, the adapter, the
// syncer's pull loop and the real SQLite cache. Each runs on every MIS backend (forEachMIS in
// mis_test.go): mssqltest through its API (tds), the T-SQL backend on mssqltest (tsql) and on
// the SQL Server of MYPT_TEST_MSSQL_DSN (sqlserver).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"mypt"
	"mypt/adapters/mssql"
	"mypt/adapters/mssql/mssqltest"
	"mypt/adapters/sqlite"
	"mypt/internal/synth"
	"mypt/syncer"
)

var (
	_ syncer.Source = (*mssql.Source)(nil)
	_ syncer.Cache  = (*sqlite.Store)(nil)
)

// college builds a small, valid college: every entity, names that need care, London times.
func college(students, marksPerStudent int) []mypt.Row {
	yes, no := true, false
	rows := []mypt.Row{
		mypt.MarkType{Mark: "/", Description: "Present", Status: mypt.MarkStatusPresent},
		mypt.MarkType{Mark: "L", Description: "Late", Status: mypt.MarkStatusPresent, IsLate: true},
		mypt.MarkType{Mark: "O", Description: "Unauthorised absence", Status: mypt.MarkStatusAbsent},
		mypt.MarkType{Mark: "A", Description: "Authorised absence", Status: mypt.MarkStatusAbsent, IsAuthorisedAbsence: true},
		mypt.MarkType{Mark: "X", Description: "Not required", Status: mypt.MarkStatusNeutral},
		mypt.Course{CourseID: "C1", Code: "BTEC-IT-L3", Title: "BTEC Level 3 IT", Level: "3", AcademicYear: 2018},
	}
	names := [][2]string{{"Siobhán", "O’Neill-Smith"}, {"D'Arcy", "Brown"}, {"José", "García"}, {"Zoë", "Ng"}}
	marks := []string{"/", "/", "/", "L", "O", "/", "A", "X", ""}
	for i := 1; i <= students; i++ {
		sid := fmt.Sprintf("S%05d", i)
		n := names[i%len(names)]
		eid := "E" + sid
		rows = append(rows,
			mypt.Student{StudentID: sid, LegalFirstNames: n[0], LegalLastName: n[1], PreferredName: "", DateOfBirth: mypt.NewDate(2002, time.Month(1+i%12), 1+i%28),
				HasEHCP: i%7 == 0, College: "Main Site", CollegeEmail: strings.ToLower(sid) + "@students.example.ac.uk", ShareInfoConsent: i%3 == 0, Status: mypt.StudentCurrent},
			mypt.Contact{ContactID: "P" + sid, StudentID: sid, FirstName: "Parent", LastName: n[1], Relationship: "Mother", Email: "p" + strings.ToLower(sid) + "@example.org",
				MobilePhone: "07700 900123", IsNextOfKin: true, HasParentalResponsibility: true},
			mypt.Enrolment{EnrolmentID: eid, StudentID: sid, CourseID: "C1", StartDate: mypt.NewDate(2018, 9, 3), ExpectedEndDate: mypt.NewDate(2019, 6, 28), Status: "Active"},
			mypt.Tutor{TutorID: "T" + sid, StudentID: sid, EnrolmentID: eid, Name: "Ms Tutor", Role: "Personal tutor", Email: "tutor@example.ac.uk"},
			mypt.Document{DocumentID: "D" + sid, StudentID: sid, Title: "Progress letter", Category: "Letters", CreatedAt: time.Date(2024, 7, 1, 8, 0, 0, 0, time.UTC),
				ContentType: "application/pdf", Content: []byte("%PDF-1.4 letter for " + sid)},
			mypt.Achievement{AchievementID: "A" + sid, StudentID: sid, Qualification: "GCSE", Subject: "Maths", Grade: "5", AwardDate: mypt.NewDate(2018, 8, 23)},
			mypt.TargetGrade{EnrolmentID: eid, StudentID: sid, Grade: "Merit"},
			mypt.Target{TargetID: "G" + sid, StudentID: sid, EnrolmentID: eid, Text: "Hand in unit 3 on time — “really”", SetBy: "Ms Tutor", SetDate: mypt.NewDate(2018, 10, 1), Status: "Open"},
			mypt.PolicyRead{PolicyReadID: "R" + sid, StudentID: sid, Policy: "Safeguarding", ReadAt: time.Date(2024, 1, 15, 9, 0, 0, 0, time.UTC)},
			mypt.Meeting{MeetingID: "M" + sid, StudentID: sid, Type: "Progress Review", HeldOn: mypt.NewDate(2018, 11, 12), StaffName: "Ms Tutor", Notes: "Good progress."},
			mypt.FurtherDetail{StudentID: sid, ConsentForVisits: &yes, ConsentForPhotographs: &no},
		)
		day := mypt.NewDate(2018, 9, 3)
		for j := 0; j < marksPerStudent; j++ {
			rows = append(rows, mypt.AttendanceMark{MarkID: fmt.Sprintf("K%s-%04d", sid, j), StudentID: sid, EnrolmentID: eid,
				SessionDate: day.AddDays(j / 3), StartTime: []string{"09:00", "11:00", "14:00"}[j%3], EndTime: []string{"10:30", "12:30", "15:30"}[j%3],
				Mark: marks[(i+j)%len(marks)]})
		}
	}
	return rows
}

type rig struct {
	mis    mis
	srv    *mssqltest.Server // behind tds and tsql; nil for sqlserver
	src    *mssql.Source
	store  *sqlite.Store
	puller *syncer.Puller
	reg    *prometheus.Registry
}

// newRig is newMISRig on a tds MIS (mssqltest through its API) started with srvOpts.
func newRig(t *testing.T, rows []mypt.Row, srvOpts mssqltest.Options, mut func(*syncer.PullOptions)) *rig {
	t.Helper()
	return newMISRig(t, &tdsMIS{srv: contractServer(t, srvOpts)}, rows, mut)
}

// newMISRig loads rows into m and wires a Source on it, a fresh SQLite cache and a Puller
// (mut may change its options).
func newMISRig(t *testing.T, m mis, rows []mypt.Row, mut func(*syncer.PullOptions)) *rig {
	t.Helper()
	ctx := ctxT(t)
	if err := m.LoadRows(ctx, rows); err != nil {
		t.Fatal(err)
	}
	src := openSource(t, m.DSN())
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mypt.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	reg := prometheus.NewRegistry()
	o := syncer.PullOptions{Source: src, Cache: store, Registerer: reg, RetryBackoff: 10 * time.Millisecond,
		PassTimeout: 30 * time.Second,
		RecordRun: func(ctx context.Context, r syncer.Run) error {
			run := sqlite.SyncRun{Source: r.Source, Entity: r.Entity, Kind: r.Kind, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
				Success: r.Err == nil, Read: r.Read, Upserted: r.Upserted, Unchanged: r.Unchanged, Rejected: r.Rejected, Deleted: r.Deleted}
			if r.Err != nil {
				run.Error = r.Err.Error()
			}
			return store.RecordSyncRun(ctx, run)
		}}
	if mut != nil {
		mut(&o)
	}
	p, err := syncer.NewPuller(o)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{m, m.Server(), src, store, p, reg}
}

// dump is the cache's content of every MIS entity: key → row hash.
func dump(t *testing.T, s *sqlite.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range mypt.Entities {
		rows, err := s.ReadDB().QueryContext(ctxT(t), fmt.Sprintf("SELECT %s, row_hash FROM %s", keyCol(e), e))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var k string
			var h []byte
			if err := rows.Scan(&k, &h); err != nil {
				t.Fatal(err)
			}
			out[string(e)+"/"+k] = fmt.Sprintf("%x", h)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

func keyCol(e mypt.Entity) string {
	switch e {
	case mypt.EntityMarkType:
		return "mark"
	case mypt.EntityAttendanceMark:
		return "mark_id"
	case mypt.EntityTargetGrade:
		return "enrolment_id"
	case mypt.EntityFurtherDetail:
		return "student_id"
	}
	return string(e) + "_id"
}

// assertCacheAsBefore fails t unless the cache holds exactly the rows and watermarks it held
// before a failed pass, and no staged batch is left behind.
func assertCacheAsBefore(t *testing.T, s *sqlite.Store, before map[string]string, wmBefore map[mypt.Entity]string) {
	t.Helper()
	after := dump(t, s)
	if len(after) != len(before) {
		t.Errorf("a failed pass left %d rows in the cache, %d before it", len(after), len(before))
	}
	for k, h := range before {
		if after[k] != h {
			t.Fatalf("cache changed by a failed pass: %s", k)
		}
	}
	if wm := watermarks(t, s); fmt.Sprint(wm) != fmt.Sprint(wmBefore) {
		t.Fatalf("watermark moved: %v → %v", wmBefore, wm)
	}
	if got := count(t, s, "pull_stage", "1=1"); got != 0 {
		t.Errorf("%d staged batches left behind by the failed pass", got)
	}
}

func watermarks(t *testing.T, s *sqlite.Store) map[mypt.Entity]string {
	out := map[mypt.Entity]string{}
	for _, e := range mypt.Entities {
		wm, err := s.Watermark(ctxT(t), "mssql", e)
		if err != nil {
			t.Fatal(err)
		}
		out[e] = fmt.Sprintf("%x", wm)
	}
	return out
}

func TestFullSyncEqualsPush(t *testing.T) {
	t.Parallel()
	forEachMIS(t, misOptions{TLS: true}, func(t *testing.T, m mis) {
		rows := college(12, 30)
		r := newMISRig(t, m, rows, nil)
		ctx := ctxT(t)
		if err := r.puller.RunOnce(ctx, "", false); err != nil {
			t.Fatal(err)
		}
		// The same data through the push path (one delta batch) into a second cache.
		push, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "push.db"), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer push.Close()
		recs := make([]mypt.Record, len(rows))
		for i, row := range rows {
			recs[i] = mypt.Record{Entity: row.EntityName(), Op: mypt.OpUpsert, Key: row.Key(), Row: row}
		}
		res, err := push.ApplyBatch(ctx, mypt.Batch{ID: "push-1", Source: "push", Mode: mypt.ModeDelta, AllOrNothing: true, Records: recs})
		if err != nil || len(res.Rejected) > 0 {
			t.Fatalf("push: %v %+v", err, res.Rejected)
		}
		pulled, pushed := dump(t, r.store), dump(t, push)
		if len(pulled) != len(rows) {
			t.Errorf("pulled %d rows, MIS has %d", len(pulled), len(rows))
		}
		for k, h := range pushed {
			if pulled[k] != h {
				t.Errorf("%s differs between pull and push", k)
			}
		}
		// Names survive byte for byte.
		var first, last string
		if err := r.store.ReadDB().QueryRowContext(ctx, "SELECT legal_first_names, legal_last_name FROM student WHERE student_id = 'S00004'").Scan(&first, &last); err != nil || first+" "+last != "Siobhán O’Neill-Smith" {
			t.Errorf("name %q %q %v", first, last, err)
		}
		if v := testutil.ToFloat64(mustCounter(t, r.reg, "mypt_sync_passes_total", "entity", "attendance_mark", "result", "success")); v != 1 {
			t.Errorf("passes_total = %v", v)
		}
		if r.puller.LastSuccess().IsZero() {
			t.Error("LastSuccess is zero after a successful pass")
		}
		runs, err := r.store.SyncRuns(ctx, mypt.EntityAttendanceMark, 10)
		if err != nil || len(runs) != 1 || !runs[0].Success || runs[0].Read != 12*30 {
			t.Errorf("run history %+v %v", runs, err)
		}
	})
}

func mustCounter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := true
			for _, lp := range m.GetLabel() {
				if v, has := want[lp.GetName()]; has && v != lp.GetValue() {
					ok = false
				}
			}
			if ok {
				v := m.GetCounter().GetValue()
				if m.GetGauge() != nil {
					v = m.GetGauge().GetValue()
				}
				c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
				c.Add(v)
				return c
			}
		}
	}
	t.Fatalf("no metric %s %v", name, labels)
	return nil
}

// sumCounter adds up every series of a counter (all label values).
func sumCounter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, has := want[lp.GetName()]; has && v != lp.GetValue() {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func TestIncrementalReadsOnlyChanges(t *testing.T) {
	t.Parallel()
	forEachMIS(t, misOptions{}, func(t *testing.T, m mis) {
		r := newMISRig(t, m, college(10, 50), nil)
		ctx := ctxT(t)
		if err := r.puller.RunOnce(ctx, "", false); err != nil {
			t.Fatal(err)
		}
		sent, _ := m.RowsSent()
		// Three marks change; one student's new mark is in a transaction still open.
		if n, err := m.Update(ctx, "mypt.AttendanceMark", map[string]any{"Mark": "O"}, "MarkID IN ('KS00001-0000','KS00002-0001','KS00003-0002')"); err != nil || n != 3 {
			t.Fatal(n, err)
		}
		commit, err := m.OpenTransaction(ctx, []mypt.Row{mypt.AttendanceMark{MarkID: "KNEW", StudentID: "S00001", EnrolmentID: "ES00001",
			SessionDate: mypt.NewDate(2019, 1, 7), StartTime: "09:00", EndTime: "10:00", Mark: "/"}})
		if err != nil {
			t.Fatal(err)
		}
		defer commit()
		if err := r.puller.RunOnce(ctx, mypt.EntityAttendanceMark, false); err != nil {
			t.Fatal(err)
		}
		runs, err := r.store.SyncRuns(ctx, mypt.EntityAttendanceMark, 1)
		if err != nil || len(runs) != 1 || runs[0].Read != 3 {
			t.Errorf("incremental pass: %+v %v; want 3 rows read", runs, err)
		}
		// Bound + changes: 1 (MIN_ACTIVE_ROWVERSION) + 3 rows.
		if now, ok := m.RowsSent(); ok && now-sent != 4 {
			t.Errorf("incremental pass sent %d rows, want 1 bound + 3 changes", now-sent)
		}
		var mark string
		if err := r.store.ReadDB().QueryRowContext(ctx, "SELECT mark FROM attendance_mark WHERE mark_id = 'KS00002-0001'").Scan(&mark); err != nil || mark != "O" {
			t.Errorf("changed mark %q %v", mark, err)
		}
		if n := count(t, r.store, "attendance_mark", "mark_id = 'KNEW'"); n != 0 {
			t.Error("read a row above MIN_ACTIVE_ROWVERSION()")
		}
		if err := commit(); err != nil { // the transaction commits
			t.Fatal(err)
		}
		if err := r.puller.RunOnce(ctx, mypt.EntityAttendanceMark, false); err != nil {
			t.Fatal(err)
		}
		if n := count(t, r.store, "attendance_mark", "mark_id = 'KNEW'"); n != 1 {
			t.Error("the row of the once-open transaction was lost")
		}
	})
}

func count(t *testing.T, s *sqlite.Store, table, where string) int {
	t.Helper()
	var n int
	if err := s.ReadDB().QueryRowContext(ctxT(t), fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s", table, where)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestReconcileDeletesAndGuard(t *testing.T) {
	t.Parallel()
	forEachMIS(t, misOptions{}, func(t *testing.T, m mis) {
		r := newMISRig(t, m, college(10, 10), nil)
		ctx := ctxT(t)
		if err := r.puller.RunOnce(ctx, "", false); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Delete(ctx, "mypt.AttendanceMark", "MarkID IN ('KS00001-0001','KS00001-0002')"); err != nil {
			t.Fatal(err)
		}
		if err := r.puller.RunOnce(ctx, "", false); err != nil {
			t.Fatal(err)
		}
		if n := count(t, r.store, "attendance_mark", "mark_id = 'KS00001-0001'"); n != 1 {
			t.Fatal("an incremental pass cannot see deletes; the row should still be cached")
		}
		if err := r.puller.Reconcile(ctx, "", false); err != nil {
			t.Fatal(err)
		}
		if n := count(t, r.store, "attendance_mark", "mark_id IN ('KS00001-0001','KS00001-0002')"); n != 0 {
			t.Error("reconciliation left deleted rows")
		}
		if v := testutil.ToFloat64(mustCounter(t, r.reg, "mypt_reconcile_deletes_total", "entity", "attendance_mark")); v != 2 {
			t.Errorf("reconcile_deletes_total = %v", v)
		}
		// Most students vanish from the MIS (a botched view?): refused, nothing deleted, unless forced.
		if _, err := m.Delete(ctx, "mypt.Student", "StudentID <> 'S00001'"); err != nil {
			t.Fatal(err)
		}
		err := r.puller.Reconcile(ctx, mypt.EntityStudent, false)
		if !errors.Is(err, mypt.ErrRefused) || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("guard: %v", err)
		}
		if n := count(t, r.store, "student", "1=1"); n != 10 {
			t.Errorf("guard let %d students remain", n)
		}
		if err := r.puller.Reconcile(ctx, mypt.EntityStudent, true); err != nil {
			t.Fatal(err)
		}
		if n := count(t, r.store, "student", "1=1"); n != 1 {
			t.Errorf("forced reconcile left %d students", n)
		}
	})
}

// The MIS is restored from a backup older than what we have read: its rowversions go back below
// our watermark and rows we cached are gone. The pass notices, reads everything again and
// reconciles.
func TestWatermarkAheadOfMISReadsAgain(t *testing.T) {
	t.Parallel()
	forEachMIS(t, misOptions{}, func(t *testing.T, m mis) {
		r := newMISRig(t, m, college(5, 5), nil)
		ctx := ctxT(t)
		if err := m.Backup(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Update(ctx, "mypt.Course", map[string]any{"Title": "Renamed"}, "CourseID = 'C1'"); err != nil {
			t.Fatal(err)
		}
		if err := m.LoadRows(ctx, []mypt.Row{mypt.AttendanceMark{MarkID: "KLATE", StudentID: "S00001", EnrolmentID: "ES00001",
			SessionDate: mypt.NewDate(2019, 1, 7), StartTime: "09:00", EndTime: "10:00", Mark: "/"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Update(ctx, "mypt.Student", map[string]any{"PreferredName": "Later"}, "StudentID = 'S00002'"); err != nil {
			t.Fatal(err)
		}
		if err := r.puller.RunOnce(ctx, "", false); err != nil {
			t.Fatal(err)
		}
		if n := count(t, r.store, "attendance_mark", "mark_id = 'KLATE'"); n != 1 {
			t.Fatal("the mark written after the backup was not cached")
		}
		if err := m.Restore(ctx); err != nil {
			t.Fatal(err)
		}
		// What the test is about: the restored MIS's bound is at or below what we have read.
		wm, err := r.store.Watermark(ctx, "mssql", mypt.EntityStudent)
		if err != nil {
			t.Fatal(err)
		}
		bound, err := openSource(t, m.DSN()).Bound(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Compare(bound, wm) > 0 {
			t.Fatalf("after the restore MIN_ACTIVE_ROWVERSION() %x is above the student watermark %x: the restore did not take rowversions back", bound, wm)
		}
		if err := r.puller.RunOnce(ctx, "", false); err != nil {
			t.Fatal(err)
		}
		// Rows below the (restored) bound were read again; the mark the restore removed is
		// reconciled away.
		if n := count(t, r.store, "attendance_mark", "mark_id = 'KLATE'"); n != 0 {
			t.Error("a restore's deletion was not reconciled")
		}
		var pref, title string
		if err := r.store.ReadDB().QueryRowContext(ctx, "SELECT preferred_name FROM student WHERE student_id = 'S00002'").Scan(&pref); err != nil || pref != "" {
			t.Errorf("preferred name after the restore %q %v, want the restored empty one", pref, err)
		}
		if err := r.store.ReadDB().QueryRowContext(ctx, "SELECT title FROM course WHERE course_id = 'C1'").Scan(&title); err != nil || title != "BTEC Level 3 IT" {
			t.Errorf("course title after the restore %q %v", title, err)
		}
	})
}

func TestRejectedRowsDoNotStopThePass(t *testing.T) {
	t.Parallel()
	forEachMIS(t, misOptions{}, func(t *testing.T, m mis) {
		r := newMISRig(t, m, college(3, 3), nil)
		ctx := ctxT(t)
		if err := m.Insert(ctx, "mypt.Student", map[string]any{"StudentID": "BAD1", "LegalFirstNames": "No", "LegalLastName": "Status",
			"DateOfBirth": "2008-01-01", "HasEHCP": false, "ShareInfoConsent": false, "Status": "unknown"}); err != nil {
			t.Fatal(err)
		}
		if err := m.LoadRows(ctx, []mypt.Row{student("S9", "After", "Bad")}); err != nil {
			t.Fatal(err)
		}
		if err := r.puller.RunOnce(ctx, mypt.EntityStudent, false); err != nil {
			t.Fatal(err)
		}
		if n := count(t, r.store, "student", "1=1"); n != 4 {
			t.Errorf("%d students cached, want 4 (3 + the one after the bad row)", n)
		}
		if v := testutil.ToFloat64(mustCounter(t, r.reg, "mypt_sync_rows_total", "entity", "student", "op", "upsert", "result", "rejected")); v != 1 {
			t.Errorf("rejected rows metric = %v", v)
		}
		// The watermark moved past the bad row: it is not re-read until it changes.
		if err := r.puller.RunOnce(ctx, mypt.EntityStudent, false); err != nil {
			t.Fatal(err)
		}
		if v := testutil.ToFloat64(mustCounter(t, r.reg, "mypt_sync_rows_total", "entity", "student", "op", "upsert", "result", "rejected")); v != 1 {
			t.Errorf("bad row re-read: rejected = %v", v)
		}
	})
}

// MS-4 and the other injected faults: the cache and watermark equal their state before the
// failed pass; the next pass uses a fresh connection and succeeds. On tds the faults are
// mssqltest's own (after 5000 rows); on tsql and sqlserver the fault proxy breaks the TCP stream
// (after 128 KiB of the 10,000-row result).
func TestFaultsLeaveCacheUnchanged(t *testing.T) {
	t.Parallel()
	forEachMIS(t, misOptions{}, func(t *testing.T, m mis) {
		r := newMISRig(t, m, college(3, 2), nil)
		ctx := ctxT(t)
		if err := r.puller.RunOnce(ctx, "", false); err != nil {
			t.Fatal(err)
		}
		// 10,000 new marks arrive in the MIS: the next attendance pass has a 10,000-row result.
		i := 0
		if err := m.LoadValues(ctx, "mypt.AttendanceMark", markCols, func(row []any) bool {
			if i == 10000 {
				return false
			}
			markValues(i, "L", row)
			i++
			return true
		}); err != nil {
			t.Fatal(err)
		}
		// Pullers that show the fault itself (no retry); the one for the stall gives up quickly.
		faulty, err := syncer.NewPuller(syncer.PullOptions{Source: r.src, Cache: r.store, Registerer: prometheus.NewRegistry(),
			RetryAttempts: 1, PassTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		impatient, err := syncer.NewPuller(syncer.PullOptions{Source: r.src, Cache: r.store, Registerer: prometheus.NewRegistry(),
			RetryAttempts: 1, PassTimeout: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []misFault{
			{Kind: mssqltest.FaultStall, Rows: 5000, Bytes: 128 << 10, Match: "AttendanceMark"},
			{Kind: mssqltest.FaultDrop, Rows: 5000, Bytes: 128 << 10, Match: "AttendanceMark"},
			{Kind: mssqltest.FaultError, Number: 1205, Match: "AttendanceMark"},
		} {
			name := map[mssqltest.FaultKind]string{mssqltest.FaultStall: "stall", mssqltest.FaultDrop: "drop", mssqltest.FaultError: "error"}[f.Kind]
			t.Run(name, func(t *testing.T) {
				before, wmBefore, logins := dump(t, r.store), watermarks(t, r.store), m.Logins()
				m.Fault(t, f)
				start := time.Now()
				p := faulty
				if f.Kind == mssqltest.FaultStall {
					p = impatient
				}
				err := p.RunOnce(ctx, mypt.EntityAttendanceMark, false)
				if err == nil {
					t.Fatal("the faulty pass succeeded")
				}
				t.Logf("failed as expected after %s: %v", time.Since(start).Round(time.Millisecond), err)
				if took := time.Since(start); f.Kind == mssqltest.FaultStall && took > 10*time.Second {
					t.Errorf("the stalled pass took %s; it must end at its 3s timeout", took)
				}
				assertCacheAsBefore(t, r.store, before, wmBefore)
				if f.Kind != mssqltest.FaultError {
					// The next pass runs on a new connection.
					if err := r.puller.RunOnce(ctx, mypt.EntityStudent, false); err != nil {
						t.Fatal(err)
					}
					if m.Logins() == logins {
						t.Error("the broken connection was reused")
					}
				}
			})
		}
		if err := r.puller.RunOnce(ctx, mypt.EntityAttendanceMark, false); err != nil {
			t.Fatal(err)
		}
		if n := count(t, r.store, "attendance_mark", "mark_id NOT LIKE 'KS%'"); n != 10000 {
			t.Errorf("after recovery %d of the 10000 new marks cached", n)
		}
	})
}

func TestDeadlockIsRetried(t *testing.T) {
	t.Parallel()
	forEachMIS(t, misOptions{}, func(t *testing.T, m mis) {
		r := newMISRig(t, m, college(3, 3), nil)
		ctx := ctxT(t)
		m.Fault(t, misFault{Kind: mssqltest.FaultError, Number: 1205, Match: "mypt.AttendanceMark"})
		if err := r.puller.RunOnce(ctx, "", false); err != nil {
			t.Fatalf("a deadlock was not retried: %v", err)
		}
		if n := count(t, r.store, "attendance_mark", "1=1"); n != 9 {
			t.Errorf("%d marks", n)
		}
		if v := testutil.ToFloat64(mustCounter(t, r.reg, "mypt_sync_passes_total", "entity", "attendance_mark", "result", "failure")); v != 1 {
			t.Errorf("failures = %v, want the one retried", v)
		}
	})
}

// A connection dropped mid-pass is retried on a new one; the pass succeeds.
func TestDroppedConnectionIsRetried(t *testing.T) {
	t.Parallel()
	forEachMIS(t, misOptions{}, func(t *testing.T, m mis) {
		r := newMISRig(t, m, college(3, 3), nil)
		ctx := ctxT(t)
		logins := m.Logins()
		m.Fault(t, misFault{Kind: mssqltest.FaultDrop, Rows: 1, Match: "mypt.Student", Bytes: 1})
		if err := r.puller.RunOnce(ctx, "", false); err != nil {
			t.Fatalf("a dropped connection was not retried: %v", err)
		}
		if n := count(t, r.store, "attendance_mark", "1=1"); n != 9 {
			t.Errorf("%d marks", n)
		}
		if n := count(t, r.store, "student", "1=1"); n != 3 {
			t.Errorf("%d students", n)
		}
		if v := sumCounter(t, r.reg, "mypt_sync_passes_total", "result", "failure"); v != 1 {
			t.Errorf("failures = %v, want the one retried", v)
		}
		if m.Logins() <= logins {
			t.Errorf("logins %d → %d: the dropped connection was reused", logins, m.Logins())
		}
	})
}

// A permanent error (a view that does not exist) is not retried.
func TestMissingViewIsNotRetried(t *testing.T) {
	t.Parallel()
	forEachMIS(t, misOptions{}, func(t *testing.T, m mis) {
		r := newMISRig(t, m, college(2, 2), nil)
		ctx := ctxT(t)
		if err := m.DropView(ctx, "mypt.Meeting"); err != nil {
			t.Fatal(err)
		}
		err := r.puller.RunOnce(ctx, mypt.EntityMeeting, false)
		if err == nil || !strings.Contains(err.Error(), "Invalid object name") {
			t.Fatalf("missing view: %v", err)
		}
		if v := testutil.ToFloat64(mustCounter(t, r.reg, "mypt_sync_passes_total", "entity", "meeting", "result", "failure")); v != 1 {
			t.Errorf("a permanent error was retried: %v failures", v)
		}
	})
}

func TestRunLoopPollsAndTriggers(t *testing.T) {
	t.Parallel()
	forEachMIS(t, misOptions{}, func(t *testing.T, m mis) {
		r := newMISRig(t, m, college(2, 2), func(o *syncer.PullOptions) {
			o.PollInterval = time.Hour // only the start-up pass and the trigger
		})
		ctx, cancel := context.WithCancel(ctxT(t))
		done := make(chan error, 1)
		go func() { done <- r.puller.Run(ctx) }()
		waitFor := func(what string, cond func() bool) {
			t.Helper()
			for i := 0; i < 2400; i++ { // up to a minute on a loaded machine
				if cond() {
					return
				}
				time.Sleep(25 * time.Millisecond)
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		waitFor("the start-up pass", func() bool { return count(t, r.store, "student", "1=1") == 2 })
		if err := m.LoadRows(ctxT(t), []mypt.Row{student("S77", "New", "Student")}); err != nil {
			t.Fatal(err)
		}
		r.puller.Trigger()
		r.puller.Trigger() // merged with the first
		waitFor("the triggered pass", func() bool { return count(t, r.store, "student", "1=1") == 3 })
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run returned %v", err)
		}
	})
}

// The synthetic college (internal/synth, what `mypt demo` serves) pulled from the MIS equals the
// same college pushed as NDJSON batches through the push path's parser and the ingest core.
func TestSyntheticCollegePullEqualsPush(t *testing.T) {
	t.Parallel()
	c, err := synth.Generate(synth.Options{Seed: 7, Students: 6, AsOf: mypt.NewDate(2019, 3, 29)})
	if err != nil {
		t.Fatal(err)
	}
	rows := c.Rows()
	forEachMIS(t, misOptions{TLS: true}, func(t *testing.T, m mis) {
		r := newMISRig(t, m, rows, nil)
		ctx := ctxT(t)
		if err := r.puller.RunOnce(ctx, "", false); err != nil {
			t.Fatal(err)
		}
		push, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "push.db"), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer push.Close()
		for i, chunk := range synth.Chunks(rows, 5000) {
			var buf bytes.Buffer
			if err := synth.WriteNDJSON(&buf, fmt.Sprintf("synth-%d", i), chunk); err != nil {
				t.Fatal(err)
			}
			b, err := mypt.ParseBatch(&buf, mypt.ParseLimits{})
			if err != nil {
				t.Fatal(err)
			}
			b.Source, b.AllOrNothing = "push", true
			if _, err := push.ApplyBatch(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		pulled, pushed := dump(t, r.store), dump(t, push)
		if len(pulled) != len(pushed) || len(pushed) != len(rows) {
			t.Errorf("pulled %d rows, pushed %d, college has %d", len(pulled), len(pushed), len(rows))
		}
		diff := 0
		for k, h := range pushed {
			if pulled[k] != h {
				if diff++; diff <= 5 {
					t.Errorf("%s differs between pull and push", k)
				}
			}
		}
		if diff > 0 {
			t.Errorf("%d rows differ", diff)
		}
	})
}
