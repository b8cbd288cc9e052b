package portal

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"mypt"
)

// report is the attendance report of one student and academic year, shared by the HTML page
// and the PDF. Figures come from the cache's precomputed weekly and yearly rows; the marks
// themselves (one range scan) fill the grid.
type report struct {
	StudentID   string
	StudentName string
	College     string
	Year        int
	YearLabel   string
	Years       []yearOption
	Totals      tallyView
	Days        []string
	Weeks       []weekRow
	Key         []keyRow
	Courses     []courseRow
}

type yearOption struct {
	Year     int
	Label    string
	Selected bool
}

type tallyView struct {
	Possible, Attended, Late, Absent int
	Attendance, Punctuality          string
	Band                             string
}

func tallyOf(t mypt.Tally, bands []mypt.Band) tallyView {
	return tallyView{Possible: t.Possible(), Attended: t.Attended(), Late: t.Late, Absent: t.Absent + t.AuthorisedAbsent,
		Attendance: t.AttendancePct().String(), Punctuality: t.PunctualityPct().String(),
		Band: mypt.BandFor(t.AttendancePct(), bands)}
}

type weekRow struct {
	WC          string // dd/mm/yyyy of the Monday
	Days        [][]markCell
	Attendance  string
	Punctuality string
}

type markCell struct {
	Mark  string // as the MIS writes it, e.g. "/"
	Label string // for screen readers, e.g. "Present, morning"
	Class string // present | late | absent | neutral | unmarked
}

type keyRow struct {
	Mark        string
	Description string
	Counts      string // how it counts: present, late, absent, not counted
}

type courseRow struct {
	Title string
	Code  string
	Tally tallyView
}

var dayNames = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}

// dayPart names the part of the day a session starting at HH:MM falls in.
func dayPart(start string) string {
	switch {
	case start == "":
		return ""
	case start < "12:00":
		return "morning"
	case start < "17:00":
		return "afternoon"
	}
	return "evening"
}

// markLabel is the screen-reader text of a mark: its MIS description (less any AM/PM the
// description carries, since we say it in words) and the part of the day.
func markLabel(desc, start string) string {
	d := strings.TrimSpace(desc)
	lower := strings.ToLower(d)
	for _, suffix := range []string{" am", " pm", " (am)", " (pm)", " (morning)", " (afternoon)", " (evening)", " - am", " - pm"} {
		if strings.HasSuffix(lower, suffix) {
			d = strings.TrimSpace(d[:len(d)-len(suffix)])
			break
		}
	}
	if p := dayPart(start); p != "" {
		return d + ", " + p
	}
	return d
}

func categoryClass(c mypt.MarkCategory) string {
	switch c {
	case mypt.CategoryPresent:
		return "present"
	case mypt.CategoryLate:
		return "late"
	case mypt.CategoryAbsent, mypt.CategoryAuthorisedAbsent:
		return "absent"
	case mypt.CategoryNeutral:
		return "neutral"
	}
	return "unmarked"
}

// keyRank orders the key to marks: present, absent, authorised absence, late, not counted.
func keyRank(c mypt.MarkCategory) int {
	switch c {
	case mypt.CategoryPresent:
		return 0
	case mypt.CategoryAbsent:
		return 1
	case mypt.CategoryAuthorisedAbsent:
		return 2
	case mypt.CategoryLate:
		return 3
	case mypt.CategoryNeutral:
		return 4
	}
	return 5
}

func (s *Server) countsAs(c mypt.MarkCategory) string {
	switch c {
	case mypt.CategoryPresent:
		return "present"
	case mypt.CategoryLate:
		return "attended, late"
	case mypt.CategoryAbsent:
		return "absent"
	case mypt.CategoryAuthorisedAbsent:
		return "absent (authorised)"
	case mypt.CategoryNeutral:
		return "not counted"
	}
	if s.opts.Unmarked == mypt.UnmarkedAbsent {
		return "absent"
	}
	return "not counted"
}

