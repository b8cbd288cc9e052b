package sqlite

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"

	"mypt"
)

// table maps one MIS entity onto its cache table.
type table struct {
	entity mypt.Entity
	name   string
	// cols are the table's columns in bind order, the key first, row_hash excluded.
	cols []string
	// hasStudent says the table has a student_id column (the key itself for student and
	// further_detail).
	hasStudent bool
	// args returns the row's column values in cols order. row is a value, never a pointer.
	args func(row mypt.Row, dst []any) []any

	upsertSQL, selectSQL, deleteSQL, keysSQL, countSQL string
	// insertHead and upsertTail frame a many-row upsert; chunk is how many rows go in one
	// statement (documents one at a time: each may be megabytes).
	insertHead, upsertTail string
	chunk                  int
}

func (t *table) key() string { return t.cols[0] }

// tables holds every entity's table, keyed by entity.
var tables = buildTables()

func buildTables() map[mypt.Entity]*table {
	ts := []*table{
		{entity: mypt.EntityStudent, name: "student", hasStudent: true,
			cols: []string{"student_id", "legal_first_names", "legal_last_name", "preferred_name", "date_of_birth",
				"has_ehcp", "college", "college_email", "share_info_consent", "status", "left_date"},
			args: func(row mypt.Row, a []any) []any {
				r := row.(mypt.Student)
				return append(a, r.StudentID, r.LegalFirstNames, r.LegalLastName, r.PreferredName, r.DateOfBirth.String(),
					boolInt(r.HasEHCP), r.College, r.CollegeEmail, boolInt(r.ShareInfoConsent), r.Status, nullDate(r.LeftDate))
			}},
		{entity: mypt.EntityContact, name: "contact", hasStudent: true,
			cols: []string{"contact_id", "student_id", "first_name", "last_name", "relationship", "email", "mobile_phone",
				"home_phone", "is_next_of_kin", "is_verified_contact", "has_parental_responsibility", "portal_access_barred"},
			args: func(row mypt.Row, a []any) []any {
				r := row.(mypt.Contact)
				return append(a, r.ContactID, r.StudentID, r.FirstName, r.LastName, r.Relationship, r.Email, r.MobilePhone,
					r.HomePhone, boolInt(r.IsNextOfKin), boolInt(r.IsVerifiedContact), boolInt(r.HasParentalResponsibility),
					boolInt(r.PortalAccessBarred))
			}},
		{entity: mypt.EntityCourse, name: "course",
			cols: []string{"course_id", "code", "title", "level", "academic_year"},
			args: func(row mypt.Row, a []any) []any {
				r := row.(mypt.Course)
				return append(a, r.CourseID, r.Code, r.Title, r.Level, int64(r.AcademicYear))
			}},
		{entity: mypt.EntityEnrolment, name: "enrolment", hasStudent: true,
			cols: []string{"enrolment_id", "student_id", "course_id", "start_date", "expected_end_date", "actual_end_date", "status"},
			args: func(row mypt.Row, a []any) []any {
				r := row.(mypt.Enrolment)
				return append(a, r.EnrolmentID, r.StudentID, r.CourseID, r.StartDate.String(), nullDate(r.ExpectedEndDate),
					nullDate(r.ActualEndDate), r.Status)
			}},
		{entity: mypt.EntityTutor, name: "tutor", hasStudent: true,
			cols: []string{"tutor_id", "student_id", "enrolment_id", "name", "role", "email"},
			args: func(row mypt.Row, a []any) []any {
				r := row.(mypt.Tutor)
				return append(a, r.TutorID, r.StudentID, r.EnrolmentID, r.Name, r.Role, r.Email)
			}},
		{entity: mypt.EntityMarkType, name: "mark_type",
			cols: []string{"mark", "description", "status", "is_late", "is_authorised_absence"},
			args: func(row mypt.Row, a []any) []any {
				r := row.(mypt.MarkType)
				return append(a, r.Mark, r.Description, int64(r.Status), boolInt(r.IsLate), boolInt(r.IsAuthorisedAbsence))
			}},
		{entity: mypt.EntityAttendanceMark, name: "attendance_mark", hasStudent: true,
			cols: []string{"mark_id", "student_id", "enrolment_id", "session_date", "start_time", "end_time", "mark"},
			args: func(row mypt.Row, a []any) []any {
				r := row.(mypt.AttendanceMark)
				return append(a, r.MarkID, r.StudentID, r.EnrolmentID, r.SessionDate.String(), r.StartTime, r.EndTime, r.Mark)
			}},
		{entity: mypt.EntityDocument, name: "document", hasStudent: true,
			cols: []string{"document_id", "student_id", "title", "category", "created_at", "content_type", "size", "content"},
			args: func(row mypt.Row, a []any) []any {
				r := row.(mypt.Document)
				content := r.Content
				if content == nil {
					content = []byte{}
				}
				return append(a, r.DocumentID, r.StudentID, r.Title, r.Category, FormatTime(r.CreatedAt), r.ContentType,
					int64(len(r.Content)), content)
			}},
		{entity: mypt.EntityAchievement, name: "achievement", hasStudent: true,
			cols: []string{"achievement_id", "student_id", "qualification", "subject", "grade", "award_date"},
			args: func(row mypt.Row, a []any) []any {
				r := row.(mypt.Achievement)
				return append(a, r.AchievementID, r.StudentID, r.Qualification, r.Subject, r.Grade, nullDate(r.AwardDate))
			}},
		{entity: mypt.EntityTargetGrade, name: "target_grade", hasStudent: true,
			cols: []string{"enrolment_id", "student_id", "grade"},
			args: func(row mypt.Row, a []any) []any {
				r := row.(mypt.TargetGrade)
				return append(a, r.EnrolmentID, r.StudentID, r.Grade)
			}},
		{entity: mypt.EntityTarget, name: "target", hasStudent: true,
			cols: []string{"target_id", "student_id", "enrolment_id", "text", "set_by", "created_by_student", "set_date",
				"due_date", "status", "reviewed_date"},
			args: func(row mypt.Row, a []any) []any {
				r := row.(mypt.Target)
				return append(a, r.TargetID, r.StudentID, r.EnrolmentID, r.Text, r.SetBy, boolInt(r.CreatedByStudent),
					r.SetDate.String(), nullDate(r.DueDate), r.Status, nullDate(r.ReviewedDate))
			}},
		{entity: mypt.EntityPolicyRead, name: "policy_read", hasStudent: true,
			cols: []string{"policy_read_id", "student_id", "policy", "read_at"},
			args: func(row mypt.Row, a []any) []any {
				r := row.(mypt.PolicyRead)
				return append(a, r.PolicyReadID, r.StudentID, r.Policy, FormatTime(r.ReadAt))
			}},
		{entity: mypt.EntityMeeting, name: "meeting", hasStudent: true,
			cols: []string{"meeting_id", "student_id", "type", "held_on", "staff_name", "notes"},
			args: func(row mypt.Row, a []any) []any {
				r := row.(mypt.Meeting)
				return append(a, r.MeetingID, r.StudentID, r.Type, r.HeldOn.String(), r.StaffName, r.Notes)
			}},
		{entity: mypt.EntityFurtherDetail, name: "further_detail", hasStudent: true,
			cols: []string{"student_id", "consent_for_visits", "consent_for_photographs", "consent_for_medical_treatment",
				"consent_for_sharing_with_employers"},
			args: func(row mypt.Row, a []any) []any {
				r := row.(mypt.FurtherDetail)
				return append(a, r.StudentID, nullBool(r.ConsentForVisits), nullBool(r.ConsentForPhotographs),
					nullBool(r.ConsentForMedicalTreatment), nullBool(r.ConsentForSharingWithEmployers))
			}},
	}
	m := make(map[mypt.Entity]*table, len(ts))
	for _, t := range ts {
		t.buildSQL()
		m[t.entity] = t
	}
	for _, e := range mypt.Entities {
		if m[e] == nil {
			panic("sqlite: no table for entity " + string(e))
		}
	}
	return m
}

