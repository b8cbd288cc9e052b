package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mypt"
)

func TestApplyBatchEveryEntity(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	ctx := context.Background()
	rows := everyEntity()
	res := mustApply(t, s, mypt.Batch{ID: "b1", Source: "push", Mode: mypt.ModeDelta, Records: upsert(rows...),
		Watermarks: []mypt.Watermark{{Entity: mypt.EntityAttendanceMark, Value: []byte{0, 0, 0, 0, 0, 0, 1, 0}}}})
	if res.Upserted != len(rows) || res.Unchanged != 0 || res.Deleted != 0 || len(res.Rejected) != 0 || res.Duplicate {
		t.Fatalf("result = %+v, want %d upserted", res, len(rows))
	}
	if !slices.Equal(res.Students, []string{"S1"}) {
		t.Errorf("students = %v, want [S1]", res.Students)
	}
	for _, e := range mypt.Entities {
		n, err := s.CountRows(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("%s: no rows stored", e)
		}
		if n := queryInt(t, s.ReadDB(), `SELECT COUNT(*) FROM entity_freshness WHERE entity = ?`, string(e)); n != 1 {
			t.Errorf("%s: no freshness row", e)
		}
	}
	if v := queryInt(t, s.ReadDB(), `SELECT version FROM student_version WHERE student_id = 'S1'`); v != 1 {
		t.Errorf("student version = %d, want 1", v)
	}
	wm, err := s.Watermark(ctx, "push", mypt.EntityAttendanceMark)
	if err != nil || !bytes.Equal(wm, []byte{0, 0, 0, 0, 0, 0, 1, 0}) {
		t.Errorf("watermark = %x, %v", wm, err)
	}
	if wm, err := s.Watermark(ctx, "mssql", mypt.EntityAttendanceMark); wm != nil || err != nil {
		t.Errorf("watermark of another source = %x, %v; want nil, nil", wm, err)
	}
	var keys []string
	if err := s.EntityKeys(ctx, mypt.EntityMarkType, func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"#", "/", "A", "L", "O"}; !slices.Equal(keys, want) {
		t.Errorf("mark type keys = %q, want %q", keys, want)
	}
	stop := errors.New("stop")
	if err := s.EntityKeys(ctx, mypt.EntityMarkType, func(string) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("EntityKeys did not return fn's error: %v", err)
	}
	// The unmarked session (M4) is in the year row but not possible under the default policy.
	var present, late, absent, unmarked int
	if err := s.ReadDB().QueryRow(`SELECT present, late, absent, unmarked FROM attendance_year
		WHERE student_id = 'S1' AND academic_year = 2018 AND enrolment_id = ''`).Scan(&present, &late, &absent, &unmarked); err != nil {
		t.Fatal(err)
	}
	if present != 1 || late != 1 || absent != 1 || unmarked != 1 {
		t.Errorf("year tally = %d/%d/%d/%d, want 1/1/1/1", present, late, absent, unmarked)
	}
	checkAttendance(t, s)

	// A second change to one student's row bumps the version and names the student.
	st := student("S1")
	st.PreferredName = "Shiv"
	res = mustApply(t, s, mypt.Batch{ID: "b2", Source: "push", Records: upsert(st, mark("M9", "S2", "E9", "2018-09-10", "/"))})
	if !slices.Equal(res.Students, []string{"S1", "S2"}) || res.Upserted != 2 {
		t.Errorf("result = %+v", res)
	}
	if v := queryInt(t, s.ReadDB(), `SELECT version FROM student_version WHERE student_id = 'S1'`); v != 2 {
		t.Errorf("student version = %d, want 2", v)
	}
	// A course change reaches its students.
	res = mustApply(t, s, mypt.Batch{ID: "b3", Source: "push", Records: upsert(
		mypt.Course{CourseID: "C1", Code: "BTEC-IT-3", Title: "BTEC Level 3 Information Technology", Level: "3", AcademicYear: 2018})})
	if !slices.Equal(res.Students, []string{"S1"}) {
		t.Errorf("course change: students = %v, want [S1]", res.Students)
	}
}