// yearParam reads ?year=; 0 when absent, ok false when malformed.
func yearParam(r *http.Request) (int, bool) {
	q := r.URL.Query().Get("year")
	if q == "" {
		return 0, true
	}
	y, err := strconv.Atoi(q)
	if err != nil || y < 1900 || y > 2999 {
		return 0, false
	}
	return y, true
}

// defaultYear is this academic year if it has marks (or nothing has), else the newest year that has.
func (s *Server) defaultYear(years []int) int {
	cur := mypt.AcademicYearOf(s.today())
	if len(years) == 0 || slices.Contains(years, cur) {
		return cur
	}
	return years[0]
}

// yearShown says whether a report for year exists: the student has marks in it, or it is the
// current academic year (which may have none yet).
func yearShown(year int, years []int, current int) bool {
	return year == current || slices.Contains(years, year)
}

// chooseYear picks the report's year: the one asked for, else defaultYear. ok is false for a
// malformed year or one with no report (yearShown).
func (s *Server) chooseYear(r *http.Request, years []int) (int, bool) {
	y, ok := yearParam(r)
	if !ok {
		return 0, false
	}
	if y == 0 {
		return s.defaultYear(years), true
	}
	return y, yearShown(y, years, mypt.AcademicYearOf(s.today()))
}

