package mypt_test

import (
	"strings"
	"testing"
	"time"

	"mypt"
)

// DM-2: UK dates, one or two digits for day and month, four-digit years only.
func TestParseUKDate(t *testing.T) {
	for _, in := range []string{"05/04/2011", "5/4/2011", " 5/4/2011 "} {
		d, err := mypt.ParseUKDate(in)
		if err != nil || d != mypt.NewDate(2011, time.April, 5) {
			t.Errorf("ParseUKDate(%q) = %v, %v; want 2011-04-05", in, d, err)
		}
	}
	for _, in := range []string{"31/02/2011", "13/13/2011", "05/04/11", "2011-04-05", "", "5-4-2011", "aa/bb/cccc", "05/04/2011x", "+5/04/2011"} {
		_, err := mypt.ParseUKDate(in)
		if err == nil || !strings.Contains(err.Error(), "dd/mm/yyyy") {
			t.Errorf("ParseUKDate(%q) err = %v; want a refusal naming dd/mm/yyyy", in, err)
		}
	}
}

func TestDateBasics(t *testing.T) {
	d := mypt.NewDate(2019, time.February, 14) // a Thursday
	if got := d.Monday(); got != mypt.NewDate(2019, time.February, 11) {
		t.Errorf("Monday = %v", got)
	}
	if got := mypt.NewDate(2019, time.February, 17).Monday(); got != mypt.NewDate(2019, time.February, 11) {
		t.Errorf("Sunday's Monday = %v", got)
	}
	if mypt.AcademicYearOf(mypt.NewDate(2019, time.July, 31)) != 2018 || mypt.AcademicYearOf(mypt.NewDate(2018, time.August, 1)) != 2018 {
		t.Error("academic year boundaries")
	}
	if mypt.YearLabel(2018) != "2018/19" || mypt.YearLabel(2099) != "2099/00" {
		t.Error("year label")
	}
	leap := mypt.NewDate(2008, time.February, 29)
	if mypt.AgeOn(leap, mypt.NewDate(2027, time.February, 28)) != 18 || mypt.AgeOn(leap, mypt.NewDate(2027, time.March, 1)) != 19 {
		t.Error("leap-day birthday")
	}
	var back mypt.Date
	if err := back.UnmarshalText([]byte(d.String())); err != nil || back != d {
		t.Errorf("round trip %v %v", back, err)
	}
}

func TestEligibility(t *testing.T) {
	p := mypt.DefaultEligibility()
	today := mypt.NewDate(2026, time.December, 3)
	// Reference date is 31 August 2026: someone who turned 19 on 1 September 2026 is still 18 then.
	cases := []struct {
		name string
		s    mypt.Student
		want mypt.Ineligibility
	}{
		{"18 on the reference date", mypt.Student{DateOfBirth: mypt.NewDate(2007, time.September, 1), Status: "current"}, mypt.Eligible},
		{"19 on the reference date", mypt.Student{DateOfBirth: mypt.NewDate(2007, time.August, 31), Status: "current"}, mypt.TooOld},
		{"EHCP at 24", mypt.Student{DateOfBirth: mypt.NewDate(2002, time.September, 1), HasEHCP: true, Status: "current"}, mypt.Eligible},
		{"EHCP at 25", mypt.Student{DateOfBirth: mypt.NewDate(2001, time.August, 31), HasEHCP: true, Status: "current"}, mypt.TooOld},
		{"left", mypt.Student{DateOfBirth: mypt.NewDate(2009, time.January, 1), Status: "left", LeftDate: mypt.NewDate(2026, time.November, 1)}, mypt.LeftCollege},
		{"no date of birth", mypt.Student{Status: "current"}, mypt.NoDateOfBirth},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := p.StudentEligibility(c.s, today); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
	p.LeftGraceDays = 60
	if got := p.StudentEligibility(cases[4].s, today); got != mypt.Eligible {
		t.Errorf("left within grace: %q", got)
	}
	p = mypt.DefaultEligibility()
	p.AgeReference = mypt.AgeToday
	if got := p.StudentEligibility(cases[0].s, today); got != mypt.TooOld {
		t.Errorf("age today: %q", got)
	}
}

func TestDecodeRowNamesBadFields(t *testing.T) {
	_, err := mypt.DecodeRow(mypt.EntityStudent, []byte(`{"StudentID":"S1","LegalFirstNames":"","LegalLastName":"X","DateOfBirth":"2008-01-01","Status":"gone"}`))
	if err == nil || !strings.Contains(err.Error(), "LegalFirstNames") || !strings.Contains(err.Error(), "Status") {
		t.Errorf("err = %v", err)
	}
	_, err = mypt.DecodeRow(mypt.EntityStudent, []byte(`{"StudentID":"S1","Nickname":"x"}`))
	if err == nil || !strings.Contains(err.Error(), "Nickname") {
		t.Errorf("unknown column err = %v", err)
	}
	_, err = mypt.DecodeRow(mypt.EntityAttendanceMark, []byte(`{"MarkID":"1","StudentID":"S","EnrolmentID":"E","SessionDate":"2019-02-31","StartTime":"09:00","EndTime":"10:00"}`))
	if err == nil || !strings.Contains(err.Error(), "SessionDate") && !strings.Contains(err.Error(), "2019-02-31") {
		t.Errorf("bad date err = %v", err)
	}
	r, err := mypt.DecodeRow(mypt.EntityStudent, []byte(`{"StudentID":"S1","LegalFirstNames":"Siobhán","LegalLastName":"O’Neill-Smith","DateOfBirth":"2008-01-01","Status":"current"}`))
	if err != nil || r.(mypt.Student).LegalLastName != "O’Neill-Smith" {
		t.Errorf("good row: %v %v", r, err)
	}
}

// A date in the right shape that the calendar lacks is told apart from a badly written one.
func TestParseUKDateNoSuchDay(t *testing.T) {
	for in, want := range map[string]bool{"31/02/2011": true, "13/13/2011": true, "29/02/2024": false, "5/4/11": false, "x": false} {
		_, err := mypt.ParseUKDate(in)
		if got := mypt.IsNoSuchDay(err); got != want {
			t.Errorf("IsNoSuchDay(ParseUKDate(%q)) = %v, want %v (err %v)", in, got, want, err)
		}
	}
}
