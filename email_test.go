package mypt

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func testSender() EmailSender {
	return EmailSender{
		CollegeName: "Example College", SupportEmail: "ParentPortalSupport@college.example.ac.uk",
		AttendanceEmail: "attendance@college.example.ac.uk", PublicBaseURL: "https://parents.college.example.ac.uk/",
	}
}

func TestBuildEmailEveryKind(t *testing.T) {
	t.Parallel()
	for _, kind := range EmailKinds {
		t.Run(string(kind), func(t *testing.T) {
			m, err := BuildEmail(testSender(), Email{
				Kind: kind, EventKey: string(kind) + ":1", ToEmail: "siobhan@example.org", ToName: "Siobhán O’Neill-Smith",
				Greeting: "Siobhán", StudentName: "José", StudentID: "S123456", RequesterName: "Siobhán O’Neill-Smith",
				Relationship: "Mother", LinkPath: "/verify-email?token=abc123", Expires: 48 * time.Hour,
				At: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC),
			})
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject == "" || strings.ContainsAny(m.Subject, "\r\n") || m.EventKey != string(kind)+":1" {
				t.Fatalf("subject %q", m.Subject)
			}
			for _, body := range []string{m.Text, m.HTML} {
				if !strings.Contains(body, "Example College") || !strings.Contains(body, "ParentPortalSupport@college.example.ac.uk") {
					t.Errorf("body lacks the college's name or contact:\n%s", body)
				}
				if strings.Contains(body, "<no value>") {
					t.Errorf("template hole:\n%s", body)
				}
			}
			if !strings.HasPrefix(m.Text, "Dear Siobhán,") {
				t.Errorf("text starts %q", m.Text[:20])
			}
			if strings.Contains(m.Text, "&#") || strings.Contains(m.Text, "&amp;") {
				t.Errorf("text is HTML-escaped:\n%s", m.Text)
			}
			if emailTemplates[kind].needsLink {
				link := "https://parents.college.example.ac.uk/verify-email?token=abc123"
				if !strings.Contains(m.Text, link) || !strings.Contains(m.HTML, `href="`+link+`"`) {
					t.Errorf("link missing:\n%s\n%s", m.Text, m.HTML)
				}
				if !strings.Contains(m.Text, "48 hours") {
					t.Errorf("expiry missing:\n%s", m.Text)
				}
			}
		})
	}
}

// DM-3: names exactly as typed in text, escaped exactly once in HTML.
func TestBuildEmailNamesEscapedOnce(t *testing.T) {
	t.Parallel()
	m, err := BuildEmail(testSender(), Email{Kind: EmailAccessEnded, EventKey: "k", ToEmail: "p@example.org",
		Greeting: "D'Arcy", StudentName: `José <b>&</b> O’Neill`})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "Dear D'Arcy,") || !strings.Contains(m.Text, `José <b>&</b> O’Neill's records`) {
		t.Fatalf("text:\n%s", m.Text)
	}
	if !strings.Contains(m.HTML, "Dear D&#39;Arcy,") || !strings.Contains(m.HTML, "José &lt;b&gt;&amp;&lt;/b&gt; O’Neill") {
		t.Fatalf("html:\n%s", m.HTML)
	}
	if strings.Contains(m.HTML, "&amp;#39;") || strings.Contains(m.HTML, "&amp;lt;") || strings.Contains(m.HTML, "<b>&") {
		t.Fatalf("html escaped twice or not at all:\n%s", m.HTML)
	}
	if m.Subject != `Your access to José <b>&</b> O’Neill's records has ended` {
		t.Fatalf("subject %q", m.Subject)
	}
}

func TestBuildEmailAccessEndedAndRejectedSayNoReason(t *testing.T) {
	t.Parallel()
	for _, kind := range []EmailKind{EmailAccessEnded, EmailRejected} {
		m, err := BuildEmail(testSender(), Email{Kind: kind, EventKey: "k", ToEmail: "p@example.org", StudentName: "José"})
		if err != nil {
			t.Fatal(err)
		}
		for _, word := range []string{"barred", "court", "date of birth did not", "name did not", "S123"} {
			if strings.Contains(strings.ToLower(m.Text), word) {
				t.Errorf("%s mentions %q:\n%s", kind, word, m.Text)
			}
		}
	}
}

func TestBuildEmailLinksOnlyFromPublicBaseURL(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"https://evil.example/x", "//evil.example/x", "", "verify-email?token=x"} {
		_, err := BuildEmail(testSender(), Email{Kind: EmailPasswordReset, EventKey: "k", ToEmail: "p@example.org", LinkPath: path})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("link path %q: %v", path, err)
		}
	}
	s := testSender()
	s.PublicBaseURL = ""
	if _, err := BuildEmail(s, Email{Kind: EmailVerify, EventKey: "k", ToEmail: "p@example.org", LinkPath: "/verify-email?token=x"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("no base URL: %v", err)
	}
	if _, err := BuildEmail(testSender(), Email{Kind: "nope", EventKey: "k", ToEmail: "p@example.org"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := BuildEmail(testSender(), Email{Kind: EmailApproved, EventKey: "k", ToEmail: "p@example.org"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("approved without a student: %v", err)
	}
}

func TestBuildEmailTimesInLocation(t *testing.T) {
	t.Parallel()
	loc := time.FixedZone("BST", 3600)
	s := testSender()
	s.Location = loc
	m, err := BuildEmail(s, Email{Kind: EmailPasswordChanged, EventKey: "k", ToEmail: "p@example.org",
		At: time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "Wednesday 1 July 2026 at 09:00") {
		t.Fatalf("%s", m.Text)
	}
}
