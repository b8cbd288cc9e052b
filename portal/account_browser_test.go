package portal

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"mypt"
	"mypt/internal/browsertest"
)

// TestAccountPagesInBrowser opens every account page and staff page in headless Chromium at a
// phone's width and runs axe-core on each: the request form (empty, then with errors), email
// confirmation, student consent, forgot and reset password, and the staff site.
func TestAccountPagesInBrowser(t *testing.T) {
	t.Parallel()
	axe := browsertest.Axe(t)
	h := newHarness(t, func(o *Options) { o.Portal.InsecureCookies = true })
	pub := httptest.NewServer(h.srv.PublicHandler())
	defer pub.Close()
	internal := httptest.NewServer(h.srv.InternalHandler())
	defer internal.Close()
	bg := context.Background()

	// Tokens for the link pages, made as the workflow makes them.
	var verifyTok, consentTok, resetTok string
	req := mypt.StoredAccountRequest{AccountRequest: mypt.AccountRequest{ParentFirstName: "Aoife", ParentLastName: "O’Neill",
		Email: "aoife@example.org", StudentID: seedStudent, StudentFirstNames: "Siobhán", StudentLastName: "D'Arcy-O’Neill",
		StudentDOB: mypt.NewDate(2002, 5, 1), Relationship: "Aunt"}, PasswordHash: "x"}
	id, err := h.store.CreateAccountRequest(bg, req, time.Hour, func(_ int64, tok string) (mypt.OutboxMessage, error) {
		verifyTok = tok
		return mypt.OutboxMessage{EventKey: "b:verify", ToEmail: "aoife@example.org", Subject: "s", Text: "t"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	id2, _ := h.store.CreateAccountRequest(bg, mypt.StoredAccountRequest{AccountRequest: func() mypt.AccountRequest {
		r := req.AccountRequest
		r.Email = "aunt2@example.org"
		return r
	}(), PasswordHash: "x"}, time.Hour, func(int64, string) (mypt.OutboxMessage, error) {
		return mypt.OutboxMessage{EventKey: "b:verify2", ToEmail: "aunt2@example.org", Subject: "s", Text: "t"}, nil
	})
	if _, err := h.store.DecideAccountRequest(bg, id2, nil, mypt.RequestDecision{From: []mypt.RequestState{mypt.RequestUnverified},
		To: mypt.RequestAwaitingConsent, Verified: true, ConsentTTL: time.Hour, Match: &mypt.MatchReport{Outcome: mypt.MatchNeedsConsent,
			Checks: []mypt.MatchCheck{{Name: mypt.CheckRequesterIsContact, Detail: "no contact"}}},
		ConsentEmail: func(tok string) (mypt.OutboxMessage, error) {
			consentTok = tok
			return mypt.OutboxMessage{EventKey: "b:consent", ToEmail: "s@students.example.ac.uk", Subject: "s", Text: "t"}, nil
		}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.IssueResetToken(bg, parentEmail, time.Hour, func(a mypt.Account, tok string) (mypt.OutboxMessage, error) {
		resetTok = tok
		return mypt.OutboxMessage{EventKey: "b:reset", ToEmail: a.Email, Subject: "s", Text: "t"}, nil
	}); err != nil {
		t.Fatal(err)
	}
	hash, _ := HashPassword("Staff-Password-Long-1", cheapArgon)
	if _, err := h.store.CreateStaffUser(bg, "registry@example.ac.uk", "Registry", hash); err != nil {
		t.Fatal(err)
	}

	ctx := browsertest.Start(t, 90*time.Second, chromedp.WindowSize(360, 800))
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(360, 800)); err != nil {
		t.Fatalf("phone viewport: %v", err)
	}
	checkAxe := func(page string) { t.Helper(); checkPhonePage(t, ctx, axe, page) }
	open := func(page, url, wait string) {
		t.Helper()
		browsertest.Run(t, ctx, "open "+page, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(wait)))
		checkAxe(page)
	}

	open("account request", pub.URL+"/account-request", "#parent_first_name")
	browsertest.Run(t, ctx, "submit the empty form", chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(".error-summary")))
	checkAxe("account request with errors")
	open("confirm email", pub.URL+"/verify-email?token="+verifyTok, "button[type=submit]")
	open("student consent", pub.URL+"/student-consent?token="+consentTok, "button[value=agree]")
	open("expired link", pub.URL+"/verify-email?token=nope", "h1")
	open("forgot password", pub.URL+"/forgot-password", "#email")
	browsertest.Run(t, ctx, "ask for a reset", chromedp.SendKeys(chromedp.ID("email"), "someone@example.org"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(".notice")))
	checkAxe("forgot password sent")
	open("reset password", pub.URL+"/reset-password?token="+resetTok, "#password")

	open("staff sign in", internal.URL+"/admin/login", "#email")
	browsertest.Run(t, ctx, "staff signs in", chromedp.SendKeys(chromedp.ID("email"), "registry@example.ac.uk"),
		chromedp.SendKeys(chromedp.ID("password"), "Staff-Password-Long-1"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(".figures")))
	checkAxe("staff home")
	open("staff requests", internal.URL+"/admin/requests", "h1")
	open("staff request", fmt.Sprintf("%s/admin/requests/%d", internal.URL, id2), "h1")
	open("staff unverified request", fmt.Sprintf("%s/admin/requests/%d", internal.URL, id), "h1")
	open("staff accounts", internal.URL+"/admin/accounts?q=example", "h1")
	open("staff account", fmt.Sprintf("%s/admin/accounts/%d", internal.URL, h.parent), "h1")
	open("staff mailbox", internal.URL+"/admin/mailbox", "h1")
	open("staff find a student", internal.URL+"/admin/students?id=nobody", "h1")
	// The internal listener's errors are staff pages: styled by the staff stylesheet (it loads),
	// with a working link back to the staff home.
	for _, p := range []string{"/admin/nope", "/admin/requests?state=bogus", "/admin/audit.csv?from=bad", "/nope"} {
		open("staff error "+p, internal.URL+p, "h1")
		styled, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`[...document.styleSheets].some(s => (s.href || "").endsWith("/admin/static/app.css") && s.cssRules.length > 0)`))
		if err != nil || !styled {
			t.Errorf("staff error %s: the staff stylesheet is not applied (%v)", p, err)
		}
	}
	browsertest.Run(t, ctx, "staff error page links home", chromedp.Click(chromedp.CSS(`main a[href="/admin/"]`)), chromedp.WaitVisible(chromedp.CSS(".figures")))
	open("staff requests, all", internal.URL+"/admin/requests?state=all", "h1")
	// At a desktop width the request page's tables (the request beside the MIS, the contacts with
	// NOK/Verified/PR/Barred) fit without scrolling sideways.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("desktop viewport: %v", err)
	}
	browsertest.Run(t, ctx, "staff request at 1280 px", chromedp.Navigate(fmt.Sprintf("%s/admin/requests/%d", internal.URL, id2)), chromedp.WaitVisible(chromedp.CSS("h1")))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll(".table-scroll")].filter(e => e.scrollWidth > e.clientWidth).length`)); err != nil || n != 0 {
		t.Errorf("staff request at 1280 px: %d tables scroll sideways (%v)", n, err)
	}
}
