package mssql

import (
	"fmt"
	"strings"

	"mypt"
)

// ColumnSpec is one column of a contract view: its name (the JSON name of the domain field),
// its SQL Server type and whether it may be NULL.
type ColumnSpec struct {
	Name     string
	Type     string
	Nullable bool
}

// ViewSpec is one view of the SQL Server contract (deploy/mssql/01_contract_views.sql).
type ViewSpec struct {
	Entity  mypt.Entity
	View    string // mypt.Student
	Key     string // the key column
	Columns []ColumnSpec
}

func col(name, typ string) ColumnSpec  { return ColumnSpec{Name: name, Type: typ} }
func null(name, typ string) ColumnSpec { return ColumnSpec{Name: name, Type: typ, Nullable: true} }

// Contract lists every view, in mypt.Entities order. RowVer (rowversion) is implied on each.
// Keep it in step with deploy/mssql/01_contract_views.sql (a test compares them). Any ID column
// may also be a uniqueidentifier in a college's view: it is read as its canonical string (MS-1).
var Contract = []ViewSpec{
	{mypt.EntityMarkType, "mypt.MarkType", "Mark", []ColumnSpec{
		col("Mark", "nvarchar(10)"), col("Description", "nvarchar(100)"), col("Status", "int"),
		col("IsLate", "bit"), col("IsAuthorisedAbsence", "bit"),
	}},
	{mypt.EntityCourse, "mypt.Course", "CourseID", []ColumnSpec{
		col("CourseID", "nvarchar(40)"), col("Code", "nvarchar(40)"), col("Title", "nvarchar(200)"),
		null("Level", "nvarchar(40)"), col("AcademicYear", "int"),
	}},
	{mypt.EntityStudent, "mypt.Student", "StudentID", []ColumnSpec{
		col("StudentID", "nvarchar(40)"), col("LegalFirstNames", "nvarchar(200)"), col("LegalLastName", "nvarchar(200)"),
		null("PreferredName", "nvarchar(200)"), col("DateOfBirth", "date"), col("HasEHCP", "bit"),
		null("College", "nvarchar(100)"), null("CollegeEmail", "nvarchar(254)"), col("ShareInfoConsent", "bit"),
		col("Status", "nvarchar(10)"), null("LeftDate", "date"),
	}},
	{mypt.EntityContact, "mypt.Contact", "ContactID", []ColumnSpec{
		col("ContactID", "nvarchar(40)"), col("StudentID", "nvarchar(40)"), null("FirstName", "nvarchar(200)"),
		col("LastName", "nvarchar(200)"), null("Relationship", "nvarchar(100)"), null("Email", "nvarchar(254)"),
		null("MobilePhone", "nvarchar(40)"), null("HomePhone", "nvarchar(40)"), col("IsNextOfKin", "bit"),
		col("IsVerifiedContact", "bit"), col("HasParentalResponsibility", "bit"), col("PortalAccessBarred", "bit"),
	}},
	{mypt.EntityEnrolment, "mypt.Enrolment", "EnrolmentID", []ColumnSpec{
		col("EnrolmentID", "nvarchar(40)"), col("StudentID", "nvarchar(40)"), col("CourseID", "nvarchar(40)"),
		col("StartDate", "date"), null("ExpectedEndDate", "date"), null("ActualEndDate", "date"),
		col("Status", "nvarchar(40)"),
	}},
	{mypt.EntityTutor, "mypt.Tutor", "TutorID", []ColumnSpec{
		col("TutorID", "nvarchar(40)"), col("StudentID", "nvarchar(40)"), null("EnrolmentID", "nvarchar(40)"),
		col("Name", "nvarchar(200)"), null("Role", "nvarchar(100)"), null("Email", "nvarchar(254)"),
	}},
	{mypt.EntityAttendanceMark, "mypt.AttendanceMark", "MarkID", []ColumnSpec{
		col("MarkID", "nvarchar(40)"), col("StudentID", "nvarchar(40)"), col("EnrolmentID", "nvarchar(40)"),
		col("SessionDate", "date"), col("StartTime", "time(0)"), col("EndTime", "time(0)"), null("Mark", "nvarchar(10)"),
	}},
	{mypt.EntityDocument, "mypt.Document", "DocumentID", []ColumnSpec{
		col("DocumentID", "nvarchar(40)"), col("StudentID", "nvarchar(40)"), col("Title", "nvarchar(200)"),
		null("Category", "nvarchar(100)"), col("CreatedAt", "datetime2(0)"), col("ContentType", "nvarchar(100)"),
		col("Content", "varbinary(max)"),
	}},
	{mypt.EntityAchievement, "mypt.Achievement", "AchievementID", []ColumnSpec{
		col("AchievementID", "nvarchar(40)"), col("StudentID", "nvarchar(40)"), col("Qualification", "nvarchar(200)"),
		col("Subject", "nvarchar(200)"), null("Grade", "nvarchar(20)"), null("AwardDate", "date"),
	}},
	{mypt.EntityTargetGrade, "mypt.TargetGrade", "EnrolmentID", []ColumnSpec{
		col("EnrolmentID", "nvarchar(40)"), col("StudentID", "nvarchar(40)"), col("Grade", "nvarchar(20)"),
	}},
	{mypt.EntityTarget, "mypt.Target", "TargetID", []ColumnSpec{
		col("TargetID", "nvarchar(40)"), col("StudentID", "nvarchar(40)"), null("EnrolmentID", "nvarchar(40)"),
		col("Text", "nvarchar(max)"), null("SetBy", "nvarchar(200)"), col("CreatedByStudent", "bit"),
		col("SetDate", "date"), null("DueDate", "date"), col("Status", "nvarchar(40)"), null("ReviewedDate", "date"),
	}},
	{mypt.EntityPolicyRead, "mypt.PolicyRead", "PolicyReadID", []ColumnSpec{
		col("PolicyReadID", "nvarchar(40)"), col("StudentID", "nvarchar(40)"), col("Policy", "nvarchar(200)"),
		col("ReadAt", "datetime"),
	}},
	{mypt.EntityMeeting, "mypt.Meeting", "MeetingID", []ColumnSpec{
		col("MeetingID", "nvarchar(40)"), col("StudentID", "nvarchar(40)"), col("Type", "nvarchar(100)"),
		col("HeldOn", "date"), null("StaffName", "nvarchar(200)"), null("Notes", "nvarchar(max)"),
	}},
	{mypt.EntityFurtherDetail, "mypt.FurtherDetail", "StudentID", []ColumnSpec{
		col("StudentID", "nvarchar(40)"), null("ConsentForVisits", "bit"), null("ConsentForPhotographs", "bit"),
		null("ConsentForMedicalTreatment", "bit"), null("ConsentForSharingWithEmployers", "bit"),
	}},
}

// SpecFor returns the contract view of e.
func SpecFor(e mypt.Entity) (ViewSpec, error) {
	for _, v := range Contract {
		if v.Entity == e {
			return v, nil
		}
	}
	return ViewSpec{}, fmt.Errorf("mssql: no view for entity %q", e)
}

// ChangesQuery is the default incremental query of a view: rows whose RowVer is above the
// watermark (@p1) and below the bound read from MIN_ACTIVE_ROWVERSION() at the start of the
// pass (@p2), so rows of transactions still open are left for a later pass, never skipped.
func (v ViewSpec) ChangesQuery() string {
	names := make([]string, 0, len(v.Columns)+1)
	for _, c := range v.Columns {
		names = append(names, "["+c.Name+"]")
	}
	names = append(names, "[RowVer]")
	return fmt.Sprintf("SELECT %s FROM %s WHERE [RowVer] > @p1 AND [RowVer] < @p2 ORDER BY [RowVer]",
		strings.Join(names, ", "), v.View)
}

// KeysQuery reads the view's key set, for reconciliation.
func (v ViewSpec) KeysQuery() string {
	return fmt.Sprintf("SELECT [%s] FROM %s", v.Key, v.View)
}
