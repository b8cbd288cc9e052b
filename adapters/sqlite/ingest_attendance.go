package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"mypt"
)

// The precomputed attendance rows (attendance_week, attendance_year) are kept up to date by
// adding each changed mark's old contribution with a minus sign and its new one with a plus, per
// (student, year, week) and (student, year, enrolment), once per batch. Only when the meaning of
// a mark type changes are the students holding that mark recomputed from all their marks.

type weekKey struct {
	student string
	year    int
	monday  string
}

type yearKey struct {
	student   string
	year      int
	enrolment string // "" is the whole year
}

type dateInfo struct {
	year   int
	monday string
}

// attendanceAcc accumulates one batch's changes to the precomputed rows.
type attendanceAcc struct {
	policy mypt.UnmarkedPolicy
	// types are the mark types as the batch leaves them; start holds each mark's category
	// before the batch.
	types map[string]mypt.MarkType
	start map[string]mypt.MarkCategory
	// changed holds the marks whose category the batch changed (set by freezeTypes);
	// recompute the students who hold or held one of them.
	changed   map[string]struct{}
	recompute map[string]struct{}
	unit      [mypt.CategoryNeutral + 1]mypt.Tally
	weeks     map[weekKey]*mypt.Tally
	years     map[yearKey]*mypt.Tally
	dates     map[string]dateInfo
}

func unitTallies(p mypt.UnmarkedPolicy) (u [mypt.CategoryNeutral + 1]mypt.Tally) {
	for c := range u {
		u[c].Add(mypt.MarkCategory(c), p)
	}
	return u
}