// buildReport reads and assembles the report.
func (s *Server) buildReport(ctx context.Context, st mypt.Student, year int, years []int) (*report, error) {
	id := st.StudentID
	rep := &report{StudentID: id, StudentName: st.LegalFirstNames + " " + st.LegalLastName,
		College: s.siteName(st.College), Year: year, YearLabel: mypt.YearLabel(year)}
	for _, y := range years {
		rep.Years = append(rep.Years, yearOption{y, mypt.YearLabel(y), y == year})
	}
	if !slices.Contains(years, year) {
		rep.Years = append(rep.Years, yearOption{year, mypt.YearLabel(year), true})
	}
	types, err := s.store.MarkTypes(ctx)
	if err != nil {
		return nil, err
	}
	marks, err := s.store.AttendanceMarks(ctx, id, year)
	if err != nil {
		return nil, err
	}
	weeks, err := s.store.AttendanceWeeks(ctx, id, year)
	if err != nil {
		return nil, err
	}
	yearRows, err := s.store.AttendanceYears(ctx, id, year)
	if err != nil {
		return nil, err
	}
	sessions := mypt.Resolve(marks, types)
	byWeek := map[mypt.Date][7][]mypt.MarkedSession{}
	weekend := false
	used := map[string]mypt.MarkCategory{}
	for _, w := range mypt.GroupWeeks(sessions, s.opts.Unmarked) {
		byWeek[w.Monday] = w.Days
		if len(w.Days[5]) > 0 || len(w.Days[6]) > 0 {
			weekend = true
		}
	}
	ndays := 5
	if weekend {
		ndays = 7
	}
	rep.Days = dayNames[:ndays]
	for _, wt := range weeks {
		if wt.Tally.Possible() == 0 {
			continue // a week with no counted session is not shown
		}
		row := weekRow{WC: wt.WeekStart.UK(), Attendance: wt.Tally.AttendancePct().String(),
			Punctuality: wt.Tally.PunctualityPct().String(), Days: make([][]markCell, ndays)}
		days := byWeek[wt.WeekStart]
		for d := 0; d < ndays; d++ {
			for _, m := range days[d] {
				mark := m.Mark
				if mark == "" {
					mark = "·"
				} else {
					used[m.Mark] = m.Category
				}
				row.Days[d] = append(row.Days[d], markCell{Mark: mark, Label: markLabel(m.Description, m.StartTime),
					Class: categoryClass(m.Category)})
			}
		}
		rep.Weeks = append(rep.Weeks, row)
	}
	keys := make([]string, 0, len(used))
	for k := range used {
		keys = append(keys, k)
	}
	// Present marks first, then absence, then late, as the seed's key has them.
	slices.SortFunc(keys, func(a, b string) int {
		if d := keyRank(used[a]) - keyRank(used[b]); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	for _, k := range keys {
		rep.Key = append(rep.Key, keyRow{Mark: k, Description: types[k].Description, Counts: s.countsAs(used[k])})
	}
	var enrolments map[string]mypt.CourseEnrolment
	for _, yr := range yearRows {
		if yr.EnrolmentID == "" {
			rep.Totals = tallyOf(yr.Tally, s.opts.Bands)
			continue
		}
		if yr.Tally.Possible() == 0 {
			continue
		}
		if enrolments == nil {
			if enrolments, err = s.courseTitles(ctx, id); err != nil {
				return nil, err
			}
		}
		e := enrolments[yr.EnrolmentID]
		rep.Courses = append(rep.Courses, courseRow{Title: orDash(e.Course.Title), Code: e.Course.Code,
			Tally: tallyOf(yr.Tally, s.opts.Bands)})
	}
	if rep.Totals.Attendance == "" {
		rep.Totals = tallyOf(mypt.Tally{}, s.opts.Bands)
	}
	return rep, nil
}

type attendanceView struct {
	Base
	Report   template.HTML // the cached report body
	Year     int
	DataAsOf string
}

func (s *Server) handleAttendance(w http.ResponseWriter, r *http.Request, sr *studentRequest) (string, error) {
	st := sr.access.Student
	// The cache is keyed by the year asked for (0: the default year), so a hit needs no query.
	asked, ok := yearParam(r)
	if !ok {
		return "", mypt.ErrNotFound
	}
	// The default year moves on 1 August, so a page for "no year asked" is keyed by the academic
	// year it was asked in (as a negative number, apart from explicit years).
	keyYear := asked
	if asked == 0 {
		keyYear = -mypt.AcademicYearOf(s.today())
	}
	// The whole page, less the session's token, per (student, data version, year asked).
	full := pageKey{student: st.StudentID, version: sr.access.Version, year: keyYear, kind: "page:attendance"}
	tok := sr.sess.CSRFToken
	slot := sr.access.Version > 0 && slotSafe(tok)
	if slot {
		if p, hit := s.pages.get(full); hit && p.asOf.Equal(sr.access.DataAsOf) {
			writeSlotted(w, p, tok)
			return p.yearDetail, nil
		}
	}
	key := pageKey{student: st.StudentID, version: sr.access.Version, year: keyYear, kind: "html"}
	page, hit := s.pages.get(key)
	if !hit {
		years, err := s.store.AttendanceYearList(r.Context(), st.StudentID)
		if err != nil {
			return "", err
		}
		year, ok := s.chooseYear(r, years)
		if !ok {
			return "", mypt.ErrNotFound
		}
		rep, err := s.buildReport(r.Context(), st, year, years)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := s.tmpl.pages["attendance"].ExecuteTemplate(&buf, "attendance_report", rep); err != nil {
			return "", fmt.Errorf("portal: render attendance report: %w", err)
		}
		page = cachedPage{body: buf.Bytes(), year: year}
		if sr.access.Version > 0 && !slot {
			s.pages.put(key, page) // a slotted page is cached whole below instead
		}
	}
	v := &attendanceView{Report: template.HTML(page.body), Year: page.year, DataAsOf: s.londonTime(sr.access.DataAsOf)}
	v.Title = "Attendance & punctuality report " + mypt.YearLabel(page.year)
	v.Student = sr.nav
	detail := strconv.Itoa(page.year)
	if slot {
		before, after, ok, err := s.renderSlotted(r, "attendance", v)
		if err != nil {
			return "", fmt.Errorf("portal: render attendance: %w", err)
		}
		if ok {
			p := cachedPage{body: before, extra: after, year: page.year, yearDetail: detail, asOf: sr.access.DataAsOf}
			s.pages.put(full, p)
			writeSlotted(w, p, tok)
			return detail, nil
		}
	}
	return detail, s.renderPage(w, r, http.StatusOK, "attendance", v)
}
