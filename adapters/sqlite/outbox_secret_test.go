package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mypt"
	"mypt/adapters/sqlite"
)

const secretTok = "Zq3v9-Xy_k0LmNoPqRsTuVwXyZ0123456789abcdefG" // 43 characters, like sqlite.NewToken's

// linkEmail is a reset email whose link (in text and HTML) carries secretTok.
func linkEmail(key string) mypt.OutboxMessage {
	link := "https://portal.example.ac.uk/reset-password?token=" + secretTok
	return mypt.OutboxMessage{
		EventKey: key, ToEmail: "siobhan@example.org", Subject: "Reset your password",
		Text:   "Dear Siobhán,\n\n" + link + "\n\nThe link expires in 1 hour.\n",
		HTML:   `<p>Dear Siobhán,</p><p><a href="` + link + `">` + link + `</a></p><p>The link expires in 1 hour.</p>`,
		Secret: secretTok,
	}
}

// rawOutbox reads one row as it lies in the file, past the store's read methods.
func rawOutbox(t *testing.T, s *sqlite.Store, id int64) (key, text, html string, secret sql.NullString) {
	t.Helper()
	err := s.WriteDB().QueryRow(`SELECT event_key, text, html, secret FROM outbox WHERE id = ?`, id).Scan(&key, &text, &html, &secret)
	if err != nil {
		t.Fatal(err)
	}
	return key, text, html, secret
}

const (
	scrubbedText = "Dear Siobhán,\n\n[link removed after sending]\n\nThe link expires in 1 hour.\n"
	scrubbedHTML = `<p>Dear Siobhán,</p><p><a href="[link removed after sending]">[link removed after sending]</a></p><p>The link expires in 1 hour.</p>`
)

