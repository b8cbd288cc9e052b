package portal

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"mypt"
)

// The staff site says what codes mean in words; the code stays in the title for searching.

var requestStateWords = map[mypt.RequestState]string{
	mypt.RequestUnverified:      "Waiting for the parent to confirm their email",
	mypt.RequestAwaitingConsent: "Waiting for the student's consent",
	mypt.RequestAwaitingStaff:   "Waiting for staff to decide",
	mypt.RequestApproved:        "Approved",
	mypt.RequestRejected:        "Rejected",
}

func stateWords(s mypt.RequestState) string {
	if w, ok := requestStateWords[s]; ok {
		return w
	}
	return string(s)
}

var outcomeWords = map[mypt.MatchOutcome]string{
	mypt.MatchApproved:     "matched",
	mypt.MatchNeedsConsent: "needs the student's consent",
	mypt.MatchNeedsStaff:   "needs staff review",
	mypt.MatchRejected:     "rejected",
}

// reasonWords says why, for a failed check name or a lock reason.
var reasonWords = map[string]string{
	mypt.CheckStudentExists:          "no student with that Student ID",
	mypt.CheckStudentFirstNames:      "student's first names do not match",
	mypt.CheckStudentLastName:        "student's last name does not match",
	mypt.CheckStudentDateOfBirth:     "student's date of birth does not match",
	mypt.CheckStudentEligible:        "the student may not be seen (age or status)",
	mypt.CheckRequesterIsContact:     "requester is not a next of kin or verified contact",
	mypt.CheckContactRole:            "the contact is not a next of kin or verified contact",
	mypt.CheckParentalResponsibility: "the contact has no parental responsibility",
	mypt.CheckContactNotBarred:       "the contact is barred from the portal",
	mypt.CheckNamesExact:             "names differ from the MIS only by accents",
	mypt.CheckRequesterEmail:         "the requester's name matches a contact, but the MIS holds no or another email for them",
	mypt.CheckNoBarredContact:        "the student has a contact barred from the portal: check the requester is not them",
	"failed_attempts":                "too many wrong passwords",
}

// checkWords names a check for staff.
var checkWords = map[string]string{
	mypt.CheckStudentExists:          "Student ID exists",
	mypt.CheckStudentFirstNames:      "Student's first names",
	mypt.CheckStudentLastName:        "Student's last name",
	mypt.CheckStudentDateOfBirth:     "Student's date of birth",
	mypt.CheckStudentEligible:        "Student may be seen",
	mypt.CheckRequesterIsContact:     "Requester is a contact (name and email)",
	mypt.CheckContactRole:            "Next of kin or verified contact",
	mypt.CheckParentalResponsibility: "Parental responsibility",
	mypt.CheckContactNotBarred:       "Not barred",
	mypt.CheckNamesExact:             "Names spelt exactly as in the MIS",
	mypt.CheckRequesterEmail:         "Contact's email on record",
	mypt.CheckNoBarredContact:        "No barred contact (before asking the student)",
}

func reasonText(r string) string {
	if w, ok := reasonWords[r]; ok {
		return w
	}
	return r
}

func checkText(name string) string {
	if w, ok := checkWords[name]; ok {
		return w
	}
	return name
}

// outcomeText is a match report's outcome and reason in words ("" when not matched yet).
func outcomeText(m *mypt.MatchReport) string {
	if m == nil {
		return ""
	}
	w, ok := outcomeWords[m.Outcome]
	if !ok {
		w = string(m.Outcome)
	}
	if m.Reason != "" {
		w += ": " + reasonText(m.Reason)
	}
	return w
}

// deciderText says who decided: "staff:3" becomes the staff user's name and email.
func (s *Server) deciderText(ctx context.Context, by string) string {
	switch by {
	case "auto":
		return "automatically"
	case "consent":
		return "the student's consent"
	}
	if rest, ok := strings.CutPrefix(by, "staff:"); ok {
		if id, err := strconv.ParseInt(rest, 10, 64); err == nil && s.acct != nil {
			if u, err := s.acct.store.StaffUser(ctx, id); err == nil {
				return u.Name + " (" + u.Email + ")"
			}
		}
	}
	return by
}

