package mypt

import (
	"fmt"
	"strings"
	"unicode"
)

// MatchOutcome is what an account request's match decides (DESIGN §3).
type MatchOutcome string

const (
	// MatchApproved: every check passed; approved at once under the auto policy, or queued for staff.
	MatchApproved MatchOutcome = "approved"
	// MatchNeedsConsent: the student's details are right and the student may be seen, but the
	// requester is not a next of kin or verified contact with parental responsibility; the
	// student is asked to consent.
	MatchNeedsConsent MatchOutcome = "needs_consent"
	// MatchNeedsStaff: a near miss that a person must judge — names that differ only by accents,
	// or a requester whose name matches a qualifying contact for whom the MIS holds no (or a
	// different) email. Never approved or rejected automatically.
	MatchNeedsStaff MatchOutcome = "needs_staff"
	// MatchRejected: the student's details are wrong, the student may not be seen, or the
	// requester is barred. The parent is told only that the request was rejected.
	MatchRejected MatchOutcome = "rejected"
)

// Names of the checks in a MatchReport, in the order they are made.
const (
	CheckStudentExists          = "student_exists"
	CheckStudentFirstNames      = "student_first_names"
	CheckStudentLastName        = "student_last_name"
	CheckStudentDateOfBirth     = "student_date_of_birth"
	CheckStudentEligible        = "student_eligible"
	CheckRequesterIsContact     = "requester_is_contact"
	CheckContactRole            = "contact_next_of_kin_or_verified"
	CheckParentalResponsibility = "contact_parental_responsibility"
	CheckContactNotBarred       = "contact_not_barred"
	// CheckNamesExact fails when a name differs from the MIS only by accents (Renee / Renée).
	CheckNamesExact = "names_differ_only_by_accents"
	// CheckRequesterEmail fails when the requester's name matches a qualifying contact but the
	// MIS holds no email, or a different one, for that contact.
	CheckRequesterEmail = "contact_email_on_record"
	// CheckNoBarredContact fails when a request that would go to the student for consent is
	// for a student one of whose contacts is barred from the portal (a court order, no
	// contact): the barred person could ask under another first name or email, so staff decide.
	CheckNoBarredContact = "student_has_no_barred_contact"
)

// MatchCheck is one check of a MatchReport. Detail is for staff only: it may say what the MIS
// holds, so it is never shown to the requester.
type MatchCheck struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
}

// MatchReport is the full record of why a request matched or not, kept for staff.
type MatchReport struct {
	Outcome MatchOutcome `json:"outcome"`
	// Reason names the first failed check that decided the outcome ("" when approved).
	Reason string       `json:"reason,omitempty"`
	Checks []MatchCheck `json:"checks"`
	// ContactID is the MIS contact the requester matched, if any.
	ContactID string `json:"contact_id,omitempty"`
	// Ineligibility is why the student may not be seen, when that decided the outcome.
	Ineligibility Ineligibility `json:"ineligibility,omitempty"`
	// CheckedOn is the date the eligibility was judged on.
	CheckedOn Date `json:"checked_on"`
}

// Check returns the named check and whether it was made.
func (r MatchReport) Check(name string) (MatchCheck, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return MatchCheck{}, false
}

// Failed lists the names of the checks that failed.
func (r MatchReport) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.Passed {
			out = append(out, c.Name)
		}
	}
	return out
}

// MatchInput is everything the matching rules look at.
type MatchInput struct {
	// Request is the parent's validated request.
	Request AccountRequest
	// Student is the MIS record for Request.StudentID, nil when no such student exists.
	Student *Student
	// Contacts are the student's MIS contacts.
	Contacts []Contact
	// Today is the date of the match (in Europe/London).
	Today Date
	// Policy decides whether the student may be seen.
	Policy EligibilityPolicy
	// NFC normalises a string to Unicode NFC (portal passes norm.NFC.String; the root package
	// may not import x/text). Nil means strings are compared without normalisation.
	NFC func(string) string
	// StripAccents removes diacritics (portal passes NFD then drop combining marks). Nil means
	// names that differ only by accents are simply different.
	StripAccents func(string) string
}