func TestOutboxSentEmailKeepsNoOneTimeLink(t *testing.T) {
	s, clock := openOutboxStore(t)
	ctx := context.Background()
	m := linkEmail("reset:" + mypt.SecretKey(secretTok))
	m.SecretExpiresAt = clock.Now().Add(time.Hour)
	id, err := s.EnqueueEmail(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	// Pending: the staff-facing read hides the link; only the claim (delivery) sees it.
	shown, err := s.FindEmail(ctx, m.EventKey)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(shown.Text+shown.HTML+shown.Secret, secretTok) || !strings.Contains(shown.Text, "\n[link hidden until sent]\n") {
		t.Fatalf("pending email as staff see it:\n%s\n%s", shown.Text, shown.HTML)
	}
	list, _ := s.ListEmails(ctx, 10)
	if len(list) != 1 || strings.Contains(list[0].Text+list[0].HTML, secretTok) {
		t.Fatalf("listed: %+v", list)
	}
	due, err := s.ClaimDueEmails(ctx, clock.Now(), 10, time.Minute)
	if err != nil || len(due) != 1 {
		t.Fatalf("claim: %v %v", due, err)
	}
	if due[0].Text != m.Text || due[0].HTML != m.HTML || due[0].Secret != secretTok || !due[0].SecretExpiresAt.Equal(m.SecretExpiresAt) {
		t.Fatalf("claimed email is not the queued one: %+v", due[0])
	}
	if err := s.MarkEmailSent(ctx, id, "smtp", clock.Now()); err != nil {
		t.Fatal(err)
	}
	key, text, html, secret := rawOutbox(t, s, id)
	if key != "reset:"+mypt.SecretKey(secretTok) || text != scrubbedText || html != scrubbedHTML || secret.Valid {
		t.Fatalf("sent row: key %q secret %v\ntext %q\nhtml %q", key, secret, text, html)
	}
	// A second report of the same delivery changes nothing.
	if err := s.MarkEmailSent(ctx, id, "smtp", clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, text2, _, _ := rawOutbox(t, s, id); text2 != scrubbedText {
		t.Fatalf("text after second mark: %q", text2)
	}
}

func TestOutboxGivenUpEmailKeepsNoOneTimeLink(t *testing.T) {
	s, clock := openOutboxStore(t)
	ctx := context.Background()
	id, err := s.EnqueueEmail(ctx, linkEmail("reset:"+mypt.SecretKey(secretTok)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimDueEmails(ctx, clock.Now(), 10, time.Minute); err != nil {
		t.Fatal(err)
	}
	// A retry keeps the link: the email may still be delivered.
	if err := s.MarkEmailRetry(ctx, id, "smtp", "421 try later", clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, text, _, secret := rawOutbox(t, s, id); text != linkEmail("").Text || secret.String != secretTok {
		t.Fatalf("retried row lost its link: %q %v", text, secret)
	}
	if err := s.MarkEmailAbandoned(ctx, id, "smtp", "550 no such user", clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, text, html, secret := rawOutbox(t, s, id); text != scrubbedText || html != scrubbedHTML || secret.Valid {
		t.Fatalf("given-up row: %v\n%q\n%q", secret, text, html)
	}
}

func TestOutboxEmailWhoseLinkExpiredIsGivenUpNotSent(t *testing.T) {
	s, clock := openOutboxStore(t)
	ctx := context.Background()
	m := linkEmail("reset:" + mypt.SecretKey(secretTok))
	m.SecretExpiresAt = clock.Now().Add(time.Hour)
	id, err := s.EnqueueEmail(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	due, err := s.ClaimDueEmails(ctx, clock.Now(), 10, time.Minute)
	if err != nil || len(due) != 0 {
		t.Fatalf("claimed an email with a dead link: %+v %v", due, err)
	}
	got, err := s.FindEmail(ctx, m.EventKey)
	if err != nil {
		t.Fatal(err)
	}
	if !got.FailedAt.Equal(clock.Now()) || got.LastError != "the one-time link expired before the email could be sent" || got.Attempts != 0 {
		t.Fatalf("expired email: %+v", got)
	}
	if _, text, html, secret := rawOutbox(t, s, id); text != scrubbedText || html != scrubbedHTML || secret.Valid {
		t.Fatalf("expired row: %v\n%q\n%q", secret, text, html)
	}
	if n, _ := s.CountPendingEmails(ctx); n != 0 {
		t.Fatalf("pending %d", n)
	}
}

func TestOutboxRefusesAnEventKeyHoldingTheToken(t *testing.T) {
	s, _ := openOutboxStore(t)
	_, err := s.EnqueueEmail(context.Background(), linkEmail("reset:"+secretTok[:16]))
	// The error (which is logged) names the field but not the key, which holds the token.
	if !errors.Is(err, mypt.ErrInvalid) || !strings.Contains(err.Error(), "event_key") || strings.Contains(err.Error(), secretTok[:8]) {
		t.Fatalf("err %v", err)
	}
	if n, _ := s.CountPendingEmails(context.Background()); n != 0 {
		t.Fatalf("queued %d", n)
	}
}

// TestMigration0031ScrubsSentRows: rows an older mypt left with raw tokens (in bodies and in
// event keys) lose them when sent or given up, and keep them (as the secret) while pending.
func TestMigration0031ScrubsSentRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mypt.db")
	if err := sqlite.MigrateThrough(ctx, path, 30); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	const pendingTok = "PENDINGtok-_0123456789abcdefghijklmnopqrstu"
	pending := linkEmail("")
	pending.Text = strings.ReplaceAll(pending.Text, secretTok, pendingTok)
	pending.HTML = strings.ReplaceAll(pending.HTML, secretTok, pendingTok)
	sent, failed := linkEmail(""), linkEmail("")
	rows := []struct {
		key, text, html, sent, failed string
	}{
		{"request:7:verify:" + secretTok[:12], sent.Text, sent.HTML, "2026-11-30T10:00:00.000000000Z", ""},
		{"reset:" + pendingTok[:16], pending.Text, pending.HTML, "", ""},
		{"reset:" + secretTok[:16], failed.Text, failed.HTML, "", "2026-11-30T11:00:00.000000000Z"},
		{"request:7:1700000000:rejected", "We are sorry.\n", "<p>We are sorry.</p>", "2026-11-30T12:00:00.000000000Z", ""},
	}
	for i, r := range rows {
		_, err := db.Exec(`INSERT INTO outbox (id, message_id, event_key, recipient, subject, text, html, created_at, next_attempt_at, sent_at, failed_at)
			VALUES (?, ?, ?, 'siobhan@example.org', 'Subject', ?, ?, '2026-11-30T09:00:00.000000000Z', '2026-11-30T09:00:00.000000000Z', NULLIF(?, ''), NULLIF(?, ''))`,
			i+1, "mypt.x."+r.key, r.key, r.text, r.html, r.sent, r.failed)
		if err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := []struct {
		key, text, html, secret string
	}{
		{"request:7:verify:legacy:1", scrubbedText, scrubbedHTML, ""},
		{"reset:legacy:2", pending.Text, pending.HTML, pendingTok},
		{"reset:legacy:3", scrubbedText, scrubbedHTML, ""},
		{"request:7:1700000000:rejected", "We are sorry.\n", "<p>We are sorry.</p>", ""},
	}
	for i, w := range want {
		key, text, html, secret := rawOutbox(t, s, int64(i+1))
		if key != w.key || text != w.text || html != w.html || secret.String != w.secret {
			t.Errorf("row %d: key %q secret %q\ntext %q\nhtml %q", i+1, key, secret.String, text, html)
		}
	}
	// The pending row is still delivered with its link, and scrubbed once sent.
	due, err := s.ClaimDueEmails(ctx, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), 10, time.Minute)
	if err != nil || len(due) != 1 || due[0].Text != pending.Text {
		t.Fatalf("claim after migration: %+v %v", due, err)
	}
	if err := s.MarkEmailSent(ctx, due[0].ID, "smtp", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if _, text, _, _ := rawOutbox(t, s, 2); text != scrubbedText {
		t.Fatalf("migrated pending row after sending: %q", text)
	}
}

// TestOutboxScrubLeavesNoTokenInTheCacheFile: the scrub overwrites the row's old bytes, so the
// token is not left in the file's free space (in the row's page, or in the overflow pages of a
// long email) once the WAL is checkpointed.
func TestOutboxScrubLeavesNoTokenInTheCacheFile(t *testing.T) {
	s, clock := openOutboxStore(t)
	ctx := context.Background()
	checkpoint := func() {
		t.Helper()
		if _, err := s.WriteDB().Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
	}
	for _, pad := range []int{0, 9000} { // one page; overflow pages
		m := linkEmail(fmt.Sprintf("reset:%s:%d", mypt.SecretKey(secretTok), pad))
		m.Text = strings.Repeat("p", pad) + m.Text
		id, err := s.EnqueueEmail(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		checkpoint() // the queued email reaches the main file, as it does in a running daemon
		if _, err := s.ClaimDueEmails(ctx, clock.Now(), 10, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkEmailSent(ctx, id, "smtp", clock.Now()); err != nil {
			t.Fatal(err)
		}
		checkpoint()
		for _, f := range []string{s.Path(), s.Path() + "-wal"} {
			raw, err := os.ReadFile(f)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			if n := bytes.Count(raw, []byte(secretTok)); n != 0 {
				t.Errorf("email of %d bytes: %s holds the sent email's token %d times", len(m.Text), filepath.Base(f), n)
			}
		}
	}
}