// compareRow is one field of a request beside the MIS's value.
type compareRow struct {
	Field, Requested, MIS string
	Match                 bool
}

// checkRow is one check of a match report with its name in words.
type checkRow struct {
	mypt.MatchCheck
	Label string
}

// compareRequest sets the request beside the MIS field by field: the student, then the
// requester against the contact the match settled on (or the contact with the same name).
func compareRequest(q mypt.StoredAccountRequest, st *mypt.Student, contacts []mypt.Contact) []compareRow {
	key := func(s string) string { return mypt.NameKey(acctNFC, s) }
	same := func(a, b string) bool { return key(a) == key(b) }
	var rows []compareRow
	if st == nil {
		return append(rows, compareRow{Field: "Student ID", Requested: q.StudentID, MIS: "no such student"})
	}
	rows = append(rows,
		compareRow{"Student ID", q.StudentID, st.StudentID, q.StudentID == st.StudentID},
		compareRow{"Student's first names", q.StudentFirstNames, st.LegalFirstNames, same(q.StudentFirstNames, st.LegalFirstNames)},
		compareRow{"Student's last name", q.StudentLastName, st.LegalLastName, same(q.StudentLastName, st.LegalLastName)},
		compareRow{"Date of birth", q.StudentDOB.UK(), st.DateOfBirth.UK(), !st.DateOfBirth.IsZero() && q.StudentDOB == st.DateOfBirth})
	var c *mypt.Contact
	for i := range contacts {
		if q.ContactID != "" && contacts[i].ContactID == q.ContactID {
			c = &contacts[i]
			break
		}
		if c == nil && same(contacts[i].FirstName, q.ParentFirstName) && same(contacts[i].LastName, q.ParentLastName) {
			c = &contacts[i]
		}
	}
	if c == nil {
		return append(rows, compareRow{Field: "Requester", Requested: acctJoinName(q.ParentFirstName, q.ParentLastName), MIS: "no contact of the student has this name"})
	}
	return append(rows,
		compareRow{"Requester's first name (contact " + c.ContactID + ")", q.ParentFirstName, c.FirstName, same(q.ParentFirstName, c.FirstName)},
		compareRow{"Requester's last name", q.ParentLastName, c.LastName, same(q.ParentLastName, c.LastName)},
		compareRow{"Email", q.Email, c.Email, c.Email != "" && mypt.EmailKey(c.Email) == mypt.EmailKey(q.Email)},
		compareRow{"Relationship", q.Relationship, c.Relationship, same(q.Relationship, c.Relationship)})
}

type adminStudentView struct {
	adminBase
	Query    string
	Searched bool
	Student  *mypt.Student
	Contacts []mypt.Contact
}

// handleAdminStudent is "find a student": the MIS record and contacts for a Student ID, so
// staff can check a request or a phone call against what the college holds. Every look-up is
// audited.
func (s *Server) handleAdminStudent(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("id"))
	v := &adminStudentView{adminBase: s.adminBase(r, "Find a student", "students"), Query: q, Searched: q != ""}
	if q != "" {
		ctx := r.Context()
		st, err := s.acct.store.Student(ctx, q)
		switch {
		case err == nil:
			v.Student = &st
			if v.Contacts, err = s.acct.store.StudentContacts(ctx, q); err != nil {
				s.renderError(w, r, err)
				return
			}
		case !errors.Is(err, mypt.ErrNotFound):
			s.renderError(w, r, err)
			return
		}
		detail := "found"
		if v.Student == nil {
			detail = "not found"
		}
		if !s.auditNow(w, r, s.staffAudit(r, "view_student", q, "student:"+q, detail)) {
			return
		}
	}
	s.render(w, r, http.StatusOK, "admin_student", v)
}
