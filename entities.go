package mypt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// Entity names an MIS entity, as used in push batches, sync state and metrics labels.
type Entity string

// The entities mirrored from the MIS (DESIGN §3).
const (
	EntityMarkType       Entity = "mark_type"
	EntityCourse         Entity = "course"
	EntityStudent        Entity = "student"
	EntityContact        Entity = "contact"
	EntityEnrolment      Entity = "enrolment"
	EntityTutor          Entity = "tutor"
	EntityAttendanceMark Entity = "attendance_mark"
	EntityDocument       Entity = "document"
	EntityAchievement    Entity = "achievement"
	EntityTargetGrade    Entity = "target_grade"
	EntityTarget         Entity = "target"
	EntityPolicyRead     Entity = "policy_read"
	EntityMeeting        Entity = "meeting"
	EntityFurtherDetail  Entity = "further_detail"
)

// Entities lists every entity in an order in which each one's references come before it.
var Entities = []Entity{
	EntityMarkType, EntityCourse, EntityStudent, EntityContact, EntityEnrolment, EntityTutor,
	EntityAttendanceMark, EntityDocument, EntityAchievement, EntityTargetGrade, EntityTarget,
	EntityPolicyRead, EntityMeeting, EntityFurtherDetail,
}

// View returns the entity's view in the SQL Server contract, e.g. "mypt.AttendanceMark".
func (e Entity) View() string {
	switch e {
	case EntityMarkType:
		return "mypt.MarkType"
	case EntityCourse:
		return "mypt.Course"
	case EntityStudent:
		return "mypt.Student"
	case EntityContact:
		return "mypt.Contact"
	case EntityEnrolment:
		return "mypt.Enrolment"
	case EntityTutor:
		return "mypt.Tutor"
	case EntityAttendanceMark:
		return "mypt.AttendanceMark"
	case EntityDocument:
		return "mypt.Document"
	case EntityAchievement:
		return "mypt.Achievement"
	case EntityTargetGrade:
		return "mypt.TargetGrade"
	case EntityTarget:
		return "mypt.Target"
	case EntityPolicyRead:
		return "mypt.PolicyRead"
	case EntityMeeting:
		return "mypt.Meeting"
	case EntityFurtherDetail:
		return "mypt.FurtherDetail"
	}
	return ""
}

// Valid reports whether e is one of Entities.
func (e Entity) Valid() bool { return e.View() != "" }

// ParseEntity returns the entity named s, or an error listing the known names.
func ParseEntity(s string) (Entity, error) {
	e := Entity(s)
	if !e.Valid() {
		names := make([]string, len(Entities))
		for i, n := range Entities {
			names[i] = string(n)
		}
		return "", fmt.Errorf("unknown entity %q (known: %s)", s, strings.Join(names, ", "))
	}
	return e, nil
}

// Row is one record of an MIS entity.
type Row interface {
	// EntityName says which entity the row belongs to.
	EntityName() Entity
	// Key is the row's key in the MIS (its view's key column).
	Key() string
	// Validate returns FieldErrors naming each bad field, or nil.
	Validate() error
}

// Student status values.
const (
	StudentCurrent = "current"
	StudentLeft    = "left"
)

// Student is mypt.Student.
type Student struct {
	StudentID        string `json:"StudentID"`
	LegalFirstNames  string `json:"LegalFirstNames"`
	LegalLastName    string `json:"LegalLastName"`
	PreferredName    string `json:"PreferredName,omitempty"`
	DateOfBirth      Date   `json:"DateOfBirth"`
	HasEHCP          bool   `json:"HasEHCP"`
	College          string `json:"College"`
	CollegeEmail     string `json:"CollegeEmail,omitempty"`
	ShareInfoConsent bool   `json:"ShareInfoConsent"`
	Status           string `json:"Status"`
	LeftDate         Date   `json:"LeftDate,omitzero"`
}

