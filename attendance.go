package mypt

import (
	"fmt"
	"slices"
	"strings"
)

// MarkCategory is what a register mark counts as. It comes from the MIS's mark types, never from
// the mark's characters.
type MarkCategory int

const (
	// CategoryUnmarked is a session with no mark yet, or a mark the MIS does not define.
	CategoryUnmarked MarkCategory = iota
	CategoryPresent
	CategoryLate
	CategoryAbsent
	CategoryAuthorisedAbsent
	CategoryNeutral
)

func (c MarkCategory) String() string {
	switch c {
	case CategoryPresent:
		return "present"
	case CategoryLate:
		return "late"
	case CategoryAbsent:
		return "absent"
	case CategoryAuthorisedAbsent:
		return "authorised absence"
	case CategoryNeutral:
		return "not required"
	}
	return "not yet marked"
}

// Category returns what mark type t counts as.
func (t MarkType) Category() MarkCategory {
	switch t.Status {
	case MarkStatusPresent:
		if t.IsLate {
			return CategoryLate
		}
		return CategoryPresent
	case MarkStatusAbsent:
		if t.IsAuthorisedAbsence {
			return CategoryAuthorisedAbsent
		}
		return CategoryAbsent
	case MarkStatusNeutral:
		return CategoryNeutral
	}
	return CategoryUnmarked
}

// UnmarkedPolicy says how sessions that have no mark yet count.
type UnmarkedPolicy string

const (
	// UnmarkedIgnored leaves unmarked sessions out of every figure (the default).
	UnmarkedIgnored UnmarkedPolicy = "ignore"
	// UnmarkedAbsent counts an unmarked session as possible but not attended.
	UnmarkedAbsent UnmarkedPolicy = "absent"
)

// ParseUnmarkedPolicy accepts "ignore" (also "") and "absent".
func ParseUnmarkedPolicy(s string) (UnmarkedPolicy, error) {
	switch UnmarkedPolicy(s) {
	case "", UnmarkedIgnored:
		return UnmarkedIgnored, nil
	case UnmarkedAbsent:
		return UnmarkedAbsent, nil
	}
	return "", fmt.Errorf("unmarked sessions: %q is not %q or %q", s, UnmarkedIgnored, UnmarkedAbsent)
}

// Tally counts marks by category.
type Tally struct {
	Present          int
	Late             int
	Absent           int // unauthorised, and unmarked sessions when they count as absent
	AuthorisedAbsent int
	Neutral          int
	Unmarked         int // not counted
}

// Add counts one mark of category c under policy p.
func (t *Tally) Add(c MarkCategory, p UnmarkedPolicy) {
	switch c {
	case CategoryPresent:
		t.Present++
	case CategoryLate:
		t.Late++
	case CategoryAbsent:
		t.Absent++
	case CategoryAuthorisedAbsent:
		t.AuthorisedAbsent++
	case CategoryNeutral:
		t.Neutral++
	default:
		if p == UnmarkedAbsent {
			t.Absent++
		} else {
			t.Unmarked++
		}
	}
}

// Plus returns the sum of two tallies.
func (t Tally) Plus(u Tally) Tally {
	return Tally{t.Present + u.Present, t.Late + u.Late, t.Absent + u.Absent,
		t.AuthorisedAbsent + u.AuthorisedAbsent, t.Neutral + u.Neutral, t.Unmarked + u.Unmarked}
}

// Possible is every counted session: present + late + absent (authorised or not).
func (t Tally) Possible() int { return t.Present + t.Late + t.Absent + t.AuthorisedAbsent }

// Attended is present + late.
func (t Tally) Attended() int { return t.Present + t.Late }

// AttendancePct is attended ÷ possible.
func (t Tally) AttendancePct() Percent { return PercentOf(t.Attended(), t.Possible()) }

// PunctualityPct is present ÷ attended.
func (t Tally) PunctualityPct() Percent { return PercentOf(t.Present, t.Attended()) }

// Percent is a percentage to one decimal place, held in tenths so that it is exact.
// The zero Percent with OK false means "no figure" (nothing to divide by).
type Percent struct {
	Tenths int
	OK     bool
}

// PercentOf returns n ÷ d as a percentage rounded half up to one decimal.
func PercentOf(n, d int) Percent {
	if d <= 0 || n < 0 {
		return Percent{}
	}
	return Percent{Tenths: (n*2000 + d) / (2 * d), OK: true}
}

// String writes "95.2%", or "–" when there is no figure.
func (p Percent) String() string {
	if !p.OK {
		return "–"
	}
	return p.Number() + "%"
}

// Number writes "95.2" with no sign, or "" when there is no figure.
func (p Percent) Number() string {
	if !p.OK {
		return ""
	}
	return fmt.Sprintf("%d.%d", p.Tenths/10, p.Tenths%10)
}

