package mypt

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func matchStudent() Student {
	return Student{StudentID: "S100", LegalFirstNames: "Siobhán Mary", LegalLastName: "O'Neill-Smith",
		DateOfBirth: Date{2009, time.April, 5}, College: "CR", CollegeEmail: "s100@students.example.ac.uk", Status: StudentCurrent}
}

func matchContact() Contact {
	return Contact{ContactID: "C1", StudentID: "S100", FirstName: "José", LastName: "O’Neill-Smith", Email: "Jose@Example.org",
		Relationship: "Father", IsNextOfKin: true, HasParentalResponsibility: true}
}

func matchRequest() AccountRequest {
	return AccountRequest{ParentFirstName: "josé", ParentLastName: "o'neill-smith", Email: "jose@example.org",
		StudentID: "S100", StudentFirstNames: "  SIOBHÁN   mary ", StudentLastName: "O’Neill-Smith", StudentDOB: Date{2009, time.April, 5},
		Relationship: "Father", MobilePhone: "07700900123"}
}

// decomposed writes "á" as a + combining acute, "é" as e + combining acute.
func decompose(s string) string {
	return strings.NewReplacer("á", "a\u0301", "Á", "A\u0301", "é", "e\u0301").Replace(s)
}

// testNFC composes only what decompose produces: enough to prove the normaliser is applied.
func testNFC(s string) string {
	return strings.NewReplacer("a\u0301", "á", "A\u0301", "Á", "e\u0301", "é").Replace(s)
}

// testStrip removes the accents the tests use.
func testStrip(s string) string {
	return strings.NewReplacer("á", "a", "é", "e", "ó", "o").Replace(testNFC(s))
}

func TestNameKey(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"Siobhán O’Neill-Smith", "siobhán o'neill-smith"},
		{"D'Arcy", "d’arcy"},
		{"  Mary   Jane\tSmith ", "mary jane smith"},
		{"JOSÉ", "josé"},
		{decompose("José"), "josé"},
	} {
		if ka, kb := NameKey(testNFC, tc.a), NameKey(testNFC, tc.b); ka != kb {
			t.Errorf("NameKey(%q)=%q, NameKey(%q)=%q, want equal", tc.a, ka, tc.b, kb)
		}
	}
	if NameKey(nil, "Will") == NameKey(nil, "William") {
		t.Error("short name must not match full name")
	}
	if NameKey(nil, decompose("José")) == NameKey(nil, "José") {
		t.Error("without a normaliser decomposed and composed forms differ (proves NFC is what makes them equal)")
	}
}