// Contact is mypt.Contact: a student's parent, guardian or other contact.
type Contact struct {
	ContactID                 string `json:"ContactID"`
	StudentID                 string `json:"StudentID"`
	FirstName                 string `json:"FirstName"`
	LastName                  string `json:"LastName"`
	Relationship              string `json:"Relationship,omitempty"`
	Email                     string `json:"Email,omitempty"`
	MobilePhone               string `json:"MobilePhone,omitempty"`
	HomePhone                 string `json:"HomePhone,omitempty"`
	IsNextOfKin               bool   `json:"IsNextOfKin"`
	IsVerifiedContact         bool   `json:"IsVerifiedContact"`
	HasParentalResponsibility bool   `json:"HasParentalResponsibility"`
	PortalAccessBarred        bool   `json:"PortalAccessBarred"`
}

// Course is mypt.Course.
type Course struct {
	CourseID     string `json:"CourseID"`
	Code         string `json:"Code"`
	Title        string `json:"Title"`
	Level        string `json:"Level,omitempty"`
	AcademicYear int    `json:"AcademicYear"`
}

// Enrolment is mypt.Enrolment.
type Enrolment struct {
	EnrolmentID     string `json:"EnrolmentID"`
	StudentID       string `json:"StudentID"`
	CourseID        string `json:"CourseID"`
	StartDate       Date   `json:"StartDate"`
	ExpectedEndDate Date   `json:"ExpectedEndDate,omitzero"`
	ActualEndDate   Date   `json:"ActualEndDate,omitzero"`
	Status          string `json:"Status"`
}

// Tutor is mypt.Tutor: a member of staff responsible for a student, for one enrolment or overall.
type Tutor struct {
	TutorID     string `json:"TutorID"`
	StudentID   string `json:"StudentID"`
	EnrolmentID string `json:"EnrolmentID,omitempty"`
	Name        string `json:"Name"`
	Role        string `json:"Role,omitempty"`
	Email       string `json:"Email,omitempty"`
}

// Mark type Status values (the MIS's MarkTypeStatusID).
const (
	MarkStatusAbsent  = 0
	MarkStatusPresent = 1
	MarkStatusNeutral = 2
)

// MarkType is mypt.MarkType: what one register mark means.
type MarkType struct {
	Mark                string `json:"Mark"`
	Description         string `json:"Description"`
	Status              int    `json:"Status"`
	IsLate              bool   `json:"IsLate"`
	IsAuthorisedAbsence bool   `json:"IsAuthorisedAbsence"`
}

// AttendanceMark is mypt.AttendanceMark: one student's mark for one register session.
// An empty Mark means the session has not been marked yet.
type AttendanceMark struct {
	MarkID      string `json:"MarkID"`
	StudentID   string `json:"StudentID"`
	EnrolmentID string `json:"EnrolmentID"`
	SessionDate Date   `json:"SessionDate"`
	StartTime   string `json:"StartTime"`
	EndTime     string `json:"EndTime"`
	Mark        string `json:"Mark,omitempty"`
}

// Document is mypt.Document: a letter or other file for the student's family.
type Document struct {
	DocumentID  string    `json:"DocumentID"`
	StudentID   string    `json:"StudentID"`
	Title       string    `json:"Title"`
	Category    string    `json:"Category,omitempty"`
	CreatedAt   time.Time `json:"CreatedAt"`
	ContentType string    `json:"ContentType"`
	Content     []byte    `json:"Content"`
}

// Achievement is mypt.Achievement: a qualification declared on entry.
type Achievement struct {
	AchievementID string `json:"AchievementID"`
	StudentID     string `json:"StudentID"`
	Qualification string `json:"Qualification"`
	Subject       string `json:"Subject"`
	Grade         string `json:"Grade,omitempty"`
	AwardDate     Date   `json:"AwardDate,omitzero"`
}

// TargetGrade is mypt.TargetGrade: the target minimum grade for an enrolment.
type TargetGrade struct {
	EnrolmentID string `json:"EnrolmentID"`
	StudentID   string `json:"StudentID"`
	Grade       string `json:"Grade"`
}