// NameKey is the form in which names are compared: NFC, ’ and ‘ read as ', case folded,
// runs of white space collapsed to one space and the ends trimmed.
func NameKey(nfc func(string) string, s string) string {
	if nfc != nil {
		s = nfc(s)
	}
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\u2019', '\u2018', '\u02bc', '\u2032', '`', '\u00b4':
			return '\''
		}
		return acctFoldRune(r)
	}, s)
	return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
}

// acctFoldRune case-folds r: upper then lower, so "Ó" and "ó", "ſ" and "s", "K" and the Kelvin sign
// compare equal.
func acctFoldRune(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }

// EmailKey is the form in which email addresses are compared: trimmed and lower-cased.
func EmailKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Match applies DESIGN §3's matching rules to a verified request. It is pure: the same input
// gives the same report.
//
// The student's details (ID, legal first names, legal last name, date of birth) must all be
// right, and the student must be eligible, or the request is rejected. Then the requester's
// first name, last name and email must equal a contact of the student who is next of kin or a
// verified contact, has parental responsibility and is not barred: then it is approved. A
// requester who matches a barred contact is rejected however right the rest is. Otherwise
// (no such contact, or a contact without the role) the student is asked to consent.
func Match(in MatchInput) MatchReport {
	rep := MatchReport{CheckedOn: in.Today}
	add := func(name string, ok bool, format string, args ...any) bool {
		rep.Checks = append(rep.Checks, MatchCheck{Name: name, Passed: ok, Detail: fmt.Sprintf(format, args...)})
		if !ok && rep.Reason == "" {
			rep.Reason = name
		}
		return ok
	}
	key := func(s string) string { return NameKey(in.NFC, s) }
	akey := func(s string) string {
		if in.StripAccents == nil {
			return "\x00" + key(s) // never equal to a differently spelt name
		}
		return key(in.StripAccents(key(s)))
	}
	req := in.Request
	s := in.Student
	if s == nil || s.StudentID != req.StudentID {
		add(CheckStudentExists, false, "no student with ID %q in the MIS", req.StudentID)
		rep.Outcome = MatchRejected
		return rep
	}
	add(CheckStudentExists, true, "student %s found", s.StudentID)
	studentOK := true
	var accents []string // the names that differ from the MIS only by accents
	nameCheck := func(check, what, got, mis string) {
		switch {
		case key(got) == key(mis):
			add(check, true, "%q matches the MIS's %q", got, mis)
		case akey(got) == akey(mis):
			add(check, false, "request says %q, MIS %s %q: they differ only by accents", got, what, mis)
			accents = append(accents, fmt.Sprintf("student %s %q / %q", what, got, mis))
		default:
			add(check, false, "request says %q, MIS %s %q", got, what, mis)
			studentOK = false
		}
	}
	nameCheck(CheckStudentFirstNames, "legal first names are", req.StudentFirstNames, s.LegalFirstNames)
	nameCheck(CheckStudentLastName, "legal last name is", req.StudentLastName, s.LegalLastName)
	if !s.DateOfBirth.IsZero() && req.StudentDOB == s.DateOfBirth {
		add(CheckStudentDateOfBirth, true, "%s matches the MIS", req.StudentDOB.UK())
	} else {
		mis := s.DateOfBirth.UK()
		if mis == "" {
			mis = "no date of birth"
		}
		studentOK = add(CheckStudentDateOfBirth, false, "request says %s, MIS holds %s", req.StudentDOB.UK(), mis) && studentOK
	}
	if why := in.Policy.StudentEligibility(*s, in.Today); why != Eligible {
		add(CheckStudentEligible, false, "%s (age %d on %s, status %q)", why.Describe(),
			AgeOn(s.DateOfBirth, in.Policy.ReferenceDate(in.Today)), in.Policy.ReferenceDate(in.Today).UK(), s.Status)
		rep.Ineligibility = why
		studentOK = false
	} else {
		add(CheckStudentEligible, true, "age %d on %s, EHCP %t, status %q",
			AgeOn(s.DateOfBirth, in.Policy.ReferenceDate(in.Today)), in.Policy.ReferenceDate(in.Today).UK(), s.HasEHCP, s.Status)
	}

	// The requester against the student's contacts. Every contact with the requester's name and
	// email is considered; a barred one wins (refuse), then a qualifying one (approve). Contacts
	// with the requester's name but no or another email, or a name that differs only by accents,
	// are near misses: a barred one still refuses, a qualifying one sends the request to staff.
	var matched, sameName, accentName []Contact
	for _, c := range in.Contacts {
		if c.StudentID != "" && c.StudentID != s.StudentID {
			continue
		}
		exact := key(c.FirstName) == key(req.ParentFirstName) && key(c.LastName) == key(req.ParentLastName)
		switch {
		case exact && c.Email != "" && EmailKey(c.Email) == EmailKey(req.Email):
			matched = append(matched, c)
		case exact:
			sameName = append(sameName, c)
		case akey(c.FirstName) == akey(req.ParentFirstName) && akey(c.LastName) == akey(req.ParentLastName):
			accentName = append(accentName, c)
		}
	}
	var best *Contact
	for i := range matched {
		c := &matched[i]
		switch {
		case c.PortalAccessBarred:
			if best == nil || !best.PortalAccessBarred {
				best = c
			}
		case best == nil:
			best = c
		case !best.PortalAccessBarred && acctQualifies(*c) && !acctQualifies(*best):
			best = c
		}
	}
	if best == nil {
		for _, near := range [][]Contact{sameName, accentName} {
			for i := range near {
				if near[i].PortalAccessBarred {
					best = &near[i]
					break
				}
			}
			if best != nil {
				break
			}
		}
	}
	if best == nil {
		detail := fmt.Sprintf("no contact of the student has the name %q %q and email %q", req.ParentFirstName, req.ParentLastName, req.Email)
		if len(sameName) > 0 {
			detail += fmt.Sprintf("; contact %s has that name with email %q", sameName[0].ContactID, sameName[0].Email)
		}
		add(CheckRequesterIsContact, false, "%s", detail)
		var near *Contact
		for _, list := range [][]Contact{sameName, accentName} {
			for i := range list {
				if near == nil && acctQualifies(list[i]) {
					near = &list[i]
				}
			}
		}
		switch {
		case !studentOK:
			rep.Outcome = MatchRejected
		case near != nil && key(near.FirstName) == key(req.ParentFirstName) && key(near.LastName) == key(req.ParentLastName):
			rep.ContactID = near.ContactID
			held := "no email"
			if near.Email != "" {
				held = fmt.Sprintf("the email %q", near.Email)
			}
			add(CheckRequesterEmail, false, "contact %s (%s %s, relationship %q) has the requester's name and may be approved, but the MIS holds %s for them, not %q: check who this is",
				near.ContactID, near.FirstName, near.LastName, near.Relationship, held, req.Email)
			rep.Outcome, rep.Reason = MatchNeedsStaff, CheckRequesterEmail
		case near != nil:
			rep.ContactID = near.ContactID
			accents = append(accents, fmt.Sprintf("requester %q %q / contact %s %q %q", req.ParentFirstName, req.ParentLastName, near.ContactID, near.FirstName, near.LastName))
			fallthrough
		case len(accents) > 0:
			add(CheckNamesExact, false, "names differ from the MIS only by accents: %s", strings.Join(accents, "; "))
			rep.Outcome, rep.Reason = MatchNeedsStaff, CheckNamesExact
		default:
			rep.Outcome = MatchNeedsConsent
		}
		barredContactToStaff(&rep, in.Contacts, s.StudentID, add)
		return rep
	}
	rep.ContactID = best.ContactID
	add(CheckRequesterIsContact, true, "matches contact %s (%s %s, %s, relationship %q)", best.ContactID, best.FirstName, best.LastName, best.Email, best.Relationship)
	roleOK := add(CheckContactRole, best.IsNextOfKin || best.IsVerifiedContact, "next of kin %t, verified contact %t", best.IsNextOfKin, best.IsVerifiedContact)
	prOK := add(CheckParentalResponsibility, best.HasParentalResponsibility, "parental responsibility %t", best.HasParentalResponsibility)
	notBarred := add(CheckContactNotBarred, !best.PortalAccessBarred, "portal access barred %t", best.PortalAccessBarred)
	switch {
	case !studentOK || !notBarred:
		rep.Outcome = MatchRejected
	case len(accents) > 0:
		add(CheckNamesExact, false, "names differ from the MIS only by accents: %s", strings.Join(accents, "; "))
		rep.Outcome, rep.Reason = MatchNeedsStaff, CheckNamesExact
	case roleOK && prOK:
		rep.Outcome = MatchApproved
	default:
		rep.Outcome = MatchNeedsConsent
	}
	if rep.Outcome == MatchApproved {
		rep.Reason = ""
	}
	if rep.Outcome == MatchRejected && !notBarred && studentOK {
		rep.Reason = CheckContactNotBarred
	}
	barredContactToStaff(&rep, in.Contacts, s.StudentID, add)
	return rep
}

// barredContactToStaff sends a request bound for the student's consent to staff instead when
// any contact of the student is barred, naming them in the report: the student's consent is
// not enough where a court order or a no-contact rule may stand behind the bar.
func barredContactToStaff(rep *MatchReport, contacts []Contact, studentID string, add func(string, bool, string, ...any) bool) {
	if rep.Outcome != MatchNeedsConsent {
		return
	}
	var barred []string
	for _, c := range contacts {
		if c.PortalAccessBarred && (c.StudentID == "" || c.StudentID == studentID) {
			barred = append(barred, fmt.Sprintf("%s (%s %s, relationship %q, email %q)", c.ContactID, c.FirstName, c.LastName, c.Relationship, c.Email))
		}
	}
	if len(barred) == 0 {
		add(CheckNoBarredContact, true, "no contact of the student is barred")
		return
	}
	add(CheckNoBarredContact, false, "the student has a contact barred from the portal: %s; check that the requester is not them before asking the student", strings.Join(barred, "; "))
	rep.Outcome, rep.Reason = MatchNeedsStaff, CheckNoBarredContact
}

func acctQualifies(c Contact) bool {
	return (c.IsNextOfKin || c.IsVerifiedContact) && c.HasParentalResponsibility && !c.PortalAccessBarred
}
