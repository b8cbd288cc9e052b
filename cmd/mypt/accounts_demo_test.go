package main

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"mypt"
	"mypt/internal/synth"
)

// postForm fetches the form page for its CSRF token and posts vals to action.
func postForm(t *testing.T, c *http.Client, base, page, action string, vals url.Values) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(get(t, c, base+page))
	if m == nil {
		t.Fatalf("no csrf_token on %s", page)
	}
	vals.Set("csrf_token", html.UnescapeString(m[1]))
	req, _ := http.NewRequest(http.MethodPost, base+action, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s = %s:\n%s", action, resp.Status, b)
	}
	return string(b)
}

// TestDemoNewcomerRequestsAnAccount is the seed's workflow in `mypt demo`, as a newcomer does
// it: request an account, read the verification email on the staff site's mail page, follow
// the link, confirm, sign in and see the child.
func TestDemoNewcomerRequestsAnAccount(t *testing.T) {
	lines, publicURL, internalURL := startDemo(t, 20)
	college, err := synth.Generate(synth.Options{Seed: 1, Students: 20, AsOf: mypt.NewDate(2026, time.December, 3)})
	if err != nil {
		t.Fatal(err)
	}
	taken := map[string]bool{}
	for _, p := range college.Parents {
		taken[strings.ToLower(p.Email)] = true
	}
	students := map[string]mypt.Student{}
	for _, s := range college.Students {
		students[s.StudentID] = s
	}
	policy := mypt.DefaultEligibility()
	var c mypt.Contact
	for _, k := range college.Contacts {
		s := students[k.StudentID]
		if k.Email != "" && k.IsNextOfKin && k.HasParentalResponsibility && !k.PortalAccessBarred && !taken[strings.ToLower(k.Email)] &&
			policy.StudentEligibility(s, mypt.NewDate(2026, time.December, 3)) == mypt.Eligible && s.DateOfBirth.Year > 1990 {
			c = k
			break
		}
	}
	if c.ContactID == "" {
		t.Fatal("the synthetic college has no next of kin without a demo account")
	}
	s := students[c.StudentID]
	parent := newClient(t)
	const pw = "Marigold-Lantern-Quarry-62"
	page := postForm(t, parent, publicURL, "/account-request", "/account-request", url.Values{
		"parent_first_name": {c.FirstName}, "parent_last_name": {c.LastName}, "email": {c.Email}, "email_confirm": {c.Email},
		"password": {pw}, "password_confirm": {pw}, "student_id": {s.StudentID}, "student_first_names": {s.LegalFirstNames},
		"student_last_name": {s.LegalLastName}, "student_dob": {s.DateOfBirth.UK()}, "relationship": {c.Relationship},
		"mobile_phone": {"07700 900123"},
	})
	if !strings.Contains(page, "Check your email") {
		t.Fatalf("request page:\n%.3000s", page)
	}

	staffLine := strings.Fields(lines[len(lines)-2])
	staff := newClient(t)
	signIn(t, staff, internalURL, "/admin/login", "/admin/", staffLine[1], staffLine[2])
	linkRE := regexp.MustCompile(`href="(/admin/mail/[^"]+)">Confirm your email`)
	var mailPage string
	for i := 0; i < 100; i++ { // the outbox delivers within a second or two
		if m := linkRE.FindStringSubmatch(get(t, staff, internalURL+"/admin/mail")); m != nil {
			mailPage = m[1]
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if mailPage == "" {
		t.Fatal("no verification email on the staff mail page")
	}
	verifyRE := regexp.MustCompile(`href="` + regexp.QuoteMeta(publicURL) + `/verify-email\?token=([A-Za-z0-9_-]+)"`)
	m := verifyRE.FindStringSubmatch(get(t, staff, internalURL+mailPage))
	if m == nil {
		t.Fatal("no verification link in the email")
	}
	tok := m[1]
	page = postForm(t, parent, publicURL, "/verify-email?token="+tok, "/verify-email", url.Values{"token": {tok}, "password": {pw}})
	if !strings.Contains(page, "Your account is open") {
		t.Fatalf("confirmation page:\n%.3000s", page)
	}
	home := login(t, newClient(t), publicURL, c.Email, pw)
	if !strings.Contains(home, s.StudentID) {
		t.Fatalf("home does not show %s:\n%.3000s", s.StudentID, home)
	}
}