// Target is mypt.Target: a SMART target, set by a tutor or by the student.
type Target struct {
	TargetID         string `json:"TargetID"`
	StudentID        string `json:"StudentID"`
	EnrolmentID      string `json:"EnrolmentID,omitempty"`
	Text             string `json:"Text"`
	SetBy            string `json:"SetBy,omitempty"`
	CreatedByStudent bool   `json:"CreatedByStudent"`
	SetDate          Date   `json:"SetDate"`
	DueDate          Date   `json:"DueDate,omitzero"`
	Status           string `json:"Status"`
	ReviewedDate     Date   `json:"ReviewedDate,omitzero"`
}

// PolicyRead is mypt.PolicyRead: a college policy the student has confirmed reading.
type PolicyRead struct {
	PolicyReadID string    `json:"PolicyReadID"`
	StudentID    string    `json:"StudentID"`
	Policy       string    `json:"Policy"`
	ReadAt       time.Time `json:"ReadAt"`
}

// Meeting is mypt.Meeting: a recorded meeting such as a progress review; Notes are parent-visible.
type Meeting struct {
	MeetingID string `json:"MeetingID"`
	StudentID string `json:"StudentID"`
	Type      string `json:"Type"`
	HeldOn    Date   `json:"HeldOn"`
	StaffName string `json:"StaffName,omitempty"`
	Notes     string `json:"Notes,omitempty"`
}

// FurtherDetail is mypt.FurtherDetail: consents recorded for the student. A nil flag means
// nothing has been recorded, which the portal shows differently from "no".
type FurtherDetail struct {
	StudentID                      string `json:"StudentID"`
	ConsentForVisits               *bool  `json:"ConsentForVisits"`
	ConsentForPhotographs          *bool  `json:"ConsentForPhotographs,omitempty"`
	ConsentForMedicalTreatment     *bool  `json:"ConsentForMedicalTreatment,omitempty"`
	ConsentForSharingWithEmployers *bool  `json:"ConsentForSharingWithEmployers,omitempty"`
}

func (Student) EntityName() Entity        { return EntityStudent }
func (Contact) EntityName() Entity        { return EntityContact }
func (Course) EntityName() Entity         { return EntityCourse }
func (Enrolment) EntityName() Entity      { return EntityEnrolment }
func (Tutor) EntityName() Entity          { return EntityTutor }
func (MarkType) EntityName() Entity       { return EntityMarkType }
func (AttendanceMark) EntityName() Entity { return EntityAttendanceMark }
func (Document) EntityName() Entity       { return EntityDocument }
func (Achievement) EntityName() Entity    { return EntityAchievement }
func (TargetGrade) EntityName() Entity    { return EntityTargetGrade }
func (Target) EntityName() Entity         { return EntityTarget }
func (PolicyRead) EntityName() Entity     { return EntityPolicyRead }
func (Meeting) EntityName() Entity        { return EntityMeeting }
func (FurtherDetail) EntityName() Entity  { return EntityFurtherDetail }

func (r Student) Key() string        { return r.StudentID }
func (r Contact) Key() string        { return r.ContactID }
func (r Course) Key() string         { return r.CourseID }
func (r Enrolment) Key() string      { return r.EnrolmentID }
func (r Tutor) Key() string          { return r.TutorID }
func (r MarkType) Key() string       { return r.Mark }
func (r AttendanceMark) Key() string { return r.MarkID }
func (r Document) Key() string       { return r.DocumentID }
func (r Achievement) Key() string    { return r.AchievementID }
func (r TargetGrade) Key() string    { return r.EnrolmentID }
func (r Target) Key() string         { return r.TargetID }
func (r PolicyRead) Key() string     { return r.PolicyReadID }
func (r Meeting) Key() string        { return r.MeetingID }
func (r FurtherDetail) Key() string  { return r.StudentID }

// Field length limits. MIS columns are nvarchar; these keep one bad row from filling the cache.
const (
	maxID    = 64
	maxName  = 200
	maxShort = 100
	maxText  = 20000
)

