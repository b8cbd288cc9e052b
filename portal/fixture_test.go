package portal

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"mypt"
	"mypt/adapters/sqlite"
	"mypt/internal/synth"
)

// The test college: the seed's student (S1, the 2018/19 report of the guide) and a sibling at
// the other site for parent A, another family's child (S3) for parent B, and two children of
// parent A the access rule must hide (S4: the contact is barred; S5: over the age limit).
const (
	seedStudent   = "10012345"
	siblingID     = "10012346"
	otherFamilyID = "20098765"
	barredID      = "10012347"
	tooOldID      = "10012348"
	parentEmail   = "Parent.A@Example.org"
	parentPass    = "Correct-Horse-9"
	otherEmail    = "parent.b@example.org"
	otherPass     = "Other-Family-7"
)

// testNow is the tests' "today": spring term 2019, when the seed student is 16.
var testNow = time.Date(2019, 3, 1, 12, 0, 0, 0, time.UTC)

// loadSeed is the seed guide's attendance table as data (internal/synth/testdata/attendance-2018-19.json,
// a copy of the seed's, embedded in internal/synth).
func loadSeed(t testing.TB) synth.SeedTable {
	t.Helper()
	s, err := synth.LoadSeedTable()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func date(s string) mypt.Date {
	d, err := mypt.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func ukDate(s string) mypt.Date {
	d, err := mypt.ParseUKDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

// seedRows is the test college as MIS rows.
func seedRows(t testing.TB) []mypt.Row {
	seed := loadSeed(t)
	rows := []mypt.Row{
		mypt.MarkType{Mark: "/", Description: "Present AM", Status: 1},
		mypt.MarkType{Mark: `\`, Description: "Present PM", Status: 1},
		mypt.MarkType{Mark: "O", Description: "Absent", Status: 0},
		mypt.MarkType{Mark: "L", Description: "Late", Status: 1, IsLate: true},
		mypt.MarkType{Mark: "#", Description: "Not required", Status: 2},
		mypt.Course{CourseID: "C1", Code: "AMATH", Title: "A Level Mathematics", Level: "Level 3", AcademicYear: 2018},
		mypt.Course{CourseID: "C2", Code: "BBUS3", Title: "BTEC Business Extended Diploma", Level: "Level 3", AcademicYear: 2018},
		mypt.Student{StudentID: seedStudent, LegalFirstNames: "Siobhán", LegalLastName: "D'Arcy-O’Neill",
			DateOfBirth: date("2002-03-15"), College: "CRO", CollegeEmail: "siobhan.darcyoneill.10012345@students.croydonandcoulsdon.example.ac.uk", Status: "current"},
		mypt.Student{StudentID: siblingID, LegalFirstNames: "José Łukasz", LegalLastName: "D'Arcy-O’Neill",
			DateOfBirth: date("2003-06-01"), College: "COU", Status: "current"},
		mypt.Student{StudentID: otherFamilyID, LegalFirstNames: "Other", LegalLastName: "Family",
			DateOfBirth: date("2002-05-05"), College: "CRO", Status: "current"},
		mypt.Student{StudentID: barredID, LegalFirstNames: "Barred", LegalLastName: "Child",
			DateOfBirth: date("2002-05-05"), College: "CRO", Status: "current"},
		mypt.Student{StudentID: tooOldID, LegalFirstNames: "Grown", LegalLastName: "Up",
			DateOfBirth: date("1998-01-01"), College: "CRO", Status: "current"},
		mypt.Contact{ContactID: "K1", StudentID: seedStudent, FirstName: "Anne", LastName: "D'Arcy", Email: "parent.a@example.org",
			IsNextOfKin: true, HasParentalResponsibility: true, Relationship: "Mother"},
		mypt.Contact{ContactID: "K2", StudentID: siblingID, FirstName: "Anne", LastName: "D'Arcy", Email: "parent.a@example.org",
			IsNextOfKin: true, HasParentalResponsibility: true, Relationship: "Mother"},
		mypt.Contact{ContactID: "K3", StudentID: otherFamilyID, FirstName: "Bob", LastName: "Family", Email: otherEmail,
			IsNextOfKin: true, HasParentalResponsibility: true},
		mypt.Contact{ContactID: "K4", StudentID: barredID, FirstName: "Anne", LastName: "D'Arcy", Email: "parent.a@example.org",
			IsNextOfKin: true, HasParentalResponsibility: true, PortalAccessBarred: true},
		mypt.Contact{ContactID: "K5", StudentID: tooOldID, FirstName: "Anne", LastName: "D'Arcy", Email: "parent.a@example.org",
			IsNextOfKin: true, HasParentalResponsibility: true},
		mypt.Enrolment{EnrolmentID: "E1", StudentID: seedStudent, CourseID: "C1", StartDate: date("2018-09-03"),
			ExpectedEndDate: date("2020-06-30"), Status: "Continuing"},
		mypt.Enrolment{EnrolmentID: "E2", StudentID: seedStudent, CourseID: "C2", StartDate: date("2018-09-03"),
			ExpectedEndDate: date("2020-06-30"), Status: "Continuing"},
		mypt.Tutor{TutorID: "T1", StudentID: seedStudent, Name: "Ms R. Patel", Role: "Personal tutor", Email: "r.patel@example.ac.uk"},
		mypt.Tutor{TutorID: "T2", StudentID: seedStudent, EnrolmentID: "E1", Name: "Mr K. Osei", Role: "Course tutor"},
		mypt.Document{DocumentID: "D1", StudentID: seedStudent, Title: "Parents' evening letter", Category: "Letter",
			CreatedAt: time.Date(2019, 1, 10, 9, 0, 0, 0, time.UTC), ContentType: "application/pdf",
			Content: []byte("%PDF-1.4\n% test letter for Siobhán\n%%EOF\n")},
		mypt.Document{DocumentID: "D2", StudentID: seedStudent, Title: "Trip <consent> form", Category: "Letter",
			CreatedAt: time.Date(2019, 2, 1, 9, 0, 0, 0, time.UTC), ContentType: "text/html",
			Content: []byte("<script>alert(1)</script>")},
		mypt.Document{DocumentID: "D3", StudentID: otherFamilyID, Title: "Other family's letter",
			CreatedAt: time.Date(2019, 2, 1, 9, 0, 0, 0, time.UTC), ContentType: "application/pdf", Content: []byte("%PDF-1.4 other")},
		mypt.Achievement{AchievementID: "A1", StudentID: seedStudent, Qualification: "GCSE", Subject: "Mathematics", Grade: "7",
			AwardDate: date("2018-08-23")},
		mypt.TargetGrade{EnrolmentID: "E1", StudentID: seedStudent, Grade: "B"},
		mypt.Target{TargetID: "G1", StudentID: seedStudent, EnrolmentID: "E1", Text: "Hand in homework on time <every week>",
			SetBy: "Mr K. Osei", SetDate: date("2018-10-01"), DueDate: date("2018-12-14"), Status: "Achieved", ReviewedDate: date("2018-12-10")},
		mypt.Target{TargetID: "G2", StudentID: seedStudent, Text: "Read one article a week", CreatedByStudent: true,
			SetDate: date("2019-01-15"), Status: "In progress"},
		mypt.PolicyRead{PolicyReadID: "P1", StudentID: seedStudent, Policy: "Student Code of Conduct",
			ReadAt: time.Date(2018, 9, 5, 10, 15, 0, 0, time.UTC)},
		mypt.Meeting{MeetingID: "M1", StudentID: seedStudent, Type: "Progress Review", HeldOn: date("2018-12-05"),
			StaffName: "Ms R. Patel", Notes: "Good progress in maths.\nKeep up the reading."},
		mypt.FurtherDetail{StudentID: seedStudent, ConsentForVisits: yes(), ConsentForPhotographs: no()},
	}
	// The seed's marks: a Monday session on course E1, then a morning and an afternoon session
	// on Wednesday on course E2, in the seed's session order.
	n := 0
	for _, w := range seed.Weeks {
		mon := ukDate(w.WC)
		slots := []struct {
			day        int
			start, end string
			enrolment  string
		}{{0, "09:00", "12:00", "E1"}, {2, "09:00", "12:00", "E2"}, {2, "13:00", "16:00", "E2"}}
		for i, m := range w.Marks {
			n++
			sl := slots[i]
			rows = append(rows, mypt.AttendanceMark{MarkID: fmt.Sprintf("AM%04d", n), StudentID: seedStudent,
				EnrolmentID: sl.enrolment, SessionDate: mon.AddDays(sl.day), StartTime: sl.start, EndTime: sl.end, Mark: m})
		}
	}
	// A not-required session (neutral) in a week of its own: that week must not be shown.
	rows = append(rows, mypt.AttendanceMark{MarkID: "AM9001", StudentID: seedStudent, EnrolmentID: "E1",
		SessionDate: date("2019-02-18"), StartTime: "09:00", EndTime: "12:00", Mark: "#"})
	// The sibling has a little attendance this year.
	rows = append(rows,
		mypt.AttendanceMark{MarkID: "SB1", StudentID: siblingID, EnrolmentID: "E9", SessionDate: date("2019-02-25"), StartTime: "09:00", EndTime: "12:00", Mark: "/"},
		mypt.AttendanceMark{MarkID: "SB2", StudentID: siblingID, EnrolmentID: "E9", SessionDate: date("2019-02-26"), StartTime: "09:00", EndTime: "12:00", Mark: "O"},
		mypt.AttendanceMark{MarkID: "OF1", StudentID: otherFamilyID, EnrolmentID: "E8", SessionDate: date("2019-02-25"), StartTime: "09:00", EndTime: "12:00", Mark: "/"},
	)
	return rows
}

// loadRows feeds MIS rows through the ingest path (ApplyBatch), which also maintains the
// precomputed attendance rows and student versions the portal reads.
func loadRows(t testing.TB, st *sqlite.Store, rows []mypt.Row) {
	t.Helper()
	b := mypt.Batch{ID: fmt.Sprintf("test-%d", len(rows)), Source: "test", Mode: mypt.ModeDelta, AllOrNothing: true}
	for i, r := range rows {
		b.Records = append(b.Records, mypt.Record{Line: i + 1, Entity: r.EntityName(), Op: mypt.OpUpsert, Key: r.Key(), Row: r})
	}
	res, err := st.ApplyBatch(context.Background(), b)
	if err != nil {
		t.Fatalf("apply fixture: %v %+v", err, res.Rejected)
	}
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// cheapArgon keeps tests fast; production uses the defaults.
var cheapArgon = Argon2Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// openStore opens a fresh cache in a temp dir.
func openStore(t testing.TB, clock func() time.Time) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mypt.db"), sqlite.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// addParent creates an account and links it to students (by their contact).
func addParent(t testing.TB, st *sqlite.Store, email, password, first, last string, links map[string]string) int64 {
	t.Helper()
	ctx := context.Background()
	hash, err := HashPassword(password, cheapArgon)
	if err != nil {
		t.Fatal(err)
	}
	id, err := st.CreateAccount(ctx, mypt.Account{Email: email, FirstName: first, LastName: last, PasswordHash: hash})
	if err != nil {
		t.Fatal(err)
	}
	for student, contact := range links {
		if err := st.LinkStudent(ctx, mypt.StudentLink{AccountID: id, StudentID: student, ContactID: contact,
			Status: mypt.LinkApproved, ApprovedBy: "auto"}); err != nil {
			t.Fatal(err)
		}
	}
	return id
}
