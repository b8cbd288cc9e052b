package syncer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt"
	"mypt/adapters/mail/mailtest"
	"mypt/adapters/sqlite"
	"mypt/syncer"
)

// TestPendingVerifyEmailDeliversItsLinkAfterARestart: a verify email that could not be sent
// before the process stopped keeps its link; after a restart the outbox worker delivers it over
// SMTP with the working link, and only then is the token scrubbed from the row (and so from a
// backup).
func TestPendingVerifyEmailDeliversItsLinkAfterARestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := mailtest.Start(t, mailtest.Options{Username: "mypt", Password: "pw"})
	path := filepath.Join(t.TempDir(), "mypt.db")
	settings := mypt.MailSettings{CollegeName: "Example College", SupportEmail: "support@" + outboxDomain,
		PublicBaseURL: "https://portal.example.ac.uk"}

	first, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var tok string
	req := mypt.StoredAccountRequest{AccountRequest: mypt.AccountRequest{ParentFirstName: "Siobhán", ParentLastName: "O’Neill",
		Email: "siobhan@example.org", StudentID: "S1", StudentFirstNames: "José", StudentLastName: "D'Arcy",
		StudentDOB: mypt.NewDate(2010, 4, 5), Relationship: "Mother"}, PasswordHash: "hash"}
	id, err := first.CreateAccountRequest(ctx, req, 48*time.Hour, func(id int64, raw string) (mypt.OutboxMessage, error) {
		tok = raw
		return settings.Compose(mypt.EmailVerify, fmt.Sprintf("request:%d:verify:%s", id, mypt.SecretKey(raw)),
			mypt.EmailData{ToEmail: "siobhan@example.org", ToName: "Siobhán O’Neill", Token: raw, ExpiresIn: 48 * time.Hour})
	})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(tok))
	wantKey := fmt.Sprintf("request:%d:verify:%s", id, hex.EncodeToString(h[:])[:16])
	wantLink := "https://portal.example.ac.uk/verify-email?token=" + tok

	srv.Stop() // SMTP is down: the attempt fails and the email stays pending, link and all
	if _, err := fastOutbox(t, first, smtpSender(t, srv), prometheus.NewRegistry(), nil).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	key, text, secret := outboxRow(t, first.WriteDB())
	if key != wantKey || !strings.Contains(text, wantLink) || secret != tok {
		t.Fatalf("pending row: key %q (want %q), secret kept %v, text:\n%s", key, wantKey, secret == tok, text)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart: a new process opens the same cache; SMTP is back.
	srv.Restart()
	second := openCache(t, path)
	later := func() time.Time { return time.Now().Add(time.Hour) } // past the failed attempt's backoff
	sent, err := fastOutbox(t, second, smtpSender(t, srv), prometheus.NewRegistry(), func(o *syncer.OutboxOptions) { o.Now = later }).RunOnce(ctx)
	if err != nil || sent != 1 {
		t.Fatalf("sent %d, %v", sent, err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages delivered", len(msgs))
	}
	body, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(msgs[0].Data)))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(body), wantLink); n != 3 { // the text part; the HTML part's href and link text
		t.Fatalf("delivered message has the link %d times:\n%s", n, body)
	}
	if q, err := second.AccountRequestByToken(ctx, mypt.TokenVerify, tok); err != nil || q.ID != id {
		t.Fatalf("the delivered link does not work: %+v %v", q, err)
	}

	key, text, secret = outboxRow(t, second.WriteDB())
	if key != wantKey || secret != "" || strings.Contains(text, tok) || !strings.Contains(text, "\n\n[link removed after sending]\n\n") {
		t.Fatalf("sent row: key %q, secret %q, text:\n%s", key, secret, text)
	}
	var html string
	if err := second.WriteDB().QueryRow(`SELECT html FROM outbox`).Scan(&html); err != nil || strings.Contains(html, tok) {
		t.Fatalf("sent row's html (%v):\n%s", err, html)
	}
	dest := filepath.Join(t.TempDir(), "backup.db")
	if err := second.Backup(ctx, dest); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(tok)) || !bytes.Contains(raw, []byte(wantKey)) {
		t.Fatalf("backup: holds the token %v, holds the email's row %v", bytes.Contains(raw, []byte(tok)), bytes.Contains(raw, []byte(wantKey)))
	}
}

// outboxRow reads the only outbox row straight from the file.
func outboxRow(t *testing.T, db *sql.DB) (key, text, secret string) {
	t.Helper()
	if err := db.QueryRow(`SELECT event_key, text, coalesce(secret, '') FROM outbox`).Scan(&key, &text, &secret); err != nil {
		t.Fatal(err)
	}
	return key, text, secret
}
