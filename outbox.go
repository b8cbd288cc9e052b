package mypt

import (
	"net/mail"
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
	return es.err()
}
