// Package mail sends mypt's outbound email: it turns an outbox row into a MIME message
// (plain text with an HTML alternative, RFC 2047 headers for non-ASCII names) and hands it
// to one of three transports behind the Transport interface: SMTP, Microsoft Graph sendMail,
// or a directory of .eml files (the demo and tests).
package mail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Address is a mailbox: a display name (any Unicode; encoded per RFC 2047 on the wire) and an
// email address.
type Address struct {
	Name  string
	Email string
}

// String renders the address as a header value, RFC 2047-encoding a non-ASCII name.
func (a Address) String() string {
	return (&mail.Address{Name: a.Name, Address: a.Email}).String()
}

// Message is one outbound email. Building it twice from the same fields gives the same bytes
// (the MIME boundary is derived from the Message-ID and the Date is the message's own), so a
// re-send after a crash is byte-for-byte the first send.
type Message struct {
	// MessageID is the Message-ID without angle brackets ("mypt.17.9f3a…@college.ac.uk").
	// It is stable for one outbox row, so receivers and the file sink recognise a re-send.
	MessageID string
	From      Address
	To        Address
	ReplyTo   *Address
	Subject   string
	Text      string // required
	HTML      string // optional alternative
	Date      time.Time
}

// MessageID returns the Message-ID (without angle brackets) for an outbox row: its id and
// random token keep it unique even when a cache is rebuilt and ids start again at 1 (receivers
// such as Gmail silently drop a second message with a Message-ID they have already seen).
// domain is the right-hand side, normally the From address's domain.
func MessageID(outboxID int64, token, domain string) string {
	return fmt.Sprintf("mypt.%d.%s@%s", outboxID, token, domain)
}

// DomainOf returns the part of an email address after the last '@', or "localhost".
func DomainOf(email string) string {
	if i := strings.LastIndexByte(email, '@'); i >= 0 && i < len(email)-1 {
		return email[i+1:]
	}
	return "localhost"
}

// Validate reports the first missing or malformed field; the error wraps ErrPermanent because
// sending the same message again cannot succeed.
func (m *Message) Validate() error {
	switch {
	case m.MessageID == "" || strings.ContainsAny(m.MessageID, "<> \r\n") || !strings.Contains(m.MessageID, "@"):
		return permanentf("bad message id %q", m.MessageID)
	case !validAddr(m.From.Email):
		return permanentf("%s: bad from address", m.MessageID)
	case !validAddr(m.To.Email):
		return permanentf("%s: bad to address", m.MessageID)
	case m.ReplyTo != nil && !validAddr(m.ReplyTo.Email):
		return permanentf("%s: bad reply-to address", m.MessageID)
	case strings.TrimSpace(m.Subject) == "":
		return permanentf("%s: empty subject", m.MessageID)
	case strings.ContainsAny(m.Subject, "\r\n") || strings.ContainsAny(m.From.Name+m.To.Name, "\r\n"):
		return permanentf("%s: line break in a header", m.MessageID)
	case m.Text == "":
		return permanentf("%s: empty text body", m.MessageID)
	case m.Date.IsZero():
		return permanentf("%s: no date", m.MessageID)
	}
	return nil
}

func validAddr(s string) bool {
	if s == "" || strings.ContainsAny(s, "\r\n<> ") {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s
}

// goMail builds the go-mail representation of m.
func (m *Message) goMail() (*gomail.Msg, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(m.MessageID))
	msg := gomail.NewMsg(
		gomail.WithCharset(gomail.CharsetUTF8),
		gomail.WithEncoding(gomail.EncodingQP),
		gomail.WithBoundary("mypt-"+hex.EncodeToString(sum[:12])),
		gomail.WithNoDefaultUserAgent(),
	)
	msg.FromMailAddress(&mail.Address{Name: m.From.Name, Address: m.From.Email})
	msg.ToMailAddress(&mail.Address{Name: m.To.Name, Address: m.To.Email})
	if m.ReplyTo != nil {
		msg.ReplyToMailAddress(&mail.Address{Name: m.ReplyTo.Name, Address: m.ReplyTo.Email})
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.MessageID)
	msg.SetDateWithValue(m.Date)
	// Automated mail: ask autoresponders (out of office) not to answer the college's sender.
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// WriteTo writes m as an RFC 5322 message with CRLF line endings.
func (m *Message) WriteTo(w io.Writer) (int64, error) {
	msg, err := m.goMail()
	if err != nil {
		return 0, err
	}
	n, err := msg.WriteTo(w)
	if err != nil {
		return n, fmt.Errorf("mail: write message %s: %w", m.MessageID, err)
	}
	return n, nil
}

// Bytes returns m as an RFC 5322 message.
func (m *Message) Bytes() ([]byte, error) {
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ErrPermanent marks a failure that sending the same message again will not cure (a rejected
// recipient, a malformed message). Every other transport error is temporary.
var ErrPermanent = errors.New("permanent failure")

// Error is a transport failure. Permanent reports whether a retry can succeed; the outbox
// worker reads it through the Permanent() method, so it need not import this package.
type Error struct {
	Op         string // "smtp: send", "graph: sendMail", …
	permanent  bool
	retryAfter time.Duration
	Err        error
}

// RetryAfter is how long the server asked us to wait (Graph's Retry-After on a final 429 or
// 503), or 0. The outbox worker waits at least this long before the next attempt.
func (e *Error) RetryAfter() time.Duration { return e.retryAfter }

func (e *Error) Error() string {
	kind := "temporary"
	if e.permanent {
		kind = "permanent"
	}
	return fmt.Sprintf("%s (%s): %v", e.Op, kind, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether the same message will fail again however often it is re-sent.
func (e *Error) Permanent() bool { return e.permanent }

// Is makes errors.Is(err, ErrPermanent) true for permanent failures.
func (e *Error) Is(target error) bool { return target == ErrPermanent && e.permanent }

func permanentf(format string, args ...any) error {
	return &Error{Op: "mail: message", permanent: true, Err: fmt.Errorf(format, args...)}
}

func temporary(op string, err error) error { return &Error{Op: op, Err: err} }
func permanent(op string, err error) error { return &Error{Op: op, permanent: true, Err: err} }

// IsPermanent reports whether err is a permanent delivery failure.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }
