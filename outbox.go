package mypt

import (
	"crypto/sha256"
	"encoding/hex"
	"net/mail"
	"net/url"
	"strings"
	"time"
)

// OutboxMessage is one email in the outbox: queued in the same cache transaction as the change
// that causes it, then delivered at least once by the outbox worker.
//
// The caller fills EventKey, To, Subject and Text (and HTML); the store fills the rest.
// EventKey names the one event the email is for ("verify:req-123:2", "approved:req-123"):
// queueing a second email with the same key does nothing, so an event never mails twice.
type OutboxMessage struct {
	ID int64
	// MessageID is the stable Message-ID (without angle brackets) for this row, given by the
	// store: "mypt.<id>.<random>", completed with "@<domain>" by the mail adapter. A re-send
	// after a crash carries the same Message-ID, so receivers can recognise it.
	MessageID string
	EventKey  string
	ToEmail   string
	ToName    string // any Unicode; RFC 2047-encoded on the wire
	Subject   string
	Text      string // plain-text body (required)
	HTML      string // HTML alternative (optional)

	// Secret is the raw one-time token that Text and HTML carry in a link, if any (set by the
	// store that issued it). The outbox keeps it only while the email may still be delivered:
	// the transaction that records the email sent, given up or expired replaces every link
	// holding it with SecretPlaceholder, and the staff-facing reads never show it.
	Secret string
	// SecretExpiresAt is when the token stops working; an email still pending then is given up
	// (and scrubbed) instead of delivering a dead link. Zero: no expiry known.
	SecretExpiresAt time.Time

	CreatedAt     time.Time
	Attempts      int
	NextAttemptAt time.Time // zero once sent or abandoned
	SentAt        time.Time // zero until delivered
	FailedAt      time.Time // set when delivery was abandoned (permanent failure)
	LastError     string
	Transport     string // smtp | graph | file: the transport of the last attempt
}

// Validate reports the first bad field of a message about to be queued.
func (m OutboxMessage) Validate() error {
	var es FieldErrors
	if strings.TrimSpace(m.EventKey) == "" {
		es.add("event_key", "is required")
	}
	if a, err := mail.ParseAddress(m.ToEmail); err != nil || a.Address != m.ToEmail {
		es.add("to_email", "is not an email address")
	}
	if strings.ContainsAny(m.ToName, "\r\n") {
		es.add("to_name", "contains a line break")
	}
	if strings.TrimSpace(m.Subject) == "" {
		es.add("subject", "is required")
	} else if strings.ContainsAny(m.Subject, "\r\n") {
		es.add("subject", "contains a line break")
	}
	if m.Text == "" {
		es.add("text", "is required")
	}
	if m.Secret != "" && strings.Contains(m.EventKey, m.Secret[:min(len(m.Secret), 8)]) {
		es.add("event_key", "contains the one-time token (name it with SecretKey)")
	}
	return es.err()
}

// SecretPlaceholder replaces a one-time link in an email kept after it was sent.
const SecretPlaceholder = "[link removed after sending]"

// SecretHiddenPlaceholder replaces a one-time link in an email shown before it was sent.
const SecretHiddenPlaceholder = "[link hidden until sent]"

// SecretKey is how an event key names a one-time token: the first 16 hex digits of its
// SHA-256, never the token itself (event keys are kept, readable, as long as the email row).
func SecretKey(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:8])
}

// ScrubSecret returns body with every link (or other run of URL characters) that contains
// secret, or its query-escaped form, replaced by placeholder. An empty secret changes nothing.
func ScrubSecret(body, secret, placeholder string) string {
	if secret == "" {
		return body
	}
	for _, form := range []string{secret, url.QueryEscape(secret)} {
		for {
			i := strings.Index(body, form)
			if i < 0 {
				break
			}
			start, end := i, i+len(form)
			for start > 0 && isLinkByte(body[start-1]) {
				start--
			}
			for end < len(body) && isLinkByte(body[end]) {
				end++
			}
			body = body[:start] + placeholder + body[end:]
		}
	}
	return body
}

// isLinkByte reports whether c may be part of a link as the emails write it: anything but
// white space, quotes and angle brackets (which end a link in text and in an HTML attribute).
func isLinkByte(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '"', '\'', '<', '>', '(', ')', '[', ']':
		return false
	}
	return true
}