func TestMatch(t *testing.T) {
	today := Date{2026, time.December, 3}
	type mod struct {
		req     func(*AccountRequest)
		student func(*Student)
		contact func(*Contact)
	}
	for _, tc := range []struct {
		name    string
		mod     mod
		noStud  bool
		outcome MatchOutcome
		reason  string
		failed  []string
	}{
		{name: "every detail right approves", outcome: MatchApproved},
		{name: "decomposed accents still match", mod: mod{req: func(r *AccountRequest) { r.StudentFirstNames = decompose("Siobhán Mary") }}, outcome: MatchApproved},
		{name: "verified contact without next of kin approves", mod: mod{contact: func(c *Contact) { c.IsNextOfKin = false; c.IsVerifiedContact = true }}, outcome: MatchApproved},
		{name: "unknown student id rejects", noStud: true, outcome: MatchRejected, reason: CheckStudentExists, failed: []string{CheckStudentExists}},
		{name: "wrong first names reject", mod: mod{req: func(r *AccountRequest) { r.StudentFirstNames = "Sinead Mary" }}, outcome: MatchRejected, reason: CheckStudentFirstNames, failed: []string{CheckStudentFirstNames}},
		{name: "student name differing only by accents goes to staff", mod: mod{req: func(r *AccountRequest) { r.StudentFirstNames = "Siobhan Mary" }}, outcome: MatchNeedsStaff, reason: CheckNamesExact, failed: []string{CheckStudentFirstNames, CheckNamesExact}},
		{name: "accents only and a wrong date of birth rejects", mod: mod{req: func(r *AccountRequest) {
			r.StudentFirstNames = "Siobhan Mary"
			r.StudentDOB = Date{2009, time.April, 6}
		}}, outcome: MatchRejected, reason: CheckStudentFirstNames, failed: []string{CheckStudentFirstNames, CheckStudentDateOfBirth}},
		{name: "requester name differing only by accents goes to staff", mod: mod{req: func(r *AccountRequest) { r.ParentFirstName = "Jose" }}, outcome: MatchNeedsStaff, reason: CheckNamesExact, failed: []string{CheckRequesterIsContact, CheckNamesExact}},
		{name: "qualifying contact with no email goes to staff", mod: mod{contact: func(c *Contact) { c.Email = "" }}, outcome: MatchNeedsStaff, reason: CheckRequesterEmail, failed: []string{CheckRequesterIsContact, CheckRequesterEmail}},
		{name: "qualifying contact with another email goes to staff", mod: mod{req: func(r *AccountRequest) { r.Email = "other@example.org" }}, outcome: MatchNeedsStaff, reason: CheckRequesterEmail, failed: []string{CheckRequesterIsContact, CheckRequesterEmail}},
		{name: "barred contact with another email rejects", mod: mod{contact: func(c *Contact) { c.PortalAccessBarred = true; c.Email = "" }}, outcome: MatchRejected, reason: CheckContactNotBarred, failed: []string{CheckContactNotBarred}},
		{name: "not next of kin with another email needs consent", mod: mod{contact: func(c *Contact) { c.IsNextOfKin = false }, req: func(r *AccountRequest) { r.Email = "other@example.org" }}, outcome: MatchNeedsConsent, reason: CheckRequesterIsContact, failed: []string{CheckRequesterIsContact}},
		{name: "shortened name rejects", mod: mod{req: func(r *AccountRequest) { r.StudentFirstNames = "Siobhán" }}, outcome: MatchRejected, reason: CheckStudentFirstNames, failed: []string{CheckStudentFirstNames}},
		{name: "wrong last name rejects", mod: mod{req: func(r *AccountRequest) { r.StudentLastName = "ONeill-Smith" }}, outcome: MatchRejected, reason: CheckStudentLastName, failed: []string{CheckStudentLastName}},
		{name: "wrong date of birth rejects", mod: mod{req: func(r *AccountRequest) { r.StudentDOB = Date{2009, time.May, 4} }}, outcome: MatchRejected, reason: CheckStudentDateOfBirth, failed: []string{CheckStudentDateOfBirth}},
		{name: "MIS without date of birth rejects", mod: mod{student: func(s *Student) { s.DateOfBirth = Date{} }}, outcome: MatchRejected, reason: CheckStudentDateOfBirth, failed: []string{CheckStudentDateOfBirth, CheckStudentEligible}},
		{name: "student aged 19 rejects", mod: mod{student: func(s *Student) { s.DateOfBirth = Date{2007, time.August, 31} }, req: func(r *AccountRequest) { r.StudentDOB = Date{2007, time.August, 31} }}, outcome: MatchRejected, reason: CheckStudentEligible, failed: []string{CheckStudentEligible}},
		{name: "student aged 19 with EHCP approves", mod: mod{student: func(s *Student) { s.DateOfBirth = Date{2007, time.August, 31}; s.HasEHCP = true }, req: func(r *AccountRequest) { r.StudentDOB = Date{2007, time.August, 31} }}, outcome: MatchApproved},
		{name: "student left rejects", mod: mod{student: func(s *Student) { s.Status = StudentLeft; s.LeftDate = Date{2026, time.July, 1} }}, outcome: MatchRejected, reason: CheckStudentEligible, failed: []string{CheckStudentEligible}},
		{name: "barred contact rejects with every detail right", mod: mod{contact: func(c *Contact) { c.PortalAccessBarred = true }}, outcome: MatchRejected, reason: CheckContactNotBarred, failed: []string{CheckContactNotBarred}},
		{name: "not next of kin needs consent", mod: mod{contact: func(c *Contact) { c.IsNextOfKin = false }}, outcome: MatchNeedsConsent, reason: CheckContactRole, failed: []string{CheckContactRole}},
		{name: "no parental responsibility needs consent", mod: mod{contact: func(c *Contact) { c.HasParentalResponsibility = false }}, outcome: MatchNeedsConsent, reason: CheckParentalResponsibility, failed: []string{CheckParentalResponsibility}},
		{name: "requester not a contact needs consent", mod: mod{req: func(r *AccountRequest) { r.ParentFirstName = "Maria" }}, outcome: MatchNeedsConsent, reason: CheckRequesterIsContact, failed: []string{CheckRequesterIsContact}},
		{name: "wrong student details and not a contact rejects", mod: mod{req: func(r *AccountRequest) { r.ParentFirstName = "Maria"; r.StudentLastName = "Smith" }}, outcome: MatchRejected, reason: CheckStudentLastName, failed: []string{CheckStudentLastName, CheckRequesterIsContact}},
		{name: "barred and wrong details rejects on details", mod: mod{contact: func(c *Contact) { c.PortalAccessBarred = true }, req: func(r *AccountRequest) { r.StudentDOB = Date{2009, time.April, 6} }}, outcome: MatchRejected, reason: CheckStudentDateOfBirth, failed: []string{CheckStudentDateOfBirth, CheckContactNotBarred}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, st, c := matchRequest(), matchStudent(), matchContact()
			if tc.mod.req != nil {
				tc.mod.req(&req)
			}
			if tc.mod.student != nil {
				tc.mod.student(&st)
			}
			if tc.mod.contact != nil {
				tc.mod.contact(&c)
			}
			in := MatchInput{Request: req, Student: &st, Contacts: []Contact{c}, Today: today, Policy: DefaultEligibility(), NFC: testNFC, StripAccents: testStrip}
			if tc.noStud {
				in.Student = nil
			}
			rep := Match(in)
			if rep.Outcome != tc.outcome || rep.Reason != tc.reason {
				t.Fatalf("outcome %q reason %q, want %q %q; report %+v", rep.Outcome, rep.Reason, tc.outcome, tc.reason, rep)
			}
			if got := rep.Failed(); !reflect.DeepEqual(got, tc.failed) {
				t.Errorf("failed checks %v, want %v", got, tc.failed)
			}
			for _, ch := range rep.Checks {
				if ch.Detail == "" {
					t.Errorf("check %s has no detail", ch.Name)
				}
			}
			if tc.outcome == MatchApproved && rep.ContactID != "C1" {
				t.Errorf("contact %q, want C1", rep.ContactID)
			}
		})
	}
}

func TestMatchBarredWinsOverQualifyingDuplicate(t *testing.T) {
	st := matchStudent()
	ok, barred := matchContact(), matchContact()
	barred.ContactID, barred.PortalAccessBarred = "C2", true
	rep := Match(MatchInput{Request: matchRequest(), Student: &st, Contacts: []Contact{ok, barred}, Today: Date{2026, 12, 3}, Policy: DefaultEligibility()})
	if rep.Outcome != MatchRejected || rep.ContactID != "C2" || rep.Reason != CheckContactNotBarred {
		t.Fatalf("got %+v, want rejection on barred C2", rep)
	}
}

func TestMatchPicksQualifyingContact(t *testing.T) {
	st := matchStudent()
	weak, strong := matchContact(), matchContact()
	weak.ContactID, weak.IsNextOfKin = "C0", false
	strong.ContactID = "C9"
	rep := Match(MatchInput{Request: matchRequest(), Student: &st, Contacts: []Contact{weak, strong}, Today: Date{2026, 12, 3}, Policy: DefaultEligibility()})
	if rep.Outcome != MatchApproved || rep.ContactID != "C9" {
		t.Fatalf("got %+v, want approval on C9", rep)
	}
}

func TestMatchIgnoresOtherStudentsContacts(t *testing.T) {
	st := matchStudent()
	c := matchContact()
	c.StudentID = "S999"
	rep := Match(MatchInput{Request: matchRequest(), Student: &st, Contacts: []Contact{c}, Today: Date{2026, 12, 3}, Policy: DefaultEligibility()})
	if rep.Outcome != MatchNeedsConsent {
		t.Fatalf("got %+v, want needs consent", rep)
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("Siobhán Mary", "O’Neill-Smith", "josé", "o'neill-smith", "jose@example.org", "Siobhán Mary", "O'Neill-Smith", "José", "O’Neill-Smith", "Jose@Example.org", true, true, false)
	f.Add("", "", "", "", "", "a", "b", "c", "d", "e", false, false, true)
	f.Fuzz(func(t *testing.T, reqFirst, reqLast, parFirst, parLast, parEmail, misFirst, misLast, cFirst, cLast, cEmail string, nok, pr, barred bool) {
		st := matchStudent()
		st.LegalFirstNames, st.LegalLastName = misFirst, misLast
		c := Contact{ContactID: "C1", StudentID: st.StudentID, FirstName: cFirst, LastName: cLast, Email: cEmail,
			IsNextOfKin: nok, HasParentalResponsibility: pr, PortalAccessBarred: barred}
		req := matchRequest()
		req.StudentFirstNames, req.StudentLastName, req.ParentFirstName, req.ParentLastName, req.Email = reqFirst, reqLast, parFirst, parLast, parEmail
		rep := Match(MatchInput{Request: req, Student: &st, Contacts: []Contact{c}, Today: Date{2026, 12, 3}, Policy: DefaultEligibility(), StripAccents: testStrip})
		switch rep.Outcome {
		case MatchApproved:
			if len(rep.Failed()) != 0 || barred || !nok || !pr {
				t.Fatalf("approved with %v failed (barred %t nok %t pr %t)", rep.Failed(), barred, nok, pr)
			}
		case MatchNeedsConsent, MatchNeedsStaff:
			if len(rep.Failed()) == 0 {
				t.Fatalf("%s with nothing failed", rep.Outcome)
			}
		case MatchRejected:
			if rep.Reason == "" {
				t.Fatal("rejected without a reason")
			}
		default:
			t.Fatalf("outcome %q", rep.Outcome)
		}
		if rep.Outcome != MatchRejected && barred && rep.ContactID == "C1" {
			t.Fatal("a barred contact was not rejected")
		}
	})
}

// A barred contact could ask under another first name or email and, as a non-next-of-kin,
// be sent to the student for consent: where a student has a barred contact, such a request
// goes to staff, with the barred contact named in the report.
func TestBarredContactSendsConsentRequestsToStaff(t *testing.T) {
	t.Parallel()
	st := matchStudent()
	barred := Contact{ContactID: "C9", StudentID: "S100", FirstName: "Patrick", LastName: "O'Neill-Smith", Email: "patrick@example.org",
		Relationship: "Father", IsNextOfKin: true, HasParentalResponsibility: true, PortalAccessBarred: true}
	req := matchRequest()
	req.ParentFirstName, req.Email = "Pat", "pat.other@example.com" // not a contact: would need consent
	in := MatchInput{Request: req, Student: &st, Contacts: []Contact{matchContact(), barred}, Today: Date{2026, 12, 3}, Policy: DefaultEligibility()}
	rep := Match(in)
	if rep.Outcome != MatchNeedsStaff || rep.Reason != CheckNoBarredContact {
		t.Fatalf("outcome %s (%s), want needs_staff because of the barred contact", rep.Outcome, rep.Reason)
	}
	var detail string
	for _, c := range rep.Checks {
		if c.Name == CheckNoBarredContact {
			detail = c.Detail
		}
	}
	if !strings.Contains(detail, "C9 (Patrick O'Neill-Smith") {
		t.Errorf("the report does not name the barred contact: %q", detail)
	}
	// Without a barred contact the same request goes to the student, as before.
	in.Contacts = []Contact{matchContact()}
	if rep := Match(in); rep.Outcome != MatchNeedsConsent {
		t.Errorf("no barred contact: outcome %s, want needs_consent", rep.Outcome)
	}
	// A next of kin who matches is still approved when another contact is barred.
	in.Request, in.Contacts = matchRequest(), []Contact{matchContact(), barred}
	if rep := Match(in); rep.Outcome != MatchApproved {
		t.Errorf("matching next of kin beside a barred contact: outcome %s (%s)", rep.Outcome, rep.Reason)
	}
}
