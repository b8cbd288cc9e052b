package mypt

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

var testIDPattern = regexp.MustCompile(`[0-9]{8}`)

func TestStripQuoted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"outlook From/Sent block", "Please unlock, ID 11112222\r\n\r\nFrom: Support <support@college.ac.uk>\r\nSent: 01 December 2026 10:00\r\nTo: Jane\r\nSubject: RE: x\r\n\r\nStudent ID 99998888\r\n", "Please unlock, ID 11112222"},
		{"outlook bold From/Sent block", "new text\n\n*From:* Support\n*Sent:* Monday\n\nold 99998888", "new text"},
		{"outlook underscores", "hello\n________________________________\nFrom: A\nSent: B\nold", "hello"},
		{"original message", "mine\n-----Original Message-----\nFrom: x\nold", "mine"},
		{"on wrote one line", "mine\n\nOn Mon, 1 Dec 2026 at 10:00, Support <s@c.ac.uk> wrote:\n> old\n", "mine"},
		{"on wrote wrapped", "mine\nOn Mon, 1 Dec 2026 at 10:00, Support College <s@c.ac.uk>\nwrote:\n\nold text", "mine"},
		{"quote lines dropped", "> quoted 99998888\nmine\n  > also quoted", "mine"},
		{"german", "neu\nAm 01.12.2026 um 10:00 schrieb Support:\nalt", "neu"},
		{"from line without sent is kept", "From: my phone\nplease unlock", "From: my phone\nplease unlock"},
		{"nothing quoted", "just text", "just text"},
		{"bottom posting", "On Mon, 1 Dec 2026, Support <s@c.ac.uk> wrote:\n> Send us the ID 99998888\n\nIt is 12345678", "It is 12345678"},
		{"bottom posting wrapped", "On Mon, 1 Dec 2026, Support College\nwrote:\n> old\nmine", "mine"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := StripQuoted(tc.in); got != tc.want {
				t.Errorf("StripQuoted = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFindStudentIDs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []string
	}{
		{"plain", "Student ID: 12345678", []string{"12345678"}},
		{"hash", "my son's ID is #12345678.", []string{"12345678"}},
		{"grouped by space", "student number 1234 5678 thanks", []string{"12345678"}},
		{"grouped by dash", "ID 1234-5678", []string{"12345678"}},
		{"longer number is not an ID", "ref 123456789", nil},
		{"glued to letters is not an ID", "abc12345678", nil},
		{"two ids", "12345678 and 87654321, 12345678", []string{"12345678", "87654321"}},
		{"none", "please unlock me", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FindStudentIDs(tc.in, testIDPattern); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("FindStudentIDs = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFindPhone(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"call me on 07700 900123 please", "07700 900123"},
		{"mob: 07700900123", "07700900123"},
		{"tel +44 7700 900123", "+44 7700 900123"},
		{"tel +44 (0)7700 900 123.", "+44 (0)7700 900 123"},
		{"home (020) 7946 0000", "(020) 7946 0000"},
		{"0121-496-0000", "0121-496-0000"},
		{"student 12345678", ""},
		{"ref 123456789012345", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, rest := FindPhone(tc.in)
			if got != tc.want {
				t.Errorf("FindPhone(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if got != "" && strings.Contains(rest, got) {
				t.Errorf("rest %q still holds the phone", rest)
			}
		})
	}
}

func TestPhoneNotTakenForID(t *testing.T) {
	t.Parallel()
	r := ParseUnlockRequest(MailMessage{Text: "my number is 07700 900123, my son is 12345678"}, testIDPattern)
	if !reflect.DeepEqual(r.StudentIDs, []string{"12345678"}) || r.Phone != "07700 900123" {
		t.Fatalf("got %+v", r)
	}
}

// DM-3: names stored exactly as typed.
func TestFindName(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"my name is", "Hello, my name is Siobhán O’Neill-Smith and I am locked out", "Siobhán O’Neill-Smith"},
		{"name colon", "Name: D'Arcy Jones\nID 12345678", "D'Arcy Jones"},
		{"sign off", "please unlock 12345678\n\nKind regards,\nJosé García\n07700 900123", "José García"},
		{"thanks", "unlock please\nThanks\n\nMrs Ann Lee", "Ann Lee"},
		{"inline sign-off", "Student ID: 12345678. Thanks, Mary Jones 07700900123", "Mary Jones"},
		{"initial", "Locked out!!! student 12345678\nRegards\nMrs M. Jones", "M. Jones"},
		{"thanks for is not a name", "Thanks for your help\nThank you Support Team", ""},
		{"none", "unlock please", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FindName(tc.in); got != tc.want {
				t.Errorf("FindName = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseUnlockRequestOnlyNewTextCounts(t *testing.T) {
	t.Parallel()
	m := MailMessage{
		Subject:  "RE: Your account",
		FromName: "Björn Example",
		Text: "Please unlock my account.\r\n\r\nFrom: Parent Portal Support <support@college.ac.uk>\r\n" +
			"Sent: 01 December 2026 09:00\r\nTo: Björn\r\nSubject: Account\r\n\r\nWe need the Student ID, e.g. 12345678.\r\n",
	}
	r := ParseUnlockRequest(m, testIDPattern)
	if len(r.StudentIDs) != 0 {
		t.Errorf("IDs from quoted part: %q", r.StudentIDs)
	}
	if r.Name != "Björn Example" {
		t.Errorf("Name = %q, want the From display name", r.Name)
	}
	m.Subject = "Unlock 87654321"
	if r := ParseUnlockRequest(m, testIDPattern); !reflect.DeepEqual(r.StudentIDs, []string{"87654321"}) {
		t.Errorf("ID in subject: %q", r.StudentIDs)
	}
}

func TestHTMLToText(t *testing.T) {
	t.Parallel()
	in := `<html><head><title>x</title><style>p{color:red}</style></head><body>
<p>Please&nbsp;unlock &amp; thanks,<br>ID&nbsp;12345678</p><div>Jane</div>
<div class="gmail_quote">On Mon, Support wrote:<blockquote><p>old 99998888</p></blockquote></div>
<script>alert(1)</script></body></html>`
	got := HTMLToText(in)
	want := "Please unlock & thanks,\nID 12345678\nJane\nOn Mon, Support wrote:\n> old 99998888"
	if got != want {
		t.Errorf("HTMLToText =\n%q\nwant\n%q", got, want)
	}
	r := ParseUnlockRequest(MailMessage{Text: got}, testIDPattern)
	if !reflect.DeepEqual(r.StudentIDs, []string{"12345678"}) {
		t.Errorf("IDs = %q", r.StudentIDs)
	}
	for _, bad := range []string{"<", "<p", "<!--", "<<>>", "</>", "<a href='>'>x"} {
		_ = HTMLToText(bad)
	}
}

func FuzzParseUnlockRequest(f *testing.F) {
	f.Add("Subject", "Please unlock 12345678\n> 99998888\nOn x wrote:\nold", "<p>hi</p>")
	f.Add("Unlock – Seán", "From: a\nSent: b\n", "<blockquote><div>x</blockquote>")
	f.Fuzz(func(t *testing.T, subject, text, htm string) {
		r := ParseUnlockRequest(MailMessage{Subject: subject, Text: text + HTMLToText(htm)}, testIDPattern)
		for _, id := range r.StudentIDs {
			if !testIDPattern.MatchString(id) {
				t.Fatalf("id %q does not match the pattern", id)
			}
		}
		_, _, _ = parseAuthResults(text)
		_ = CheckAuthResults([]string{text, subject}, "mx.college.ac.uk", "example.org", true)
	})
}
