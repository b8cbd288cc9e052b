package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"mypt"
	"mypt/config"
	"mypt/portal"
	"mypt/syncer"
)

// staffLayout fails unless body is a staff-site page: the staff stylesheet, links only to the
// staff site, none of the parents' links (dead on the internal listener).
func staffLayout(t *testing.T, what, body string) {
	t.Helper()
	if !strings.Contains(body, `href="/admin/static/app.css"`) {
		t.Errorf("%s: not the staff layout (no /admin/static/app.css):\n%s", what, body)
	}
	if !strings.Contains(body, `href="/admin/"`) {
		t.Errorf("%s: no link to the staff home /admin/:\n%s", what, body)
	}
	for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		if !strings.HasPrefix(m[1], "/admin/") {
			t.Errorf("%s: link %q is not on the staff site", what, m[1])
		}
	}
	for _, parents := range []string{"Go to your home page", "Sign in</a>", ">Help<"} {
		if strings.Contains(body, parents) {
			t.Errorf("%s: carries the parents' %q", what, parents)
		}
	}
}

// Errors on the internal listener are staff pages, and its root goes to the staff home; the
// ops endpoints are unchanged, and the public site's errors keep the parents' layout.
func TestStaffSiteErrorsUseStaffLayout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalManual)
	anon := e.browser(e.internal.URL)
	code, body := anon.get("/admin/nope")
	if code != http.StatusNotFound {
		t.Fatalf("/admin/nope signed out: %d", code)
	}
	staffLayout(t, "404 signed out", body)
	code, body = anon.get("/nope")
	if code != http.StatusNotFound {
		t.Fatalf("/nope: %d", code)
	}
	staffLayout(t, "internal /nope", body)
	resp, err := anon.c.Get(e.internal.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "/admin/" {
		t.Errorf("internal /: %d to %q, want a redirect to /admin/", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, _ := anon.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	if code, css := anon.get("/admin/static/app.css"); code != http.StatusOK || len(css) < 100 {
		t.Errorf("/admin/static/app.css: %d", code)
	}

	staff := e.staff()
	for path, want := range map[string]int{
		"/admin/nope":                    http.StatusNotFound,
		"/admin/requests?state=bogus":    http.StatusBadRequest,
		"/admin/audit.csv?from=bad":      http.StatusBadRequest,
		"/admin/requests/999":            http.StatusNotFound,
		"/admin/accounts/0":              http.StatusNotFound,
		"/admin/mailbox?status=whatever": http.StatusBadRequest,
	} {
		code, body := staff.get(path)
		if code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
		staffLayout(t, path, body)
		if !strings.Contains(body, "Sign out Registry") {
			t.Errorf("%s: the signed-in staff menu is missing", path)
		}
	}

	pub := e.browser(e.public.URL)
	if code, body := pub.get("/nope"); code != http.StatusNotFound || !strings.Contains(body, `href="/static/app.css"`) {
		t.Errorf("public 404 %d lost the parents' layout:\n%s", code, body)
	}
}

// visibleText is body without its tags and attributes.
func visibleText(body string) string {
	return regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body, " ")
}

// The staff site says states, reasons and deciders in words.
func TestStaffSiteSaysCodesInWords(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	pat := parent{"Pat", "Enough", "pat@example.org", "Harvest-Pebble-Quartz-58", "S300", "Old", "Enough", "01/09/2007", "Mother"}
	if page := e.request(pat); !strings.Contains(page, "Your account is open") {
		t.Fatalf("page:\n%s", page)
	}
	e.mailTo("pat@example.org")
	sweep, err := syncer.NewEligibility(syncer.EligibilityOptions{Store: e.store, Now: e.clock.Now,
		Mail: mypt.MailSettings{CollegeName: "Croydon College", SupportEmail: "ParentPortalSupport@croydon.example.ac.uk", PublicBaseURL: baseURL}})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(241 * 24 * time.Hour) // 1 August 2027: the student is 19 on the reference date
	if res, err := sweep.Sweep(context.Background()); err != nil || res.Ended != 1 {
		t.Fatalf("sweep %+v %v", res, err)
	}
	staff := e.staff()

	code, list := staff.get("/admin/requests")
	if code != http.StatusOK {
		t.Fatalf("requests: %d", code)
	}
	text := visibleText(list)
	for _, raw := range []string{"awaiting_consent", "awaiting_staff", "unverified", "approved", "rejected"} {
		if regexp.MustCompile(`\b` + raw + `\b`).MatchString(text) {
			t.Errorf("request filter shows the raw code %q:\n%s", raw, list)
		}
	}
	for _, want := range []string{`<option value="all"`, ">All<", "Waiting for the student&#39;s consent", "Waiting for staff to decide"} {
		if !strings.Contains(list, want) {
			t.Errorf("request filter lacks %q:\n%s", want, list)
		}
	}
	code, all := staff.get("/admin/requests?state=all")
	if code != http.StatusOK || !strings.Contains(all, "pat@example.org") {
		t.Fatalf("?state=all: %d\n%s", code, all)
	}
	if !regexp.MustCompile(`<option value="all" selected>`).MatchString(all) {
		t.Errorf("?state=all does not select All:\n%s", all)
	}

	q := e.lastRequest("pat@example.org")
	_, page := staff.get(fmt.Sprintf("/admin/requests/%d", q.ID))
	if strings.Contains(page, "by automatically") || !strings.Contains(page, "by the portal automatically") {
		t.Errorf("request page's decider:\n%s", page)
	}
	_, acct := staff.get(fmt.Sprintf("/admin/accounts/%d", q.AccountID))
	for _, raw := range []string{"too_old", "<td>auto</td>", "<td>ended</td>", "<td>approved</td>"} {
		if strings.Contains(acct, raw) {
			t.Errorf("account page shows the raw code %q:\n%s", raw, acct)
		}
	}
	if !strings.Contains(acct, "over the age limit") {
		t.Errorf("account page does not say why access ended:\n%s", acct)
	}
}

// staffSignInWarnings posts n wrong passwords for email and returns the warnings shown.
func (e *env) staffSignInWarnings(email, password string, n int) []string {
	e.t.Helper()
	b := e.browser(e.internal.URL)
	warn := regexp.MustCompile(`(?s)<div class="warning"[^>]*>\s*<p>(.*?)</p>`)
	var got []string
	for range n {
		e.clock.Advance(10 * time.Second) // stay under the sign-in rate limit
		code, body, _ := b.post("/admin/login", "/admin/login", url.Values{"email": {email}, "password": {password}})
		if code != http.StatusUnauthorized {
			e.t.Fatalf("staff sign-in as %s: %d\n%s", email, code, body)
		}
		m := warn.FindStringSubmatch(body)
		if m == nil {
			e.t.Fatalf("no warning:\n%s", body)
		}
		got = append(got, strings.ReplaceAll(m[1], email, "E"))
	}
	return got
}

// Wrong passwords for a real staff email and for an unknown one get the same answers in the
// same order, so the sign-in form does not tell which emails are staff.
func TestStaffSignInDoesNotRevealStaffEmails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalManual)
	hash, err := portal.HashPassword("Staff-Password-Long-1", portal.Argon2Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateStaffUser(context.Background(), "registry@croydon.example.ac.uk", "Registry", hash); err != nil {
		t.Fatal(err)
	}
	real := e.staffSignInWarnings("registry@croydon.example.ac.uk", "Wrong-Password-Long-2", 7)
	unknown := e.staffSignInWarnings("nobody@croydon.example.ac.uk", "Wrong-Password-Long-2", 7)
	if strings.Join(real, "\n") != strings.Join(unknown, "\n") {
		t.Errorf("a staff email is answered differently:\nstaff:   %q\nunknown: %q", real, unknown)
	}
	const wrong = "The email address or password is not right."
	for i, w := range real {
		if i < 4 && w != wrong {
			t.Errorf("attempt %d: %q", i+1, w)
		}
		if i >= 4 && (!strings.Contains(w, "locked") || !strings.Contains(w, "mypt staff add --email E --reset")) {
			t.Errorf("attempt %d: %q, want the locked message with the exact command", i+1, w)
		}
	}
	if u, _ := e.store.StaffUserByEmail(context.Background(), "registry@croydon.example.ac.uk"); u.LockedAt.IsZero() {
		t.Error("the staff user was not locked")
	}
	// Both are audited, the unknown one without the email typed.
	entries, _ := e.store.AuditEntries(context.Background(), time.Time{}, 100)
	unknownFailures := 0
	for _, en := range entries {
		if strings.Contains(fmt.Sprintf("%+v", en), "nobody@") {
			t.Errorf("audit entry %+v holds the unknown email", en)
		}
		if en.Actor == "unknown" && en.Action == "staff_login_failed" {
			unknownFailures++
		}
	}
	if unknownFailures != 7 {
		t.Errorf("%d unknown staff sign-in failures audited, want 7", unknownFailures)
	}
	// The right password hears that the account is locked.
	b := e.browser(e.internal.URL)
	_, body, _ := b.post("/admin/login", "/admin/login", url.Values{"email": {"registry@croydon.example.ac.uk"}, "password": {"Staff-Password-Long-1"}})
	if !strings.Contains(body, "locked") || !strings.Contains(body, "mypt staff add --email registry@croydon.example.ac.uk --reset") {
		t.Errorf("right password on a locked staff user:\n%s", body)
	}
}

