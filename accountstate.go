package mypt

import (
	"fmt"
	"time"
)

// RequestState is where an account request is in its workflow:
// unverified → awaiting_consent | awaiting_staff | approved | rejected, and
// awaiting_consent → awaiting_staff | rejected, awaiting_staff → approved | rejected.
type RequestState string

const (
	RequestUnverified      RequestState = "unverified"
	RequestAwaitingConsent RequestState = "awaiting_consent"
	RequestAwaitingStaff   RequestState = "awaiting_staff"
	RequestApproved        RequestState = "approved"
	RequestRejected        RequestState = "rejected"
)

// RequestStates lists every state (metrics set each pending one to 0 at start).
var RequestStates = []RequestState{RequestUnverified, RequestAwaitingConsent, RequestAwaitingStaff, RequestApproved, RequestRejected}

// PendingRequestStates are the stages a request waits in (mypt_account_requests_pending{stage}).
var PendingRequestStates = []RequestState{RequestUnverified, RequestAwaitingConsent, RequestAwaitingStaff}

// CanMoveTo reports whether the workflow allows a request in state s to move to next.
func (s RequestState) CanMoveTo(next RequestState) bool {
	switch s {
	case RequestUnverified:
		return next == RequestAwaitingConsent || next == RequestAwaitingStaff || next == RequestApproved || next == RequestRejected
	case RequestAwaitingConsent:
		return next == RequestAwaitingStaff || next == RequestRejected || next == RequestApproved
	case RequestAwaitingStaff:
		return next == RequestApproved || next == RequestRejected
	}
	return false
}

// Pending reports whether a request in state s still waits for someone.
func (s RequestState) Pending() bool {
	return s == RequestUnverified || s == RequestAwaitingConsent || s == RequestAwaitingStaff
}

// StoredAccountRequest is an account request as kept by mypt.
type StoredAccountRequest struct {
	ID int64
	AccountRequest
	PasswordHash string // argon2id PHC string of the request's password
	State        RequestState
	CreatedAt    time.Time
	VerifiedAt   time.Time // zero until the email is verified
	DecidedAt    time.Time // zero until approved or rejected
	DecidedBy    string    // auto | staff:<id> | consent | system
	// Reason is the staff's reason, or the match check that rejected the request; staff only.
	Reason     string
	Match      *MatchReport // nil until matched
	ContactID  string       // the MIS contact matched on
	AccountID  int64        // the account the request was approved into (0 before)
	ClientAddr string
	// AddedToExisting is set by the approval itself (it is not stored): the email already had
	// an account, so the child was added to it and the account's password and names stayed
	// as they were.
	AddedToExisting bool
}

// EventKey names an email about this request in the outbox (one email per event): the id with
// the request's creation instant, because SQLite may give a deleted request's id to the next.
func (r StoredAccountRequest) EventKey(kind string) string {
	return fmt.Sprintf("request:%d:%d:%s", r.ID, r.CreatedAt.UnixNano(), kind)
}

// TokenPurpose says what a one-time token is for.
type TokenPurpose string

const (
	TokenVerify  TokenPurpose = "verify"
	TokenReset   TokenPurpose = "reset"
	TokenConsent TokenPurpose = "consent"
)

// StaffUser is a member of college staff who may use the staff site.
type StaffUser struct {
	ID             int64
	Email          string
	Name           string
	PasswordHash   string
	CreatedAt      time.Time
	LastLoginAt    time.Time
	FailedAttempts int
	LockedAt       time.Time
	Disabled       bool
}

// StaffSession is a signed-in staff browser; only the SHA-256 of its id is stored.
type StaffSession struct {
	IDHash     []byte
	StaffID    int64
	CSRFToken  string
	CreatedAt  time.Time
	LastSeenAt time.Time
}

// AccessEnded records that a parent's access to a student stopped, and why (for staff).
type AccessEnded struct {
	ID        int64
	AccountID int64
	StudentID string
	Reason    Ineligibility
	Detail    string
	At        time.Time
}

// AccountSummary is an account with what the staff site shows about it.
type AccountSummary struct {
	Account
	Links []StudentLink
}

