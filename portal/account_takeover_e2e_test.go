package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"mypt"
	"mypt/config"
	"mypt/portal"
)

// The pen test's account takeover through the account-request form, over HTTP against the real
// cache and SMTP server: the attacker knows the victim parent's name, email and child and
// submits a request with a password of their own; the verify email goes to the victim, who
// confirms it (or staff approve it). The account must come out exactly as the victim had it:
// their password still signs in, the attacker's does not, their session lives on, the child is
// linked, and the approval email says the child was added and the password did not change.
func TestAccountRequestCannotTakeOverAnExistingAccount(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{config.ApprovalAuto, config.ApprovalManual} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, policy)
			ctx := context.Background()

			// The victim has an account with their first child and is signed in.
			e.request(aoife)
			if policy == config.ApprovalManual {
				e.staffApprove(e.lastRequest("aoife@example.org").ID)
			}
			if m := e.mailTo("aoife@example.org"); !strings.Contains(m.Subject, "account is open") {
				t.Fatalf("first approval email %q", m.Subject)
			}
			victim, code, home := e.signIn("aoife@example.org", aoife.password)
			if code != http.StatusOK || !strings.Contains(home, "S100") {
				t.Fatalf("victim's home %d:\n%s", code, home)
			}
			before, err := e.store.AccountByEmail(ctx, "aoife@example.org")
			if err != nil {
				t.Fatal(err)
			}

			// The attacker asks for the victim's other child, with the victim's details (their
			// names typed differently, which matching allows) and the attacker's password.
			attack := parent{"AOIFE", "O’NEILL-SMITH", "aoife@example.org", "Attacker-Chosen-Walrus-93", "S200", "José", "D'Arcy", "28/02/2011", "Mother"}
			attacker := e.browser(e.public.URL)
			code, _, resp := attacker.post("/account-request", "/account-request", attack.form())
			if code != http.StatusSeeOther || resp.Header.Get("Location") != "/account-request/sent" {
				t.Fatalf("attack request: %d %q", code, resp.Header.Get("Location"))
			}
			_, sentExisting := attacker.get("/account-request/sent")

			// No enumeration: the same answer and the same verify email for an address without
			// an account.
			stranger := parent{"Liam", "O'Neill-Smith", "liam@example.org", "Copper-Meadow-Falcon-19", "S100", "Siobhán Mary", "O'Neill-Smith", "05/04/2009", "Father"}
			other := e.browser(e.public.URL)
			code2, _, resp2 := other.post("/account-request", "/account-request", stranger.form())
			_, sentNew := other.get("/account-request/sent")
			if code2 != code || resp2.Header.Get("Location") != resp.Header.Get("Location") || stripTokens(sentNew) != stripTokens(sentExisting) {
				t.Fatalf("the request form answers differently for an email with an account:\n%s\n---\n%s", sentExisting, sentNew)
			}
			var verify, verifyNew email
			for _, m := range e.mails() {
				switch m.To {
				case "aoife@example.org":
					verify = m
				case "liam@example.org":
					verifyNew = m
				}
			}
			norm := func(m email) string {
				r := strings.NewReplacer("AOIFE O’NEILL-SMITH", "NAME", "Liam O'Neill-Smith", "NAME", "José D'Arcy (Student ID S200)", "CHILD",
					"Siobhán Mary O'Neill-Smith (Student ID S100)", "CHILD", "José D&#39;Arcy (Student ID S200)", "CHILD",
					"Siobhán Mary O&#39;Neill-Smith (Student ID S100)", "CHILD", "AOIFE O&#39;NEILL-SMITH", "NAME", "Liam O&#39;Neill-Smith", "NAME")
				return stripTokens(r.Replace(m.Subject + "\n" + mimeParts(m.Body)))
			}
			if !strings.Contains(norm(verify), "confirming adds CHILD to it") || norm(verify) != norm(verifyNew) {
				t.Fatalf("verify emails differ for an email with an account:\n%s\n---\n%s", norm(verify), norm(verifyNew))
			}
			// The verify email and the confirm page say what confirming does to an existing account.
			if !strings.Contains(verify.Body, "If you already have an account with this email address, confirming adds José D'Arcy (Student ID S200) to it and your password does not change") {
				t.Fatalf("verify email does not say the password stays:\n%s", verify.Body)
			}
			tok := link(t, verify, "/verify-email")
			code, confirm := victim.get("/verify-email?token=" + tok)
			if code != http.StatusOK || !strings.Contains(confirm, "If you already have an account with this email address, confirming adds the student to it and your password does not change") {
				t.Fatalf("confirm page %d does not say the password stays:\n%s", code, confirm)
			}

			// The victim clicks Confirm (in the browser they are signed in with): without the
			// request's password — they do not know the attacker's, and their own is not it —
			// nothing is confirmed.
			for _, pw := range []string{"", aoife.password} {
				code, page, _ := victim.post("/verify-email?token="+tok, "/verify-email", url.Values{"token": {tok}, "password": {pw}})
				if code != http.StatusBadRequest || !strings.Contains(page, "Enter the password you typed on this request") {
					t.Fatalf("confirm with password %q: %d\n%s", pw, code, page)
				}
			}
			if q := e.lastRequest("aoife@example.org"); q.State != mypt.RequestUnverified {
				t.Fatalf("a confirm without the request's password moved the request to %s", q.State)
			}
			if m := e.mails(); len(m) != 0 {
				t.Fatalf("emails after a refused confirm: %+v", m)
			}
			// Defence in depth: even a victim talked into typing the attacker's password only
			// gets the child added to their own account; password, names and sessions stay.
			code, page, _ := victim.post("/verify-email?token="+tok, "/verify-email", url.Values{"token": {tok}, "password": {attack.password}})
			if code != http.StatusOK {
				t.Fatalf("verify POST %d:\n%s", code, page)
			}
			if policy == config.ApprovalManual {
				if !strings.Contains(page, "submitted for approval") {
					t.Fatalf("confirmation page:\n%s", page)
				}
				// Staff (only) see that the email has an account and what approving does to it.
				q := e.lastRequest("aoife@example.org")
				if _, detail := e.staff().get(fmt.Sprintf("/admin/requests/%d", q.ID)); !strings.Contains(detail, "This email already has an account") ||
					!strings.Contains(detail, "password and names do not change") {
					t.Fatalf("staff request page does not say the email has an account:\n%s", detail)
				}
				e.staffApprove(q.ID)
			} else if !strings.Contains(page, "José D&#39;Arcy has been added to your account") || !strings.Contains(page, "Sign in with your existing password") {
				t.Fatalf("confirmation page:\n%s", page)
			}

			// The approval email is the "added to your account" variant; no other email went out.
			var got []email
			for _, m := range e.mails() {
				if m.To == "aoife@example.org" {
					got = append(got, m)
				}
			}
			if len(got) != 1 {
				t.Fatalf("%d emails to the victim after the approval, want 1: %+v", len(got), got)
			}
			added := got[0]
			if added.Subject != "José D'Arcy has been added to your Croydon College Parent Portal account" ||
				!strings.Contains(added.Body, "José D'Arcy has been added to your account; sign in with your existing password") ||
				!strings.Contains(added.Body, "José D&#39;Arcy has been added to your account; sign in with your existing password") ||
				strings.Contains(added.Body, "account is open") || strings.Contains(added.Body, "password is now") {
				t.Fatalf("approval email %q:\n%s", added.Subject, added.Body)
			}

			// The victim's password still signs in; the attacker's does not.
			if _, code, home := e.signIn("aoife@example.org", aoife.password); code != http.StatusOK || !strings.Contains(home, "S100") || !strings.Contains(home, "S200") {
				t.Fatalf("victim's password after the attack: %d\n%s", code, home)
			}
			if _, code, _ := e.signIn("aoife@example.org", attack.password); code == http.StatusOK {
				t.Fatal("the attacker's password signs in to the victim's account")
			}
			// The victim's session is still theirs (and shows the child added).
			if code, home := victim.get("/"); code != http.StatusOK || !strings.Contains(home, "S100") || !strings.Contains(home, "S200") {
				t.Fatalf("victim's session after the attack: %d\n%s", code, home)
			}
			after, _ := e.store.AccountByEmail(ctx, "aoife@example.org")
			if after.ID != before.ID || after.PasswordHash != before.PasswordHash || after.FirstName != before.FirstName ||
				after.LastName != before.LastName || !after.PasswordChangedAt.Equal(before.PasswordChangedAt) {
				t.Fatalf("account changed:\nbefore %+v\nafter  %+v", before, after)
			}
			links, _ := e.store.LinkedStudents(ctx, after.ID)
			var linked []string
			for _, l := range links {
				if l.Status == mypt.LinkApproved {
					linked = append(linked, l.StudentID)
				}
			}
			if strings.Join(linked, ",") != "S100,S200" {
				t.Fatalf("approved links %v, want S100,S200", linked)
			}
			q := e.lastRequest("aoife@example.org")
			if q.StudentID != "S200" || q.State != mypt.RequestApproved || q.AccountID != after.ID || q.PasswordHash != "" {
				t.Fatalf("attack request after approval: %+v", q)
			}
		})
	}
}

