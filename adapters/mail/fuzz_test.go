package mail

import (
	"testing"
	"time"
)

// Retry-After comes from the server: any value must give a wait in [0, 24h] or none.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"2", "0", "-1", "120", "Wed, 21 Oct 2015 07:28:00 GMT", "", " 5 ", "1e9", "99999999999999999999"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseRetryAfter(s, now)
		if ok && (d < 0 || d > 24*time.Hour) {
			t.Fatalf("%q: %v", s, d)
		}
	})
}

// .eml files listed on the staff page may be anything someone dropped in the directory.
func FuzzParseEML(f *testing.F) {
	f.Add([]byte("Subject: =?utf-8?q?Siobh=C3=A1n?=\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n"))
	f.Add([]byte("Content-Type: multipart/alternative; boundary=\"b1\"; boundary=\"b1\"\r\n\r\n--b1\r\n\r\nx\r\n"))
	f.Add([]byte("To: a@b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=E2=80=99=\r\nend"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, _ = parseEML(raw)
	})
}
