package mypt

import (
	"strings"
	"testing"
	"time"
)

func TestComposeEveryEmail(t *testing.T) {
	s := MailSettings{CollegeName: "Croydon College", PortalName: "My Progress Tracker Parent Portal",
		SupportEmail: "ParentPortalSupport@croydon.example.ac.uk", AttendanceEmail: "attendance@croydon.example.ac.uk",
		PublicBaseURL: "https://portal.example.ac.uk/"}
	for _, k := range EmailKinds {
		t.Run(string(k), func(t *testing.T) {
			m, err := s.Compose(k, "ev:"+string(k), EmailData{ToEmail: "p@example.org", ToName: "Siobhán D'Arcy",
				Token: "tok_123", ExpiresIn: 48 * time.Hour, StudentName: "José O’Neill", ParentName: "Siobhán D'Arcy", Reason: "the student has left the college"})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(m.Text, "Croydon College") || !strings.Contains(m.Text, s.SupportEmail) {
				t.Errorf("text lacks the college's name or contact:\n%s", m.Text)
			}
			if !strings.Contains(m.HTML, "Siobhán D&#39;Arcy") || strings.Contains(m.HTML, "&amp;#39;") {
				t.Errorf("name not escaped exactly once in HTML:\n%s", m.HTML)
			}
			if strings.Contains(m.Text, "&#39;") {
				t.Errorf("text body HTML-escaped")
			}
			for _, field := range strings.Fields(m.Text) {
				if strings.HasPrefix(field, "http") && !strings.HasPrefix(field, "https://portal.example.ac.uk/") {
					t.Errorf("link %q not from the public base URL", field)
				}
			}
			switch k {
			case EmailVerify:
				assertContains(t, m.Text, "https://portal.example.ac.uk/verify-email?token=tok_123", "48 hours")
				// The same email whether or not the address has an account (no enumeration), so it
				// says what confirming does in both cases.
				assertContains(t, m.Text, "If you already have an account with this email address, confirming adds José O’Neill to it and your password does not change")
				assertContains(t, m.HTML, "If you already have an account with this email address, confirming adds José O’Neill to it and your password does not change")
			case EmailApproved:
				for _, body := range []string{m.Text, m.HTML} {
					if strings.Contains(body, "your password is now") || strings.Contains(body, "already had an account") {
						t.Errorf("the new-account email talks about an existing account:\n%s", body)
					}
				}
			case EmailChildAdded:
				if m.Subject != "José O’Neill has been added to your My Progress Tracker Parent Portal account" {
					t.Errorf("subject %q", m.Subject)
				}
				assertContains(t, m.Text, "José O’Neill has been added to your account; sign in with your existing password",
					"Your password has not changed", "https://portal.example.ac.uk/login")
				assertContains(t, m.HTML, "José O’Neill has been added to your account; sign in with your existing password",
					"Your password has not changed", `<a href="https://portal.example.ac.uk/login">`)
			case EmailPasswordReset:
				assertContains(t, m.Text, "https://portal.example.ac.uk/reset-password?token=tok_123")
			case EmailConsentRequest:
				assertContains(t, m.Text, "https://portal.example.ac.uk/student-consent?token=tok_123")
			case EmailRejected:
				for _, leak := range []string{"date of birth is wrong", "José", "tok_123"} {
					if strings.Contains(m.Text, leak) {
						t.Errorf("rejection says %q", leak)
					}
				}
			}
		})
	}
}

func assertContains(t *testing.T, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("missing %q in:\n%s", p, s)
		}
	}
}

// Replies go to support (Reply-To), so no email may tell the parent not to reply; the
// rejection email links to the help topic on creating an account.
func TestEmailsInviteRepliesAndLinkTheAccountHelp(t *testing.T) {
	s := MailSettings{CollegeName: "Croydon College", SupportEmail: "support@croydon.example.ac.uk", PublicBaseURL: "https://portal.example.ac.uk"}
	for kind := range emailTemplates {
		m, err := s.Compose(kind, "k", EmailData{ToEmail: "p@example.org", ToName: "Pat", StudentName: "Sam", ParentName: "Pat", Relation: "Aunt", Token: "tok"})
		if err != nil {
			t.Fatal(err)
		}
		for _, body := range []string{m.Text, m.HTML} {
			if strings.Contains(strings.ToLower(body), "do not reply") || !strings.Contains(body, "reply to this email or write to support@croydon.example.ac.uk") {
				t.Errorf("%s email does not invite replies to support:\n%s", kind, body)
			}
		}
		if kind == EmailRejected && !strings.Contains(m.Text, "https://portal.example.ac.uk/help/creating-an-account") {
			t.Errorf("rejection email lacks the help link:\n%s", m.Text)
		}
	}
}

// The footer invites a reply only when replies reach someone: with mail.reply_to: none the
// emails carry no Reply-To, so a reply would go to the sending (no-reply) address, and the
// footer names only the support address to write to. Exact text, in the text and HTML parts.
func TestEmailFooterFollowsReplyTo(t *testing.T) {
	for _, tc := range []struct {
		name      string
		noReplyTo bool
		text      string // the text part's last lines
		html      string // the HTML part's last paragraph
	}{
		{"replies go to support", false,
			"\n\nCroydon College Parent Portal Support: support@croydon.example.ac.uk\n" +
				"Attendance queries: attendance@croydon.example.ac.uk\n" +
				"If you have a question, reply to this email or write to support@croydon.example.ac.uk.\n",
			"<p>Croydon College Parent Portal Support: support@croydon.example.ac.uk<br>" +
				"Attendance queries: attendance@croydon.example.ac.uk<br>" +
				"If you have a question, reply to this email or write to support@croydon.example.ac.uk.<br></p></body></html>"},
		{"reply_to none", true,
			"\n\nCroydon College Parent Portal Support: support@croydon.example.ac.uk\n" +
				"Attendance queries: attendance@croydon.example.ac.uk\n" +
				"If you have a question, write to support@croydon.example.ac.uk: replies to this email do not reach us.\n",
			"<p>Croydon College Parent Portal Support: support@croydon.example.ac.uk<br>" +
				"Attendance queries: attendance@croydon.example.ac.uk<br>" +
				"If you have a question, write to support@croydon.example.ac.uk: replies to this email do not reach us.<br></p></body></html>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := MailSettings{CollegeName: "Croydon College", SupportEmail: "support@croydon.example.ac.uk",
				AttendanceEmail: "attendance@croydon.example.ac.uk", PublicBaseURL: "https://portal.example.ac.uk", NoReplyTo: tc.noReplyTo}
			for _, kind := range EmailKinds {
				m, err := s.Compose(kind, "k", EmailData{ToEmail: "p@example.org", ToName: "Pat", StudentName: "Sam", ParentName: "Pat", Token: "tok"})
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasSuffix(m.Text, tc.text) {
					t.Errorf("%s text does not end with the footer %q:\n%s", kind, tc.text, m.Text)
				}
				if !strings.HasSuffix(m.HTML, tc.html) {
					t.Errorf("%s HTML does not end with the footer %q:\n%s", kind, tc.html, m.HTML)
				}
				if tc.noReplyTo && strings.Contains(strings.ToLower(m.Text+m.HTML), "reply to this email") {
					t.Errorf("%s email invites a reply that reaches no one:\n%s", kind, m.Text)
				}
			}
		})
	}
}
