package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"mypt"
)

// MailboxScanner watches the support mailbox and calls the handler for each message until ctx
// ends (adapters/imap.Watcher).
type MailboxScanner interface {
	Scan(ctx context.Context, h mypt.MailHandler) error
}

// MailboxStore is the cache as the mailbox loop needs it (adapters/sqlite.Store).
type MailboxStore interface {
	MailCheckpoint(ctx context.Context, folder string) (mypt.MailCheckpoint, error)
	// MailProcessed reports whether a message key already acted, and where it went.
	MailProcessed(ctx context.Context, key string) (mypt.MailDisposition, bool, error)
	// MailSender returns the account facts for an email address and when that address last got
	// an acknowledgement.
	MailSender(ctx context.Context, email string) (mypt.UnlockAccount, time.Time, error)
	// CommitMail commits the outcome (unlock + its email, or review item + acknowledgement),
	// the processed mark and the checkpoint in one transaction.
	CommitMail(ctx context.Context, rec mypt.MailRecord) (mypt.MailOutcome, error)
}

// MailboxOptions configure the mailbox loop.
type MailboxOptions struct {
	Scanner MailboxScanner
	Store   MailboxStore
	// StudentID matches one Student ID (config mailbox.student_id_pattern).
	StudentID *regexp.Regexp
	// AuthServID is the college's own mail server's authserv-id in Authentication-Results.
	AuthServID string
	// AllowSPFDKIM accepts SPF and DKIM both passing and aligned with From when DMARC did not pass.
	AllowSPFDKIM bool
	// ResetURL is the public forgot-password page linked from the "unlocked" email.
	ResetURL string

	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Mailbox is the watch loop: it turns each message into an unlock or a review item.
type Mailbox struct {
	o         MailboxOptions
	mu        sync.Mutex
	failures  map[string]int // message key → consecutive failures (poison-message guard)
	connected prometheus.Gauge
	activity  prometheus.Gauge
	messages  *prometheus.CounterVec
}

// NewMailbox checks the options and registers the mailbox metrics on o.Registerer (a fresh
// registry per Mailbox; building two on one registry is a programming error).
func NewMailbox(o MailboxOptions) (*Mailbox, error) {
	switch {
	case o.Scanner == nil || o.Store == nil:
		return nil, errors.New("syncer: mailbox needs a scanner and a store")
	case o.StudentID == nil:
		return nil, errors.New("syncer: mailbox needs a Student ID pattern")
	case o.AuthServID == "":
		return nil, errors.New("syncer: mailbox needs the college mail server's authserv-id")
	case o.ResetURL == "":
		return nil, errors.New("syncer: mailbox needs the public forgot-password URL")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	f := promauto.With(o.Registerer)
	m := &Mailbox{
		o:        o,
		failures: map[string]int{},
		connected: f.NewGauge(prometheus.GaugeOpts{Name: "mypt_mailbox_connected",
			Help: "1 while the mailbox watcher has the folder selected."}),
		activity: f.NewGauge(prometheus.GaugeOpts{Name: "mypt_mailbox_last_activity_timestamp_seconds",
			Help: "When the mailbox watcher last connected, finished an IDLE or poll round, or handled a message (Unix seconds)."}),
		messages: f.NewCounterVec(prometheus.CounterOpts{Name: "mypt_mailbox_messages_total",
			Help: "Support mailbox messages by outcome."}, []string{"outcome"}),
	}
	for _, oc := range mypt.MailOutcomes {
		m.messages.WithLabelValues(string(oc)) // PM-2: every series exists from the start
	}
	return m, nil
}

// Run watches the mailbox until ctx ends; it returns nil then.
func (m *Mailbox) Run(ctx context.Context) error {
	m.o.Logger.Info("mailbox: starting", "authserv_id", m.o.AuthServID)
	err := m.o.Scanner.Scan(ctx, mailHandler{m})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("syncer: mailbox: %w", err)
	}
	return nil
}

// mailHandler is the mypt.MailHandler the scanner calls.
type mailHandler struct{ m *Mailbox }

func (h mailHandler) MailCheckpoint(ctx context.Context, folder string) (mypt.MailCheckpoint, error) {
	return h.m.o.Store.MailCheckpoint(ctx, folder)
}

func (h mailHandler) MailboxConnected(c bool) {
	if c {
		h.m.connected.Set(1)
		h.m.activity.Set(float64(h.m.o.Now().Unix()))
	} else {
		h.m.connected.Set(0)
	}
}

func (h mailHandler) HandleMail(ctx context.Context, msg mypt.MailMessage) (mypt.MailDisposition, error) {
	disp, outcome, err := h.m.handle(ctx, msg)
	h.m.activity.Set(float64(h.m.o.Now().Unix()))
	if err != nil && ctx.Err() == nil && h.m.failed(msg.Key) >= maxMessageFailures {
		// The same message keeps failing while others may wait behind it: hand it to staff
		// instead, so one bad message never becomes a crash loop (DM-1).
		h.m.o.Logger.Error("mailbox: message keeps failing; sending it to review", "message_key", logKey(msg.Key), "err", err)
		disp, outcome, err = h.m.reviewAfterFailure(ctx, msg, err)
	}
	if err != nil {
		h.m.messages.WithLabelValues(string(mypt.MailError)).Inc()
		return 0, err
	}
	h.m.mu.Lock()
	delete(h.m.failures, msg.Key)
	h.m.mu.Unlock()
	h.m.messages.WithLabelValues(string(outcome)).Inc()
	return disp, nil
}

func (m *Mailbox) handle(ctx context.Context, msg mypt.MailMessage) (mypt.MailDisposition, mypt.MailOutcome, error) {
	log := m.o.Logger.With("message_key", logKey(msg.Key), "uid", msg.UID)
	if disp, found, err := m.o.Store.MailProcessed(ctx, msg.Key); err != nil {
		return 0, "", err
	} else if found {
		log.Info("mailbox: message already handled")
		return disp, mypt.MailDuplicate, nil
	}
	now := m.o.Now()
	req := mypt.ParseUnlockRequest(msg, m.o.StudentID)
	_, domain, _ := strings.Cut(msg.From, "@")
	auth := mypt.CheckAuthResults(msg.AuthResults, m.o.AuthServID, domain, m.o.AllowSPFDKIM)
	facts := mypt.UnlockFacts{Message: msg, Request: req, Auth: auth, Now: now}
	if msg.From != "" && msg.FromCount == 1 {
		acct, lastAck, err := m.o.Store.MailSender(ctx, msg.From)
		if err != nil {
			return 0, "", err
		}
		facts.Account, facts.LastAck = acct, lastAck
	}
	d := mypt.DecideUnlock(facts)
	rec := mypt.MailRecord{Message: msg, Request: req, Auth: auth, Decision: d, Account: facts.Account, At: now}
	if d.Action == mypt.MailUnlock {
		rec.Unlocked = mypt.UnlockedReply(msg.Key, msg.From, m.o.ResetURL)
	}
	if d.Acknowledge {
		rec.Ack = mypt.AcknowledgeReply(msg.Key, msg.From)
	}
	outcome, err := m.o.Store.CommitMail(ctx, rec)
	if err != nil {
		return 0, "", err
	}
	switch outcome {
	case mypt.MailUnlocked:
		log.Info("mailbox: account unlocked by email", "account_id", facts.Account.ID)
		return mypt.MailToProcessed, outcome, nil
	case mypt.MailDuplicate:
		disp, _, err := m.o.Store.MailProcessed(ctx, msg.Key)
		return disp, outcome, err
	default:
		log.Info("mailbox: message needs review", "reason", d.Reason)
		return mypt.MailToReview, outcome, nil
	}
}

// maxMessageFailures is how often one message may fail before it goes to review as it is.
const maxMessageFailures = 3

func (m *Mailbox) failed(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.failures) > 1000 {
		clear(m.failures)
	}
	m.failures[key]++
	return m.failures[key]
}

// reviewAfterFailure records msg as a review item without acting on it.
func (m *Mailbox) reviewAfterFailure(ctx context.Context, msg mypt.MailMessage, cause error) (mypt.MailDisposition, mypt.MailOutcome, error) {
	detail := cause.Error()
	if len(detail) > 200 {
		detail = detail[:200]
	}
	rec := mypt.MailRecord{Message: msg, At: m.o.Now(), Decision: mypt.MailDecision{Action: mypt.MailReview,
		Reason: mypt.ReasonUnparseable + ": could not be handled: " + strings.ToValidUTF8(detail, "?")}}
	outcome, err := m.o.Store.CommitMail(ctx, rec)
	if err != nil {
		return 0, "", err
	}
	if outcome == mypt.MailDuplicate {
		disp, _, err := m.o.Store.MailProcessed(ctx, msg.Key)
		return disp, outcome, err
	}
	return mypt.MailToReview, mypt.MailReviewed, nil
}

// logKey keeps a Message-ID's shape in logs without the sender's domain (personal data).
func logKey(k string) string {
	if i := strings.LastIndexByte(k, '@'); i > 0 {
		return k[:i] + "@…"
	}
	if len(k) > 20 {
		return k[:20] + "…"
	}
	return k
}
