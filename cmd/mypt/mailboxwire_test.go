//go:build linux

package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt"
	"mypt/adapters/imap/imaptest"
	"mypt/adapters/sqlite"
	"mypt/config"
)

// TestMailboxFromConfig builds the mailbox loop from a mailbox section as `mypt serve` does
// (implicit TLS trusting mailbox.ca_file, the college's authserv-id) and runs it against dovecot:
// a valid unlock email unlocks the parent's account and is moved to Processed.
func TestMailboxFromConfig(t *testing.T) {
	t.Parallel()
	const (
		user     = "parentportalsupport"
		parent   = "jane.parent@example.org"
		unlockID = "<valid-unlock-1@example.org>"
	)
	ctx := context.Background()
	srv := imaptest.Start(t, imaptest.Options{})
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mypt.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	id, err := st.CreateAccount(ctx, mypt.Account{Email: parent, FirstName: "Jane", LastName: "Parent", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.LinkStudent(ctx, mypt.StudentLink{AccountID: id, StudentID: "12345678", Relationship: "Mother",
		Status: mypt.LinkApproved, ApprovedAt: time.Now(), ApprovedBy: "auto"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Lock(ctx, id, "failed_attempts"); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	eml, err := os.ReadFile(filepath.Join("..", "..", "adapters", "imap", "testdata", "mail", "valid_unlock.eml"))
	if err != nil {
		t.Fatal(err)
	}

	cfg := config.DefaultMailbox()
	cfg.Enabled, cfg.Addr, cfg.Username, cfg.Password = true, srv.TLSAddr, user, config.Secret(imaptest.Password)
	cfg.CAFile, cfg.AuthServID = ca, "mx.college.ac.uk"
	mb, err := newMailboxFromConfig(cfg, "https://parentportal.example/", st, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mb.Run(runCtx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("mailbox Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("mailbox Run did not stop")
		}
	}()

	srv.Append(user, "INBOX", eml)
	for i := 0; !slices.Contains(srv.MessageIDs(user, "Processed"), unlockID); i++ {
		if i == 600 {
			t.Fatalf("%s never reached Processed; INBOX %q, Needs review %q", unlockID,
				srv.MessageIDs(user, "INBOX"), srv.MessageIDs(user, "Needs review"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	a, err := st.Account(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if a.Locked() {
		t.Errorf("the account is still locked (%s since %s)", a.LockReason, a.LockedAt)
	}
}
