package syncer_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt"
	"mypt/adapters/mail"
	"mypt/adapters/mail/mailtest"
	"mypt/adapters/sqlite"
	"mypt/syncer"
)

var (
	_ syncer.OutboxStore = (*sqlite.Store)(nil)
	_ syncer.Mailer      = (*mail.Sender)(nil)
)

const outboxDomain = "college.example.ac.uk"

func openCache(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func smtpSender(t *testing.T, srv *mailtest.Server) *mail.Sender {
	t.Helper()
	tr, err := mail.NewSMTP(mail.SMTPOptions{
		Host: srv.Host(), Port: srv.Port(), TLS: mail.TLSStartTLS, Username: "mypt", Password: "pw",
		TLSConfig: srv.TLSConfig(), Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := mail.NewSender(mail.SenderOptions{
		From: mail.Address{Name: "Example College", Email: "noreply@" + outboxDomain}, Transport: tr, Name: "smtp",
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fastOutbox(t *testing.T, store syncer.OutboxStore, m syncer.Mailer, reg prometheus.Registerer, mod func(*syncer.OutboxOptions)) *syncer.Outbox {
	t.Helper()
	o := syncer.OutboxOptions{
		Store: store, Mailer: m, Transport: "smtp", Registerer: reg,
		Interval: 10 * time.Millisecond, BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		SendTimeout: 5 * time.Second, MaxAttempts: 1000,
	}
	if mod != nil {
		mod(&o)
	}
	w, err := syncer.NewOutbox(o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func queue(t *testing.T, s *sqlite.Store, key, to string) {
	t.Helper()
	ctx := context.Background()
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		_, err := s.EnqueueEmailTx(ctx, tx, mypt.OutboxMessage{
			EventKey: key, ToEmail: to, ToName: "Siobhán O’Neill-Smith",
			Subject: "Account update " + key, Text: "Hello " + key, HTML: "<p>Hello " + key + "</p>",
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// runWorker runs w.Run until stop is called, which waits for Run to return.
func runWorker(t *testing.T, w *syncer.Outbox) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitUntil polls cond every 10 ms for at most limit.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pending(t *testing.T, s *sqlite.Store) int {
	t.Helper()
	n, err := s.CountPendingEmails(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func metric(t *testing.T, reg *prometheus.Registry, name, transport string) (float64, bool) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			match := transport == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "transport" && l.GetValue() == transport {
					match = true
				}
			}
			if !match {
				continue
			}
			if m.Counter != nil {
				return m.Counter.GetValue(), true
			}
			return m.Gauge.GetValue(), true
		}
	}
	return 0, false
}

// assertOnce checks that the server holds exactly one copy of each queued email, with the
// row's Message-ID.
func assertOnce(t *testing.T, s *sqlite.Store, srv *mailtest.Server, keys []string) {
	t.Helper()
	got := srv.Messages()
	counts := mailtest.CountByMessageID(got)
	if len(got) != len(keys) {
		t.Fatalf("server received %d messages for %d emails: %v", len(got), len(keys), counts)
	}
	for _, k := range keys {
		m, err := s.FindEmail(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		id := m.MessageID + "@" + outboxDomain
		if counts[id] != 1 {
			t.Errorf("%s (%s) delivered %d times", k, id, counts[id])
		}
		if m.SentAt.IsZero() || m.Transport != "smtp" {
			t.Errorf("%s not recorded as sent: %+v", k, m)
		}
	}
}

func TestOutboxSMTPDownThenBackDeliversEachEmailOnce(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{Username: "mypt", Password: "pw"})
	store := openCache(t, filepath.Join(t.TempDir(), "mypt.db"))
	reg := prometheus.NewRegistry()
	var keys []string
	for i := 0; i < 5; i++ {
		keys = append(keys, fmt.Sprintf("verify:req-%d", i))
		queue(t, store, keys[i], fmt.Sprintf("parent%d@example.org", i))
	}
	srv.Stop() // SMTP is down
	w := fastOutbox(t, store, smtpSender(t, srv), reg, nil)
	stop := runWorker(t, w)

	// Every email fails at least twice while the server is down.
	waitUntil(t, 20*time.Second, "failed attempts while SMTP is down", func() bool {
		for _, k := range keys {
			m, err := store.FindEmail(context.Background(), k)
			if err != nil || m.Attempts < 2 || m.LastError == "" {
				return false
			}
		}
		return true
	})
	keys = append(keys, "approved:req-9") // queued during the outage
	queue(t, store, "approved:req-9", "late@example.org")
	w.Wake()
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages while down", n)
	}
	if failed, _ := metric(t, reg, "mypt_outbox_failed_total", "smtp"); failed < 5 { // each email failed once before its second claim
		t.Fatalf("failed_total %v", failed)
	}

	srv.Restart() // and back
	waitUntil(t, 30*time.Second, "every email delivered", func() bool { return pending(t, store) == 0 })
	stop()

	assertOnce(t, store, srv, keys)
	if sent, _ := metric(t, reg, "mypt_outbox_sent_total", "smtp"); sent != float64(len(keys)) {
		t.Fatalf("sent_total %v", sent)
	}
	if p, ok := metric(t, reg, "mypt_outbox_pending", ""); !ok || p != 0 {
		t.Fatalf("pending gauge %v %v", p, ok)
	}
	for _, m := range srv.Messages() {
		if !m.TLS || m.Authed != "mypt" {
			t.Fatalf("delivered without TLS/auth: %+v", m)
		}
	}
}

// The process is "killed" after the commit and before the send: the store is closed with the
// email queued and a new store and worker start on the same file.
func TestOutboxKilledAfterCommitBeforeSendDeliversOnceAfterRestart(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{Username: "mypt", Password: "pw"})
	path := filepath.Join(t.TempDir(), "mypt.db")

	first, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	queue(t, first, "reset:acct-1:1", "parent@example.org")
	if err := first.Close(); err != nil { // killed: no worker ever ran
		t.Fatal(err)
	}

	second := openCache(t, path)
	if n := pending(t, second); n != 1 {
		t.Fatalf("pending after restart %d", n)
	}
	w := fastOutbox(t, second, smtpSender(t, srv), prometheus.NewRegistry(), nil)
	stop := runWorker(t, w)
	waitUntil(t, 20*time.Second, "delivery after restart", func() bool { return pending(t, second) == 0 })
	// A few more passes find nothing more to send.
	for i := 0; i < 3; i++ {
		if n, err := w.RunOnce(context.Background()); err != nil || n != 0 {
			t.Fatalf("extra pass sent %d (%v)", n, err)
		}
	}
	stop()
	assertOnce(t, second, srv, []string{"reset:acct-1:1"})
}

// Killed after claiming but before sending: the claim's lease runs out and the next process
// delivers it, once, with the same Message-ID.
func TestOutboxKilledAfterClaimIsDeliveredAfterTheLease(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{Username: "mypt", Password: "pw"})
	path := filepath.Join(t.TempDir(), "mypt.db")
	var mu sync.Mutex
	now := time.Now().Add(time.Minute) // after the store stamps the email's creation
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }

	first, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	queue(t, first, "locked:acct-2", "parent@example.org")
	claimed, err := first.ClaimDueEmails(context.Background(), clock(), 10, 5*time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim %v %v", claimed, err)
	}
	first.Close() // killed mid-send, before any byte reached SMTP

	second := openCache(t, path)
	w := fastOutbox(t, second, smtpSender(t, srv), prometheus.NewRegistry(), func(o *syncer.OutboxOptions) {
		o.Now = clock
		o.Lease = 5 * time.Minute
	})
	if n, err := w.RunOnce(context.Background()); err != nil || n != 0 {
		t.Fatalf("sent %d during the lease (%v)", n, err)
	}
	mu.Lock()
	now = now.Add(5 * time.Minute)
	mu.Unlock()
	if n, err := w.RunOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("after the lease sent %d (%v)", n, err)
	}
	assertOnce(t, second, srv, []string{"locked:acct-2"})
	if got := srv.Messages()[0].MessageID; got != claimed[0].MessageID+"@"+outboxDomain {
		t.Fatalf("Message-ID %q, claimed as %q", got, claimed[0].MessageID)
	}
}

// Killed after the server accepted the email but before it was recorded: at-least-once means
// it goes again, and the copy is recognisable: same Message-ID, same bytes.
func TestOutboxResendAfterCrashIsRecognisable(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{Username: "mypt", Password: "pw"})
	path := filepath.Join(t.TempDir(), "mypt.db")
	first, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	queue(t, first, "approved:req-3", "parent@example.org")
	sender := smtpSender(t, srv)
	claimed, err := first.ClaimDueEmails(context.Background(), time.Now(), 1, time.Nanosecond)
	if err != nil || len(claimed) != 1 {
		t.Fatal(claimed, err)
	}
	if err := sender.Deliver(context.Background(), claimed[0]); err != nil {
		t.Fatal(err)
	}
	first.Close() // killed before MarkEmailSent

	second := openCache(t, path)
	w := fastOutbox(t, second, sender, prometheus.NewRegistry(), nil)
	if n, err := w.RunOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("sent %d (%v)", n, err)
	}
	got := srv.Messages()
	if len(got) != 2 || got[0].MessageID != got[1].MessageID || string(got[0].Data) != string(got[1].Data) {
		t.Fatalf("copies differ: %d messages %q %q", len(got), got[0].MessageID, got[len(got)-1].MessageID)
	}
}

func TestOutboxPermanentFailureIsGivenUp(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{Username: "mypt", Password: "pw"})
	srv.RejectRecipient("gone@example.org", 550)
	store := openCache(t, filepath.Join(t.TempDir(), "mypt.db"))
	queue(t, store, "e:gone", "gone@example.org")
	queue(t, store, "e:ok", "ok@example.org")
	reg := prometheus.NewRegistry()
	w := fastOutbox(t, store, smtpSender(t, srv), reg, nil)
	for i := 0; i < 3; i++ {
		if _, err := w.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	gone, _ := store.FindEmail(context.Background(), "e:gone")
	if gone.FailedAt.IsZero() || gone.Attempts != 1 || !strings.Contains(gone.LastError, "permanent") {
		t.Fatalf("rejected email %+v", gone)
	}
	if ok, _ := store.FindEmail(context.Background(), "e:ok"); ok.SentAt.IsZero() {
		t.Fatalf("good email not sent: %+v", ok)
	}
	if f, _ := metric(t, reg, "mypt_outbox_failed_total", "smtp"); f != 1 {
		t.Fatalf("failed_total %v", f)
	}
	if p, _ := metric(t, reg, "mypt_outbox_pending", ""); p != 0 {
		t.Fatalf("pending %v", p)
	}
}

// fakeMailer is a function-field test double for the transport (the cache is real).
type fakeMailer struct {
	deliver func(ctx context.Context, m mypt.OutboxMessage) error
}

func (f fakeMailer) Deliver(ctx context.Context, m mypt.OutboxMessage) error {
	return f.deliver(ctx, m)
}

func TestOutboxGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	store := openCache(t, filepath.Join(t.TempDir(), "mypt.db"))
	queue(t, store, "e:1", "p@example.org")
	var calls int
	m := fakeMailer{func(ctx context.Context, _ mypt.OutboxMessage) error { calls++; return errors.New("421 try later") }}
	w := fastOutbox(t, store, m, nil, func(o *syncer.OutboxOptions) {
		o.MaxAttempts = 3
		o.BackoffMin = time.Nanosecond
		o.BackoffMax = time.Nanosecond
	})
	for i := 0; i < 10; i++ {
		if _, err := w.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	got, _ := store.FindEmail(context.Background(), "e:1")
	if calls != 3 || got.FailedAt.IsZero() || !strings.Contains(got.LastError, "gave up after 3 attempts") {
		t.Fatalf("calls %d, %+v", calls, got)
	}
}

func TestOutboxMetricsStartAtZeroAndSurviveRebuild(t *testing.T) {
	t.Parallel()
	store := openCache(t, filepath.Join(t.TempDir(), "mypt.db"))
	reg := prometheus.NewRegistry()
	m := fakeMailer{func(context.Context, mypt.OutboxMessage) error { return nil }}
	fastOutbox(t, store, m, reg, nil)
	fastOutbox(t, store, m, reg, func(o *syncer.OutboxOptions) { o.Transport = "graph" }) // PM-1: no panic
	for _, name := range []string{"mypt_outbox_sent_total", "mypt_outbox_failed_total"} {
		for _, tr := range syncer.OutboxTransports {
			if v, ok := metric(t, reg, name, tr); !ok || v != 0 {
				t.Errorf("%s{transport=%q} = %v, exported %v", name, tr, v, ok)
			}
		}
	}
	if _, ok := metric(t, reg, "mypt_outbox_pending", ""); !ok {
		t.Error("mypt_outbox_pending not exported")
	}
}

func TestOutboxBackoffGrowsAndIsCapped(t *testing.T) {
	t.Parallel()
	prevMax := time.Duration(0)
	for attempt := 1; attempt <= 30; attempt++ {
		d := syncer.OutboxBackoff(30*time.Second, time.Hour, attempt)
		ceiling := min(30*time.Second<<min(attempt-1, 20), time.Hour)
		if d < ceiling/2 || d > ceiling {
			t.Fatalf("attempt %d: %v not in [%v, %v]", attempt, d, ceiling/2, ceiling)
		}
		if ceiling < prevMax {
			t.Fatalf("ceiling shrank at attempt %d", attempt)
		}
		prevMax = ceiling
	}
}

type retryAfterErr struct{ d time.Duration }

func (e retryAfterErr) Error() string             { return "throttled" }
func (e retryAfterErr) RetryAfter() time.Duration { return e.d }

func TestOutboxHonoursTheServersRetryAfter(t *testing.T) {
	t.Parallel()
	store := openCache(t, filepath.Join(t.TempDir(), "mypt.db"))
	queue(t, store, "e:1", "p@example.org")
	now := time.Now().Add(time.Minute)
	m := fakeMailer{func(context.Context, mypt.OutboxMessage) error { return retryAfterErr{10 * time.Minute} }}
	w := fastOutbox(t, store, m, nil, func(o *syncer.OutboxOptions) { o.Now = func() time.Time { return now } })
	if _, err := w.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := store.FindEmail(context.Background(), "e:1")
	if wait := got.NextAttemptAt.Sub(now); wait != 10*time.Minute {
		t.Fatalf("next attempt in %v", wait)
	}
}

// The demo's file sink: a re-send after a crash replaces the .eml file, so there is one.
func TestOutboxFileSinkResendLeavesOneFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "mail")
	sender, err := mail.New(mail.Options{Transport: "file", FileDir: dir,
		From: mail.Address{Name: "Example College", Email: "noreply@" + outboxDomain}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mypt.db")
	first, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	queue(t, first, "verify:req-1:1", "parent@example.org")
	claimed, err := first.ClaimDueEmails(context.Background(), time.Now(), 1, time.Nanosecond)
	if err != nil || len(claimed) != 1 {
		t.Fatal(claimed, err)
	}
	if err := sender.Deliver(context.Background(), claimed[0]); err != nil {
		t.Fatal(err)
	}
	first.Close() // killed before recording the send
	second := openCache(t, path)
	w := fastOutbox(t, second, sender, nil, func(o *syncer.OutboxOptions) { o.Transport = "file" })
	if n, err := w.RunOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("sent %d (%v)", n, err)
	}
	list, err := sender.Transport().(*mail.FileSink).List(0)
	if err != nil || len(list) != 1 || list[0].MessageID != claimed[0].MessageID+"@"+outboxDomain {
		t.Fatalf("%v %+v", err, list)
	}
}