// tracked are the columns read back before a change, to know which students (and for marks,
// which attendance rows) the change touches.
func (t *table) tracked() string {
	switch {
	case t.entity == mypt.EntityAttendanceMark:
		return "row_hash, student_id, enrolment_id, session_date, mark"
	case t.entity == mypt.EntityMarkType:
		return "row_hash, status, is_late, is_authorised_absence"
	case t.hasStudent:
		return "row_hash, student_id"
	}
	return "row_hash"
}

func (t *table) buildSQL() {
	ph := strings.Repeat("?, ", len(t.cols)) + "?"
	var set []string
	for _, c := range t.cols[1:] {
		set = append(set, c+" = excluded."+c)
	}
	set = append(set, "row_hash = excluded.row_hash")
	t.insertHead = fmt.Sprintf("INSERT INTO %s (%s, row_hash)", t.name, strings.Join(t.cols, ", "))
	t.upsertTail = fmt.Sprintf("ON CONFLICT (%s) DO UPDATE SET %s", t.key(), strings.Join(set, ", "))
	t.upsertSQL = t.insertHead + " VALUES (" + ph + ") " + t.upsertTail
	t.chunk = 100
	if t.entity == mypt.EntityDocument {
		t.chunk = 1
	}
	t.selectSQL = fmt.Sprintf("SELECT %s FROM %s WHERE %s = ?", t.tracked(), t.name, t.key())
	t.deleteSQL = fmt.Sprintf("DELETE FROM %s WHERE %s = ? RETURNING %s", t.name, t.key(), t.tracked())
	t.keysSQL = fmt.Sprintf("SELECT %s FROM %s ORDER BY %s", t.key(), t.name, t.key())
	t.countSQL = fmt.Sprintf("SELECT COUNT(*) FROM %s", t.name)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func nullBool(b *bool) any {
	if b == nil {
		return nil
	}
	return boolInt(*b)
}

func nullDate(d mypt.Date) any {
	if d.IsZero() {
		return nil
	}
	return d.String()
}

// rowValue turns a pointer row (*mypt.Student) into its value, so callers may pass either.
func rowValue(r mypt.Row) mypt.Row {
	switch v := r.(type) {
	case *mypt.Student:
		return *v
	case *mypt.Contact:
		return *v
	case *mypt.Course:
		return *v
	case *mypt.Enrolment:
		return *v
	case *mypt.Tutor:
		return *v
	case *mypt.MarkType:
		return *v
	case *mypt.AttendanceMark:
		return *v
	case *mypt.Document:
		return *v
	case *mypt.Achievement:
		return *v
	case *mypt.TargetGrade:
		return *v
	case *mypt.Target:
		return *v
	case *mypt.PolicyRead:
		return *v
	case *mypt.Meeting:
		return *v
	case *mypt.FurtherDetail:
		return *v
	}
	return r
}

// hashSize is the stored row_hash length: SHA-256 truncated to 128 bits, plenty to tell a
// changed row from an unchanged one.
const hashSize = 16

// rowHasher computes row hashes over the bound column values, reusing its buffer.
type rowHasher struct{ buf []byte }

// hash encodes every value with a type tag and length, so ("ab","c") and ("a","bc") differ.
func (h *rowHasher) hash(entity mypt.Entity, args []any) []byte {
	b := h.buf[:0]
	b = append(b, entity...)
	b = append(b, 0)
	for _, a := range args {
		switch v := a.(type) {
		case nil:
			b = append(b, 0)
		case string:
			b = append(b, 1)
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		case int64:
			b = append(b, 2)
			b = binary.BigEndian.AppendUint64(b, uint64(v))
		case []byte:
			b = append(b, 3)
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		default:
			panic(fmt.Sprintf("sqlite: cannot hash %T", a))
		}
	}
	if cap(b) <= 1<<16 {
		h.buf = b
	}
	sum := sha256.Sum256(b)
	return sum[:hashSize:hashSize]
}
