package mypt_test

import (
	"fmt"
	"testing"
	"time"

	"mypt"
	"mypt/internal/synth"
)

// seedMarkTypes are mark types shaped like the college's: the characters mean nothing to mypt,
// only Status, IsLate and IsAuthorisedAbsence do.
var seedMarkTypes = map[string]mypt.MarkType{
	"/":  {Mark: "/", Description: "Present (morning)", Status: 1},
	"\\": {Mark: "\\", Description: "Present (afternoon)", Status: 1},
	"O":  {Mark: "O", Description: "Absent", Status: 0},
	"L":  {Mark: "L", Description: "Late", Status: 1, IsLate: true},
	"X":  {Mark: "X", Description: "Not required", Status: 2},
}

func TestSeedAttendanceTable(t *testing.T) {
	seed, err := synth.LoadSeedTable() // the seed guide's attendance table as data
	if err != nil {
		t.Fatal(err)
	}
	var marks []mypt.AttendanceMark
	for wi, w := range seed.Weeks {
		mon, err := mypt.ParseUKDate(w.WC)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range w.Marks {
			marks = append(marks, mypt.AttendanceMark{
				MarkID: fmt.Sprintf("M%02d%d", wi, i), StudentID: "S1", EnrolmentID: "E1",
				SessionDate: mon, StartTime: fmt.Sprintf("%02d:00", 9+2*i), EndTime: fmt.Sprintf("%02d:30", 10+2*i), Mark: m,
			})
		}
	}
	// A neutral week and an unmarked session must change nothing.
	marks = append(marks,
		mypt.AttendanceMark{MarkID: "N1", StudentID: "S1", EnrolmentID: "E1", SessionDate: mypt.NewDate(2018, time.October, 23), StartTime: "09:00", EndTime: "10:00", Mark: "X"},
		mypt.AttendanceMark{MarkID: "U1", StudentID: "S1", EnrolmentID: "E1", SessionDate: mypt.NewDate(2019, time.February, 26), StartTime: "09:00", EndTime: "10:00"},
	)
	sessions := mypt.Resolve(marks, seedMarkTypes)
	weeks := mypt.GroupWeeks(sessions, mypt.UnmarkedIgnored)
	if len(weeks) != len(seed.Weeks) || len(weeks) != 21 {
		t.Fatalf("got %d weeks, want %d (21)", len(weeks), len(seed.Weeks))
	}
	for i, w := range weeks {
		want := seed.Weeks[i]
		if got := w.Monday.UK(); got != want.WC {
			t.Errorf("week %d: w/c %s, want %s", i, got, want.WC)
		}
		if got := w.Tally.AttendancePct().Number(); got != want.AttendancePct {
			t.Errorf("week %s: attendance %s, want %s", want.WC, got, want.AttendancePct)
		}
		if got := w.Tally.PunctualityPct().Number(); got != want.PunctualityPct {
			t.Errorf("week %s: punctuality %s, want %s", want.WC, got, want.PunctualityPct)
		}
		var got []string
		for _, s := range w.Days[0] {
			got = append(got, s.Mark)
		}
		if fmt.Sprint(got) != fmt.Sprint(want.Marks) {
			t.Errorf("week %s: marks %v, want %v", want.WC, got, want.Marks)
		}
	}
	total := mypt.TallyOf(sessions, mypt.UnmarkedIgnored)
	if total.Possible() != 63 || total.Attended() != 60 || total.Late != 1 {
		t.Errorf("totals %d/%d/%d, want 63/60/1", total.Possible(), total.Attended(), total.Late)
	}
	if got := total.AttendancePct().String(); got != "95.2%" {
		t.Errorf("attendance %s, want 95.2%%", got)
	}
	if got := total.PunctualityPct().String(); got != "98.3%" {
		t.Errorf("punctuality %s, want 98.3%%", got)
	}
	if seed.Totals.TotalMarks != 63 || seed.Totals.AttendancePct != "95.2" || seed.Totals.PunctualityPct != "98.3" {
		t.Errorf("seed file changed: %+v", seed.Totals)
	}
	// Counting unmarked sessions as absent changes the figures.
	if got := mypt.TallyOf(sessions, mypt.UnmarkedAbsent).Possible(); got != 64 {
		t.Errorf("with unmarked counted as absent, possible = %d, want 64", got)
	}
}

func TestPercentRoundsHalfUp(t *testing.T) {
	for _, c := range []struct {
		n, d int
		want string
	}{
		{2, 3, "66.7%"}, {1, 3, "33.3%"}, {60, 63, "95.2%"}, {59, 60, "98.3%"},
		{1, 8, "12.5%"}, {1, 16, "6.3%"}, {0, 5, "0.0%"}, {5, 5, "100.0%"}, {1, 0, "–"},
	} {
		if got := mypt.PercentOf(c.n, c.d).String(); got != c.want {
			t.Errorf("%d/%d = %s, want %s", c.n, c.d, got, c.want)
		}
	}
}

func TestBands(t *testing.T) {
	bands := mypt.DefaultBands()
	for _, c := range []struct {
		tenths int
		want   string
	}{{1000, "Excellent"}, {999, "Good"}, {900, "Good"}, {899, "Requires improvement"}, {850, "Requires improvement"}, {849, "Poor"}, {0, "Poor"}} {
		if got := mypt.BandFor(mypt.Percent{Tenths: c.tenths, OK: true}, bands); got != c.want {
			t.Errorf("%d tenths: %q, want %q", c.tenths, got, c.want)
		}
	}
	parsed, err := mypt.ParseBands("Excellent=100,Good=90,Requires improvement=85,Poor=0")
	if err != nil || fmt.Sprint(parsed) != fmt.Sprint(bands) {
		t.Errorf("ParseBands = %v, %v", parsed, err)
	}
	for _, bad := range []string{"", "Good=90", "A=50,B=60,C=0", "A=101,B=0", "A=x,B=0"} {
		if _, err := mypt.ParseBands(bad); err == nil {
			t.Errorf("ParseBands(%q) accepted", bad)
		}
	}
}

func TestMarkCategoryFromTypesNotCharacters(t *testing.T) {
	// A college whose "/" means absent: the category follows the type, not the glyph.
	types := map[string]mypt.MarkType{"/": {Mark: "/", Description: "Absent", Status: 0, IsAuthorisedAbsence: true}}
	s := mypt.Resolve([]mypt.AttendanceMark{{MarkID: "1", Mark: "/"}, {MarkID: "2", Mark: "?"}}, types)
	if s[0].Category != mypt.CategoryAuthorisedAbsent || s[1].Category != mypt.CategoryUnmarked {
		t.Errorf("categories %v %v", s[0].Category, s[1].Category)
	}
}