// Band is a named range of attendance shown beside the figure.
type Band struct {
	Name     string
	MinTenth int // the band applies from this percentage (in tenths) upward
}

// DefaultBands are the college's: 100% Excellent, ≥90% Good, ≥85% Requires improvement, else Poor.
func DefaultBands() []Band {
	return []Band{{"Excellent", 1000}, {"Good", 900}, {"Requires improvement", 850}, {"Poor", 0}}
}

// BandFor returns the name of the first band (highest first) that p reaches, or "" for no figure.
func BandFor(p Percent, bands []Band) string {
	if !p.OK {
		return ""
	}
	for _, b := range bands {
		if p.Tenths >= b.MinTenth {
			return b.Name
		}
	}
	return ""
}

// ParseBands reads bands written "Excellent=100,Good=90,Requires improvement=85,Poor=0";
// they must be in descending order and end at 0.
func ParseBands(s string) ([]Band, error) {
	var bands []Band
	for _, part := range strings.Split(s, ",") {
		name, num, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("bands: %q is not name=percent", part)
		}
		var whole, frac int
		if n, err := fmt.Sscanf(strings.TrimSpace(num), "%d.%d", &whole, &frac); n == 0 || (err != nil && n != 1) || frac > 9 {
			return nil, fmt.Errorf("bands: %q is not a percentage such as 85 or 92.5", num)
		}
		t := whole*10 + frac
		if t < 0 || t > 1000 {
			return nil, fmt.Errorf("bands: %s must be between 0 and 100", strings.TrimSpace(num))
		}
		if len(bands) > 0 && t >= bands[len(bands)-1].MinTenth {
			return nil, fmt.Errorf("bands: %q must be below the band before it", name)
		}
		bands = append(bands, Band{name, t})
	}
	if len(bands) == 0 || bands[len(bands)-1].MinTenth != 0 {
		return nil, fmt.Errorf("bands: the last band must start at 0")
	}
	return bands, nil
}

// MarkedSession is one attendance mark with its meaning resolved from the mark types.
type MarkedSession struct {
	AttendanceMark
	Category    MarkCategory
	Description string // the mark type's description, for screen readers and the key
}

// Resolve attaches each mark's category and description from types (keyed by Mark).
// A mark the MIS does not define counts as unmarked.
func Resolve(marks []AttendanceMark, types map[string]MarkType) []MarkedSession {
	out := make([]MarkedSession, len(marks))
	for i, m := range marks {
		s := MarkedSession{AttendanceMark: m, Category: CategoryUnmarked, Description: "Not yet marked"}
		if m.Mark != "" {
			if t, ok := types[m.Mark]; ok {
				s.Category, s.Description = t.Category(), t.Description
			} else {
				s.Description = "Unknown mark " + m.Mark
			}
		}
		out[i] = s
	}
	return out
}

// Week is one row of the attendance report.
type Week struct {
	Monday Date
	// Days holds each day's sessions in session order, Monday first (index 0) to Sunday (6).
	Days  [7][]MarkedSession
	Tally Tally
}

// Label writes the week as the report does: "w/c 10/09/2018".
func (w Week) Label() string { return "w/c " + w.Monday.UK() }

// GroupWeeks groups sessions into report weeks keyed by Monday, in date order. A week with no
// counted session (every session neutral or unmarked-and-ignored) is left out.
func GroupWeeks(sessions []MarkedSession, p UnmarkedPolicy) []Week {
	sorted := slices.Clone(sessions)
	slices.SortStableFunc(sorted, compareSessions)
	var weeks []Week
	for _, s := range sorted {
		mon := s.SessionDate.Monday()
		if len(weeks) == 0 || weeks[len(weeks)-1].Monday != mon {
			weeks = append(weeks, Week{Monday: mon})
		}
		w := &weeks[len(weeks)-1]
		day := (int(s.SessionDate.Weekday()) + 6) % 7
		w.Days[day] = append(w.Days[day], s)
		w.Tally.Add(s.Category, p)
	}
	return slices.DeleteFunc(weeks, func(w Week) bool { return w.Tally.Possible() == 0 })
}

func compareSessions(a, b MarkedSession) int {
	if c := a.SessionDate.Compare(b.SessionDate); c != 0 {
		return c
	}
	if c := strings.Compare(a.StartTime, b.StartTime); c != 0 {
		return c
	}
	return strings.Compare(a.MarkID, b.MarkID)
}

// TallyOf counts sessions under policy p.
func TallyOf(sessions []MarkedSession, p UnmarkedPolicy) Tally {
	var t Tally
	for _, s := range sessions {
		t.Add(s.Category, p)
	}
	return t
}
