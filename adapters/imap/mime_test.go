package imap

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"mypt"
)

var idPattern = regexp.MustCompile(`[0-9]{8}`)

func readMail(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "mail", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file       string
		from       string
		fromName   string
		subject    string
		key        string
		problem    bool // goes to review as unreadable
		text       string
		ids        []string
		phone      string
		authPass   bool
		autoSubmit bool
	}{
		{file: "valid_unlock.eml", from: "jane.parent@example.org", fromName: "Jane Parent", subject: "Locked out of parent portal",
			key: "mid:valid-unlock-1@example.org", text: "My son's Student ID is 12345678", ids: []string{"12345678"}, phone: "07700 900123", authPass: true},
		// IM-1: exact values.
		{file: "im1_charsets.eml", from: "p@example.org", fromName: "Björn", subject: "Unlock my account – Seán",
			key: "mid:im1@example.org", text: "Please unlock my account – Seán's ID is 12345678.", ids: []string{"12345678"}, authPass: true},
		// DM-3: names exactly as typed, RFC 2047 in headers.
		{file: "dm3_names.eml", from: "siobhan@example.org", fromName: "Siobhán O’Neill-Smith", subject: "Locked out – D'Arcy & José",
			text: "D'Arcy (12345678) and José (23456789)", ids: []string{"12345678", "23456789"}, phone: "01632 960 123", authPass: true},
		{file: "unknown_charset.eml", from: "jane.parent@example.org", problem: true, authPass: true},
		{file: "unknown_charset_subject.eml", from: "jane.parent@example.org", problem: true, authPass: true},
		// DM-1: duplicated boundary parameter, soft line breaks, base64 HTML alternative.
		{file: "dm1_dup_boundary.eml", from: "viktoria@example.org", fromName: "Viktoria C", subject: "unlock",
			text: "Student ID is 12345678 and my number is 07700 900123. Viktória", ids: []string{"12345678"}, phone: "07700 900123", authPass: true},
		// DM-1: unquoted name=Viktoria C, base64 text part, attachment ignored.
		{file: "dm1_unquoted_name.eml", from: "viktoria@example.org", text: "Student ID 12345678. Thank you, Viktória", ids: []string{"12345678"}, authPass: true},
		{file: "outlook_reply.eml", from: "jane.parent@example.org", text: "Yes please unlock it", ids: nil, authPass: true},
		{file: "outlook_reply_with_id.eml", from: "sam.parent@example.org", text: "Student ID 12345678", ids: []string{"12345678"}, phone: "07700 900456", authPass: true},
		{file: "outlook_html_reply.eml", from: "jane.parent@example.org", text: "Please unlock it, thanks", ids: nil, authPass: true},
		{file: "html_only.eml", from: "jane.parent@example.org", fromName: "Jane Parent", text: "Please unlock, Student ID 12345678", ids: []string{"12345678"}, authPass: true},
		{file: "forged.eml", from: "jane.parent@example.org", ids: []string{"12345678"}, authPass: false},
		{file: "forged_inner_header.eml", from: "jane.parent@example.org", ids: []string{"12345678"}, authPass: false},
		{file: "broken_multipart.eml", from: "jane.parent@example.org", problem: true, authPass: true},
		{file: "autoreply.eml", from: "jane.parent@example.org", autoSubmit: true, ids: []string{"12345678"}, authPass: true},
		{file: "no_message_id.eml", from: "jane.parent@example.org", key: "sha256:", ids: []string{"12345678"}, authPass: true},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			m := ParseMessage(readMail(t, tc.file), 0)
			if m.From != tc.from || m.FromCount != 1 {
				t.Errorf("From = %q (%d), want %q", m.From, m.FromCount, tc.from)
			}
			if tc.fromName != "" && m.FromName != tc.fromName {
				t.Errorf("FromName = %q, want %q", m.FromName, tc.fromName)
			}
			if tc.subject != "" && m.Subject != tc.subject {
				t.Errorf("Subject = %q, want %q", m.Subject, tc.subject)
			}
			if tc.key != "" && !strings.HasPrefix(m.Key, tc.key) {
				t.Errorf("Key = %q, want prefix %q", m.Key, tc.key)
			}
			if (m.Problem != "") != tc.problem {
				t.Errorf("Problem = %q, want problem %v", m.Problem, tc.problem)
			}
			if m.AutoSubmitted != tc.autoSubmit {
				t.Errorf("AutoSubmitted = %v", m.AutoSubmitted)
			}
			if tc.problem {
				return
			}
			r := mypt.ParseUnlockRequest(m, idPattern)
			if tc.text != "" && !strings.Contains(r.NewText, tc.text) {
				t.Errorf("NewText = %q, want it to hold %q", r.NewText, tc.text)
			}
			if !reflect.DeepEqual(r.StudentIDs, tc.ids) {
				t.Errorf("StudentIDs = %q, want %q", r.StudentIDs, tc.ids)
			}
			if tc.file == "dm3_names.eml" && r.Name != "Siobhán O’Neill-Smith" {
				t.Errorf("Name = %q", r.Name)
			}
			if r.Phone != tc.phone {
				t.Errorf("Phone = %q, want %q", r.Phone, tc.phone)
			}
			_, domain, _ := strings.Cut(m.From, "@")
			if v := mypt.CheckAuthResults(m.AuthResults, "mx.college.ac.uk", domain, false); v.Pass != tc.authPass {
				t.Errorf("auth pass = %v, want %v (%+v)", v.Pass, tc.authPass, v)
			}
		})
	}
}

func TestParseMessageTooLarge(t *testing.T) {
	t.Parallel()
	raw := readMail(t, "valid_unlock.eml")
	m := ParseMessage(raw, 100)
	if m.Problem == "" || m.From != "jane.parent@example.org" || m.Text != "" {
		t.Fatalf("got %+v", m)
	}
}

func FuzzParseMessage(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "mail", "*.eml"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := ParseMessage(raw, 1<<20)
		if strings.HasPrefix(m.Problem, "decoder panic") {
			t.Fatalf("panic: %s", m.Problem)
		}
		if m.Key == "" {
			t.Fatal("no key")
		}
		_ = mypt.ParseUnlockRequest(m, idPattern)
	})
}
