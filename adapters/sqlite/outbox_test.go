package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"mypt"
	"mypt/adapters/sqlite"
)

type outboxClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *outboxClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *outboxClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func openOutboxStore(t *testing.T) (*sqlite.Store, *outboxClock) {
	t.Helper()
	clock := &outboxClock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mypt.db"), sqlite.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clock
}

func email(key string) mypt.OutboxMessage {
	return mypt.OutboxMessage{
		EventKey: key, ToEmail: "siobhan@example.org", ToName: "Siobhán O’Neill-Smith",
		Subject: "Please verify your email", Text: "Follow the link.", HTML: "<p>Follow the link.</p>",
	}
}

func TestOutboxEnqueueCommitsWithTheCallersTransaction(t *testing.T) {
	t.Parallel()
	s, clock := openOutboxStore(t)
	ctx := context.Background()
	boom := errors.New("state change failed")
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.EnqueueEmailTx(ctx, tx, email("verify:1")); err != nil {
			return err
		}
		return boom // the state change fails after the email was queued
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := s.FindEmail(ctx, "verify:1"); !errors.Is(err, mypt.ErrNotFound) {
		t.Fatalf("rolled-back email is there: %v", err)
	}
	var id int64
	err = s.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, actor, action) VALUES (?, 'system', 'test')`,
			sqlite.FormatTime(clock.Now())); err != nil {
			return err
		}
		id, err = s.EnqueueEmailTx(ctx, tx, email("verify:1"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.FindEmail(ctx, "verify:1")
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != id || !regexp.MustCompile(fmt.Sprintf(`^mypt\.%d\.[0-9a-f]{16}$`, id)).MatchString(m.MessageID) {
		t.Fatalf("id %d message id %q", m.ID, m.MessageID)
	}
	if m.ToName != "Siobhán O’Neill-Smith" || m.HTML != "<p>Follow the link.</p>" || !m.CreatedAt.Equal(clock.Now()) ||
		!m.NextAttemptAt.Equal(clock.Now()) || m.Attempts != 0 || !m.SentAt.IsZero() {
		t.Fatalf("stored %+v", m)
	}
	if n, _ := s.CountPendingEmails(ctx); n != 1 {
		t.Fatalf("pending %d", n)
	}
}

func TestOutboxOneEmailPerEvent(t *testing.T) {
	t.Parallel()
	s, _ := openOutboxStore(t)
	ctx := context.Background()
	a, err := s.EnqueueEmail(ctx, email("approved:req-7"))
	if err != nil {
		t.Fatal(err)
	}
	again := email("approved:req-7")
	again.Subject = "Something else"
	b, err := s.EnqueueEmail(ctx, again)
	if err != nil || a != b {
		t.Fatalf("second enqueue: id %d (first %d), %v", b, a, err)
	}
	if n, _ := s.CountPendingEmails(ctx); n != 1 {
		t.Fatalf("pending %d", n)
	}
	c, err := s.EnqueueEmail(ctx, email("approved:req-8"))
	if err != nil || c == a {
		t.Fatalf("other event: %d %v", c, err)
	}
	ma, _ := s.FindEmail(ctx, "approved:req-7")
	mc, _ := s.FindEmail(ctx, "approved:req-8")
	if ma.MessageID == mc.MessageID || ma.Subject != "Please verify your email" {
		t.Fatalf("%+v %+v", ma, mc)
	}
}

func TestOutboxRefusesInvalidEmail(t *testing.T) {
	t.Parallel()
	s, _ := openOutboxStore(t)
	for name, m := range map[string]mypt.OutboxMessage{
		"no key":       func() mypt.OutboxMessage { m := email(""); return m }(),
		"bad address":  func() mypt.OutboxMessage { m := email("k1"); m.ToEmail = "nope"; return m }(),
		"no text":      func() mypt.OutboxMessage { m := email("k2"); m.Text = ""; return m }(),
		"header break": func() mypt.OutboxMessage { m := email("k3"); m.Subject = "a\r\nBcc: x@y.z"; return m }(),
	} {
		if _, err := s.EnqueueEmail(context.Background(), m); !errors.Is(err, mypt.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestOutboxClaimLeaseRetryAndSent(t *testing.T) {
	t.Parallel()
	s, clock := openOutboxStore(t)
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		if _, err := s.EnqueueEmail(ctx, email(fmt.Sprintf("e:%d", i))); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
	}
	now := clock.Now()
	got, err := s.ClaimDueEmails(ctx, now, 2, 5*time.Minute)
	if err != nil || len(got) != 2 || got[0].EventKey != "e:1" || got[1].EventKey != "e:2" || got[0].Attempts != 1 {
		t.Fatalf("claim: %v %+v", err, got)
	}
	// Claimed rows are leased: a second claim sees only the third.
	got2, _ := s.ClaimDueEmails(ctx, now, 10, 5*time.Minute)
	if len(got2) != 1 || got2[0].EventKey != "e:3" {
		t.Fatalf("second claim %+v", got2)
	}
	if err := s.MarkEmailSent(ctx, got[0].ID, "smtp", now); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkEmailRetry(ctx, got[1].ID, "smtp", "dial tcp: connection refused", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A late failure report does not undo a delivery.
	if err := s.MarkEmailRetry(ctx, got[0].ID, "smtp", "late", now); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.FindEmail(ctx, "e:1"); m.SentAt.IsZero() || m.LastError != "" || m.Transport != "smtp" {
		t.Fatalf("sent row changed: %+v", m)
	}
	if n, _ := s.CountPendingEmails(ctx); n != 2 {
		t.Fatalf("pending %d", n)
	}
	// Not yet due.
	if got, _ := s.ClaimDueEmails(ctx, now.Add(30*time.Second), 10, 5*time.Minute); len(got) != 0 {
		t.Fatalf("claimed before due: %+v", got)
	}
	got3, _ := s.ClaimDueEmails(ctx, now.Add(time.Minute), 10, 5*time.Minute)
	if len(got3) != 1 || got3[0].EventKey != "e:2" || got3[0].Attempts != 2 || got3[0].LastError != "dial tcp: connection refused" {
		t.Fatalf("retry claim %+v", got3)
	}
	// The third was claimed and never marked (a crash): due again once its lease ends.
	got4, _ := s.ClaimDueEmails(ctx, now.Add(5*time.Minute), 10, 5*time.Minute)
	if len(got4) != 1 || got4[0].EventKey != "e:3" || got4[0].Attempts != 2 || got4[0].MessageID != got2[0].MessageID {
		t.Fatalf("after lease %+v", got4)
	}
	if err := s.MarkEmailAbandoned(ctx, got4[0].ID, "smtp", "550 no such user", now); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.FindEmail(ctx, "e:3"); m.FailedAt.IsZero() || !m.NextAttemptAt.IsZero() || m.LastError != "550 no such user" {
		t.Fatalf("abandoned %+v", m)
	}
	if n, _ := s.CountPendingEmails(ctx); n != 1 {
		t.Fatalf("pending %d", n)
	}
	if err := s.MarkEmailSent(ctx, 9999, "smtp", now); !errors.Is(err, mypt.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	list, err := s.ListEmails(ctx, 10)
	if err != nil || len(list) != 3 || list[0].EventKey != "e:3" {
		t.Fatalf("list %v %+v", err, list)
	}
	n, err := s.PurgeSentEmails(ctx, now.Add(time.Second))
	if err != nil || n != 1 {
		t.Fatalf("purge %d %v", n, err)
	}
	if _, err := s.FindEmail(ctx, "e:1"); !errors.Is(err, mypt.ErrNotFound) {
		t.Fatalf("purged email still there: %v", err)
	}
}
