package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"mypt"
	"mypt/adapters/sqlite"
)

func openMailboxStore(t *testing.T, now func() time.Time) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mypt.db"), sqlite.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// addLockedAccount writes an account the way the accounts area does (core schema 0002).
func addLockedAccount(t *testing.T, s *sqlite.Store, email string, locked bool, students ...string) int64 {
	t.Helper()
	var id int64
	err := s.WithTx(context.Background(), func(tx *sql.Tx) error {
		var lockedAt any
		if locked {
			lockedAt = sqlite.FormatTime(time.Now())
		}
		err := tx.QueryRow(`INSERT INTO account (email, first_name, last_name, password_hash, failed_attempts, locked_at,
			lock_reason, created_at, password_changed_at) VALUES (?, 'Jane', 'Parent', 'x', 3, ?, 'failed_attempts', ?, ?) RETURNING account_id`,
			email, lockedAt, sqlite.FormatTime(time.Now()), sqlite.FormatTime(time.Now())).Scan(&id)
		if err != nil {
			return err
		}
		for _, st := range students {
			if _, err := tx.Exec(`INSERT INTO account_student (account_id, student_id, status, approved_at, approved_by)
				VALUES (?, ?, 'approved', ?, 'auto')`, id, st, sqlite.FormatTime(time.Now())); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mailboxOutboxCount(t *testing.T, s *sqlite.Store, to string) int {
	t.Helper()
	var n int
	if err := s.ReadDB().QueryRow(`SELECT COUNT(*) FROM outbox WHERE recipient = ?`, to).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMailboxCommitUnlockOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	s := openMailboxStore(t, func() time.Time { return now })
	addLockedAccount(t, s, "jane@example.org", true, "12345678")

	acct, lastAck, err := s.MailSender(ctx, "Jane@Example.org")
	if err != nil || !acct.Found || !acct.Locked || len(acct.LinkedStudentIDs) != 1 || !lastAck.IsZero() {
		t.Fatalf("MailSender = %+v %v %v", acct, lastAck, err)
	}
	msg := mypt.MailMessage{Key: "mid:a@example.org", Mailbox: "INBOX", UIDValidity: 7, UID: 3, From: "jane@example.org", FromCount: 1}
	rec := mypt.MailRecord{Message: msg, Account: acct, Request: mypt.UnlockRequest{StudentIDs: []string{"12345678"}},
		Decision: mypt.MailDecision{Action: mypt.MailUnlock},
		Unlocked: mypt.UnlockedReply(msg.Key, msg.From, "https://portal.example/forgot-password")}
	if o, err := s.CommitMail(ctx, rec); err != nil || o != mypt.MailUnlocked {
		t.Fatalf("CommitMail = %v, %v", o, err)
	}
	if o, err := s.CommitMail(ctx, rec); err != nil || o != mypt.MailDuplicate {
		t.Fatalf("second CommitMail = %v, %v", o, err)
	}
	if n := mailboxOutboxCount(t, s, "jane@example.org"); n != 1 {
		t.Fatalf("outbox has %d emails, want 1", n)
	}
	acct, _, _ = s.MailSender(ctx, "jane@example.org")
	if acct.Locked || !acct.LastAutoUnlock.Equal(now) {
		t.Fatalf("after unlock: %+v", acct)
	}
	cp, err := s.MailCheckpoint(ctx, "INBOX")
	if err != nil || cp != (mypt.MailCheckpoint{UIDValidity: 7, LastUID: 3}) {
		t.Fatalf("checkpoint = %+v, %v", cp, err)
	}
	if d, found, err := s.MailProcessed(ctx, msg.Key); err != nil || !found || d != mypt.MailToProcessed {
		t.Fatalf("MailProcessed = %v %v %v", d, found, err)
	}
}

func TestMailboxCommitUnlockOfUnlockedAccountBecomesReview(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openMailboxStore(t, nil)
	id := addLockedAccount(t, s, "jane@example.org", false, "12345678")
	msg := mypt.MailMessage{Key: "mid:b@example.org", From: "jane@example.org", FromCount: 1}
	o, err := s.CommitMail(ctx, mypt.MailRecord{Message: msg,
		Account:  mypt.UnlockAccount{Found: true, ID: mailboxItoa(id), Locked: true},
		Decision: mypt.MailDecision{Action: mypt.MailUnlock},
		Unlocked: mypt.UnlockedReply(msg.Key, msg.From, "x"), Ack: mypt.AcknowledgeReply(msg.Key, msg.From)})
	if err != nil || o != mypt.MailReviewed {
		t.Fatalf("CommitMail = %v, %v", o, err)
	}
	items, err := s.MailReviewItems(ctx, "open", 0)
	if err != nil || len(items) != 1 || items[0].Reason != mypt.ReasonNotLocked || items[0].AccountID != mailboxItoa(id) {
		t.Fatalf("review items = %+v, %v", items, err)
	}
}

func mailboxItoa(i int64) string { return strconv.FormatInt(i, 10) }

func TestMailboxReviewAckOncePerDay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := openMailboxStore(t, clock)
	review := func(key string) mypt.MailOutcome {
		msg := mypt.MailMessage{Key: key, From: "stranger@example.org", FromCount: 1, Subject: "unlock?", Text: "hi"}
		o, err := s.CommitMail(ctx, mypt.MailRecord{Message: msg,
			Request:  mypt.UnlockRequest{StudentIDs: []string{"1"}, Name: "Seán", Phone: "07700 900123", NewText: "hi"},
			Decision: mypt.MailDecision{Action: mypt.MailReview, Reason: mypt.ReasonNoAccount, Acknowledge: true},
			Ack:      mypt.AcknowledgeReply(key, msg.From), At: clock()})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	review("mid:1")
	review("mid:2")
	if n := mailboxOutboxCount(t, s, "stranger@example.org"); n != 1 {
		t.Fatalf("acks = %d, want 1 within a day", n)
	}
	mu.Lock()
	now = now.Add(25 * time.Hour)
	mu.Unlock()
	review("mid:3")
	if n := mailboxOutboxCount(t, s, "stranger@example.org"); n != 2 {
		t.Fatalf("acks = %d, want 2 after a day", n)
	}
	items, _ := s.MailReviewItems(ctx, "", 0)
	if len(items) != 3 || items[0].Name != "Seán" || items[0].Phone != "07700 900123" {
		t.Fatalf("items = %+v", items)
	}
	if err := s.ResolveMailReviewItem(ctx, items[0].ID, "staff:1"); err != nil {
		t.Fatal(err)
	}
	if err := s.ResolveMailReviewItem(ctx, items[0].ID, "staff:1"); !errors.Is(err, mypt.ErrNotFound) {
		t.Fatalf("second resolve: %v", err)
	}
	st, err := s.MailboxState(ctx)
	if err != nil || st.OpenReviews != 2 || st.ProcessedTotal != 3 {
		t.Fatalf("state = %+v, %v", st, err)
	}
	// Purge what is older than a day: the first two messages, their items and the first ack.
	n, err := s.PurgeMailbox(ctx, clock().Add(-time.Hour))
	if err != nil || n != 5 {
		t.Fatalf("PurgeMailbox = %d, %v; want 5 rows", n, err)
	}
	if st, _ := s.MailboxState(ctx); st.ProcessedTotal != 1 {
		t.Fatalf("after purge: %+v", st)
	}
}

func TestMailboxCheckpointUIDValidityReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openMailboxStore(t, nil)
	if err := s.SetMailCheckpoint(ctx, "INBOX", mypt.MailCheckpoint{UIDValidity: 100, LastUID: 57}); err != nil {
		t.Fatal(err)
	}
	msg := mypt.MailMessage{Key: "mid:c", Mailbox: "INBOX", UIDValidity: 200, UID: 1, From: "x@example.org", FromCount: 1}
	if _, err := s.CommitMail(ctx, mypt.MailRecord{Message: msg, Decision: mypt.MailDecision{Action: mypt.MailReview, Reason: "r"}}); err != nil {
		t.Fatal(err)
	}
	if cp, _ := s.MailCheckpoint(ctx, "INBOX"); cp != (mypt.MailCheckpoint{UIDValidity: 200, LastUID: 1}) {
		t.Fatalf("checkpoint = %+v", cp)
	}
}

func TestMailboxAckToUnmailableAddressKeepsReview(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openMailboxStore(t, nil)
	msg := mypt.MailMessage{Key: "mid:odd", From: `"a b"@example.org`, FromCount: 1}
	o, err := s.CommitMail(ctx, mypt.MailRecord{Message: msg,
		Decision: mypt.MailDecision{Action: mypt.MailReview, Reason: mypt.ReasonNoAccount, Acknowledge: true},
		Ack:      mypt.AcknowledgeReply(msg.Key, msg.From)})
	if err != nil || o != mypt.MailReviewed {
		t.Fatalf("CommitMail = %v, %v", o, err)
	}
	if items, _ := s.MailReviewItems(ctx, "open", 0); len(items) != 1 {
		t.Fatalf("items = %+v", items)
	}
}