// mimeParts is the content of each part of a multipart message, without headers (which carry
// message ids and boundaries that differ from one email to the next).
func mimeParts(raw string) string {
	var out []string
	for _, part := range regexp.MustCompile(`--mypt-[0-9a-f]+`).Split(raw, -1)[1:] {
		if _, body, ok := strings.Cut(strings.ReplaceAll(part, "\r\n", "\n"), "\n\n"); ok {
			out = append(out, body)
		}
	}
	return strings.Join(out, "\n--\n")
}

var tokenishRE = regexp.MustCompile(`(value="|token=)[A-Za-z0-9_%=+/-]+`)

// stripTokens blanks CSRF and link tokens, so two pages or emails can be compared.
func stripTokens(s string) string { return tokenishRE.ReplaceAllString(s, "${1}TOKEN") }

// staffApprove approves request id on the staff site, as registry staff.
func (e *env) staffApprove(id int64) {
	e.t.Helper()
	staff := e.staff()
	reqPath := fmt.Sprintf("/admin/requests/%d", id)
	if code, body, _ := staff.post(reqPath, reqPath+"/approve", url.Values{"reason": {"checked"}}); code != http.StatusSeeOther {
		e.t.Fatalf("staff approve %d: %d\n%s", id, code, body)
	}
}

// A sign-in with a hash of another cost stores the same password at the configured cost (over
// the hash it verified only, see sqlite's SetPasswordHash), and the password still signs in.
func TestSignInRehashesOverTheVerifiedHash(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	ctx := context.Background()
	const pw = "Harbour-Lantern-Quill-58"
	old, err := portal.HashPassword(pw, portal.Argon2Params{MemoryKiB: 2048, Iterations: 1, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateAccount(ctx, mypt.Account{Email: "rehash@example.org", FirstName: "Re", LastName: "Hash", PasswordHash: old}); err != nil {
		t.Fatal(err)
	}
	if _, code, _ := e.signIn("rehash@example.org", pw); code != http.StatusOK {
		t.Fatalf("sign-in %d", code)
	}
	a, _ := e.store.AccountByEmail(ctx, "rehash@example.org")
	if a.PasswordHash == old || portal.NeedsRehash(a.PasswordHash, portal.Argon2Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1}) {
		t.Fatalf("not re-hashed at the configured cost: %q", a.PasswordHash)
	}
	if _, code, _ := e.signIn("rehash@example.org", pw); code != http.StatusOK {
		t.Fatalf("sign-in after the re-hash %d", code)
	}
}
