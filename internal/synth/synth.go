// Package synth generates a synthetic further-education college: students, contacts, courses,
// timetabled attendance, letters and ILP records, deterministic from a seed. The demo, tests and
// benchmarks feed it through the real ingest path.
//
// The first student is always the seed-table student: her 2018/19 marks are exactly the
// attendance table of the product guide (testdata/attendance-2018-19.json), and she stays
// eligible (an EHCP, born 15/09/2002) so the portal shows her in the current year too.
package synth

import (
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"mypt"
)

// Options size and date the college.
type Options struct {
	// Seed makes the college; the same Seed and Options give the same rows, byte for byte.
	Seed uint64
	// Students is the number of students (default 1,000; at least the 5 fixed ones).
	Students int
	// AsOf is "today" for the college: registers are marked up to this date, later sessions
	// that week are left unmarked, and nothing after it exists. Required.
	AsOf mypt.Date
	// Year is the current academic year key (default: the one AsOf falls in).
	Year int
}

// Site codes and names of the two colleges.
const (
	SiteCroydon  = "CRO"
	SiteCoulsdon = "COU"
)

// Sites are the synthetic college's two sites.
var Sites = []struct{ Code, Name string }{
	{SiteCroydon, "Croydon College"},
	{SiteCoulsdon, "Coulsdon College"},
}

// SeedStudentID is the student whose 2018/19 marks are the guide's table.
const SeedStudentID = "18100000"

// Parent is a contact the demo gives a portal account: their details match the contact rows of
// each of their children, so an account request from them would auto-match too.
type Parent struct {
	FirstName, LastName, Email string
	Relationship               string
	StudentIDs                 []string
	ContactIDs                 []string // one per student, same order
}

// College is everything generated.
type College struct {
	Options   Options
	Calendar  Calendar
	MarkTypes []mypt.MarkType
	Courses   []mypt.Course
	Students  []mypt.Student
	Contacts  []mypt.Contact
	Enrolment []mypt.Enrolment
	Tutors    []mypt.Tutor
	Marks     []mypt.AttendanceMark
	Documents []mypt.Document
	Achieve   []mypt.Achievement
	Grades    []mypt.TargetGrade
	Targets   []mypt.Target
	Policies  []mypt.PolicyRead
	Meetings  []mypt.Meeting
	Further   []mypt.FurtherDetail
	// Parents are the demo accounts: the seed-table student's parent first, then a parent of two
	// children, then one more.
	Parents []Parent
}

