package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt/adapters/imap"
	"mypt/adapters/sqlite"
	"mypt/config"
	"mypt/syncer"
)

// addMailbox adds the support mailbox watcher when mailbox.enabled (the demo has no mailbox).
func (a *app) addMailbox() error {
	if !a.cfg.Mailbox.Enabled {
		a.log.Info("mailbox watcher disabled (mailbox.enabled is false)")
		return nil
	}
	mb, err := newMailboxFromConfig(a.cfg.Mailbox, a.cfg.College.PublicBaseURL, a.store, a.log, a.reg)
	if err != nil {
		return fmt.Errorf("mailbox: %w", err)
	}
	a.mailboxOn = true
	a.workers = append(a.workers, worker{name: "mailbox", run: mb.Run}) // Run returns nil when ctx ends
	days := a.cfg.Mailbox.RetainDays
	purge := syncer.NewPurge(syncer.PurgeOptions{
		Name: "mailbox", Logger: a.log, Now: a.now,
		Purge: func(ctx context.Context, now time.Time) (int64, error) {
			return a.store.PurgeMailbox(ctx, now.AddDate(0, 0, -days))
		},
	})
	a.workers = append(a.workers, worker{name: "mailbox retention", run: purge.Run})
	return nil
}

// newMailboxFromConfig is the mailbox area's wiring (docs/mailbox.md; tested end to end against
// dovecot in mailboxwire_test.go).
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

// The cache and the IMAP adapter are what the mailbox loop needs.
var (
	_ syncer.MailboxStore   = (*sqlite.Store)(nil)
	_ syncer.MailboxScanner = (*imap.Watcher)(nil)
)
