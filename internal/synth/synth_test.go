package synth

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mypt"
)

var asOf = mypt.NewDate(2026, time.December, 3)

func generate(t testing.TB, students int, seed uint64) *College {
	t.Helper()
	c, err := Generate(Options{Seed: seed, Students: students, AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func digest(t testing.TB, c *College) [32]byte {
	var buf bytes.Buffer
	if err := WriteNDJSON(&buf, "b", c.Rows()); err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(buf.Bytes())
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	a, b := generate(t, 30, 7), generate(t, 30, 7)
	if digest(t, a) != digest(t, b) {
		t.Fatal("same seed gave different bytes")
	}
	if digest(t, a) == digest(t, generate(t, 30, 8)) {
		t.Fatal("another seed gave the same bytes")
	}
}

func TestEveryRowValidates(t *testing.T) {
	t.Parallel()
	c := generate(t, 150, 1)
	seen := map[mypt.Entity]map[string]bool{}
	counts := map[mypt.Entity]int{}
	for _, r := range c.Rows() {
		if err := r.Validate(); err != nil {
			t.Fatalf("%s %s: %v", r.EntityName(), r.Key(), err)
		}
		e := r.EntityName()
		if seen[e] == nil {
			seen[e] = map[string]bool{}
		}
		if seen[e][r.Key()] {
			t.Fatalf("%s key %s twice", e, r.Key())
		}
		seen[e][r.Key()] = true
		counts[e]++
	}
	for _, e := range mypt.Entities {
		if counts[e] == 0 {
			t.Errorf("no %s rows", e)
		}
	}
	t.Logf("rows: %v", counts)
}

func TestRealisticMix(t *testing.T) {
	t.Parallel()
	c := generate(t, 200, 3)
	types := map[string]mypt.MarkType{}
	for _, m := range c.MarkTypes {
		types[m.Mark] = m
	}
	cats := map[mypt.MarkCategory]int{}
	for _, m := range c.Marks {
		cats[types[m.Mark].Category()]++
		if m.Mark == "" {
			cats[mypt.CategoryUnmarked]++
		}
		if m.SessionDate.After(asOf.Monday().AddDays(6)) {
			t.Fatalf("mark %s after the week of AsOf", m.MarkID)
		}
		if m.Mark != "" && m.SessionDate.After(asOf) {
			t.Fatalf("mark %s marked in the future", m.MarkID)
		}
	}
	for _, cat := range []mypt.MarkCategory{mypt.CategoryPresent, mypt.CategoryLate, mypt.CategoryAbsent, mypt.CategoryAuthorisedAbsent, mypt.CategoryNeutral, mypt.CategoryUnmarked} {
		if cats[cat] == 0 {
			t.Errorf("no %s marks", cat)
		}
	}
	var barred, notNOK, sites, left, ehcp, nilConsent, studentTargets, level3 int
	for _, k := range c.Contacts {
		if k.PortalAccessBarred {
			barred++
		}
		if !k.IsNextOfKin {
			notNOK++
		}
	}
	for _, s := range c.Students {
		if s.College == SiteCoulsdon {
			sites++
		}
		if s.Status == mypt.StudentLeft {
			left++
		}
		if s.HasEHCP {
			ehcp++
		}
	}
	for _, f := range c.Further {
		if f.ConsentForVisits == nil {
			nilConsent++
		}
	}
	for _, tg := range c.Targets {
		if tg.CreatedByStudent {
			studentTargets++
		}
	}
	for _, co := range c.Courses {
		if co.Level == "Level 3" {
			level3++
		}
	}
	for name, n := range map[string]int{"barred contacts": barred, "non-NOK contacts": notNOK, "Coulsdon students": sites,
		"leavers": left, "EHCP students": ehcp, "unrecorded consents": nilConsent, "student-created targets": studentTargets, "level 3 courses": level3} {
		if n == 0 {
			t.Errorf("no %s", name)
		}
	}
	names := map[string]bool{}
	for _, s := range c.Students {
		names[s.LegalFirstNames+" "+s.LegalLastName] = true
	}
	for _, want := range []string{"Siobhán O’Neill-Smith", "José Fernández", "Marcus D'Arcy"} {
		if !names[want] {
			t.Errorf("no student named %s", want)
		}
	}
	for _, d := range c.Documents[:3] {
		if !bytes.HasPrefix(d.Content, []byte("%PDF-")) || !bytes.Contains(d.Content, []byte("%%EOF")) || len(d.Content) > 20<<10 {
			t.Errorf("document %s is not a small PDF (%d bytes)", d.DocumentID, len(d.Content))
		}
	}
	// Target grades are for Level 3 enrolments only.
	level := map[string]string{}
	for _, co := range c.Courses {
		level[co.CourseID] = co.Level
	}
	for _, e := range c.Enrolment {
		level[e.EnrolmentID] = level[e.CourseID]
	}
	for _, g := range c.Grades {
		if level[g.EnrolmentID] != "Level 3" {
			t.Errorf("target grade on %s enrolment %s", level[g.EnrolmentID], g.EnrolmentID)
		}
	}
}

func TestSeedStudentReproducesTheGuide(t *testing.T) {
	t.Parallel()
	c := generate(t, 5, 1)
	table, err := LoadSeedTable()
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]mypt.MarkType{}
	for _, m := range c.MarkTypes {
		types[m.Mark] = m
	}
	var marks []mypt.AttendanceMark
	for _, m := range c.Marks {
		if m.StudentID == SeedStudentID && mypt.AcademicYearOf(m.SessionDate) == 2018 {
			marks = append(marks, m)
		}
	}
	sessions := mypt.Resolve(marks, types)
	weeks := mypt.GroupWeeks(sessions, mypt.UnmarkedIgnored)
	if len(weeks) != len(table.Weeks) {
		t.Fatalf("%d weeks, want %d", len(weeks), len(table.Weeks))
	}
	for i, w := range weeks {
		want := table.Weeks[i]
		if w.Monday.UK() != want.WC || w.Tally.AttendancePct().Number() != want.AttendancePct || w.Tally.PunctualityPct().Number() != want.PunctualityPct {
			t.Errorf("week %d: %s %s/%s, want %s %s/%s", i, w.Monday.UK(), w.Tally.AttendancePct().Number(), w.Tally.PunctualityPct().Number(),
				want.WC, want.AttendancePct, want.PunctualityPct)
		}
	}
	tot := mypt.TallyOf(sessions, mypt.UnmarkedIgnored)
	if tot.Possible() != 63 || tot.Attended() != 60 || tot.Late != 1 || tot.AttendancePct().Number() != "95.2" || tot.PunctualityPct().Number() != "98.3" {
		t.Errorf("totals %d/%d/%d %s/%s, want 63/60/1 95.2/98.3", tot.Possible(), tot.Attended(), tot.Late,
			tot.AttendancePct().Number(), tot.PunctualityPct().Number())
	}
	// She is still eligible, this year and next.
	seed := c.Students[0]
	for _, today := range []mypt.Date{asOf, mypt.NewDate(2027, time.June, 30), mypt.NewDate(2027, time.October, 1)} {
		if why := mypt.DefaultEligibility().StudentEligibility(seed, today); why != mypt.Eligible {
			t.Errorf("seed student not eligible on %s: %s", today, why.Describe())
		}
	}
	// And she has marks this year too, so the home page shows a figure.
	var thisYear int
	for _, m := range c.Marks {
		if m.StudentID == SeedStudentID && mypt.AcademicYearOf(m.SessionDate) == 2026 && m.Mark != "" {
			thisYear++
		}
	}
	if thisYear == 0 {
		t.Error("seed student has no marks in 2026/27")
	}
	p := c.Parents[0]
	if len(p.StudentIDs) != 1 || p.StudentIDs[0] != SeedStudentID || p.Email == "" {
		t.Errorf("first demo parent %+v", p)
	}
	if len(c.Parents[1].StudentIDs) != 2 || c.Parents[1].Email == "" {
		t.Errorf("second demo parent %+v", c.Parents[1])
	}
}

func TestCalendar(t *testing.T) {
	t.Parallel()
	if got := Easter(2019); got != mypt.NewDate(2019, time.April, 21) {
		t.Errorf("Easter 2019 = %s", got)
	}
	if got := Easter(2027); got != mypt.NewDate(2027, time.March, 28) {
		t.Errorf("Easter 2027 = %s", got)
	}
	hol := map[mypt.Date]bool{}
	for _, d := range BankHolidays(2022) {
		hol[d] = true
	}
	// 2022: Christmas on Sunday → Boxing Day Mon 26, substitute Tue 27.
	for _, d := range []mypt.Date{d(2022, 1, 3), d(2022, 4, 15), d(2022, 4, 18), d(2022, 5, 2), d(2022, 5, 30), d(2022, 8, 29), d(2022, 12, 26), d(2022, 12, 27)} {
		if !hol[d] {
			t.Errorf("%s is not a 2022 bank holiday", d)
		}
	}
	// 2018/19 matches the guide: every week in the seed table is a teaching week, and the gaps
	// (22/10, 24/12, 31/12, 18/02) are holidays.
	cal := NewCalendar(2018)
	table, _ := LoadSeedTable()
	for _, w := range table.Weeks {
		mon, _ := mypt.ParseUKDate(w.WC)
		if closed, why := cal.Closed(mon.AddDays(1)); closed {
			t.Errorf("w/c %s closed (%s)", w.WC, why)
		}
	}
	for _, d := range []mypt.Date{d(2018, 10, 23), d(2018, 12, 27), d(2019, 1, 2), d(2019, 2, 19), d(2019, 4, 19), d(2019, 5, 6), d(2019, 5, 28), d(2019, 8, 1), d(2018, 9, 7)} {
		if closed, _ := cal.Closed(d); !closed {
			t.Errorf("%s should be closed", d)
		}
	}
	if days := len(cal.TeachingDays()); days < 160 || days > 190 {
		t.Errorf("%d teaching days in 2018/19", days)
	}
}

func TestChunksKeepOrder(t *testing.T) {
	t.Parallel()
	rows := generate(t, 5, 1).Rows()
	var n int
	var buf bytes.Buffer
	for i, ch := range Chunks(rows, 100) {
		if len(ch) > 100 {
			t.Fatal("chunk too big")
		}
		for j, r := range ch {
			if r.EntityName() != rows[n+j].EntityName() || r.Key() != rows[n+j].Key() {
				t.Fatal("order changed")
			}
		}
		n += len(ch)
		buf.Reset()
		if err := WriteNDJSON(&buf, "b", ch); err != nil {
			t.Fatal(err)
		}
		if i == 0 && !strings.HasPrefix(buf.String(), `{"batch":"b","mode":"delta"}`+"\n"+`{"entity":"mark_type","op":"upsert","data":{"Mark":"/"`) {
			t.Errorf("batch starts %.120s", buf.String())
		}
	}
	if n != len(rows) {
		t.Fatalf("%d rows chunked, want %d", n, len(rows))
	}
}

func BenchmarkGenerate1000(b *testing.B) {
	for b.Loop() {
		generate(b, 1000, 1)
	}
}

func d(y, m, day int) mypt.Date { return mypt.NewDate(y, time.Month(m), day) }

func TestSecondYearsHaveLastYear(t *testing.T) {
	t.Parallel()
	c := generate(t, 100, 2)
	years := map[string]map[int]bool{}
	for _, m := range c.Marks {
		if years[m.StudentID] == nil {
			years[m.StudentID] = map[int]bool{}
		}
		years[m.StudentID][mypt.AcademicYearOf(m.SessionDate)] = true
	}
	two := 0
	for id, ys := range years {
		if id != SeedStudentID && ys[2025] && ys[2026] {
			two++
		}
	}
	if two == 0 {
		t.Error("no second-year student has marks in both 2025/26 and 2026/27")
	}
}

// TestLettersArePDFs reads a letter back with pdftotext (poppler-utils): it is a real PDF
// that names the student, accents and curly apostrophe intact.
func TestLettersArePDFs(t *testing.T) {
	t.Parallel()
	pdftotext, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Fatal("pdftotext (poppler-utils) is not installed: run ./scripts/test")
	}
	c := generate(t, 5, 1)
	var letter []byte
	for _, d := range c.Documents {
		if d.StudentID == SeedStudentID {
			letter = d.Content
			break
		}
	}
	f := filepath.Join(t.TempDir(), "letter.pdf")
	if err := os.WriteFile(f, letter, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pdftotext, "-enc", "UTF-8", f, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	for _, want := range []string{"Croydon College", "Siobhán O’Neill-Smith", SeedStudentID, "Dear Parent/Carer"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("letter text lacks %q:\n%s", want, out)
		}
	}
}

// Every demo parent can see every child printed beside their login, whatever the seed and date.
func TestDemoParentsSeeTheirChildren(t *testing.T) {
	t.Parallel()
	pol := mypt.DefaultEligibility()
	for seed := uint64(1); seed <= 40; seed++ {
		asOf := mypt.NewDate(2026, time.December, 3).AddDays(int(seed) * 13) // to May 2028: the seed student (born 2002, EHCP) is 25 from 31 August 2028
		c, err := Generate(Options{Seed: seed, Students: 5, AsOf: asOf})
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]mypt.Student{}
		for _, s := range c.Students {
			byID[s.StudentID] = s
		}
		for _, p := range c.Parents {
			for _, id := range p.StudentIDs {
				if why := pol.StudentEligibility(byID[id], asOf); why != mypt.Eligible {
					t.Errorf("seed %d, %s: %s's child %s (born %s) is not eligible: %s", seed, asOf, p.Email, id, byID[id].DateOfBirth, why)
				}
			}
		}
	}
}
