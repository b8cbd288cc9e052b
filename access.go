package mypt

import "time"

// Account is a parent's portal account (mypt's own state). The email is its username, stored
// lower-cased.
type Account struct {
	ID                int64
	Email             string
	FirstName         string
	LastName          string
	PasswordHash      string // argon2id PHC string
	FailedAttempts    int
	LockedAt          time.Time // zero when not locked
	LockReason        string
	CreatedAt         time.Time
	LastLoginAt       time.Time // zero before the first sign-in
	PasswordChangedAt time.Time
}

// Locked reports whether the account is locked.
func (a Account) Locked() bool { return !a.LockedAt.IsZero() }

// Link status values.
const (
	LinkApproved = "approved"
	LinkEnded    = "ended"
)

// StudentLink says that an account may see a student (subject to eligibility and barring,
// re-checked on every request).
type StudentLink struct {
	AccountID    int64
	StudentID    string
	ContactID    string // the MIS contact the link was matched on; "" when approved without one
	Relationship string
	Status       string // LinkApproved or LinkEnded
	ApprovedAt   time.Time
	ApprovedBy   string // auto | staff:<id> | consent
}

// StudentAccess is what the access rule needs about one linked student, read in one query:
// the link, the student, the link's contact (if any) and the student's data version.
type StudentAccess struct {
	Link    StudentLink
	Student Student
	// ContactFound is false when the link names a contact the MIS no longer has.
	ContactFound  bool
	ContactBarred bool
	// Version is bumped whenever any of the student's data changes; DataAsOf is when.
	Version  int64
	DataAsOf time.Time
}

// Session is a signed-in browser. Only the SHA-256 of its id is stored.
type Session struct {
	IDHash     []byte
	AccountID  int64
	CSRFToken  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ClientAddr string
}

// AuditEntry is one line of the audit log: who did or saw what, when and from where.
type AuditEntry struct {
	At         time.Time
	Actor      string // account:<id> | staff:<id> | system | mis
	Action     string // view, download, login, logout, lockout, unlock, approve …
	StudentID  string
	Page       string
	Detail     string
	ClientAddr string
}

// CourseEnrolment is an enrolment with its course.
type CourseEnrolment struct {
	Enrolment
	Course Course
}

// AttendanceTally is a precomputed count of marks: one week (WeekStart set) or one academic
// year, for the whole year (EnrolmentID "") or one enrolment.
type AttendanceTally struct {
	StudentID    string
	AcademicYear int
	WeekStart    Date
	EnrolmentID  string
	Tally        Tally
}

// DocumentSummary is a document listed without its content.
type DocumentSummary struct {
	Document
	Size int64 // bytes of content
}

// LoginFailure is the outcome of counting one wrong password.
type LoginFailure struct {
	Attempts    int  // failed attempts in a row, this one included
	Locked      bool // the account is locked now
	NewlyLocked bool // this failure locked it
}
