package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mypt"
)

// MustOpen opens a fresh cache in a temporary directory and closes it when the test ends.
func MustOpen(tb testing.TB) *Store {
	tb.Helper()
	return MustOpenAt(tb, filepath.Join(tb.TempDir(), "mypt.db"), Options{})
}

// MustOpenAt opens the cache at path with opts and closes it when the test ends.
func MustOpenAt(tb testing.TB, path string, opts Options) *Store {
	tb.Helper()
	if opts.Now == nil {
		opts.Now = fixedClock(time.Date(2026, 12, 2, 23, 30, 0, 0, time.UTC))
	}
	s, err := Open(context.Background(), path, opts)
	if err != nil {
		tb.Fatalf("open cache: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// mustApply applies b and fails the test on error.
func mustApply(tb testing.TB, s *Store, b mypt.Batch) mypt.BatchResult {
	tb.Helper()
	res, err := s.ApplyBatch(context.Background(), b)
	if err != nil {
		tb.Fatalf("apply batch %q: %v", b.ID, err)
	}
	return res
}

func upsert(rows ...mypt.Row) []mypt.Record {
	recs := make([]mypt.Record, len(rows))
	for i, r := range rows {
		recs[i] = mypt.Record{Line: i + 2, Entity: r.EntityName(), Op: mypt.OpUpsert, Key: r.Key(), Row: r}
	}
	return recs
}

func del(e mypt.Entity, keys ...string) []mypt.Record {
	recs := make([]mypt.Record, len(keys))
	for i, k := range keys {
		recs[i] = mypt.Record{Entity: e, Op: mypt.OpDelete, Key: k}
	}
	return recs
}

func date(s string) mypt.Date {
	d, err := mypt.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func student(id string) mypt.Student {
	return mypt.Student{StudentID: id, LegalFirstNames: "Siobhán", LegalLastName: "O’Neill-Smith",
		DateOfBirth: date("2008-03-14"), College: "north", Status: mypt.StudentCurrent}
}

func markTypes() []mypt.Row {
	return []mypt.Row{
		mypt.MarkType{Mark: "/", Description: "Present", Status: 1},
		mypt.MarkType{Mark: "L", Description: "Late", Status: 1, IsLate: true},
		mypt.MarkType{Mark: "O", Description: "Unauthorised absence", Status: 0},
		mypt.MarkType{Mark: "A", Description: "Authorised absence", Status: 0, IsAuthorisedAbsence: true},
		mypt.MarkType{Mark: "#", Description: "Not required", Status: 2},
	}
}

func mark(id, st, enr, day, m string) mypt.AttendanceMark {
	return mypt.AttendanceMark{MarkID: id, StudentID: st, EnrolmentID: enr, SessionDate: date(day),
		StartTime: "09:00", EndTime: "10:30", Mark: m}
}

// everyEntity is one or more rows of every entity, for a student S1.
func everyEntity() []mypt.Row {
	yes, no := true, false
	rows := markTypes()
	rows = append(rows,
		mypt.Course{CourseID: "C1", Code: "BTEC-IT-3", Title: "BTEC Level 3 IT", Level: "3", AcademicYear: 2018},
		student("S1"),
		mypt.Contact{ContactID: "K1", StudentID: "S1", FirstName: "Mary", LastName: "O'Neill", Email: "mary@example.org",
			IsNextOfKin: true, HasParentalResponsibility: true},
		mypt.Enrolment{EnrolmentID: "E1", StudentID: "S1", CourseID: "C1", StartDate: date("2018-09-03"), Status: "Active"},
		mypt.Tutor{TutorID: "T1", StudentID: "S1", Name: "Mr Jones", Role: "Personal tutor"},
		mark("M1", "S1", "E1", "2018-09-10", "/"),
		mark("M2", "S1", "E1", "2018-09-11", "L"),
		mark("M3", "S1", "E1", "2018-09-12", "O"),
		mark("M4", "S1", "E1", "2018-09-17", ""),
		mypt.Document{DocumentID: "D1", StudentID: "S1", Title: "Welcome letter", CreatedAt: time.Date(2018, 9, 1, 10, 0, 0, 0, time.UTC),
			ContentType: "application/pdf", Content: []byte("%PDF-1.4 tiny")},
		mypt.Achievement{AchievementID: "AC1", StudentID: "S1", Qualification: "GCSE", Subject: "Maths", Grade: "6"},
		mypt.TargetGrade{EnrolmentID: "E1", StudentID: "S1", Grade: "Merit"},
		mypt.Target{TargetID: "TG1", StudentID: "S1", Text: "Hand in on time", SetDate: date("2018-10-01"), Status: "Open"},
		mypt.PolicyRead{PolicyReadID: "P1", StudentID: "S1", Policy: "IT acceptable use", ReadAt: time.Date(2018, 9, 4, 9, 0, 0, 0, time.UTC)},
		mypt.Meeting{MeetingID: "MT1", StudentID: "S1", Type: "Progress Review", HeldOn: date("2018-11-05"), Notes: "Good start"},
		mypt.FurtherDetail{StudentID: "S1", ConsentForVisits: &yes, ConsentForPhotographs: &no},
	)
	return rows
}

// dump returns every row of every table in the cache, in a stable order.
func dump(tb testing.TB, s *Store) map[string][]string {
	tb.Helper()
	ctx := context.Background()
	names := []string{}
	rows, err := s.ReadDB().QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
	if err != nil {
		tb.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			tb.Fatal(err)
		}
		names = append(names, n)
	}
	rows.Close()
	out := map[string][]string{}
	for _, n := range names {
		rows, err := s.ReadDB().QueryContext(ctx, `SELECT * FROM "`+n+`"`)
		if err != nil {
			tb.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				tb.Fatal(err)
			}
			out[n] = append(out[n], fmt.Sprintf("%q", vals))
		}
		rows.Close()
		slices.Sort(out[n])
	}
	return out
}

func diffDumps(a, b map[string][]string) string {
	var diffs []string
	for n := range a {
		if !slices.Equal(a[n], b[n]) {
			diffs = append(diffs, fmt.Sprintf("table %s: %d rows before, %d after", n, len(a[n]), len(b[n])))
		}
	}
	for n := range b {
		if _, ok := a[n]; !ok {
			diffs = append(diffs, "new table "+n)
		}
	}
	slices.Sort(diffs)
	return strings.Join(diffs, "\n")
}

func queryInt(tb testing.TB, db *sql.DB, q string, args ...any) int {
	tb.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	return n
}

// startChild runs this test binary again as a child process running only test name, with
// env=value set (the child's cue to play its part), and returns it with a scanner of its
// stdout. The child ends within 90 s at the latest.
func startChild(t *testing.T, name, env, value string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+name+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+value)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(out)
}
