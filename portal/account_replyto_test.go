package portal

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"mypt"
)

// The emails the account pages queue are written with AccountsOptions.Mail: with NoReplyTo
// (mail.reply_to: none) the footer does not invite a reply.
func TestAccountEmailsFollowNoReplyTo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		noReplyTo bool
		footer    string
	}{
		{"replies go to support", false, "If you have a question, reply to this email or write to ParentPortalSupport@example.ac.uk.\n"},
		{"reply_to none", true, "If you have a question, write to ParentPortalSupport@example.ac.uk: replies to this email do not reach us.\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(o *Options) {
				c := o.College
				o.Accounts.Mail = mypt.MailSettings{CollegeName: c.Name, SupportEmail: c.SupportEmail,
					AttendanceEmail: c.AttendanceEmail, PublicBaseURL: c.PublicBaseURL, NoReplyTo: tc.noReplyTo}
				o.Accounts.Sleep = func(context.Context, time.Duration) {}
			})
			c := h.client()
			form := h.get(c, "/forgot-password")
			if r := h.do(c, "POST", "/forgot-password", url.Values{"csrf_token": {csrfOf(t, form.body)}, "email": {parentEmail}}); r.StatusCode != 200 {
				t.Fatalf("forgot password: %d\n%s", r.StatusCode, r.body)
			}
			due, err := h.store.ClaimDueEmails(context.Background(), h.clock.Now().Add(time.Minute), 10, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if len(due) != 1 {
				t.Fatalf("%d emails queued, want the reset email", len(due))
			}
			if m := due[0]; !strings.HasSuffix(m.Text, "\n"+tc.footer) {
				t.Errorf("the reset email does not end with %q:\n%s", tc.footer, m.Text)
			}
		})
	}
}