func loadMarkTypes(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (map[string]mypt.MarkType, error) {
	rows, err := q.QueryContext(ctx, `SELECT mark, description, status, is_late, is_authorised_absence FROM mark_type`)
	if err != nil {
		return nil, fmt.Errorf("read mark types: %w", err)
	}
	defer rows.Close()
	types := map[string]mypt.MarkType{}
	for rows.Next() {
		var t mypt.MarkType
		if err := rows.Scan(&t.Mark, &t.Description, &t.Status, &t.IsLate, &t.IsAuthorisedAbsence); err != nil {
			return nil, fmt.Errorf("read mark types: %w", err)
		}
		types[t.Mark] = t
	}
	return types, rows.Err()
}

func newAttendanceAcc(ctx context.Context, tx *sql.Tx, p mypt.UnmarkedPolicy) (*attendanceAcc, error) {
	types, err := loadMarkTypes(ctx, tx)
	if err != nil {
		return nil, err
	}
	a := &attendanceAcc{
		policy: p, types: types, start: map[string]mypt.MarkCategory{},
		recompute: map[string]struct{}{},
		unit:      unitTallies(p),
		weeks:     map[weekKey]*mypt.Tally{}, years: map[yearKey]*mypt.Tally{}, dates: map[string]dateInfo{},
	}
	for m, t := range types {
		a.start[m] = t.Category()
	}
	return a, nil
}

func categoryOf(types map[string]mypt.MarkType, mark string) mypt.MarkCategory {
	if mark == "" {
		return mypt.CategoryUnmarked
	}
	if t, ok := types[mark]; ok {
		return t.Category()
	}
	return mypt.CategoryUnmarked // a mark the MIS does not define counts as unmarked (mypt.Resolve)
}

// setType records a mark type's new definition (nil: deleted).
func (a *attendanceAcc) setType(mark string, t *mypt.MarkType) {
	if t == nil {
		delete(a.types, mark)
	} else {
		a.types[mark] = *t
	}
}

// freezeTypes is called once every mark type change of the batch is applied and before any
// attendance mark is: it works out which marks changed meaning.
func (a *attendanceAcc) freezeTypes() {
	a.changed = map[string]struct{}{}
	for m := range a.start {
		if categoryOf(a.types, m) != a.start[m] {
			a.changed[m] = struct{}{}
		}
	}
	for m := range a.types {
		if _, ok := a.start[m]; !ok && categoryOf(a.types, m) != mypt.CategoryUnmarked {
			a.changed[m] = struct{}{}
		}
	}
}

func (a *attendanceAcc) date(s string) (dateInfo, error) {
	if di, ok := a.dates[s]; ok {
		return di, nil
	}
	d, err := mypt.ParseDate(s)
	if err != nil {
		return dateInfo{}, err
	}
	di := dateInfo{year: mypt.AcademicYearOf(d), monday: d.Monday().String()}
	a.dates[s] = di
	return di, nil
}

// add counts one mark in (sign +1) or out (-1).
func (a *attendanceAcc) add(student, enrolment, date, mark string, sign int) error {
	if _, ok := a.recompute[student]; ok {
		return nil
	}
	if _, ok := a.changed[mark]; ok && mark != "" {
		a.recompute[student] = struct{}{}
		return nil
	}
	di, err := a.date(date)
	if err != nil {
		return fmt.Errorf("attendance of %q: %w", student, err)
	}
	u := &a.unit[categoryOf(a.types, mark)]
	wk := weekKey{student, di.year, di.monday}
	w := a.weeks[wk]
	if w == nil {
		w = &mypt.Tally{}
		a.weeks[wk] = w
	}
	addScaled(w, u, sign)
	for _, e := range [2]string{"", enrolment} {
		yk := yearKey{student, di.year, e}
		y := a.years[yk]
		if y == nil {
			y = &mypt.Tally{}
			a.years[yk] = y
		}
		addScaled(y, u, sign)
	}
	return nil
}

func addScaled(t, u *mypt.Tally, n int) {
	t.Present += n * u.Present
	t.Late += n * u.Late
	t.Absent += n * u.Absent
	t.AuthorisedAbsent += n * u.AuthorisedAbsent
	t.Neutral += n * u.Neutral
	t.Unmarked += n * u.Unmarked
}

func tallyArgs(t *mypt.Tally) []any {
	return []any{t.Present, t.Late, t.Absent, t.AuthorisedAbsent, t.Neutral, t.Unmarked}
}

func isZero(t *mypt.Tally) bool { return *t == mypt.Tally{} }

func hasNegative(t *mypt.Tally) bool {
	return t.Present < 0 || t.Late < 0 || t.Absent < 0 || t.AuthorisedAbsent < 0 || t.Neutral < 0 || t.Unmarked < 0
}

const (
	weekInsert = `INSERT INTO attendance_week (student_id, academic_year, week_start, present, late, absent, authorised_absent, neutral, unmarked)`
	weekUpsert = `ON CONFLICT (student_id, academic_year, week_start) DO UPDATE SET present = present + excluded.present,
		late = late + excluded.late, absent = absent + excluded.absent, authorised_absent = authorised_absent + excluded.authorised_absent,
		neutral = neutral + excluded.neutral, unmarked = unmarked + excluded.unmarked`
	weekAddSQL   = weekInsert + ` VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ` + weekUpsert
	weekPruneSQL = `DELETE FROM attendance_week WHERE student_id = ? AND academic_year = ? AND week_start = ?
		AND present = 0 AND late = 0 AND absent = 0 AND authorised_absent = 0 AND neutral = 0 AND unmarked = 0`
	yearInsert = `INSERT INTO attendance_year (student_id, academic_year, enrolment_id, present, late, absent, authorised_absent, neutral, unmarked)`
	yearUpsert = `ON CONFLICT (student_id, academic_year, enrolment_id) DO UPDATE SET present = present + excluded.present,
		late = late + excluded.late, absent = absent + excluded.absent, authorised_absent = authorised_absent + excluded.authorised_absent,
		neutral = neutral + excluded.neutral, unmarked = unmarked + excluded.unmarked`
	yearAddSQL   = yearInsert + ` VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ` + yearUpsert
	yearPruneSQL = `DELETE FROM attendance_year WHERE student_id = ? AND academic_year = ? AND enrolment_id = ?
		AND present = 0 AND late = 0 AND absent = 0 AND authorised_absent = 0 AND neutral = 0 AND unmarked = 0`
)

// apply writes the accumulated changes, except for students that are recomputed instead.
func (a *attendanceAcc) apply(w *multiWriter) error {
	ctx, tx := w.ctx, w.tx
	var weekArgs, yearArgs []any
	var weekPrune []weekKey
	var yearPrune []yearKey
	for k, t := range a.weeks {
		if _, skip := a.recompute[k.student]; skip || isZero(t) {
			continue
		}
		weekArgs = append(weekArgs, k.student, k.year, k.monday, t.Present, t.Late, t.Absent, t.AuthorisedAbsent, t.Neutral, t.Unmarked)
		if hasNegative(t) {
			weekPrune = append(weekPrune, k)
		}
	}
	for k, t := range a.years {
		if _, skip := a.recompute[k.student]; skip || isZero(t) {
			continue
		}
		yearArgs = append(yearArgs, k.student, k.year, k.enrolment, t.Present, t.Late, t.Absent, t.AuthorisedAbsent, t.Neutral, t.Unmarked)
		if hasNegative(t) {
			yearPrune = append(yearPrune, k)
		}
	}
	const tuple = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
	if err := w.exec(weekInsert, tuple, weekUpsert, 9, 100, weekArgs); err != nil {
		return fmt.Errorf("attendance weeks: %w", err)
	}
	if err := w.exec(yearInsert, tuple, yearUpsert, 9, 100, yearArgs); err != nil {
		return fmt.Errorf("attendance years: %w", err)
	}
	// A row whose every count fell to 0 has no session left: it goes.
	for _, k := range weekPrune {
		if _, err := tx.ExecContext(ctx, weekPruneSQL, k.student, k.year, k.monday); err != nil {
			return fmt.Errorf("attendance week of %q: %w", k.student, err)
		}
	}
	for _, k := range yearPrune {
		if _, err := tx.ExecContext(ctx, yearPruneSQL, k.student, k.year, k.enrolment); err != nil {
			return fmt.Errorf("attendance year of %q: %w", k.student, err)
		}
	}
	return nil
}

// tallies is every precomputed row of some students, counted from their marks.
type tallies struct {
	unit  [mypt.CategoryNeutral + 1]mypt.Tally
	types map[string]mypt.MarkType
	weeks map[weekKey]*mypt.Tally
	years map[yearKey]*mypt.Tally
}

func newTallies(types map[string]mypt.MarkType, p mypt.UnmarkedPolicy) *tallies {
	return &tallies{unit: unitTallies(p), types: types, weeks: map[weekKey]*mypt.Tally{}, years: map[yearKey]*mypt.Tally{}}
}

func (ts *tallies) count(student, enrolment, date, mark string) error {
	d, err := mypt.ParseDate(date)
	if err != nil {
		return fmt.Errorf("attendance of %q: %w", student, err)
	}
	year, mon := mypt.AcademicYearOf(d), d.Monday().String()
	u := &ts.unit[categoryOf(ts.types, mark)]
	wk := weekKey{student, year, mon}
	if ts.weeks[wk] == nil {
		ts.weeks[wk] = &mypt.Tally{}
	}
	addScaled(ts.weeks[wk], u, 1)
	for _, e := range [2]string{"", enrolment} {
		yk := yearKey{student, year, e}
		if ts.years[yk] == nil {
			ts.years[yk] = &mypt.Tally{}
		}
		addScaled(ts.years[yk], u, 1)
	}
	return nil
}

// insert writes the counted rows into tables from which the students' rows were deleted.
func (ts *tallies) insert(ctx context.Context, tx *sql.Tx) error {
	for k, t := range ts.weeks {
		if _, err := tx.ExecContext(ctx, weekAddSQL, append([]any{k.student, k.year, k.monday}, tallyArgs(t)...)...); err != nil {
			return fmt.Errorf("attendance week of %q: %w", k.student, err)
		}
	}
	for k, t := range ts.years {
		if _, err := tx.ExecContext(ctx, yearAddSQL, append([]any{k.student, k.year, k.enrolment}, tallyArgs(t)...)...); err != nil {
			return fmt.Errorf("attendance year of %q: %w", k.student, err)
		}
	}
	return nil
}

// recomputeStudents replaces the precomputed rows of the given students with a count of
// their marks.
func recomputeStudents(ctx context.Context, tx *sql.Tx, ids []string, types map[string]mypt.MarkType, p mypt.UnmarkedPolicy) error {
	for _, id := range ids {
		ts := newTallies(types, p)
		for _, q := range []string{`DELETE FROM attendance_week WHERE student_id = ?`, `DELETE FROM attendance_year WHERE student_id = ?`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return fmt.Errorf("recompute attendance of %q: %w", id, err)
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT enrolment_id, session_date, mark FROM attendance_mark WHERE student_id = ?`, id)
		if err != nil {
			return fmt.Errorf("recompute attendance of %q: %w", id, err)
		}
		for rows.Next() {
			var enr, date, mark string
			if err := rows.Scan(&enr, &date, &mark); err != nil {
				rows.Close()
				return fmt.Errorf("recompute attendance of %q: %w", id, err)
			}
			if err := ts.count(id, enr, date, mark); err != nil {
				rows.Close()
				return err
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("recompute attendance of %q: %w", id, err)
		}
		if err := ts.insert(ctx, tx); err != nil {
			return err
		}
	}
	return nil
}

// recomputeAll rebuilds every precomputed attendance row from the marks, under policy p.
func recomputeAll(ctx context.Context, tx *sql.Tx, p mypt.UnmarkedPolicy) error {
	types, err := loadMarkTypes(ctx, tx)
	if err != nil {
		return err
	}
	for _, q := range []string{`DELETE FROM attendance_week`, `DELETE FROM attendance_year`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("recompute attendance: %w", err)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT student_id, enrolment_id, session_date, mark FROM attendance_mark ORDER BY student_id`)
	if err != nil {
		return fmt.Errorf("recompute attendance: %w", err)
	}
	defer rows.Close()
	// Marks come student by student; each student's rows are written when the next begins, so
	// memory holds one student at a time. Reading and writing on one connection is fine in SQLite.
	ts := newTallies(types, p)
	current := ""
	for rows.Next() {
		var id, enr, date, mark string
		if err := rows.Scan(&id, &enr, &date, &mark); err != nil {
			return fmt.Errorf("recompute attendance: %w", err)
		}
		if id != current && current != "" {
			if err := ts.insert(ctx, tx); err != nil {
				return err
			}
			ts = newTallies(types, p)
		}
		current = id
		if err := ts.count(id, enr, date, mark); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("recompute attendance: %w", err)
	}
	return ts.insert(ctx, tx)
}

// syncAttendancePolicy recomputes the precomputed rows if they were counted under another
// unmarked policy than the store's, and records the policy.
func (s *Store) syncAttendancePolicy(ctx context.Context) error {
	var stored string
	err := s.write.QueryRowContext(ctx, `SELECT value FROM cache_meta WHERE key = 'attendance_unmarked'`).Scan(&stored)
	if err != nil && err != sql.ErrNoRows {
		return fmt.Errorf("sqlite: read attendance policy: %w", err)
	}
	if stored == string(s.unmarked) {
		return nil
	}
	return s.WithTx(ctx, func(tx *sql.Tx) error {
		if err := recomputeAll(ctx, tx, s.unmarked); err != nil {
			return fmt.Errorf("sqlite: recompute attendance for unmarked policy %q: %w", s.unmarked, err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO cache_meta (key, value) VALUES ('attendance_unmarked', ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, string(s.unmarked))
		return err
	})
}

// inList is "?, ?, ?" for n parameters.
func inList(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }
