//go:build linux

package syncer_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt/adapters/imap"
	"mypt/adapters/imap/imaptest"
	"mypt/adapters/sqlite"
	"mypt/config"
	"mypt/syncer"
)

// newMailboxFromConfig is the wiring `mypt serve` needs (copy it into cmd/mypt): the IMAP
// watcher and the mailbox loop built from the mailbox section, the public base URL and the
// cache. The caller runs the result's Run(ctx) under its errgroup when cfg.Enabled.
func newMailboxFromConfig(cfg config.MailboxConfig, publicBaseURL string, store *sqlite.Store,
	log *slog.Logger, reg prometheus.Registerer) (*syncer.Mailbox, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var tlsConf *tls.Config
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mailbox.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mailbox.ca_file: %s holds no PEM certificate", cfg.CAFile)
		}
		tlsConf = &tls.Config{RootCAs: pool}
	}
	o := imap.Options{
		Addr: cfg.Addr, Security: cfg.Security, TLSConfig: tlsConf,
		Username: cfg.Username, Auth: cfg.Auth, Password: cfg.Password.Reveal(),
		Folder: cfg.Folder, ProcessedFolder: cfg.ProcessedFolder, ReviewFolder: cfg.ReviewFolder,
		ReIdle: cfg.ReIdle, PollInterval: cfg.PollInterval, CommandTimeout: cfg.CommandTimeout,
		MaxMessageBytes: cfg.MaxMessageBytes, Logger: log,
	}
	if cfg.Auth == imap.AuthXOAUTH2 {
		o.Tokens = &imap.ClientCredentials{TokenURL: cfg.OAuth2.TokenURL, ClientID: cfg.OAuth2.ClientID,
			ClientSecret: cfg.OAuth2.ClientSecret.Reveal(), Scope: cfg.OAuth2.Scope, Logger: log}
	}
	w, err := imap.New(o)
	if err != nil {
		return nil, err
	}
	return syncer.NewMailbox(syncer.MailboxOptions{
		Scanner: w, Store: store,
		StudentID:    regexp.MustCompile(cfg.StudentIDPattern), // checked by Validate
		AuthServID:   cfg.AuthServID,
		AllowSPFDKIM: cfg.AllowSPFDKIM,
		ResetURL:     strings.TrimRight(publicBaseURL, "/") + "/forgot-password",
		Logger:       log, Registerer: reg,
	})
}

func TestMailboxFromConfig(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.account("jane.parent@example.org", true, "12345678")
	ca := e.srv.Dir + "/ca.pem"
	if err := os.WriteFile(ca, e.srv.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultMailbox()
	cfg.Enabled, cfg.Addr, cfg.Username, cfg.Password = true, e.srv.TLSAddr, mailUser, config.Secret(imaptest.Password)
	cfg.CAFile, cfg.AuthServID = ca, authservID
	e.reg = prometheus.NewRegistry()
	mb, err := newMailboxFromConfig(cfg, "https://parentportal.example/", e.store, mailboxLogger(), e.reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mb.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("Run did not stop")
		}
	}()
	e.srv.Append(mailUser, "INBOX", mailboxSeed(t, "valid_unlock.eml"))
	e.waitMoved("<valid-unlock-1@example.org>", "Processed")
	if e.locked("jane.parent@example.org") {
		t.Fatal("not unlocked")
	}
}
