package mypt

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Date is a civil date with no time zone (a date of birth, a session date).
// The zero Date is "no date".
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// NewDate returns the date y-m-d; it does not normalise (use ParseDate to validate).
func NewDate(y int, m time.Month, d int) Date { return Date{y, m, d} }

// DateOf returns the civil date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// ParseDate parses an ISO date YYYY-MM-DD. It refuses dates that do not exist (31 February).
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a date in the form YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// errNoSuchDay marks a date in the right shape that the calendar does not have (31/02/2011).
var errNoSuchDay = errors.New("no such day")

// IsNoSuchDay reports whether err is ParseUKDate's for a well-formed date that does not exist.
func IsNoSuchDay(err error) bool { return errors.Is(err, errNoSuchDay) }

// ParseUKDate parses a date written as dd/mm/yyyy, as parents type it (DM-2): one- or two-digit
// day and month, a four-digit year. Two-digit years and dates that do not exist are refused with a
// message that gives the format (IsNoSuchDay tells the second kind).
func ParseUKDate(s string) (Date, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("%q is not a date: enter it as dd/mm/yyyy, for example 05/04/2011", s)
	parts := strings.Split(s, "/")
	if len(parts) != 3 || len(parts[0]) < 1 || len(parts[0]) > 2 || len(parts[1]) < 1 || len(parts[1]) > 2 || len(parts[2]) != 4 {
		return Date{}, bad
	}
	var n [3]int
	for i, p := range parts {
		for _, r := range p {
			if r < '0' || r > '9' {
				return Date{}, bad
			}
		}
		n[i], _ = strconv.Atoi(p)
	}
	d := Date{n[2], time.Month(n[1]), n[0]}
	if !d.Valid() {
		return Date{}, fmt.Errorf("%q is not a real date: enter it as dd/mm/yyyy, for example 05/04/2011: %w", s, errNoSuchDay)
	}
	return d, nil
}

// Valid reports whether d is a real calendar date between years 1 and 9999.
func (d Date) Valid() bool {
	if d.Year < 1 || d.Year > 9999 || d.Month < 1 || d.Month > 12 || d.Day < 1 {
		return false
	}
	return d.Day <= time.Date(d.Year, d.Month+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// Time returns midnight of d in loc.
func (d Date) Time(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// String formats d as YYYY-MM-DD, or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// UK formats d as dd/mm/yyyy, or "" for the zero Date.
func (d Date) UK() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%02d/%02d/%04d", d.Day, int(d.Month), d.Year)
}

// AddDays returns d moved by n days.
func (d Date) AddDays(n int) Date { return DateOf(d.Time(time.UTC).AddDate(0, 0, n)) }

// Weekday returns the day of the week of d.
func (d Date) Weekday() time.Weekday { return d.Time(time.UTC).Weekday() }

// Monday returns the Monday of d's week (the week key of the attendance report).
func (d Date) Monday() Date {
	off := (int(d.Weekday()) + 6) % 7 // Monday=0 … Sunday=6
	return d.AddDays(-off)
}

// Compare returns -1, 0 or +1 as d is before, equal to or after e.
func (d Date) Compare(e Date) int {
	switch {
	case d.Year != e.Year:
		return sign(d.Year - e.Year)
	case d.Month != e.Month:
		return sign(int(d.Month) - int(e.Month))
	default:
		return sign(d.Day - e.Day)
	}
}

// Before reports whether d is before e.
func (d Date) Before(e Date) bool { return d.Compare(e) < 0 }

// After reports whether d is after e.
func (d Date) After(e Date) bool { return d.Compare(e) > 0 }

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// MarshalText writes d as YYYY-MM-DD (the zero Date as an empty string).
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads YYYY-MM-DD; an empty string is the zero Date.
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// AgeOn returns the age in whole years of someone born on birth, on the date on.
// Someone born on 29 February turns a year older on 1 March in common years.
func AgeOn(birth, on Date) int {
	age := on.Year - birth.Year
	if on.Month < birth.Month || (on.Month == birth.Month && on.Day < birth.Day) {
		age--
	}
	return age
}

// AcademicYearOf returns the key of the academic year (1 August – 31 July) that d falls in:
// 2018 for any date from 2018-08-01 to 2019-07-31.
func AcademicYearOf(d Date) int {
	if d.Month >= time.August {
		return d.Year
	}
	return d.Year - 1
}

// YearLabel writes an academic year key the way the college does: 2018 → "2018/19".
func YearLabel(year int) string { return fmt.Sprintf("%d/%02d", year, (year+1)%100) }

// AcademicYearStart returns 1 August of the academic year key.
func AcademicYearStart(year int) Date { return Date{year, time.August, 1} }

// AcademicYearEnd returns 31 July that ends the academic year key.
func AcademicYearEnd(year int) Date { return Date{year + 1, time.July, 31} }
