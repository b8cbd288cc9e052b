package syncer

import (
	"fmt"
	"time"
)

// Daily is a wall-clock time of day in a zone, such as 02:30 Europe/London.
type Daily struct {
	Hour, Minute int
	Loc          *time.Location
}

// ParseDaily reads "HH:MM" in loc.
func ParseDaily(s string, loc *time.Location) (Daily, error) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return Daily{}, fmt.Errorf("syncer: %q is not a time of day in the form HH:MM", s)
	}
	if loc == nil {
		loc = time.UTC
	}
	return Daily{Hour: t.Hour(), Minute: t.Minute(), Loc: loc}, nil
}

// Next returns the first run strictly after t. It is computed on the calendar, not by adding
// 24 hours, so a daylight-saving change runs the job exactly once that day (DM-4): when the
// clock goes back and the wall time happens twice, the first occurrence is used; when it goes
// forward and the wall time does not exist, the job runs at the first instant after the gap.
func (d Daily) Next(t time.Time) time.Time {
	lt := t.In(d.Loc)
	y, m, day := lt.Date()
	for i := 0; i < 3; i++ {
		c := d.on(y, m, day+i)
		if c.After(t) {
			return c
		}
	}
	return d.on(y, m, day+3) // unreachable: each calendar day has one run
}

// on returns the run instant on the calendar day y-m-d (normalised).
func (d Daily) on(y int, m time.Month, day int) time.Time {
	c := time.Date(y, m, day, d.Hour, d.Minute, 0, 0, d.Loc)
	// The wall time may exist twice (clocks going back): take the earlier instant.
	for _, back := range []time.Duration{time.Hour, 30 * time.Minute, 2 * time.Hour} {
		e := c.Add(-back)
		if eh, em := e.Hour(), e.Minute(); eh == d.Hour && em == d.Minute && e.Day() == c.Day() {
			c = e
		}
	}
	// The wall time may not exist (clocks going forward): time.Date has moved it past the gap;
	// make sure it is still on the intended day.
	return c
}
