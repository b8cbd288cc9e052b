package portal

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

var warningRE = regexp.MustCompile(`(?s)<div class="warning" role="alert"><p>(.*?)</p></div>`)

func warningOf(body string) string {
	m := warningRE.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

func TestLockoutAfterThreeWrongPasswords(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.client()
	var warnings []string
	for i := 1; i <= 3; i++ {
		r := h.login(c, "parent.a@EXAMPLE.org", "wrong-password")
		if r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d", i, r.StatusCode)
		}
		warnings = append(warnings, warningOf(r.body))
	}
	if !strings.Contains(warnings[0], "not right") || strings.Contains(warnings[0], "one attempt left") {
		t.Errorf("1st failure: %q", warnings[0])
	}
	if !strings.Contains(warnings[1], "one attempt left") || !strings.Contains(warnings[1], "Forgot your password?") {
		t.Errorf("2nd failure does not warn: %q", warnings[1])
	}
	if !strings.Contains(warnings[2], "locked") || !strings.Contains(warnings[2], "ParentPortalSupport@example.ac.uk") {
		t.Errorf("3rd failure: %q", warnings[2])
	}
	acct, err := h.store.AccountByEmail(context.Background(), parentEmail)
	if err != nil {
		t.Fatal(err)
	}
	if !acct.Locked() || acct.FailedAttempts != 3 {
		t.Errorf("locked %v after %d attempts", acct.Locked(), acct.FailedAttempts)
	}
	// The right password no longer works.
	r := h.login(c, parentEmail, parentPass)
	if r.StatusCode != http.StatusUnauthorized || !strings.Contains(warningOf(r.body), "locked") || h.sessionCookie(c) != "" {
		t.Errorf("right password after lock: status %d, cookie %q", r.StatusCode, h.sessionCookie(c))
	}
	if got := testutil.ToFloat64(h.srv.lockouts); got != 1 {
		t.Errorf("mypt_lockouts_total = %v", got)
	}
	if got := testutil.ToFloat64(h.srv.signins.WithLabelValues(signinLocked)); got != 1 {
		t.Errorf("signins{locked} = %v", got)
	}
	// Unlock (the staff and mailbox path) restores sign-in with a fresh counter.
	if err := h.store.Unlock(context.Background(), acct.ID); err != nil {
		t.Fatal(err)
	}
	if r := h.login(c, parentEmail, parentPass); r.StatusCode != http.StatusSeeOther {
		t.Errorf("after unlock: %d", r.StatusCode)
	}
}

func TestParallelWrongPasswordsLockAtThree(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := h.client()
			form := h.get(c, "/login")
			h.do(c, "POST", "/login", url.Values{"email": {parentEmail}, "password": {"guess"},
				"csrf_token": {csrfOf(t, form.body)}})
		}()
	}
	wg.Wait()
	acct, err := h.store.AccountByEmail(context.Background(), parentEmail)
	if err != nil {
		t.Fatal(err)
	}
	if !acct.Locked() {
		t.Fatal("not locked after 5 parallel wrong passwords")
	}
	if got := testutil.ToFloat64(h.srv.lockouts); got != 1 {
		t.Errorf("locked %v times, want exactly once", got)
	}
	if r := h.login(h.client(), parentEmail, parentPass); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("right password after the parallel lock: %d", r.StatusCode)
	}
}

// TestUnknownEmailLooksTheSame: an email with no account gets the same statuses and messages,
// in the same order, as a real account with wrong passwords.
func TestUnknownEmailLooksTheSame(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	known, unknown := h.client(), h.client()
	for i := 1; i <= 4; i++ {
		a := h.login(known, otherEmail, "wrong")
		b := h.login(unknown, "nobody@example.org", "wrong")
		if a.StatusCode != b.StatusCode || warningOf(a.body) != warningOf(b.body) {
			t.Errorf("attempt %d: known %d %q, unknown %d %q", i, a.StatusCode, warningOf(a.body), b.StatusCode, warningOf(b.body))
		}
		norm := func(s, email string) string {
			return strings.ReplaceAll(csrfValueRE.ReplaceAllString(s, "${1}X"), email, "EMAIL")
		}
		if norm(a.body, otherEmail) != norm(b.body, "nobody@example.org") {
			t.Errorf("attempt %d: pages differ beyond the email typed", i)
		}
	}
	if got := testutil.ToFloat64(h.srv.signins.WithLabelValues(signinFailure)); got < 4 {
		t.Errorf("signins{failure} = %v", got)
	}
}

func TestSessionIDChangesAtLogin(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.signedIn(parentEmail, parentPass)
	first := h.sessionCookie(c)
	u, _ := url.Parse(h.ts.URL)
	// A session cookie planted before sign-in (fixation) is replaced by a new id.
	c3 := h.client()
	c3.Jar.SetCookies(u, []*http.Cookie{{Name: "__Host-mypt_session", Value: "planted-by-attacker", Path: "/", Secure: true}})
	if r := h.login(c3, parentEmail, parentPass); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", r.StatusCode)
	}
	if got := h.sessionCookie(c3); got == "" || got == "planted-by-attacker" || got == first {
		t.Errorf("session id after login %q", got)
	}
	// Each login is its own new session.
	c4 := h.signedIn(parentEmail, parentPass)
	if h.sessionCookie(c4) == first {
		t.Error("two logins share a session id")
	}
	// The cookie is __Host-, Secure, HttpOnly, SameSite=Lax, Path=/ and has no Domain.
	c5 := h.client()
	resp := h.login(c5, parentEmail, parentPass)
	sc := resp.Header.Values("Set-Cookie")
	var session string
	for _, s := range sc {
		if strings.HasPrefix(s, "__Host-mypt_session=") {
			session = s
		}
	}
	for _, want := range []string{"Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(session, want) {
			t.Errorf("session cookie %q lacks %s", session, want)
		}
	}
	if strings.Contains(strings.ToLower(session), "domain=") {
		t.Errorf("session cookie has a Domain: %q", session)
	}
}