// MarkTypes are the register marks, MIS-style: the character, what it means and how it counts.
func MarkTypes() []mypt.MarkType {
	return []mypt.MarkType{
		{Mark: "/", Description: "Present (morning)", Status: mypt.MarkStatusPresent},
		{Mark: `\`, Description: "Present (afternoon)", Status: mypt.MarkStatusPresent},
		{Mark: "L", Description: "Late", Status: mypt.MarkStatusPresent, IsLate: true},
		{Mark: "V", Description: "Educational visit or work placement", Status: mypt.MarkStatusPresent},
		{Mark: "O", Description: "Absent", Status: mypt.MarkStatusAbsent},
		{Mark: "N", Description: "Absent, no reason given", Status: mypt.MarkStatusAbsent},
		{Mark: "A", Description: "Authorised absence", Status: mypt.MarkStatusAbsent, IsAuthorisedAbsence: true},
		{Mark: "M", Description: "Medical or dental appointment", Status: mypt.MarkStatusAbsent, IsAuthorisedAbsence: true},
		{Mark: "X", Description: "Not required to attend", Status: mypt.MarkStatusNeutral},
		{Mark: "C", Description: "Class cancelled", Status: mypt.MarkStatusNeutral},
	}
}

//go:embed testdata/attendance-2018-19.json
var seedTableJSON []byte

// SeedTable is the guide's 2018/19 attendance table.
type SeedTable struct {
	Weeks []struct {
		WC             string   `json:"wc"`
		Marks          []string `json:"marks"`
		AttendancePct  string   `json:"attendance_pct"`
		PunctualityPct string   `json:"punctuality_pct"`
	} `json:"weeks"`
	Totals struct {
		TotalMarks     int    `json:"total_marks"`
		Attended       int    `json:"attended"`
		Late           int    `json:"late"`
		AttendancePct  string `json:"attendance_pct"`
		PunctualityPct string `json:"punctuality_pct"`
	} `json:"totals"`
}

// LoadSeedTable parses the embedded table.
func LoadSeedTable() (SeedTable, error) {
	var t SeedTable
	if err := json.Unmarshal(seedTableJSON, &t); err != nil {
		return t, fmt.Errorf("synth: seed table: %w", err)
	}
	return t, nil
}

// Generate builds the college.
func Generate(opts Options) (*College, error) {
	if opts.AsOf.IsZero() || !opts.AsOf.Valid() {
		return nil, fmt.Errorf("synth: AsOf is required")
	}
	if opts.Students <= 0 {
		opts.Students = 1000
	}
	opts.Students = max(opts.Students, len(fixedStudents))
	if opts.Year == 0 {
		opts.Year = mypt.AcademicYearOf(opts.AsOf)
	}
	g := &gen{c: &College{Options: opts, Calendar: NewCalendar(opts.Year), MarkTypes: MarkTypes()}, seed: opts.Seed}
	g.courses()
	if err := g.seedStudent(); err != nil {
		return nil, err
	}
	for i := 1; i < opts.Students; i++ {
		g.student(i)
	}
	g.parents()
	g.renderLetters()
	return g.c, nil
}

// letter is a PDF still to be rendered into c.Documents[doc].
type letter struct {
	doc    int
	render func() []byte
}

// renderLetters renders every letter, in parallel: each is independent and deterministic, so
// the bytes are the same whatever the order (letters are most of the generation time).
func (g *gen) renderLetters() {
	jobs := make(chan letter)
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range jobs {
				g.c.Documents[l.doc].Content = l.render()
			}
		}()
	}
	for _, l := range g.letters {
		jobs <- l
	}
	close(jobs)
	wg.Wait()
	g.letters = nil
}

type gen struct {
	c       *College
	seed    uint64
	courseB map[string]mypt.Course // by code, current year
	markSeq int
	teach   []mypt.Date // teaching days of the current year, to AsOf's week
	// lastYear is every teaching day of the year before: second-year students' first year.
	lastYear []mypt.Date
	letters  []letter // rendered at the end, in parallel
}

// addLetter adds a PDF letter document whose content is rendered later.
func (g *gen) addLetter(d mypt.Document, render func() []byte) {
	d.Content = []byte{}
	g.c.Documents = append(g.c.Documents, d)
	g.letters = append(g.letters, letter{doc: len(g.c.Documents) - 1, render: render})
}

func (g *gen) rng(stream uint64) *rand.Rand { return rand.New(rand.NewPCG(g.seed, stream)) }

func (g *gen) courses() {
	y := g.c.Options.Year
	g.courseB = map[string]mypt.Course{}
	all := append(append([]courseSpec{}, programmes...), resits...)
	all = append(all, courseSpec{"SUPIN", "Supported Internship", "Entry Level", 3})
	for _, year := range []int{y - 1, y} {
		for _, cs := range all {
			c := mypt.Course{CourseID: fmt.Sprintf("%s-%d", cs.code, year), Code: cs.code, Title: cs.title, Level: cs.level, AcademicYear: year}
			g.c.Courses = append(g.c.Courses, c)
			if year == y {
				g.courseB[cs.code] = c
			}
		}
	}
	// The seed student's 2018/19 course.
	if y-1 > 2018 {
		g.c.Courses = append(g.c.Courses, mypt.Course{CourseID: "SIND-2018", Code: "SIND", Title: "Skills for Independence and Work", Level: "Entry Level", AcademicYear: 2018})
	}
	g.lastYear = NewCalendar(y - 1).TeachingDays()
	end := minDate(g.c.Options.AsOf.Monday().AddDays(6), g.c.Calendar.End, dateMax)
	for _, d := range g.c.Calendar.TeachingDays() {
		if !d.After(end) {
			g.teach = append(g.teach, d)
		}
	}
}

var dateMax = mypt.NewDate(9999, 12, 31)

func min3(a, b mypt.Date) mypt.Date {
	if a.Before(b) {
		return a
	}
	return b
}

func minDate(ds ...mypt.Date) mypt.Date {
	m := ds[0]
	for _, d := range ds[1:] {
		m = min3(m, d)
	}
	return m
}

func (g *gen) nextMarkID() string {
	g.markSeq++
	return fmt.Sprintf("M%08d", g.markSeq)
}

// seedStudent adds student 0: the guide's table as her 2018/19 marks.
func (g *gen) seedStudent() error {
	table, err := LoadSeedTable()
	if err != nil {
		return err
	}
	fs := fixedStudents[0]
	s := mypt.Student{
		StudentID: SeedStudentID, LegalFirstNames: fs.first, LegalLastName: fs.last,
		DateOfBirth: mypt.NewDate(2002, time.September, 15), HasEHCP: true, College: SiteCroydon,
		CollegeEmail: SeedStudentID + "@students.croydon.example.ac.uk", ShareInfoConsent: true,
		Status: mypt.StudentCurrent,
	}
	g.c.Students = append(g.c.Students, s)
	old := mypt.Enrolment{
		EnrolmentID: SeedStudentID + "-2018", StudentID: s.StudentID, CourseID: "SIND-2018",
		StartDate: mypt.NewDate(2018, time.September, 10), ExpectedEndDate: mypt.NewDate(2019, time.July, 5),
		ActualEndDate: mypt.NewDate(2019, time.July, 5), Status: "Completed",
	}
	if g.c.Options.Year-1 <= 2018 {
		old.CourseID = fmt.Sprintf("SIND-%d", 2018)
		if !slices.ContainsFunc(g.c.Courses, func(c mypt.Course) bool { return c.CourseID == old.CourseID }) {
			g.c.Courses = append(g.c.Courses, mypt.Course{CourseID: old.CourseID, Code: "SIND", Title: "Skills for Independence and Work", Level: "Entry Level", AcademicYear: 2018})
		}
	}
	g.c.Enrolment = append(g.c.Enrolment, old)
	g.c.Tutors = append(g.c.Tutors, mypt.Tutor{TutorID: old.EnrolmentID + "-T", StudentID: s.StudentID, EnrolmentID: old.EnrolmentID,
		Name: "Mrs H. O'Donnell", Role: "Course Tutor", Email: staffEmail("Mrs H. O'Donnell")})
	// Sessions in order: Monday morning, Tuesday morning, Tuesday afternoon.
	times := []struct {
		day        int
		start, end string
	}{{0, "09:00", "10:30"}, {1, "09:00", "10:30"}, {1, "13:00", "14:30"}}
	for _, w := range table.Weeks {
		mon, err := mypt.ParseUKDate(w.WC)
		if err != nil {
			return fmt.Errorf("synth: seed table week %q: %w", w.WC, err)
		}
		if len(w.Marks) != len(times) {
			return fmt.Errorf("synth: seed table week %s has %d marks, want %d", w.WC, len(w.Marks), len(times))
		}
		for i, m := range w.Marks {
			g.c.Marks = append(g.c.Marks, mypt.AttendanceMark{
				MarkID: g.nextMarkID(), StudentID: s.StudentID, EnrolmentID: old.EnrolmentID,
				SessionDate: mon.AddDays(times[i].day), StartTime: times[i].start, EndTime: times[i].end, Mark: m,
			})
		}
	}
	r := g.rng(0)
	g.family(r, 0, s, "Sarah", "Mother")
	g.current(r, 0, s, g.courseB["SUPIN"], profile{attend: 0.97, late: 0.03, auth: 0.7})
	return nil
}

// profile is how a student attends.
type profile struct {
	attend, late, auth float64
}

func drawProfile(r *rand.Rand) profile {
	p := profile{late: r.Float64() * 0.08, auth: 0.25 + r.Float64()*0.5}
	switch x := r.Float64(); {
	case x < 0.55:
		p.attend = 0.95 + r.Float64()*0.05
	case x < 0.85:
		p.attend = 0.85 + r.Float64()*0.10
	default:
		p.attend = 0.55 + r.Float64()*0.30
	}
	return p
}

// student adds student i (i ≥ 1) with everything about them.
func (g *gen) student(i int) {
	r := g.rng(uint64(i))
	y := g.c.Options.Year
	var first, last, preferred string
	if i < len(fixedStudents) {
		first, last, preferred = fixedStudents[i].first, fixedStudents[i].last, fixedStudents[i].preferred
	} else {
		first = pick(r, firstNames)
		if r.IntN(5) == 0 {
			first += " " + pick(r, firstNames)
		}
		last = pick(r, lastNames)
		if r.IntN(12) == 0 {
			preferred = pick(r, firstNames)
		}
	}
	// Age on 31 August at the start of the year.
	age, ehcp := 16, false
	switch x := r.IntN(100); {
	case x < 45:
	case x < 80:
		age = 17
	case x < 92:
		age = 18
	case x < 97:
		age, ehcp = 19+r.IntN(5), true
	default:
		age = 19 + r.IntN(12) // adult learners: parents may not see them
	}
	switch {
	case i == 3: // Chloë is Marcus's younger sister
		age = 16
	case i == 2:
		age = 17
	case i < len(fixedStudents) && !ehcp && age > 18:
		age = 17 // a demo parent's child: never an adult learner the parent may not see
	}
	if !ehcp && r.IntN(40) == 0 {
		ehcp = true
	}
	// Born between 1 September (y-age-1) and 31 August (y-age).
	dob := mypt.NewDate(y-age-1, time.September, 1).AddDays(r.IntN(365))
	startYear := y
	if age >= 17 && r.IntN(2) == 0 {
		startYear = y - 1
	}
	site := SiteCroydon
	if r.IntN(5) == 0 {
		site = SiteCoulsdon
	}
	id := fmt.Sprintf("%02d1%05d", startYear%100, i)
	s := mypt.Student{
		StudentID: id, LegalFirstNames: first, LegalLastName: last, PreferredName: preferred,
		DateOfBirth: dob, HasEHCP: ehcp, College: site, Status: mypt.StudentCurrent,
		CollegeEmail:     id + "@students." + strings.ToLower(siteName(site)[:strings.Index(siteName(site), " ")]) + ".example.ac.uk",
		ShareInfoConsent: age >= 18 && r.IntN(3) > 0,
	}
	if i >= len(fixedStudents) && r.IntN(33) == 0 {
		left := g.c.Calendar.Start.AddDays(14 + r.IntN(60))
		if left.Before(g.c.Options.AsOf) {
			s.Status, s.LeftDate = mypt.StudentLeft, left
		}
	}
	g.c.Students = append(g.c.Students, s)
	rel := "Mother"
	switch x := r.IntN(100); {
	case x < 30:
		rel = "Father"
	case x < 40:
		rel = "Guardian"
	case x < 43:
		rel = "Foster carer"
	}
	// parentFirstNames holds ten women's names, then ten men's: a mother or father gets one that fits.
	names := parentFirstNames
	switch rel {
	case "Mother":
		names = parentFirstNames[:10]
	case "Father":
		names = parentFirstNames[10:]
	}
	parentFirst := pick(r, names)
	if i == 2 || i == 3 {
		parentFirst, rel = "Joanne", "Mother"
	}
	if i == 1 {
		parentFirst, rel = "Miguel", "Father"
	}
	g.family(r, i, s, parentFirst, rel)

	prog := programmes[r.IntN(len(programmes))]
	if ehcp && r.IntN(2) == 0 {
		prog = programmes[len(programmes)-1]
	}
	if age >= 19 && !ehcp {
		prog = programmes[10+r.IntN(2)]
	}
	g.current(r, i, s, g.courseB[prog.code], drawProfile(r))
}

func siteName(code string) string {
	for _, s := range Sites {
		if s.Code == code {
			return s.Name
		}
	}
	return code
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// family adds the student's contacts: a parent with parental responsibility who is next of
// kin, and for about half a second contact — some not next of kin, a few barred.
func (g *gen) family(r *rand.Rand, i int, s mypt.Student, first, rel string) {
	last := s.LegalLastName
	if r.IntN(6) == 0 && i >= len(fixedStudents) {
		last = pick(r, lastNames)
	}
	email := asciiEmail(first, last, i)
	if i == 2 || i == 3 {
		email = asciiEmail(first, last, 2) // one parent, two children
	}
	primary := mypt.Contact{
		ContactID: s.StudentID + "-C1", StudentID: s.StudentID, FirstName: first, LastName: last,
		Relationship: rel, Email: email, MobilePhone: fmt.Sprintf("07700 900%03d", (i*7)%1000),
		IsNextOfKin: true, IsVerifiedContact: i < len(fixedStudents) || r.IntN(10) > 0,
		HasParentalResponsibility: rel != "Foster carer",
	}
	if r.IntN(20) == 0 && i >= len(fixedStudents) {
		primary.Email = "" // no email on file: this parent cannot request an account
	}
	if r.IntN(3) == 0 {
		primary.HomePhone = fmt.Sprintf("020 7946 %04d", (i*13)%10000)
	}
	g.c.Contacts = append(g.c.Contacts, primary)
	if r.IntN(2) == 0 && i != 0 {
		return
	}
	second := mypt.Contact{ContactID: s.StudentID + "-C2", StudentID: s.StudentID, LastName: s.LegalLastName}
	switch x := r.IntN(100); {
	case x < 40:
		second.FirstName, second.Relationship = pick(r, parentFirstNames[10:]), "Father"
		second.IsNextOfKin, second.HasParentalResponsibility, second.IsVerifiedContact = true, true, r.IntN(4) > 0
		if r.IntN(12) == 0 {
			second.PortalAccessBarred = true // court order: no contact
		}
	case x < 60:
		second.FirstName, second.Relationship = pick(r, parentFirstNames), "Grandparent"
	case x < 75:
		second.FirstName, second.Relationship = pick(r, parentFirstNames[:10]), "Aunt"
	case x < 90:
		second.FirstName, second.Relationship = pick(r, parentFirstNames[10:]), "Step-father"
		second.LastName = pick(r, lastNames)
		second.IsVerifiedContact = true
	default:
		second.FirstName, second.Relationship = pick(r, parentFirstNames), "Social worker"
		second.LastName = pick(r, lastNames)
	}
	if i == 0 {
		second.FirstName, second.Relationship, second.LastName = "Patrick", "Father", "O’Neill"
		second.IsNextOfKin, second.HasParentalResponsibility, second.PortalAccessBarred = true, true, true
	}
	second.Email = asciiEmail(second.FirstName, second.LastName, i+500000)
	second.MobilePhone = fmt.Sprintf("07700 900%03d", (i*11+500)%1000)
	g.c.Contacts = append(g.c.Contacts, second)
}

// asciiEmail makes a plausible address from a name: "Siobhán O’Neill" → siobhan.oneill.7@example.com.
func asciiEmail(first, last string, n int) string {
	clean := func(s string) string {
		var b strings.Builder
		for _, r := range norm.NFD.String(strings.ToLower(s)) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
				b.WriteRune(r)
			case r == ' ' || r == '-':
				b.WriteByte('-')
			case unicode.Is(unicode.Mn, r):
			}
		}
		return strings.Trim(b.String(), "-")
	}
	domains := []string{"example.com", "example.net", "example.org"}
	return fmt.Sprintf("%s.%s.%d@%s", clean(first), clean(last), n, domains[n%len(domains)])
}

// staffEmail makes "Mrs H. O'Donnell" → h.odonnell@croydon.example.ac.uk.
func staffEmail(name string) string {
	parts := strings.Fields(name)
	if len(parts) < 3 {
		return ""
	}
	initial := strings.ToLower(strings.TrimSuffix(parts[1], "."))
	last := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r
		}
		return -1
	}, strings.ToLower(parts[len(parts)-1]))
	return initial + "." + last + "@croydon.example.ac.uk"
}

// current adds the student's enrolments this year with tutors, timetable and marks, then the
// records that hang off them.
func (g *gen) current(r *rand.Rand, i int, s mypt.Student, prog mypt.Course, p profile) {
	cal := g.c.Calendar
	start := cal.Start
	endExpected := cal.End
	if prog.Level == "Level 3" && s.StudentID[:2] == fmt.Sprintf("%02d", (g.c.Options.Year-1)%100) {
		// A second-year student: the programme started last year.
		start = NewCalendar(g.c.Options.Year - 1).Start
		prog = g.findCourse(prog.Code, g.c.Options.Year-1)
	}
	courses := []mypt.Course{prog}
	needResits := prog.Level != "Level 3" || r.IntN(10) == 0
	for _, rs := range resits {
		if needResits && r.IntN(10) < 6 {
			courses = append(courses, g.courseB[rs.code])
		}
	}
	personal := pick(r, staffNames)
	g.c.Tutors = append(g.c.Tutors, mypt.Tutor{TutorID: s.StudentID + "-PT", StudentID: s.StudentID, Name: personal, Role: "Personal Tutor", Email: staffEmail(personal)})
	used := map[[2]int]bool{}
	for n, c := range courses {
		e := mypt.Enrolment{
			EnrolmentID: fmt.Sprintf("%s-%d", s.StudentID, n+1), StudentID: s.StudentID, CourseID: c.CourseID,
			StartDate: start, ExpectedEndDate: endExpected, Status: "Active",
		}
		if n > 0 {
			e.StartDate = cal.Start
		}
		if s.Status == mypt.StudentLeft {
			e.Status, e.ActualEndDate = "Withdrawn", s.LeftDate
		}
		g.c.Enrolment = append(g.c.Enrolment, e)
		lecturer := staffNames[int(hashString(c.Code))%len(staffNames)]
		g.c.Tutors = append(g.c.Tutors, mypt.Tutor{TutorID: e.EnrolmentID + "-T", StudentID: s.StudentID, EnrolmentID: e.EnrolmentID,
			Name: lecturer, Role: "Course Tutor", Email: staffEmail(lecturer)})
		if c.Level == "Level 3" {
			g.c.Grades = append(g.c.Grades, mypt.TargetGrade{EnrolmentID: e.EnrolmentID, StudentID: s.StudentID, Grade: targetGrade(r, c.Code)})
		}
		g.timetable(r, s, e, c, used, p)
	}
	g.ilp(r, i, s, courses, p)
}

func (g *gen) findCourse(code string, year int) mypt.Course {
	for _, c := range g.c.Courses {
		if c.Code == code && c.AcademicYear == year {
			return c
		}
	}
	return g.courseB[code]
}

func hashString(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

func courseSessions(code string) int {
	for _, cs := range append(append([]courseSpec{}, programmes...), resits...) {
		if cs.code == code {
			return cs.sessions
		}
	}
	return 3
}

// timetable gives the enrolment its weekly sessions and marks them up to AsOf; the rest of
// AsOf's week is left unmarked.
func (g *gen) timetable(r *rand.Rand, s mypt.Student, e mypt.Enrolment, c mypt.Course, used map[[2]int]bool, p profile) {
	n := courseSessions(c.Code)
	var slotsOf [][2]int // weekday (0 = Monday), slot index
	cr := rand.New(rand.NewPCG(g.seed, uint64(hashString(c.CourseID))<<20))
	for len(slotsOf) < n {
		k := [2]int{cr.IntN(5), cr.IntN(len(slots))}
		for used[k] {
			k = [2]int{(k[0] + (k[1]+1)/len(slots)) % 5, (k[1] + 1) % len(slots)}
		}
		used[k] = true
		slotsOf = append(slotsOf, k)
	}
	slices.SortFunc(slotsOf, func(a, b [2]int) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	asOf := g.c.Options.AsOf
	days := g.teach
	if e.StartDate.Before(g.c.Calendar.Start) {
		days = append(slices.Clip(g.lastYear), g.teach...) // a second year: last year's registers too
	}
	for _, d := range days {
		if d.Before(e.StartDate) || (!e.ActualEndDate.IsZero() && d.After(e.ActualEndDate)) {
			continue
		}
		wd := (int(d.Weekday()) + 6) % 7
		for _, k := range slotsOf {
			if k[0] != wd {
				continue
			}
			sl := slots[k[1]]
			m := mypt.AttendanceMark{MarkID: g.nextMarkID(), StudentID: s.StudentID, EnrolmentID: e.EnrolmentID,
				SessionDate: d, StartTime: sl.start, EndTime: sl.end}
			if !d.After(asOf) {
				m.Mark = drawMark(r, p, sl.start < "12:00")
			}
			g.c.Marks = append(g.c.Marks, m)
		}
	}
}

func drawMark(r *rand.Rand, p profile, morning bool) string {
	x := r.Float64()
	switch {
	case x < 0.012:
		return "X"
	case x < 0.018:
		return "C"
	case x < 0.026:
		return "V"
	}
	if r.Float64() < p.attend {
		if r.Float64() < p.late {
			return "L"
		}
		if morning {
			return "/"
		}
		return `\`
	}
	if r.Float64() < p.auth {
		return pick(r, []string{"A", "M"})
	}
	return pick(r, []string{"O", "O", "N"})
}

func targetGrade(r *rand.Rand, code string) string {
	switch {
	case strings.HasPrefix(code, "AL"):
		return pick(r, []string{"A*", "A", "B", "B", "C", "C", "D", "E"})
	case code == "BTSPT":
		return pick(r, []string{"D*D*D*", "DDD", "DDM", "DMM", "MMM", "MMP"})
	case strings.HasPrefix(code, "BT"):
		return pick(r, []string{"D*", "D", "M", "M", "P"})
	}
	return pick(r, []string{"Distinction*", "Distinction", "Merit", "Merit", "Pass"})
}

var tutorTargets = []string{
	"Submit the Unit %d assignment draft to your tutor by the due date.",
	"Attend every English session for the next four weeks and complete the homework set.",
	"Improve punctuality: arrive before 09:00 for every morning session this half term.",
	"Read two articles on the subject and summarise each in 200 words for your portfolio.",
	"Complete the online safety module on the college learning platform.",
	"Book and attend a careers guidance interview before the end of term.",
	"Achieve at least grade %d in the next mathematics mock exam.",
}

var studentTargets = []string{
	"Revise for 30 minutes every evening before the mock exams.",
	"Ask for help in class when I do not understand something.",
	"Find a work experience placement for the spring term.",
	"Keep my folder organised and bring it to every lesson.",
}

// ilp adds letters, achievements on entry, SMART targets, policies read, meetings and consents.
func (g *gen) ilp(r *rand.Rand, i int, s mypt.Student, courses []mypt.Course, p profile) {
	cal, asOf := g.c.Calendar, g.c.Options.AsOf
	college := siteName(s.College)
	welcome := cal.Start.AddDays(-10)
	welcomeBody := welcomeText(s, courses[0], cal)
	g.addLetter(mypt.Document{
		DocumentID: s.StudentID + "-D1", StudentID: s.StudentID, Title: "Welcome to " + college, Category: "Letters",
		CreatedAt: at(welcome, 9, 30), ContentType: "application/pdf",
	}, func() []byte { return letterPDF(college, s, welcome, "Welcome to "+college, welcomeBody) })
	if concern := cal.Start.AddDays(42); p.attend < 0.85 && !concern.After(asOf) && s.Status == mypt.StudentCurrent {
		g.addLetter(mypt.Document{
			DocumentID: s.StudentID + "-D2", StudentID: s.StudentID, Title: "Attendance concern", Category: "Attendance",
			CreatedAt: at(concern, 14, 0), ContentType: "application/pdf",
		}, func() []byte { return letterPDF(college, s, concern, "Attendance concern", concernText(s)) })
	}
	if s.StudentID != SeedStudentID && r.IntN(6) > 0 {
		lo, hi := 3, 7
		switch courses[0].Level {
		case "Level 3":
			lo, hi = 5, 9
		case "Level 1", "Entry Level":
			lo, hi = 1, 4
		}
		subjects := slices.Clone(gcseSubjects)
		r.Shuffle(len(subjects), func(a, b int) { subjects[a], subjects[b] = subjects[b], subjects[a] })
		award := mypt.NewDate(s.DateOfBirth.Year+16+boolInt(s.DateOfBirth.Month >= time.September), time.August, 22)
		for n, subj := range subjects[:5+r.IntN(5)] {
			g.c.Achieve = append(g.c.Achieve, mypt.Achievement{
				AchievementID: fmt.Sprintf("%s-A%d", s.StudentID, n+1), StudentID: s.StudentID,
				Qualification: "GCSE", Subject: subj, Grade: fmt.Sprint(lo + r.IntN(hi-lo+1)), AwardDate: award,
			})
		}
	}
	for n := range 1 + r.IntN(4) {
		set := cal.Start.AddDays(14 + 21*n + r.IntN(7))
		if set.After(asOf) {
			break
		}
		t := mypt.Target{TargetID: fmt.Sprintf("%s-T%d", s.StudentID, n+1), StudentID: s.StudentID, SetDate: weekday(set), DueDate: weekday(set.AddDays(28 + r.IntN(56)))}
		if r.IntN(10) < 3 {
			t.Text, t.CreatedByStudent, t.SetBy = pick(r, studentTargets), true, s.LegalFirstNames
		} else {
			t.Text = pick(r, tutorTargets)
			if strings.Contains(t.Text, "%d") {
				t.Text = fmt.Sprintf(t.Text, 1+r.IntN(8))
			}
			t.SetBy, t.EnrolmentID = g.tutorOf(s.StudentID), fmt.Sprintf("%s-1", s.StudentID)
		}
		switch {
		case t.DueDate.Before(asOf) && r.IntN(4) > 0:
			t.Status, t.ReviewedDate = "Achieved", t.DueDate
		case t.DueDate.Before(asOf):
			t.Status, t.ReviewedDate = "Not achieved", t.DueDate
		case r.IntN(2) == 0:
			t.Status = "In progress"
		default:
			t.Status = "Not started"
		}
		g.c.Targets = append(g.c.Targets, t)
	}
	for n, pol := range policies {
		read := cal.Start.AddDays(n + r.IntN(10))
		if r.IntN(8) == 0 || read.After(asOf) {
			continue
		}
		g.c.Policies = append(g.c.Policies, mypt.PolicyRead{PolicyReadID: fmt.Sprintf("%s-P%d", s.StudentID, n+1), StudentID: s.StudentID,
			Policy: pol, ReadAt: at(weekday(read), 10+r.IntN(6), r.IntN(60))})
	}
	reviews := []struct {
		kind  string
		after int
		notes string
	}{
		{"Progress Review", 49, "Settled in well. Attendance %s. Agreed to focus on meeting assignment deadlines."},
		{"Parents' Evening", 70, "Met with family. Progress on track; attendance %s."},
		{"Progress Review", 140, "Second review. Attendance %s. Targets reviewed and updated."},
	}
	for n, rv := range reviews {
		held := weekday(cal.Start.AddDays(rv.after + r.IntN(5)))
		if held.After(asOf) || (n == 1 && r.IntN(2) == 0) {
			continue
		}
		word := "is good"
		if p.attend < 0.9 {
			word = "needs to improve"
		}
		g.c.Meetings = append(g.c.Meetings, mypt.Meeting{MeetingID: fmt.Sprintf("%s-R%d", s.StudentID, n+1), StudentID: s.StudentID,
			Type: rv.kind, HeldOn: held, StaffName: g.tutorOf(s.StudentID), Notes: fmt.Sprintf(rv.notes, word)})
	}
	fd := mypt.FurtherDetail{StudentID: s.StudentID}
	flag := func() *bool {
		switch r.IntN(10) {
		case 0, 1:
			return nil // not recorded
		case 2:
			return new(false)
		}
		return new(true)
	}
	fd.ConsentForVisits, fd.ConsentForPhotographs, fd.ConsentForMedicalTreatment, fd.ConsentForSharingWithEmployers = flag(), flag(), flag(), flag()
	if i%17 == 5 {
		fd = mypt.FurtherDetail{StudentID: s.StudentID} // nothing recorded at all
	}
	g.c.Further = append(g.c.Further, fd)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (g *gen) tutorOf(studentID string) string {
	for j := len(g.c.Tutors) - 1; j >= 0; j-- {
		if t := g.c.Tutors[j]; t.StudentID == studentID && t.Role == "Personal Tutor" {
			return t.Name
		}
	}
	return ""
}

// weekday moves a weekend date to the Monday after.
func weekday(d mypt.Date) mypt.Date {
	switch d.Weekday() {
	case time.Saturday:
		return d.AddDays(2)
	case time.Sunday:
		return d.AddDays(1)
	}
	return d
}

// at is d at hh:mm, London time, as a UTC instant.
func at(d mypt.Date, hh, mm int) time.Time {
	return time.Date(d.Year, d.Month, d.Day, hh, mm, 0, 0, london).UTC()
}

var london = func() *time.Location {
	if l, err := time.LoadLocation("Europe/London"); err == nil {
		return l
	}
	return time.UTC
}()

// parents lists the demo's parent accounts.
func (g *gen) parents() {
	contact := func(studentID string) mypt.Contact {
		for _, c := range g.c.Contacts {
			if c.StudentID == studentID && strings.HasSuffix(c.ContactID, "-C1") {
				return c
			}
		}
		return mypt.Contact{}
	}
	add := func(ids ...string) {
		c := contact(ids[0])
		p := Parent{FirstName: c.FirstName, LastName: c.LastName, Email: c.Email, Relationship: c.Relationship}
		for _, id := range ids {
			p.StudentIDs = append(p.StudentIDs, id)
			p.ContactIDs = append(p.ContactIDs, contact(id).ContactID)
		}
		g.c.Parents = append(g.c.Parents, p)
	}
	add(g.c.Students[0].StudentID)
	add(g.c.Students[2].StudentID, g.c.Students[3].StudentID)
	add(g.c.Students[1].StudentID)
}

// Rows returns every row, entity by entity in mypt.Entities order (references first).
func (c *College) Rows() []mypt.Row {
	var rows []mypt.Row
	add := func(n int, f func(int) mypt.Row) {
		for i := range n {
			rows = append(rows, f(i))
		}
	}
	for _, e := range mypt.Entities {
		switch e {
		case mypt.EntityMarkType:
			add(len(c.MarkTypes), func(i int) mypt.Row { return c.MarkTypes[i] })
		case mypt.EntityCourse:
			add(len(c.Courses), func(i int) mypt.Row { return c.Courses[i] })
		case mypt.EntityStudent:
			add(len(c.Students), func(i int) mypt.Row { return c.Students[i] })
		case mypt.EntityContact:
			add(len(c.Contacts), func(i int) mypt.Row { return c.Contacts[i] })
		case mypt.EntityEnrolment:
			add(len(c.Enrolment), func(i int) mypt.Row { return c.Enrolment[i] })
		case mypt.EntityTutor:
			add(len(c.Tutors), func(i int) mypt.Row { return c.Tutors[i] })
		case mypt.EntityAttendanceMark:
			add(len(c.Marks), func(i int) mypt.Row { return c.Marks[i] })
		case mypt.EntityDocument:
			add(len(c.Documents), func(i int) mypt.Row { return c.Documents[i] })
		case mypt.EntityAchievement:
			add(len(c.Achieve), func(i int) mypt.Row { return c.Achieve[i] })
		case mypt.EntityTargetGrade:
			add(len(c.Grades), func(i int) mypt.Row { return c.Grades[i] })
		case mypt.EntityTarget:
			add(len(c.Targets), func(i int) mypt.Row { return c.Targets[i] })
		case mypt.EntityPolicyRead:
			add(len(c.Policies), func(i int) mypt.Row { return c.Policies[i] })
		case mypt.EntityMeeting:
			add(len(c.Meetings), func(i int) mypt.Row { return c.Meetings[i] })
		case mypt.EntityFurtherDetail:
			add(len(c.Further), func(i int) mypt.Row { return c.Further[i] })
		}
	}
	return rows
}
