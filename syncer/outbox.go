package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt"
)

// OutboxStore is what the outbox worker needs from the cache (adapters/sqlite.Store).
type OutboxStore interface {
	// ClaimDueEmails returns up to limit due emails and makes them due again only after lease.
	ClaimDueEmails(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]mypt.OutboxMessage, error)
	MarkEmailSent(ctx context.Context, id int64, transport string, at time.Time) error
	MarkEmailRetry(ctx context.Context, id int64, transport, lastError string, next time.Time) error
	MarkEmailAbandoned(ctx context.Context, id int64, transport, lastError string, at time.Time) error
	CountPendingEmails(ctx context.Context) (int, error)
	PurgeSentEmails(ctx context.Context, before time.Time) (int64, error)
}

// Mailer delivers one outbox row (adapters/mail.Sender). An error with a Permanent() bool
// method that returns true gives the email up; any other error is retried with backoff, and
// not before the error's RetryAfter() time.Duration when it has one.
type Mailer interface {
	Deliver(ctx context.Context, m mypt.OutboxMessage) error
}

// OutboxTransports are the transport label values the outbox metrics start at 0 (PM-2).
var OutboxTransports = []string{"smtp", "graph", "file"}

// OutboxOptions configure the outbox worker. Store, Mailer and Transport are required.
type OutboxOptions struct {
	Store      OutboxStore
	Mailer     Mailer
	Transport  string // "smtp", "graph" or "file": the metrics label, stored on each row
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time

	Interval    time.Duration // how often due mail is looked for; default 5s
	Batch       int           // most emails per pass; default 100
	SendTimeout time.Duration // per email; default 2m
	// Lease is how long a claimed email stays claimed: if the process dies before recording
	// the outcome, the email is due again after it. Default SendTimeout + 1m.
	Lease       time.Duration
	BackoffMin  time.Duration // wait after the first failure; default 30s
	BackoffMax  time.Duration // longest wait between attempts; default 1h
	MaxAttempts int           // attempts before an email is given up; default 25 (about a day)
	// RetainSent is how long sent emails are kept (for the audit trail: the store has already
	// scrubbed their one-time links); 0 keeps them for ever (config's default is 7 days).
	RetainSent time.Duration
}

// Outbox is the email delivery worker: at-least-once delivery of every queued email, with
// exponential backoff and jitter between attempts. A re-send (after a crash between sending
// and recording it) carries the row's stable Message-ID, so it is recognisable.
type Outbox struct {
	o        OutboxOptions
	log      *slog.Logger
	wake     chan struct{}
	pending  prometheus.Gauge
	sent     *prometheus.CounterVec
	failed   *prometheus.CounterVec
	lastPurg time.Time
}

// NewOutbox checks the options and registers the metrics mypt_outbox_pending,
// mypt_outbox_sent_total{transport} and mypt_outbox_failed_total{transport} (every transport
// at 0). Building a second Outbox on the same registry reuses the metrics rather than panicking.
func NewOutbox(o OutboxOptions) (*Outbox, error) {
	switch {
	case o.Store == nil:
		return nil, errors.New("syncer: outbox: no store")
	case o.Mailer == nil:
		return nil, errors.New("syncer: outbox: no mailer")
	case o.Transport == "":
		return nil, errors.New("syncer: outbox: no transport name")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 2 * time.Minute
	}
	if o.Lease <= 0 {
		o.Lease = o.SendTimeout + time.Minute
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 30 * time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = time.Hour
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = o.BackoffMin
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 25
	}
	w := &Outbox{o: o, log: o.Logger.With("component", "outbox", "transport", o.Transport), wake: make(chan struct{}, 1)}
	w.pending = registerOrReuse(o.Registerer, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mypt_outbox_pending", Help: "Emails queued and neither sent nor given up.",
	}))
	w.sent = registerOrReuse(o.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mypt_outbox_sent_total", Help: "Emails delivered, by transport.",
	}, []string{"transport"}))
	w.failed = registerOrReuse(o.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mypt_outbox_failed_total", Help: "Failed delivery attempts (temporary or permanent), by transport.",
	}, []string{"transport"}))
	for _, t := range append(OutboxTransports, o.Transport) {
		w.sent.WithLabelValues(t)
		w.failed.WithLabelValues(t)
	}
	return w, nil
}

// Wake makes a running worker look for due mail now (after an email is queued) instead of at
// its next tick. It never blocks.
func (w *Outbox) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers due mail every Interval (and on Wake) until ctx ends, then returns nil. A pass
// that fails (the cache unavailable) is logged and retried on the next tick.
func (w *Outbox) Run(ctx context.Context) error {
	t := time.NewTicker(w.o.Interval)
	defer t.Stop()
	for {
		if _, err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
			w.log.Error("outbox pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-w.wake:
		}
	}
}

