package mail

import (
	"context"
	"errors"
	"strings"

	"mypt"
)

// SenderOptions configure a Sender.
type SenderOptions struct {
	From      Address  // the college's sending address and display name
	ReplyTo   *Address // e.g. the Parent Portal Support address; nil for none
	Transport Transport
	// Name is the transport's label ("smtp", "graph", "file"), reported by Name.
	Name string
	// MessageIDDomain completes outbox Message-IDs ("mypt.17.9f3a…" + "@" + domain); default
	// the From address's domain. Keep it fixed: a re-send must carry the same Message-ID.
	MessageIDDomain string
}

// Sender turns outbox rows into messages and hands them to a transport. It is what the outbox
// worker (syncer.Outbox) delivers through.
type Sender struct {
	opts SenderOptions
}

// NewSender checks the options and returns a Sender.
func NewSender(o SenderOptions) (*Sender, error) {
	if o.Transport == nil {
		return nil, errors.New("mail: sender: no transport")
	}
	if !validAddr(o.From.Email) {
		return nil, errors.New("mail: sender: the from address is not an email address")
	}
	if o.ReplyTo != nil && !validAddr(o.ReplyTo.Email) {
		return nil, errors.New("mail: sender: the reply-to address is not an email address")
	}
	if o.MessageIDDomain == "" {
		o.MessageIDDomain = DomainOf(o.From.Email)
	}
	return &Sender{opts: o}, nil
}

// Name is the transport label given in the options.
func (s *Sender) Name() string { return s.opts.Name }

// Message builds the message for an outbox row: its Message-ID, its own creation time as Date.
func (s *Sender) Message(m mypt.OutboxMessage) *Message {
	id := m.MessageID
	if id != "" && !strings.Contains(id, "@") {
		id += "@" + s.opts.MessageIDDomain
	}
	return &Message{
		MessageID: id,
		From:      s.opts.From,
		To:        Address{Name: m.ToName, Email: m.ToEmail},
		ReplyTo:   s.opts.ReplyTo,
		Subject:   m.Subject,
		Text:      m.Text,
		HTML:      m.HTML,
		Date:      m.CreatedAt,
	}
}

// Deliver sends the outbox row m. Errors are *Error values (see Transport).
func (s *Sender) Deliver(ctx context.Context, m mypt.OutboxMessage) error {
	return s.opts.Transport.Send(ctx, s.Message(m))
}
