package synth

import (
	"time"

	"mypt"
)

// Easter returns Easter Sunday of year (Gregorian; the anonymous algorithm of Meeus/Jones/Butcher).
func Easter(year int) mypt.Date {
	a := year % 19
	b, c := year/100, year%100
	d, e := b/4, b%4
	f := (b + 8) / 25
	g := (b - f + 1) / 3
	h := (19*a + b - d - g + 15) % 30
	i, k := c/4, c%4
	l := (32 + 2*e + 2*i - h - k) % 7
	m := (a + 11*h + 22*l) / 451
	month := (h + l - 7*m + 114) / 31
	day := (h+l-7*m+114)%31 + 1
	return mypt.NewDate(year, time.Month(month), day)
}

// BankHolidays returns England's bank holidays in calendar year (the regular rules, with
// weekend substitutes; one-off holidays such as coronations are not included).
func BankHolidays(year int) []mypt.Date {
	easter := Easter(year)
	newYear := weekday(mypt.NewDate(year, time.January, 1)) // at a weekend, the Monday after
	christmas := mypt.NewDate(year, time.December, 25)
	boxing := mypt.NewDate(year, time.December, 26)
	// Christmas and Boxing Day move to the next weekdays not already taken.
	switch christmas.Weekday() {
	case time.Saturday: // Mon 27 and Tue 28
		christmas, boxing = christmas.AddDays(2), boxing.AddDays(2)
	case time.Sunday: // Boxing Day Mon 26, Christmas Tue 27
		christmas = christmas.AddDays(2)
	case time.Friday: // Boxing Day Saturday → Mon 28
		boxing = boxing.AddDays(2)
	}
	return []mypt.Date{
		newYear,
		easter.AddDays(-2), // Good Friday
		easter.AddDays(1),  // Easter Monday
		firstMonday(year, time.May),
		lastMonday(year, time.May),
		lastMonday(year, time.August),
		christmas,
		boxing,
	}
}

func firstMonday(year int, m time.Month) mypt.Date {
	d := mypt.NewDate(year, m, 1)
	for d.Weekday() != time.Monday {
		d = d.AddDays(1)
	}
	return d
}

func lastMonday(year int, m time.Month) mypt.Date {
	d := mypt.NewDate(year, m+1, 1).AddDays(-1)
	if m == time.December {
		d = mypt.NewDate(year, time.December, 31)
	}
	for d.Weekday() != time.Monday {
		d = d.AddDays(-1)
	}
	return d
}

// mondayBetween returns the Monday of month m falling on day from..from+6.
func mondayBetween(year int, m time.Month, from int) mypt.Date {
	d := mypt.NewDate(year, m, from)
	for d.Weekday() != time.Monday {
		d = d.AddDays(1)
	}
	return d
}

// Calendar is one academic year's teaching weeks and days off.
type Calendar struct {
	Year      int       // academic year key (2026 for 2026/27)
	Start     mypt.Date // first teaching day (a Monday in early September)
	End       mypt.Date // last teaching day (a Friday in early July)
	closedWks map[mypt.Date]string
	holidays  map[mypt.Date]bool
}

// NewCalendar builds the college year for academic year key y: terms from the first Monday on
// or after 4 September to the Friday of the first week of July, closed for the October half
// term, two weeks at Christmas, the February half term, two weeks at Easter and the May half
// term, and on England's bank holidays. (2018/19 gives the seed's weeks: back on 10/09/2018,
// half terms w/c 22/10/2018 and 18/02/2019, back after Christmas on 07/01/2019.)
func NewCalendar(y int) Calendar {
	c := Calendar{Year: y, closedWks: map[mypt.Date]string{}, holidays: map[mypt.Date]bool{}}
	c.Start = mondayBetween(y, time.September, 4)
	c.End = mondayBetween(y+1, time.July, 1).AddDays(4)
	c.closedWks[mondayBetween(y, time.October, 22)] = "October half term"
	xmas := mypt.NewDate(y, time.December, 25).Monday()
	c.closedWks[xmas] = "Christmas holiday"
	c.closedWks[xmas.AddDays(7)] = "Christmas holiday"
	c.closedWks[mondayBetween(y+1, time.February, 15)] = "February half term"
	goodFriday := Easter(y + 1).AddDays(-2)
	c.closedWks[goodFriday.Monday()] = "Easter holiday"
	c.closedWks[goodFriday.Monday().AddDays(7)] = "Easter holiday"
	c.closedWks[lastMonday(y+1, time.May)] = "May half term"
	for _, yr := range []int{y, y + 1} {
		for _, d := range BankHolidays(yr) {
			c.holidays[d] = true
		}
	}
	return c
}

// Closed reports whether the college teaches no sessions on d, and why.
func (c Calendar) Closed(d mypt.Date) (bool, string) {
	switch {
	case d.Before(c.Start) || d.After(c.End):
		return true, "summer holiday"
	case d.Weekday() == time.Saturday || d.Weekday() == time.Sunday:
		return true, "weekend"
	case c.holidays[d]:
		return true, "bank holiday"
	}
	if why, ok := c.closedWks[d.Monday()]; ok {
		return true, why
	}
	return false, ""
}

// TeachingDays lists the days sessions are held, from Start to End.
func (c Calendar) TeachingDays() []mypt.Date {
	var out []mypt.Date
	for d := c.Start; !d.After(c.End); d = d.AddDays(1) {
		if closed, _ := c.Closed(d); !closed {
			out = append(out, d)
		}
	}
	return out
}