// RunOnce delivers up to Batch due emails, one at a time, and returns how many were sent.
// It is what Run does on each tick; do not call it while Run is running.
func (w *Outbox) RunOnce(ctx context.Context) (int, error) {
	sent := 0
	var err error
	for i := 0; i < w.o.Batch && ctx.Err() == nil; i++ {
		var ms []mypt.OutboxMessage
		ms, err = w.o.Store.ClaimDueEmails(ctx, w.o.Now(), 1, w.o.Lease)
		if err != nil || len(ms) == 0 {
			break
		}
		if w.deliver(ctx, ms[0]) {
			sent++
		}
	}
	if err == nil {
		w.purge(ctx)
	}
	// Counted even when shutdown has begun, so the gauge ends on the truth.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if n, cerr := w.o.Store.CountPendingEmails(cctx); cerr == nil {
		w.pending.Set(float64(n))
	} else if err == nil {
		err = cerr
	}
	if err != nil {
		return sent, fmt.Errorf("syncer: outbox: %w", err)
	}
	return sent, nil
}

// deliver sends one claimed email and records the outcome; it reports whether it was sent.
func (w *Outbox) deliver(ctx context.Context, m mypt.OutboxMessage) bool {
	sctx, cancel := context.WithTimeout(ctx, w.o.SendTimeout)
	err := w.o.Mailer.Deliver(sctx, m)
	cancel()
	// Record the outcome even when shutdown has begun: an unrecorded delivery is sent again.
	mctx, mcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer mcancel()
	now := w.o.Now()
	log := w.log.With("outbox_id", m.ID, "message_id", m.MessageID, "attempt", m.Attempts)
	if err == nil {
		w.sent.WithLabelValues(w.o.Transport).Inc()
		if merr := w.o.Store.MarkEmailSent(mctx, m.ID, w.o.Transport, now); merr != nil {
			log.Error("email sent but not recorded; it will be sent again with the same Message-ID", "err", merr)
		} else {
			log.Info("email sent")
		}
		return true
	}
	if ctx.Err() != nil { // shutting down: not the email's fault, try again first thing
		if merr := w.o.Store.MarkEmailRetry(mctx, m.ID, w.o.Transport, "interrupted by shutdown: "+err.Error(), now); merr != nil {
			log.Error("record interrupted email", "err", merr)
		}
		return false
	}
	w.failed.WithLabelValues(w.o.Transport).Inc()
	var p interface{ Permanent() bool }
	permanent := errors.As(err, &p) && p.Permanent()
	if permanent || m.Attempts >= w.o.MaxAttempts {
		reason := "permanent failure"
		if !permanent {
			reason = fmt.Sprintf("gave up after %d attempts", m.Attempts)
		}
		if merr := w.o.Store.MarkEmailAbandoned(mctx, m.ID, w.o.Transport, reason+": "+err.Error(), now); merr != nil {
			log.Error("record abandoned email", "err", merr)
		}
		log.Error("email not delivered, given up", "reason", reason, "err", err)
		return false
	}
	wait := OutboxBackoff(w.o.BackoffMin, w.o.BackoffMax, m.Attempts)
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) && ra.RetryAfter() > wait {
		wait = min(ra.RetryAfter(), 24*time.Hour) // the server asked for longer
	}
	next := now.Add(wait)
	if merr := w.o.Store.MarkEmailRetry(mctx, m.ID, w.o.Transport, err.Error(), next); merr != nil {
		log.Error("record failed attempt", "err", merr)
	}
	log.Warn("email not delivered, will retry", "err", err, "next_attempt_at", next)
	return false
}

// purge drops sent emails older than RetainSent, at most once an hour.
func (w *Outbox) purge(ctx context.Context) {
	if w.o.RetainSent <= 0 {
		return
	}
	now := w.o.Now()
	if !w.lastPurg.IsZero() && now.Sub(w.lastPurg) < time.Hour {
		return
	}
	w.lastPurg = now
	if n, err := w.o.Store.PurgeSentEmails(ctx, now.Add(-w.o.RetainSent)); err != nil {
		w.log.Warn("purge sent emails", "err", err)
	} else if n > 0 {
		w.log.Info("purged sent emails", "count", n)
	}
}

// OutboxBackoff is the wait after the attempt-th failed attempt (1-based): min doubled for each
// earlier failure, capped at max, then "equal jitter" (a random point in its upper half) so that
// emails failed together do not retry together.
func OutboxBackoff(minWait, maxWait time.Duration, attempt int) time.Duration {
	d := minWait
	for i := 1; i < attempt && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	if d < 2 {
		return d
	}
	return d/2 + rand.N(d-d/2+1)
}