func TestLoginFormErrorsAndCSRF(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.client()
	form := h.get(c, "/login")
	r := h.do(c, "POST", "/login", url.Values{"email": {""}, "password": {""}, "csrf_token": {csrfOf(t, form.body)}})
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "There is a problem") ||
		!strings.Contains(r.body, `href="#email"`) || !strings.Contains(r.body, `href="#password"`) {
		t.Errorf("empty form: %d\n%s", r.StatusCode, r.body)
	}
	r = h.do(h.client(), "POST", "/login", url.Values{"email": {parentEmail}, "password": {parentPass}, "csrf_token": {"forged"}})
	if r.StatusCode != http.StatusForbidden {
		t.Errorf("forged token: %d", r.StatusCode)
	}
	// A cross-origin browser post is refused by CrossOriginProtection.
	req, _ := http.NewRequest("POST", h.ts.URL+"/login", strings.NewReader("email=a&password=b"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site post: %d", resp.StatusCode)
	}
	// A body over the limit is refused.
	big := url.Values{"email": {strings.Repeat("a", 70<<10)}, "password": {"x"}, "csrf_token": {csrfOf(t, form.body)}}
	if r := h.do(c, "POST", "/login", big); r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d", r.StatusCode)
	}
	// next= never leaves the site.
	for _, next := range []string{"//evil.example", "https://evil.example", "/\\evil", "/\t/evil.example", "/\n/evil.example", "/\x7f", "", "evil"} {
		if got := safeNext(next); got != "/" {
			t.Errorf("safeNext(%q) = %q", next, got)
		}
	}
	for _, next := range []string{"/", "/students/18100000/attendance?year=2018", "/a%2F%2Fb"} {
		if got := safeNext(next); got != next {
			t.Errorf("safeNext(%q) = %q, want it kept", next, got)
		}
	}
	// The tab trick over HTTP: the sign-in form does not carry it on.
	if r := h.do(c, "GET", "/login?next=%2F%09%2Fevil.example", nil); strings.Contains(r.body, "evil") {
		t.Errorf("GET /login?next=/<tab>/evil.example: the form carries it on")
	}
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *Options) { o.Portal.LoginRatePerMinute = 1; o.Portal.LoginRateBurst = 2 })
	c := h.client()
	var last int
	for i := 0; i < 3; i++ {
		last = h.login(c, "nobody@example.org", "x").StatusCode
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("3rd attempt with burst 2: %d", last)
	}
	if got := testutil.ToFloat64(h.srv.signins.WithLabelValues(signinRateLimited)); got != 1 {
		t.Errorf("signins{rate_limited} = %v", got)
	}
}

// An account locked before this process started (the shadow counter knows nothing of it)
// answers a wrong password as an unknown email does — "not right", not "locked" at the first
// try — so a stranger cannot list locked accounts; the right password is told it is locked.
func TestLockedAccountLooksUnknownToWrongPasswords(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	acct, err := h.store.AccountByEmail(ctx, otherEmail)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := h.store.RecordLoginFailure(ctx, acct.ID, 3); err != nil {
			t.Fatal(err)
		}
	}
	known, unknown := h.client(), h.client()
	for i := 1; i <= 4; i++ {
		a := h.login(known, otherEmail, "wrong")
		b := h.login(unknown, "nobody.else@example.org", "wrong")
		if a.StatusCode != b.StatusCode || warningOf(a.body) != warningOf(b.body) {
			t.Errorf("attempt %d: locked account %d %q, unknown %d %q", i, a.StatusCode, warningOf(a.body), b.StatusCode, warningOf(b.body))
		}
		if i == 1 && strings.Contains(warningOf(a.body), "locked") {
			t.Errorf("a locked account says so at the first wrong password: %q", warningOf(a.body))
		}
	}
	if r := h.login(h.client(), otherEmail, otherPass); r.StatusCode != http.StatusUnauthorized || !strings.Contains(warningOf(r.body), "locked") {
		t.Errorf("right password on a locked account: %d %q", r.StatusCode, warningOf(r.body))
	}
}

// The sign-in limit counts an IPv6 client by its /64, and a flood of addresses never resets it.
func TestLimiterKeysAndEviction(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"192.0.2.7": "192.0.2.7", "2001:db8:1:2:aaaa::1": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::9": "2001:db8:1:2::/64", "::ffff:192.0.2.7": "::ffff:192.0.2.7", "not-an-ip": "not-an-ip"} {
		if got := limiterKey(in); got != want {
			t.Errorf("limiterKey(%q) = %q, want %q", in, got, want)
		}
	}
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	l := newIPLimiter(1, 2, func() time.Time { now = now.Add(time.Millisecond); return now }) // < 1 token refilled in the test
	l.allow("2001:db8::1")
	l.allow("2001:db8::2")
	if l.allow("2001:db8::3") {
		t.Error("a third try from the same /64 passed a burst of 2")
	}
	// The flooder keeps trying from its /64 while it floods from other addresses.
	for i := range 2 * maxLimiterEntries {
		l.allow(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
		if i%100 == 0 && l.allow(fmt.Sprintf("2001:db8::%x", i)) {
			t.Fatalf("the /64 was let through after %d other addresses", i)
		}
	}
	if len(l.buckets) > maxLimiterEntries {
		t.Errorf("%d buckets, more than %d", len(l.buckets), maxLimiterEntries)
	}
}
