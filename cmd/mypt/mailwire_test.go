package main

import (
	"strings"
	"testing"

	"mypt"
	"mypt/adapters/mail"
	"mypt/config"
)

// mail.reply_to decides the emails' Reply-To and, with it, whether the account emails' footer
// invites a reply (exact footer line for each setting).
func TestReplyToAndTheEmailFooter(t *testing.T) {
	t.Parallel()
	const support = "ParentPortalSupport@croydon.example.ac.uk"
	for _, tc := range []struct {
		name, replyTo string
		want          *mail.Address
		footer        string
	}{
		{"default: Parent Portal Support", "", &mail.Address{Name: "Parent Portal Support", Email: support},
			"If you have a question, reply to this email or write to " + support + "."},
		{"another address", "helpdesk@croydon.example.ac.uk", &mail.Address{Email: "helpdesk@croydon.example.ac.uk"},
			"If you have a question, reply to this email or write to " + support + "."},
		{"none", "none", nil,
			"If you have a question, write to " + support + ": replies to this email do not reach us."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg config.Config
			cfg.College = config.CollegeConfig{Name: "Croydon College", SupportEmail: support,
				PublicBaseURL: "https://parentportal.croydon.example.ac.uk"}
			cfg.Mail.ReplyTo = tc.replyTo
			got := replyTo(cfg)
			if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
				t.Errorf("replyTo = %+v, want %+v", got, tc.want)
			}
			m, err := mailSettings(&app{cfg: cfg}).Compose(mypt.EmailUnlocked, "k", mypt.EmailData{ToEmail: "p@example.org"})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(m.Text, "\n"+tc.footer+"\n") {
				t.Errorf("the footer is not %q:\n%s", tc.footer, m.Text)
			}
		})
	}
}