// AccountCounts feed mypt_accounts{state} and mypt_account_requests_pending{stage}.
type AccountCounts struct {
	Active, Locked, NoChildren int
	Pending                    map[RequestState]int
}

// RetentionPolicy says how long records are kept before the purge removes them.
type RetentionPolicy struct {
	UnverifiedDays int // unverified requests (14)
	RejectedDays   int // rejected requests (90)
	NoChildrenDays int // accounts with no remaining approved child (30)
}

// DefaultRetention is 14 / 90 / 30 days.
func DefaultRetention() RetentionPolicy {
	return RetentionPolicy{UnverifiedDays: 14, RejectedDays: 90, NoChildrenDays: 30}
}

// LinkCheck is one approved link with what the eligibility sweep judges it on.
type LinkCheck struct {
	AccountID    int64
	Email        string
	FirstName    string
	LastName     string
	StudentID    string
	ContactID    string
	StudentFound bool // false when the MIS no longer has the student
	Student      Student
	// ContactBarred: the link's contact, or any contact of the student with the account's
	// email, is barred from portal access.
	ContactBarred bool
	// ContactFound is false when the link names a contact the MIS no longer has.
	ContactFound bool
}

// StudentNotInMIS is why access ends when the MIS no longer has the student at all;
// ContactNotInMIS when it no longer has the contact the link was approved on.
const (
	StudentNotInMIS Ineligibility = "student_not_in_mis"
	ContactNotInMIS Ineligibility = "contact_not_in_mis"
)

// PurgeCounts says what a retention purge removed.
type PurgeCounts struct {
	Unverified, Rejected, Accounts, Tokens int64
}

// LinkEligibility judges an approved link on today: the student's age and leaving (policy),
// whether the MIS still has the student, and barring. Eligible means access continues.
func LinkEligibility(p EligibilityPolicy, c LinkCheck, today Date) Ineligibility {
	switch {
	case !c.StudentFound:
		return StudentNotInMIS
	case c.ContactBarred:
		return ContactBarred
	case c.ContactID != "" && !c.ContactFound:
		return ContactNotInMIS
	}
	return p.StudentEligibility(c.Student, today)
}

// ParentReason says why access ended in words fit for the parent's email: it never mentions a
// court order or what the MIS holds.
func (r Ineligibility) ParentReason() string {
	switch r {
	case TooOld:
		return "the student has reached the age limit for parent access (19, or 25 with an Education, Health and Care Plan)"
	case LeftCollege:
		return "the student has left the college"
	case ContactBarred:
		return "the college's records no longer allow access from your account"
	case StudentNotInMIS, ContactNotInMIS, NoDateOfBirth:
		return "the college's records for the student have changed"
	}
	return ""
}

// RequestDecision is one step of a request's workflow, applied by DecideAccountRequest.
type RequestDecision struct {
	// From lists the states the request may be in; anything else is ErrConflict.
	From []RequestState
	// To is the new state.
	To RequestState
	// Match replaces the stored match report when not nil.
	Match *MatchReport
	// Verified records that the email was verified now.
	Verified bool
	// DecidedBy and Reason are recorded (auto | staff:<id> | consent | system).
	DecidedBy, Reason string
	// ContactID is the MIS contact matched on, recorded on the request and the link.
	ContactID string
	// Emails are queued in the same transaction.
	Emails []OutboxMessage
	// ApprovalEmail, when To is approved, builds the email that tells the parent, inside the
	// transaction once the account is known: existing is true when the email already had an
	// account (the child was added to it; its password did not change), false when the
	// approval opened a new one.
	ApprovalEmail func(existing bool) (OutboxMessage, error)
	// ConsentTTL and ConsentEmail: when To is awaiting_consent, a consent token is issued and
	// the email ConsentEmail builds from it is queued.
	ConsentTTL   time.Duration
	ConsentEmail func(token string) (OutboxMessage, error)
	// Audit entries are written in the same transaction.
	Audit []AuditEntry
}

// TokenUse names a one-time token that a decision consumes.
type TokenUse struct {
	Purpose TokenPurpose
	Raw     string
}

// AccountLink is a link with its ending and the student's name, for the staff site.
type AccountLink struct {
	StudentLink
	EndedAt                            time.Time
	EndReason                          string
	StudentFirstNames, StudentLastName string
}