// checkID requires a non-empty identifier of printable characters.
func (es *FieldErrors) checkID(field, v string, required bool) {
	switch {
	case v == "" && required:
		es.add(field, "is required")
	case len(v) > maxID:
		es.add(field, "is longer than %d bytes", maxID)
	case strings.TrimSpace(v) != v:
		es.add(field, "has leading or trailing spaces")
	case !printable(v):
		es.add(field, "contains control characters or invalid UTF-8")
	}
}

// checkText checks a free-text field's length and encoding.
func (es *FieldErrors) checkText(field, v string, required bool, max int) {
	switch {
	case required && strings.TrimSpace(v) == "":
		es.add(field, "is required")
	case utf8.RuneCountInString(v) > max:
		es.add(field, "is longer than %d characters", max)
	case !utf8.ValidString(v):
		es.add(field, "is not valid UTF-8")
	case strings.ContainsRune(v, 0):
		es.add(field, "contains a NUL character")
	}
}

func (es *FieldErrors) checkDate(field string, v Date, required bool) {
	switch {
	case v.IsZero() && required:
		es.add(field, "is required")
	case !v.IsZero() && !v.Valid():
		es.add(field, "is not a real date")
	}
}

func (es *FieldErrors) checkEmail(field, v string) {
	if v == "" {
		return
	}
	if len(v) > 254 {
		es.add(field, "is longer than 254 characters")
		return
	}
	if a, err := mail.ParseAddress(v); err != nil || a.Address != v || a.Name != "" {
		es.add(field, "is not an email address")
	}
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// Validate implements Row.
func (r Student) Validate() error {
	var es FieldErrors
	es.checkID("StudentID", r.StudentID, true)
	es.checkText("LegalFirstNames", r.LegalFirstNames, true, maxName)
	es.checkText("LegalLastName", r.LegalLastName, true, maxName)
	es.checkText("PreferredName", r.PreferredName, false, maxName)
	es.checkDate("DateOfBirth", r.DateOfBirth, true)
	es.checkText("College", r.College, false, maxShort)
	es.checkEmail("CollegeEmail", r.CollegeEmail)
	switch r.Status {
	case StudentCurrent, StudentLeft:
	default:
		es.add("Status", "must be %q or %q, not %q", StudentCurrent, StudentLeft, r.Status)
	}
	es.checkDate("LeftDate", r.LeftDate, false)
	return es.err()
}

// Validate implements Row.
func (r Contact) Validate() error {
	var es FieldErrors
	es.checkID("ContactID", r.ContactID, true)
	es.checkID("StudentID", r.StudentID, true)
	es.checkText("FirstName", r.FirstName, false, maxName)
	es.checkText("LastName", r.LastName, true, maxName)
	es.checkText("Relationship", r.Relationship, false, maxShort)
	es.checkEmail("Email", r.Email)
	es.checkText("MobilePhone", r.MobilePhone, false, 40)
	es.checkText("HomePhone", r.HomePhone, false, 40)
	return es.err()
}

// Validate implements Row.
func (r Course) Validate() error {
	var es FieldErrors
	es.checkID("CourseID", r.CourseID, true)
	es.checkText("Code", r.Code, true, maxShort)
	es.checkText("Title", r.Title, true, maxName)
	es.checkText("Level", r.Level, false, maxShort)
	if r.AcademicYear < 1990 || r.AcademicYear > 2200 {
		es.add("AcademicYear", "must be a year such as 2018 (for 2018/19), not %d", r.AcademicYear)
	}
	return es.err()
}

// Validate implements Row.
func (r Enrolment) Validate() error {
	var es FieldErrors
	es.checkID("EnrolmentID", r.EnrolmentID, true)
	es.checkID("StudentID", r.StudentID, true)
	es.checkID("CourseID", r.CourseID, true)
	es.checkDate("StartDate", r.StartDate, true)
	es.checkDate("ExpectedEndDate", r.ExpectedEndDate, false)
	es.checkDate("ActualEndDate", r.ActualEndDate, false)
	es.checkText("Status", r.Status, true, maxShort)
	return es.err()
}

// Validate implements Row.
func (r Tutor) Validate() error {
	var es FieldErrors
	es.checkID("TutorID", r.TutorID, true)
	es.checkID("StudentID", r.StudentID, true)
	es.checkID("EnrolmentID", r.EnrolmentID, false)
	es.checkText("Name", r.Name, true, maxName)
	es.checkText("Role", r.Role, false, maxShort)
	es.checkEmail("Email", r.Email)
	return es.err()
}

// Validate implements Row.
func (r MarkType) Validate() error {
	var es FieldErrors
	es.checkID("Mark", r.Mark, true)
	if utf8.RuneCountInString(r.Mark) > 4 {
		es.add("Mark", "is longer than 4 characters")
	}
	es.checkText("Description", r.Description, true, maxShort)
	switch r.Status {
	case MarkStatusAbsent, MarkStatusPresent, MarkStatusNeutral:
	default:
		es.add("Status", "must be 0 (absent), 1 (present) or 2 (neutral), not %d", r.Status)
	}
	if r.IsLate && r.Status != MarkStatusPresent {
		es.add("IsLate", "is set on a mark whose Status is not 1 (present)")
	}
	if r.IsAuthorisedAbsence && r.Status != MarkStatusAbsent {
		es.add("IsAuthorisedAbsence", "is set on a mark whose Status is not 0 (absent)")
	}
	return es.err()
}

// ParseClock parses a time of day written HH:MM (24-hour) and returns minutes after midnight.
func ParseClock(s string) (int, error) {
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("%q is not a time in the form HH:MM", s)
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time in the form HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Validate implements Row.
func (r AttendanceMark) Validate() error {
	var es FieldErrors
	es.checkID("MarkID", r.MarkID, true)
	es.checkID("StudentID", r.StudentID, true)
	es.checkID("EnrolmentID", r.EnrolmentID, true)
	es.checkDate("SessionDate", r.SessionDate, true)
	start, err1 := ParseClock(r.StartTime)
	if err1 != nil {
		es.add("StartTime", "%v", err1)
	}
	end, err2 := ParseClock(r.EndTime)
	if err2 != nil {
		es.add("EndTime", "%v", err2)
	}
	if err1 == nil && err2 == nil && end <= start {
		es.add("EndTime", "%s is not after StartTime %s", r.EndTime, r.StartTime)
	}
	if r.Mark != "" {
		es.checkID("Mark", r.Mark, false)
	}
	return es.err()
}

// Validate implements Row. The size limit on Content is the cache's, from config.
func (r Document) Validate() error {
	var es FieldErrors
	es.checkID("DocumentID", r.DocumentID, true)
	es.checkID("StudentID", r.StudentID, true)
	es.checkText("Title", r.Title, true, maxName)
	es.checkText("Category", r.Category, false, maxShort)
	if r.CreatedAt.IsZero() {
		es.add("CreatedAt", "is required")
	}
	if ct := r.ContentType; ct == "" || len(ct) > maxShort || !strings.Contains(ct, "/") || !printable(ct) {
		es.add("ContentType", "must be a media type such as application/pdf")
	}
	if r.Content == nil {
		es.add("Content", "is required")
	}
	return es.err()
}

// Validate implements Row.
func (r Achievement) Validate() error {
	var es FieldErrors
	es.checkID("AchievementID", r.AchievementID, true)
	es.checkID("StudentID", r.StudentID, true)
	es.checkText("Qualification", r.Qualification, true, maxName)
	es.checkText("Subject", r.Subject, false, maxName)
	es.checkText("Grade", r.Grade, false, maxShort)
	es.checkDate("AwardDate", r.AwardDate, false)
	return es.err()
}

// Validate implements Row.
func (r TargetGrade) Validate() error {
	var es FieldErrors
	es.checkID("EnrolmentID", r.EnrolmentID, true)
	es.checkID("StudentID", r.StudentID, true)
	es.checkText("Grade", r.Grade, true, maxShort)
	return es.err()
}

// Validate implements Row.
func (r Target) Validate() error {
	var es FieldErrors
	es.checkID("TargetID", r.TargetID, true)
	es.checkID("StudentID", r.StudentID, true)
	es.checkID("EnrolmentID", r.EnrolmentID, false)
	es.checkText("Text", r.Text, true, maxText)
	es.checkText("SetBy", r.SetBy, false, maxName)
	es.checkDate("SetDate", r.SetDate, true)
	es.checkDate("DueDate", r.DueDate, false)
	es.checkText("Status", r.Status, true, maxShort)
	es.checkDate("ReviewedDate", r.ReviewedDate, false)
	return es.err()
}

// Validate implements Row.
func (r PolicyRead) Validate() error {
	var es FieldErrors
	es.checkID("PolicyReadID", r.PolicyReadID, true)
	es.checkID("StudentID", r.StudentID, true)
	es.checkText("Policy", r.Policy, true, maxName)
	if r.ReadAt.IsZero() {
		es.add("ReadAt", "is required")
	}
	return es.err()
}

// Validate implements Row.
func (r Meeting) Validate() error {
	var es FieldErrors
	es.checkID("MeetingID", r.MeetingID, true)
	es.checkID("StudentID", r.StudentID, true)
	es.checkText("Type", r.Type, true, maxShort)
	es.checkDate("HeldOn", r.HeldOn, true)
	es.checkText("StaffName", r.StaffName, false, maxName)
	es.checkText("Notes", r.Notes, false, maxText)
	return es.err()
}

// Validate implements Row.
func (r FurtherDetail) Validate() error {
	var es FieldErrors
	es.checkID("StudentID", r.StudentID, true)
	return es.err()
}

// NewRow returns a pointer to a zero row of entity e, ready to be decoded into.
func NewRow(e Entity) (Row, error) {
	switch e {
	case EntityStudent:
		return &Student{}, nil
	case EntityContact:
		return &Contact{}, nil
	case EntityCourse:
		return &Course{}, nil
	case EntityEnrolment:
		return &Enrolment{}, nil
	case EntityTutor:
		return &Tutor{}, nil
	case EntityMarkType:
		return &MarkType{}, nil
	case EntityAttendanceMark:
		return &AttendanceMark{}, nil
	case EntityDocument:
		return &Document{}, nil
	case EntityAchievement:
		return &Achievement{}, nil
	case EntityTargetGrade:
		return &TargetGrade{}, nil
	case EntityTarget:
		return &Target{}, nil
	case EntityPolicyRead:
		return &PolicyRead{}, nil
	case EntityMeeting:
		return &Meeting{}, nil
	case EntityFurtherDetail:
		return &FurtherDetail{}, nil
	}
	return nil, fmt.Errorf("unknown entity %q", e)
}

// DecodeRow decodes the JSON object data (view column names as keys) into a row of entity e and
// validates it. Unknown columns are an error that names them, so a typo in an export is caught.
func DecodeRow(e Entity, data []byte) (Row, error) {
	row, err := NewRow(e)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(row); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, describeJSONError(err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data has more than one JSON value", ErrInvalid)
	}
	if err := row.Validate(); err != nil {
		return nil, err
	}
	return deref(row), nil
}

// describeJSONError turns encoding/json's errors into messages that name the column.
func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("%s: must be a JSON %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown column " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	return strings.TrimPrefix(msg, "json: ")
}

func jsonKind(k string) string {
	switch k {
	case "string", "struct":
		return "string"
	case "bool":
		return "boolean"
	case "slice":
		return "base64 string"
	case "ptr":
		return "boolean or null"
	}
	return "number"
}

// deref turns the *T returned by NewRow back into T, so callers get values.
func deref(r Row) Row {
	switch v := r.(type) {
	case *Student:
		return *v
	case *Contact:
		return *v
	case *Course:
		return *v
	case *Enrolment:
		return *v
	case *Tutor:
		return *v
	case *MarkType:
		return *v
	case *AttendanceMark:
		return *v
	case *Document:
		return *v
	case *Achievement:
		return *v
	case *TargetGrade:
		return *v
	case *Target:
		return *v
	case *PolicyRead:
		return *v
	case *Meeting:
		return *v
	case *FurtherDetail:
		return *v
	}
	return r
}
