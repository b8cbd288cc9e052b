package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"mypt"
)

// Reads for the parents' portal. Every read goes to the reader pool; none writes.

// scanDate reads a nullable 'YYYY-MM-DD' column; NULL and ” are the zero Date.
func scanDate(ns sql.NullString) (mypt.Date, error) {
	if !ns.Valid || ns.String == "" {
		return mypt.Date{}, nil
	}
	return mypt.ParseDate(ns.String)
}

// scanTime reads a nullable TimeFormat column; NULL and ” are the zero time.
func scanTime(ns sql.NullString) (time.Time, error) {
	if !ns.Valid || ns.String == "" {
		return time.Time{}, nil
	}
	return ParseTime(ns.String)
}

func scanNullBool(n sql.NullInt64) *bool {
	if !n.Valid {
		return nil
	}
	b := n.Int64 != 0
	return &b
}

const studentColumns = `s.student_id, s.legal_first_names, s.legal_last_name, s.preferred_name,
	s.date_of_birth, s.has_ehcp, s.college, s.college_email, s.share_info_consent, s.status, s.left_date`

type scanner interface{ Scan(dest ...any) error }

func scanStudent(row scanner, extra ...any) (mypt.Student, error) {
	var st mypt.Student
	var dob, left sql.NullString
	dest := append([]any{&st.StudentID, &st.LegalFirstNames, &st.LegalLastName, &st.PreferredName,
		&dob, &st.HasEHCP, &st.College, &st.CollegeEmail, &st.ShareInfoConsent, &st.Status, &left}, extra...)
	if err := row.Scan(dest...); err != nil {
		return st, err
	}
	var err error
	if st.DateOfBirth, err = scanDate(dob); err != nil {
		return st, err
	}
	st.LeftDate, err = scanDate(left)
	return st, err
}

// Student returns one student; ErrNotFound if the cache has no such student.
func (s *Store) Student(ctx context.Context, id string) (mypt.Student, error) {
	st, err := scanStudent(s.queryRow(ctx, `SELECT `+studentColumns+` FROM student s WHERE s.student_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("sqlite: student %q: %w", id, mypt.ErrNotFound)
	}
	if err != nil {
		return st, fmt.Errorf("sqlite: read student: %w", err)
	}
	return st, nil
}

const accessQuery = `SELECT ` + studentColumns + `,
	l.account_id, l.contact_id, l.relationship, l.status, l.approved_at, l.approved_by,
	c.contact_id IS NOT NULL, COALESCE(c.portal_access_barred, 0),
	COALESCE(v.version, 0), v.changed_at
FROM account_student l
JOIN student s ON s.student_id = l.student_id
LEFT JOIN contact c ON c.contact_id = l.contact_id AND c.student_id = l.student_id AND l.contact_id <> ''
LEFT JOIN student_version v ON v.student_id = l.student_id
WHERE l.account_id = ?`

func scanAccess(row scanner) (mypt.StudentAccess, error) {
	var a mypt.StudentAccess
	var approvedAt string
	var changedAt sql.NullString
	st, err := scanStudent(row, &a.Link.AccountID, &a.Link.ContactID, &a.Link.Relationship, &a.Link.Status,
		&approvedAt, &a.Link.ApprovedBy, &a.ContactFound, &a.ContactBarred, &a.Version, &changedAt)
	if err != nil {
		return a, err
	}
	a.Student = st
	a.Link.StudentID = st.StudentID
	if a.Link.ContactID == "" {
		a.ContactFound = true // nothing to find: approved without a contact
	}
	if a.Link.ApprovedAt, err = scanTime(sql.NullString{String: approvedAt, Valid: true}); err != nil {
		return a, err
	}
	a.DataAsOf, err = scanTime(changedAt)
	return a, err
}

// StudentAccess returns what the access rule needs about the link between an account and a
// student, in one query. It returns ErrNotFound if the account has no link to the student
// (whatever its status) or the cache has no such student; the caller still judges status,
// barring and eligibility.
func (s *Store) StudentAccess(ctx context.Context, accountID int64, studentID string) (mypt.StudentAccess, error) {
	a, err := scanAccess(s.queryRow(ctx, accessQuery+` AND l.student_id = ?`, accountID, studentID))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("sqlite: access of account %d to student: %w", accountID, mypt.ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("sqlite: read student access: %w", err)
	}
	return a, nil
}

// StudentAccessList returns StudentAccess for every student linked to the account (in any
// status), ordered by student id. Links to students the cache does not hold are left out.
func (s *Store) StudentAccessList(ctx context.Context, accountID int64) ([]mypt.StudentAccess, error) {
	rows, err := s.read.QueryContext(ctx, accessQuery+` ORDER BY l.student_id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list student access: %w", err)
	}
	defer rows.Close()
	var out []mypt.StudentAccess
	for rows.Next() {
		a, err := scanAccess(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list student access: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// StudentContacts returns the student's contacts, ordered by contact id.
func (s *Store) StudentContacts(ctx context.Context, studentID string) ([]mypt.Contact, error) {
	return queryAll(ctx, s, "contacts", `SELECT contact_id, student_id, first_name, last_name, relationship,
		email, mobile_phone, home_phone, is_next_of_kin, is_verified_contact, has_parental_responsibility,
		portal_access_barred FROM contact WHERE student_id = ? ORDER BY contact_id`,
		func(r scanner) (mypt.Contact, error) {
			var c mypt.Contact
			err := r.Scan(&c.ContactID, &c.StudentID, &c.FirstName, &c.LastName, &c.Relationship, &c.Email,
				&c.MobilePhone, &c.HomePhone, &c.IsNextOfKin, &c.IsVerifiedContact, &c.HasParentalResponsibility,
				&c.PortalAccessBarred)
			return c, err
		}, studentID)
}

// Contact returns one contact; ErrNotFound if there is none.
func (s *Store) Contact(ctx context.Context, contactID string) (mypt.Contact, error) {
	var c mypt.Contact
	err := s.queryRow(ctx, `SELECT contact_id, student_id, first_name, last_name, relationship,
		email, mobile_phone, home_phone, is_next_of_kin, is_verified_contact, has_parental_responsibility,
		portal_access_barred FROM contact WHERE contact_id = ?`, contactID).Scan(&c.ContactID, &c.StudentID,
		&c.FirstName, &c.LastName, &c.Relationship, &c.Email, &c.MobilePhone, &c.HomePhone, &c.IsNextOfKin,
		&c.IsVerifiedContact, &c.HasParentalResponsibility, &c.PortalAccessBarred)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("sqlite: contact: %w", mypt.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("sqlite: read contact: %w", err)
	}
	return c, nil
}

// StudentEnrolments returns the student's enrolments with their courses, newest start first.
// An enrolment whose course is not in the cache comes with a Course holding only its id.
func (s *Store) StudentEnrolments(ctx context.Context, studentID string) ([]mypt.CourseEnrolment, error) {
	return queryAll(ctx, s, "enrolments", `SELECT e.enrolment_id, e.student_id, e.course_id, e.start_date,
		e.expected_end_date, e.actual_end_date, e.status,
		COALESCE(c.code, ''), COALESCE(c.title, ''), COALESCE(c.level, ''), COALESCE(c.academic_year, 0)
		FROM enrolment e LEFT JOIN course c ON c.course_id = e.course_id
		WHERE e.student_id = ? ORDER BY e.start_date DESC, e.enrolment_id`,
		func(r scanner) (mypt.CourseEnrolment, error) {
			var e mypt.CourseEnrolment
			var start, exp, act sql.NullString
			err := r.Scan(&e.EnrolmentID, &e.StudentID, &e.CourseID, &start, &exp, &act, &e.Status,
				&e.Course.Code, &e.Course.Title, &e.Course.Level, &e.Course.AcademicYear)
			if err != nil {
				return e, err
			}
			e.Course.CourseID = e.CourseID
			if e.StartDate, err = scanDate(start); err != nil {
				return e, err
			}
			if e.ExpectedEndDate, err = scanDate(exp); err != nil {
				return e, err
			}
			e.ActualEndDate, err = scanDate(act)
			return e, err
		}, studentID)
}

// StudentTutors returns the student's tutors, overall ones (no enrolment) first.
func (s *Store) StudentTutors(ctx context.Context, studentID string) ([]mypt.Tutor, error) {
	return queryAll(ctx, s, "tutors", `SELECT tutor_id, student_id, enrolment_id, name, role, email
		FROM tutor WHERE student_id = ? ORDER BY enrolment_id, name, tutor_id`,
		func(r scanner) (mypt.Tutor, error) {
			var t mypt.Tutor
			err := r.Scan(&t.TutorID, &t.StudentID, &t.EnrolmentID, &t.Name, &t.Role, &t.Email)
			return t, err
		}, studentID)
}

// MarkTypes returns every mark type the MIS defines, keyed by mark.
func (s *Store) MarkTypes(ctx context.Context) (map[string]mypt.MarkType, error) {
	list, err := queryAll(ctx, s, "mark types", `SELECT mark, description, status, is_late, is_authorised_absence
		FROM mark_type ORDER BY mark`,
		func(r scanner) (mypt.MarkType, error) {
			var m mypt.MarkType
			err := r.Scan(&m.Mark, &m.Description, &m.Status, &m.IsLate, &m.IsAuthorisedAbsence)
			return m, err
		})
	if err != nil {
		return nil, err
	}
	out := make(map[string]mypt.MarkType, len(list))
	for _, m := range list {
		out[m.Mark] = m
	}
	return out, nil
}

// AttendanceMarks returns the student's marks in academic year `year` (1 August – 31 July), in
// session order: one range scan of the (student_id, session_date, start_time) index.
func (s *Store) AttendanceMarks(ctx context.Context, studentID string, year int) ([]mypt.AttendanceMark, error) {
	return queryAll(ctx, s, "attendance marks", `SELECT mark_id, student_id, enrolment_id, session_date,
		start_time, end_time, mark FROM attendance_mark
		WHERE student_id = ? AND session_date BETWEEN ? AND ? ORDER BY session_date, start_time, mark_id`,
		func(r scanner) (mypt.AttendanceMark, error) {
			var m mypt.AttendanceMark
			var d string
			err := r.Scan(&m.MarkID, &m.StudentID, &m.EnrolmentID, &d, &m.StartTime, &m.EndTime, &m.Mark)
			if err != nil {
				return m, err
			}
			m.SessionDate, err = mypt.ParseDate(d)
			return m, err
		}, studentID, mypt.AcademicYearStart(year).String(), mypt.AcademicYearEnd(year).String())
}

func scanTally(r scanner, extra ...any) (mypt.Tally, error) {
	var t mypt.Tally
	dest := append(extra, &t.Present, &t.Late, &t.Absent, &t.AuthorisedAbsent, &t.Neutral, &t.Unmarked)
	err := r.Scan(dest...)
	return t, err
}

// AttendanceWeeks returns the precomputed weekly tallies of the student's academic year, by week.
func (s *Store) AttendanceWeeks(ctx context.Context, studentID string, year int) ([]mypt.AttendanceTally, error) {
	return queryAll(ctx, s, "attendance weeks", `SELECT week_start, present, late, absent, authorised_absent,
		neutral, unmarked FROM attendance_week WHERE student_id = ? AND academic_year = ? ORDER BY week_start`,
		func(r scanner) (mypt.AttendanceTally, error) {
			a := mypt.AttendanceTally{StudentID: studentID, AcademicYear: year}
			var ws string
			t, err := scanTally(r, &ws)
			if err != nil {
				return a, err
			}
			a.Tally = t
			a.WeekStart, err = mypt.ParseDate(ws)
			return a, err
		}, studentID, year)
}

// AttendanceYears returns the precomputed tallies of the student's academic year: the whole
// year (EnrolmentID "") first, then one per enrolment.
func (s *Store) AttendanceYears(ctx context.Context, studentID string, year int) ([]mypt.AttendanceTally, error) {
	return queryAll(ctx, s, "attendance years", `SELECT enrolment_id, present, late, absent, authorised_absent,
		neutral, unmarked FROM attendance_year WHERE student_id = ? AND academic_year = ? ORDER BY enrolment_id`,
		func(r scanner) (mypt.AttendanceTally, error) {
			a := mypt.AttendanceTally{StudentID: studentID, AcademicYear: year}
			t, err := scanTally(r, &a.EnrolmentID)
			a.Tally = t
			return a, err
		}, studentID, year)
}

// AttendanceYearList returns the academic years in which the student has marks, newest first.
func (s *Store) AttendanceYearList(ctx context.Context, studentID string) ([]int, error) {
	return queryAll(ctx, s, "attendance years", `SELECT DISTINCT academic_year FROM attendance_year
		WHERE student_id = ? ORDER BY academic_year DESC`,
		func(r scanner) (int, error) {
			var y int
			err := r.Scan(&y)
			return y, err
		}, studentID)
}

// Documents lists the student's documents, newest first, without their content.
func (s *Store) Documents(ctx context.Context, studentID string) ([]mypt.DocumentSummary, error) {
	return queryAll(ctx, s, "documents", `SELECT document_id, student_id, title, category, created_at,
		content_type, size FROM document WHERE student_id = ? ORDER BY created_at DESC, document_id`,
		func(r scanner) (mypt.DocumentSummary, error) {
			var d mypt.DocumentSummary
			var at string
			err := r.Scan(&d.DocumentID, &d.StudentID, &d.Title, &d.Category, &at, &d.ContentType, &d.Size)
			if err != nil {
				return d, err
			}
			d.CreatedAt, err = ParseTime(at)
			return d, err
		}, studentID)
}

// Document returns one of the student's documents with its content. It returns ErrNotFound if
// the document does not exist or belongs to another student.
func (s *Store) Document(ctx context.Context, studentID, documentID string) (mypt.Document, error) {
	var d mypt.Document
	var at string
	err := s.queryRow(ctx, `SELECT document_id, student_id, title, category, created_at, content_type,
		content FROM document WHERE document_id = ? AND student_id = ?`, documentID, studentID).Scan(
		&d.DocumentID, &d.StudentID, &d.Title, &d.Category, &at, &d.ContentType, &d.Content)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("sqlite: document: %w", mypt.ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("sqlite: read document: %w", err)
	}
	if d.CreatedAt, err = ParseTime(at); err != nil {
		return d, fmt.Errorf("sqlite: read document: %w", err)
	}
	return d, nil
}

// Achievements returns the student's achievements on entry, newest award first.
func (s *Store) Achievements(ctx context.Context, studentID string) ([]mypt.Achievement, error) {
	return queryAll(ctx, s, "achievements", `SELECT achievement_id, student_id, qualification, subject, grade,
		award_date FROM achievement WHERE student_id = ? ORDER BY award_date DESC, qualification, achievement_id`,
		func(r scanner) (mypt.Achievement, error) {
			var a mypt.Achievement
			var d sql.NullString
			err := r.Scan(&a.AchievementID, &a.StudentID, &a.Qualification, &a.Subject, &a.Grade, &d)
			if err != nil {
				return a, err
			}
			a.AwardDate, err = scanDate(d)
			return a, err
		}, studentID)
}

// TargetGrades returns the student's target minimum grades, by enrolment id.
func (s *Store) TargetGrades(ctx context.Context, studentID string) ([]mypt.TargetGrade, error) {
	return queryAll(ctx, s, "target grades", `SELECT enrolment_id, student_id, grade FROM target_grade
		WHERE student_id = ? ORDER BY enrolment_id`,
		func(r scanner) (mypt.TargetGrade, error) {
			var g mypt.TargetGrade
			err := r.Scan(&g.EnrolmentID, &g.StudentID, &g.Grade)
			return g, err
		}, studentID)
}

// Targets returns the student's SMART targets, newest first.
func (s *Store) Targets(ctx context.Context, studentID string) ([]mypt.Target, error) {
	return queryAll(ctx, s, "targets", `SELECT target_id, student_id, enrolment_id, text, set_by,
		created_by_student, set_date, due_date, status, reviewed_date FROM target
		WHERE student_id = ? ORDER BY set_date DESC, target_id`,
		func(r scanner) (mypt.Target, error) {
			var t mypt.Target
			var set, due, rev sql.NullString
			err := r.Scan(&t.TargetID, &t.StudentID, &t.EnrolmentID, &t.Text, &t.SetBy, &t.CreatedByStudent,
				&set, &due, &t.Status, &rev)
			if err != nil {
				return t, err
			}
			if t.SetDate, err = scanDate(set); err != nil {
				return t, err
			}
			if t.DueDate, err = scanDate(due); err != nil {
				return t, err
			}
			t.ReviewedDate, err = scanDate(rev)
			return t, err
		}, studentID)
}

// PolicyReads returns the policies the student has confirmed reading, newest first.
func (s *Store) PolicyReads(ctx context.Context, studentID string) ([]mypt.PolicyRead, error) {
	return queryAll(ctx, s, "policy reads", `SELECT policy_read_id, student_id, policy, read_at FROM policy_read
		WHERE student_id = ? ORDER BY read_at DESC, policy_read_id`,
		func(r scanner) (mypt.PolicyRead, error) {
			var p mypt.PolicyRead
			var at string
			err := r.Scan(&p.PolicyReadID, &p.StudentID, &p.Policy, &at)
			if err != nil {
				return p, err
			}
			p.ReadAt, err = ParseTime(at)
			return p, err
		}, studentID)
}

// Meetings returns the student's recorded meetings, newest first.
func (s *Store) Meetings(ctx context.Context, studentID string) ([]mypt.Meeting, error) {
	return queryAll(ctx, s, "meetings", `SELECT meeting_id, student_id, type, held_on, staff_name, notes
		FROM meeting WHERE student_id = ? ORDER BY held_on DESC, meeting_id`,
		func(r scanner) (mypt.Meeting, error) {
			var m mypt.Meeting
			var d string
			err := r.Scan(&m.MeetingID, &m.StudentID, &m.Type, &d, &m.StaffName, &m.Notes)
			if err != nil {
				return m, err
			}
			m.HeldOn, err = mypt.ParseDate(d)
			return m, err
		}, studentID)
}

// FurtherDetail returns the consents recorded for the student. A student with no row gets a
// FurtherDetail whose flags are all nil ("not recorded"), not an error.
func (s *Store) FurtherDetail(ctx context.Context, studentID string) (mypt.FurtherDetail, error) {
	f := mypt.FurtherDetail{StudentID: studentID}
	var v, p, m, e sql.NullInt64
	err := s.queryRow(ctx, `SELECT consent_for_visits, consent_for_photographs,
		consent_for_medical_treatment, consent_for_sharing_with_employers FROM further_detail WHERE student_id = ?`,
		studentID).Scan(&v, &p, &m, &e)
	if errors.Is(err, sql.ErrNoRows) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("sqlite: read further details: %w", err)
	}
	f.ConsentForVisits, f.ConsentForPhotographs = scanNullBool(v), scanNullBool(p)
	f.ConsentForMedicalTreatment, f.ConsentForSharingWithEmployers = scanNullBool(m), scanNullBool(e)
	return f, nil
}

// StudentVersion returns the student's data version and when it last changed; version 0 and
// the zero time when nothing has been recorded.
func (s *Store) StudentVersion(ctx context.Context, studentID string) (int64, time.Time, error) {
	var v int64
	var at string
	err := s.queryRow(ctx, `SELECT version, changed_at FROM student_version WHERE student_id = ?`,
		studentID).Scan(&v, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("sqlite: read student version: %w", err)
	}
	t, err := ParseTime(at)
	return v, t, err
}

// readStmt returns the reader pool's prepared statement for query, preparing it once: the
// portal runs a handful of queries on every request, and parsing them each time costs more
// than running them.
func (s *Store) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if v, ok := s.readStmts.Load(query); ok {
		return v.(*sql.Stmt), nil
	}
	st, err := s.read.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if v, loaded := s.readStmts.LoadOrStore(query, st); loaded {
		st.Close()
		return v.(*sql.Stmt), nil
	}
	return st, nil
}

// queryRow is QueryRowContext on the reader pool through the statement cache.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := s.readStmt(ctx, query)
	if err != nil {
		// Unprepared: the error (if it is the query's) surfaces from Scan, as QueryRowContext does.
		return s.read.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// QueryContext runs a read query on the reader pool through the statement cache.
func (s *Store) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.readStmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// rowQuerier is what queryAll reads from: the Store (prepared statements on the reader pool)
// or any *sql.DB / *sql.Tx.
type rowQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, db rowQuerier, what, query string, scan func(scanner) (T, error), args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: read %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read %s: %w", what, err)
	}
	return out, nil
}