func TestApplyBatchIdempotent(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	b := mypt.Batch{ID: "2026-12-02-nightly", Source: "push", Mode: mypt.ModeDelta, AllOrNothing: true,
		Records:    append(upsert(everyEntity()...), del(mypt.EntityMeeting, "no-such-meeting")...),
		Watermarks: []mypt.Watermark{{Entity: mypt.EntityStudent, Value: []byte{1}}}}
	mustApply(t, s, b)
	before := dump(t, s)
	res := mustApply(t, s, b)
	if !res.Duplicate || res.Upserted != 0 || res.Deleted != 0 || len(res.Students) != 0 {
		t.Errorf("second apply = %+v, want a duplicate that changed nothing", res)
	}
	if d := diffDumps(before, dump(t, s)); d != "" {
		t.Errorf("the same batch twice changed the cache:\n%s", d)
	}

	// The same rows under a new id are all unchanged and touch no student's data.
	b.ID = "2026-12-03-nightly"
	res = mustApply(t, s, b)
	if res.Duplicate || res.Upserted != 0 || res.Unchanged != len(everyEntity()) || len(res.Students) != 0 {
		t.Errorf("same rows, new id = %+v, want every row unchanged", res)
	}
	after := dump(t, s)
	for _, tbl := range []string{"student", "attendance_mark", "attendance_week", "attendance_year", "student_version", "document"} {
		if !slices.Equal(before[tbl], after[tbl]) {
			t.Errorf("unchanged rows rewrote table %s", tbl)
		}
	}
}

func TestApplyBatchReusedIDOtherContent(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	mustApply(t, s, mypt.Batch{ID: "b1", Source: "push", Records: upsert(student("S1"))})
	before := dump(t, s)
	_, err := s.ApplyBatch(context.Background(), mypt.Batch{ID: "b1", Source: "push", Records: upsert(student("S2"))})
	if !errors.Is(err, mypt.ErrConflict) {
		t.Fatalf("reused id with other content: err = %v, want ErrConflict", err)
	}
	if d := diffDumps(before, dump(t, s)); d != "" {
		t.Errorf("a refused batch changed the cache:\n%s", d)
	}
}

func TestSnapshotGuard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := MustOpenAt(t, filepath.Join(t.TempDir(), "mypt.db"), Options{SnapshotMaxDeleteShare: 0.2})
	var all []mypt.Row
	for i := range 10 {
		all = append(all, student(fmt.Sprintf("S%02d", i)))
	}
	mustApply(t, s, mypt.Batch{ID: "load", Source: "push", Records: upsert(all...)})
	snapshot := func(id string, force bool, rows ...mypt.Row) (mypt.BatchResult, error) {
		return s.ApplyBatch(ctx, mypt.Batch{ID: id, Source: "push", Mode: mypt.ModeSnapshot,
			Entities: []mypt.Entity{mypt.EntityStudent}, Force: force, AllOrNothing: true, Records: upsert(rows...)})
	}

	before := dump(t, s)
	for name, rows := range map[string][]mypt.Row{"empty export": nil, "30% gone": all[:7]} {
		_, err := snapshot("snap-"+name, false, rows...)
		var re *RefusedError
		if !errors.Is(err, mypt.ErrRefused) || !errors.As(err, &re) {
			t.Fatalf("%s: err = %v, want a refusal", name, err)
		}
		if r := re.Refusals[0]; r.Entity != mypt.EntityStudent || r.Existing != 10 || r.Delete != 10-len(rows) {
			t.Errorf("%s: refusal = %+v", name, r)
		}
		if !strings.Contains(err.Error(), "student") || !strings.Contains(err.Error(), "of 10 rows") {
			t.Errorf("%s: message %q does not name the entity and counts", name, err)
		}
		if d := diffDumps(before, dump(t, s)); d != "" {
			t.Fatalf("%s: a refused snapshot changed the cache:\n%s", name, d)
		}
	}

	// Within the share: applied, the absent row deleted.
	res, err := snapshot("snap-ok", false, all[:8]...)
	if err != nil || res.Deleted != 2 || res.Unchanged != 8 {
		t.Fatalf("20%% snapshot: %+v, %v; want 2 deleted", res, err)
	}
	if n, _ := s.CountRows(ctx, mypt.EntityStudent); n != 8 {
		t.Errorf("students after snapshot = %d, want 8", n)
	}
	// Forced: applied whatever the share.
	res, err = snapshot("snap-forced", true, all[:1]...)
	if err != nil || res.Deleted != 7 {
		t.Fatalf("forced snapshot: %+v, %v; want 7 deleted", res, err)
	}
	if n, _ := s.CountRows(ctx, mypt.EntityStudent); n != 1 {
		t.Errorf("students after forced snapshot = %d, want 1", n)
	}
	// A snapshot of marks deletes their attendance rows too.
	mustApply(t, s, mypt.Batch{ID: "marks", Source: "push", Records: upsert(append(markTypes(),
		mark("M1", "S00", "E1", "2018-09-10", "/"), mark("M2", "S00", "E1", "2018-09-11", "O"))...)})
	if _, err := s.ApplyBatch(ctx, mypt.Batch{ID: "marks-snap", Source: "push", Mode: mypt.ModeSnapshot, Force: true,
		Entities: []mypt.Entity{mypt.EntityAttendanceMark}, Records: upsert(mark("M1", "S00", "E1", "2018-09-10", "/"))}); err != nil {
		t.Fatal(err)
	}
	checkAttendance(t, s)
	if n := queryInt(t, s.ReadDB(), `SELECT absent FROM attendance_year WHERE student_id = 'S00' AND enrolment_id = ''`); n != 0 {
		t.Errorf("absent after snapshot deleted the absence = %d", n)
	}
}

func TestRejectionsPullMode(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	bad := student("S2")
	bad.DateOfBirth = mypt.Date{}
	bad.Status = "gone"
	big := mypt.Document{DocumentID: "D1", StudentID: "S1", Title: "Huge", CreatedAt: s.Now(), ContentType: "application/pdf",
		Content: make([]byte, 2048)}
	s2 := MustOpenAt(t, filepath.Join(t.TempDir(), "small.db"), Options{MaxDocumentBytes: 1024})
	for _, st := range []*Store{s, s2} {
		recs := upsert(student("S1"), bad, student("S3"), big)
		recs = append(recs, mypt.Record{Line: 9, Entity: "pupil", Op: mypt.OpUpsert, Key: "x"},
			mypt.Record{Line: 10, Entity: mypt.EntityStudent, Op: mypt.OpDelete},
			mypt.Record{Line: 11, Entity: mypt.EntityStudent, Op: mypt.OpUpsert, Key: "S9", Row: student("S4")})
		res, err := st.ApplyBatch(context.Background(), mypt.Batch{Source: "mssql", Records: recs})
		if err != nil {
			t.Fatalf("pull-mode batch with bad rows: %v", err)
		}
		wantUpserted := 3
		if st == s2 {
			wantUpserted = 2
		}
		if res.Upserted != wantUpserted {
			t.Errorf("upserted = %d, want %d", res.Upserted, wantUpserted)
		}
		byLine := map[int]mypt.Rejection{}
		for _, r := range res.Rejected {
			byLine[r.Line] = r
		}
		if r := byLine[3]; r.Key != "S2" || !strings.Contains(r.Reason, "DateOfBirth: is required") || !strings.Contains(r.Reason, "Status") {
			t.Errorf("bad student rejection = %+v", r)
		}
		if r := byLine[9]; !strings.Contains(r.Reason, "unknown entity") {
			t.Errorf("unknown entity rejection = %+v", r)
		}
		if r := byLine[10]; !strings.Contains(r.Reason, "key") {
			t.Errorf("delete without key rejection = %+v", r)
		}
		if r := byLine[11]; !strings.Contains(r.Reason, "does not match") {
			t.Errorf("key mismatch rejection = %+v", r)
		}
		if st == s2 {
			if r := byLine[5]; r.Key != "D1" || !strings.Contains(r.Reason, "more than the limit of 1024") {
				t.Errorf("large document rejection = %+v", r)
			}
		} else if _, ok := byLine[5]; ok {
			t.Errorf("document under the default limit rejected: %+v", byLine[5])
		}
		if n, _ := st.CountRows(context.Background(), mypt.EntityStudent); n != 2 {
			t.Errorf("students stored = %d, want the 2 good ones", n)
		}
	}
}

func TestAllOrNothing(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	mustApply(t, s, mypt.Batch{ID: "b0", Source: "push", Records: upsert(student("S0"))})
	before := dump(t, s)
	bad := student("S2")
	bad.LegalLastName = ""
	res, err := s.ApplyBatch(context.Background(), mypt.Batch{ID: "b1", Source: "push", AllOrNothing: true,
		Records: upsert(student("S1"), bad, student("S3"))})
	var re *RejectedError
	if !errors.Is(err, mypt.ErrInvalid) || !errors.As(err, &re) {
		t.Fatalf("err = %v, want a RejectedError", err)
	}
	if len(re.Rejections) != 1 || re.Rejections[0].Line != 3 || re.Rejections[0].Key != "S2" ||
		!strings.Contains(re.Rejections[0].Reason, "LegalLastName") {
		t.Errorf("rejections = %+v", re.Rejections)
	}
	if len(res.Rejected) != 1 {
		t.Errorf("result rejections = %+v", res.Rejected)
	}
	if d := diffDumps(before, dump(t, s)); d != "" {
		t.Errorf("an all-or-nothing batch with a bad row changed the cache:\n%s", d)
	}
	// The id was not used up: the corrected batch applies.
	if _, err := s.ApplyBatch(context.Background(), mypt.Batch{ID: "b1", Source: "push", AllOrNothing: true,
		Records: upsert(student("S1"), student("S2"), student("S3"))}); err != nil {
		t.Errorf("corrected batch: %v", err)
	}
}

func TestBadBatchHeaders(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	for name, b := range map[string]mypt.Batch{
		"no source":           {ID: "x"},
		"unknown mode":        {ID: "x", Source: "push", Mode: "merge"},
		"snapshot, no entity": {ID: "x", Source: "push", Mode: mypt.ModeSnapshot},
		"snapshot, bad name":  {ID: "x", Source: "push", Mode: mypt.ModeSnapshot, Entities: []mypt.Entity{"pupil"}},
		"delta with entities": {ID: "x", Source: "push", Entities: []mypt.Entity{mypt.EntityStudent}},
		"bad watermark":       {ID: "x", Source: "push", Watermarks: []mypt.Watermark{{Entity: "pupil"}}},
	} {
		if _, err := s.ApplyBatch(context.Background(), b); !errors.Is(err, mypt.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

// TestPrecomputedAttendance applies random batches of marks (new, changed, moved, deleted; mark
// types redefined; a snapshot) and after each checks the precomputed rows against a count from
// scratch with mypt.GroupWeeks and mypt.TallyOf.
func TestPrecomputedAttendance(t *testing.T) {
	t.Parallel()
	for _, policy := range []mypt.UnmarkedPolicy{mypt.UnmarkedIgnored, mypt.UnmarkedAbsent} {
		t.Run(string(policy), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "mypt.db")
			s := MustOpenAt(t, path, Options{Unmarked: string(policy)})
			rng := rand.New(rand.NewPCG(1, uint64(len(policy))))
			codes := []string{"/", "L", "O", "A", "#", "", "Z"} // Z is undefined until a batch defines it
			mustApply(t, s, mypt.Batch{ID: "types", Source: "push", Records: upsert(markTypes()...)})
			// Dates around the 1 August boundary too: the week of Mon 29 July 2019 straddles years.
			days := []string{"2018-09-10", "2018-09-11", "2018-09-14", "2018-09-17", "2019-02-25", "2019-07-29",
				"2019-07-31", "2019-08-01", "2019-08-02", "2019-09-02", "2019-09-03"}
			randomMark := func(id string) mypt.AttendanceMark {
				st := fmt.Sprintf("S%d", rng.IntN(4))
				return mark(id, st, fmt.Sprintf("E%s-%d", st, rng.IntN(2)), days[rng.IntN(len(days))], codes[rng.IntN(len(codes))])
			}
			for round := range 12 {
				var recs []mypt.Record
				for range 40 {
					id := fmt.Sprintf("M%d", rng.IntN(60))
					if rng.IntN(6) == 0 {
						recs = append(recs, del(mypt.EntityAttendanceMark, id)...)
					} else {
						recs = append(recs, upsert(randomMark(id))...)
					}
				}
				switch round {
				case 3: // late becomes present: every figure with an L changes
					recs = append(recs, upsert(mypt.MarkType{Mark: "L", Description: "Late (counted present)", Status: 1})...)
				case 5: // a new mark type for marks already stored
					recs = append(upsert(mypt.MarkType{Mark: "Z", Description: "Study leave", Status: 2}), recs...)
				case 7: // a description only: touches students, counts unchanged
					recs = append(recs, upsert(mypt.MarkType{Mark: "/", Description: "Present in class", Status: 1})...)
				case 8:
					recs = append(recs, del(mypt.EntityMarkType, "O")...)
				}
				b := mypt.Batch{ID: fmt.Sprintf("r%d", round), Source: "push", Records: recs}
				if round == 10 {
					var keep []mypt.Record
					for i := range 30 {
						keep = append(keep, upsert(randomMark(fmt.Sprintf("M%d", i)))...)
					}
					b = mypt.Batch{ID: "snap", Source: "push", Mode: mypt.ModeSnapshot, Force: true,
						Entities: []mypt.Entity{mypt.EntityAttendanceMark, mypt.EntityMarkType},
						Records:  append(keep, upsert(markTypes()[:3]...)...)}
				}
				mustApply(t, s, b)
				checkAttendance(t, s)
				if t.Failed() {
					t.Fatalf("after round %d", round)
				}
			}
			// Reopening under the other policy recomputes every row.
			s.Close()
			other := mypt.UnmarkedAbsent
			if policy == other {
				other = mypt.UnmarkedIgnored
			}
			s = MustOpenAt(t, path, Options{Unmarked: string(other)})
			checkAttendance(t, s)
		})
	}
}

// checkAttendance recomputes every precomputed attendance row from the marks and mark types in
// the cache with the domain's own functions, and compares.
func checkAttendance(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	db := s.ReadDB()
	types, err := loadMarkTypes(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	var marks []mypt.AttendanceMark
	rows, err := db.QueryContext(ctx, `SELECT mark_id, student_id, enrolment_id, session_date, start_time, end_time, mark FROM attendance_mark`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var m mypt.AttendanceMark
		var d string
		if err := rows.Scan(&m.MarkID, &m.StudentID, &m.EnrolmentID, &d, &m.StartTime, &m.EndTime, &m.Mark); err != nil {
			t.Fatal(err)
		}
		m.SessionDate = date(d)
		marks = append(marks, m)
	}
	rows.Close()
	p := s.unmarked
	type sy struct {
		student string
		year    int
	}
	byYear := map[sy][]mypt.MarkedSession{}
	for _, ms := range mypt.Resolve(marks, types) {
		k := sy{ms.StudentID, mypt.AcademicYearOf(ms.SessionDate)}
		byYear[k] = append(byYear[k], ms)
	}
	tallyRow := func(tl mypt.Tally) string {
		return fmt.Sprintf("%d %d %d %d %d %d", tl.Present, tl.Late, tl.Absent, tl.AuthorisedAbsent, tl.Neutral, tl.Unmarked)
	}
	var wantWeeks, wantShown, wantYears []string
	for k, sessions := range byYear {
		perWeek := map[mypt.Date][]mypt.MarkedSession{}
		perEnrolment := map[string][]mypt.MarkedSession{}
		for _, ms := range sessions {
			perWeek[ms.SessionDate.Monday()] = append(perWeek[ms.SessionDate.Monday()], ms)
			perEnrolment[ms.EnrolmentID] = append(perEnrolment[ms.EnrolmentID], ms)
		}
		for mon, ss := range perWeek {
			wantWeeks = append(wantWeeks, fmt.Sprintf("%s %d %s %s", k.student, k.year, mon, tallyRow(mypt.TallyOf(ss, p))))
		}
		for _, w := range mypt.GroupWeeks(sessions, p) {
			wantShown = append(wantShown, fmt.Sprintf("%s %d %s %s", k.student, k.year, w.Monday, tallyRow(w.Tally)))
		}
		wantYears = append(wantYears, fmt.Sprintf("%s %d %s %s", k.student, k.year, "", tallyRow(mypt.TallyOf(sessions, p))))
		for e, ss := range perEnrolment {
			wantYears = append(wantYears, fmt.Sprintf("%s %d %s %s", k.student, k.year, e, tallyRow(mypt.TallyOf(ss, p))))
		}
	}
	read := func(q string) []string {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var st, k string
			var year int
			var tl mypt.Tally
			if err := rows.Scan(&st, &year, &k, &tl.Present, &tl.Late, &tl.Absent, &tl.AuthorisedAbsent, &tl.Neutral, &tl.Unmarked); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s %d %s %s", st, year, k, tallyRow(tl)))
		}
		return out
	}
	const cols = "present, late, absent, authorised_absent, neutral, unmarked"
	compare := func(what string, got, want []string) {
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s differ from a recomputation:\n got  %q\n want %q", what, got, want)
		}
	}
	compare("attendance_week rows", read(`SELECT student_id, academic_year, week_start, `+cols+` FROM attendance_week`), wantWeeks)
	compare("shown weeks", read(`SELECT student_id, academic_year, week_start, `+cols+` FROM attendance_week
		WHERE present + late + absent + authorised_absent > 0`), wantShown)
	compare("attendance_year rows", read(`SELECT student_id, academic_year, enrolment_id, `+cols+` FROM attendance_year`), wantYears)
}