// A disabled staff user's sessions end at once and they cannot sign in; enabled again, they can.
func TestDisabledStaffUserIsSignedOutAndRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalManual)
	staff := e.staff()
	ctx := context.Background()
	if err := e.store.SetStaffDisabled(ctx, "Registry@croydon.example.ac.uk", true); err != nil {
		t.Fatal(err)
	}
	if code, _ := staff.get("/admin/requests"); code != http.StatusSeeOther {
		t.Fatalf("disabled staff user still signed in: %d", code)
	}
	b := e.browser(e.internal.URL)
	code, body, _ := b.post("/admin/login", "/admin/login", url.Values{"email": {"registry@croydon.example.ac.uk"}, "password": {"Staff-Password-Long-1"}})
	if code != http.StatusUnauthorized || !strings.Contains(body, "disabled") || !strings.Contains(body, "mypt staff enable --email registry@croydon.example.ac.uk") {
		t.Fatalf("disabled sign-in %d:\n%s", code, body)
	}
	if err := e.store.SetStaffDisabled(ctx, "registry@croydon.example.ac.uk", false); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := b.post("/admin/login", "/admin/login", url.Values{"email": {"registry@croydon.example.ac.uk"}, "password": {"Staff-Password-Long-1"}}); code != http.StatusSeeOther {
		t.Fatalf("enabled staff user cannot sign in: %d", code)
	}
}

// A staff page refused as a bad request says what was wrong.
func TestStaffBadRequestsSayWhy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalManual)
	staff := e.staff()
	for path, want := range map[string]string{
		"/admin/audit.csv?from=2026-12-10&to=2026-12-01": "From must be on or before To",
		"/admin/audit.csv?from=bad":                      "From must be a date",
		"/admin/requests?state=bogus":                    "There is no such request state",
		"/admin/mailbox?status=bogus":                    "open, done or all",
	} {
		code, body := staff.get(path)
		if code != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("%s: %d, page lacks %q", path, code, want)
		}
	}
}
