package mail_test

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"mypt/adapters/mail"
)

func sampleMessage() *mail.Message {
	return &mail.Message{
		MessageID: mail.MessageID(17, "9f3a2c1b7d4e6a50", "college.example.ac.uk"),
		From:      mail.Address{Name: "Example College", Email: "noreply@college.example.ac.uk"},
		To:        mail.Address{Name: "Siobhán O’Neill-Smith", Email: "siobhan@example.org"},
		Subject:   "Your account for José – approved",
		Text:      "Dear Siobhán,\n\nYour account is ready: https://portal.example.ac.uk/login\n\nExample College\n",
		HTML:      "<p>Dear Siobh&aacute;n,</p><p>Your account is <b>ready</b>.</p>",
		Date:      time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC),
	}
}

func TestRFC2047Names(t *testing.T) {
	t.Parallel()
	raw, err := sampleMessage().Bytes()
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(head), "\r\n") {
		for _, r := range line {
			if r > 127 {
				t.Fatalf("non-ASCII byte in header line %q", line)
			}
		}
	}
	if !bytes.Contains(head, []byte("=?UTF-8?")) && !bytes.Contains(head, []byte("=?utf-8?")) {
		t.Fatalf("no RFC 2047 encoded word in headers:\n%s", head)
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil {
		t.Fatal(err)
	}
	if len(to) != 1 || to[0].Name != "Siobhán O’Neill-Smith" || to[0].Address != "siobhan@example.org" {
		t.Fatalf("To decoded as %+v", to)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subj != "Your account for José – approved" {
		t.Fatalf("Subject decoded as %q (%v)", subj, err)
	}
	if got := msg.Header.Get("Message-Id"); got != "<mypt.17.9f3a2c1b7d4e6a50@college.example.ac.uk>" {
		t.Fatalf("Message-ID = %q", got)
	}
	if got := (mail.Address{Name: "Siobhán O’Neill-Smith", Email: "s@example.org"}).String(); !strings.HasPrefix(got, "=?utf-8?") {
		t.Fatalf("Address.String() = %q", got)
	}
}

func TestMessageHasTextAndHTMLAlternatives(t *testing.T) {
	t.Parallel()
	m := sampleMessage()
	raw, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v)", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types, bodies []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = p // multipart decodes quoted-printable itself
		if p.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			r = quotedprintable.NewReader(p)
		}
		b, _ := io.ReadAll(r)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, ct)
		bodies = append(bodies, string(b))
	}
	if strings.Join(types, ",") != "text/plain,text/html" {
		t.Fatalf("parts %v", types)
	}
	if strings.ReplaceAll(bodies[0], "\r\n", "\n") != m.Text {
		t.Fatalf("text part %q", bodies[0])
	}
	if bodies[1] != m.HTML {
		t.Fatalf("html part %q", bodies[1])
	}
}

func TestMessageBytesAreStable(t *testing.T) {
	t.Parallel()
	a, err := sampleMessage().Bytes()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := sampleMessage().Bytes()
	if !bytes.Equal(a, b) {
		t.Fatal("building the same message twice gave different bytes")
	}
}

func TestMessageValidate(t *testing.T) {
	t.Parallel()
	cases := map[string]func(m *mail.Message){
		"no message id":       func(m *mail.Message) { m.MessageID = "" },
		"message id brackets": func(m *mail.Message) { m.MessageID = "<a@b>" },
		"bad to":              func(m *mail.Message) { m.To.Email = "not an address" },
		"bad from":            func(m *mail.Message) { m.From.Email = "" },
		"header injection":    func(m *mail.Message) { m.Subject = "Hi\r\nBcc: x@example.org" },
		"name injection":      func(m *mail.Message) { m.To.Name = "A\nBcc: x@example.org" },
		"empty text":          func(m *mail.Message) { m.Text = "" },
		"empty subject":       func(m *mail.Message) { m.Subject = " " },
		"no date":             func(m *mail.Message) { m.Date = time.Time{} },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			m := sampleMessage()
			mutate(m)
			err := m.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, mail.ErrPermanent) || !mail.IsPermanent(err) {
				t.Fatalf("error %v is not permanent", err)
			}
		})
	}
	if err := sampleMessage().Validate(); err != nil {
		t.Fatal(err)
	}
}
