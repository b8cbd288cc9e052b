package main

import (
	"context"
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"mypt"
	"mypt/adapters/sqlite"
	"mypt/config"
	"mypt/syncer"
)

// demoMailboxReview runs the real mailbox loop (decision, commit, acknowledgement) over two
// sample "please unlock my account" emails, so the demo's staff site has something to open and
// mark done in Mailbox review: the demo watches no IMAP mailbox. Both go to review: one is not
// authenticated by the college's mail server, the other gives no Student ID.
func demoMailboxReview(ctx context.Context, store *sqlite.Store, cfg config.Config) error {
	mc := config.DefaultMailbox()
	msgs := []mypt.MailMessage{{
		Mailbox: "INBOX", UIDValidity: 1, UID: 1, Key: "mid:<demo-unlock-1@example.org>", MessageID: "<demo-unlock-1@example.org>",
		From: "theo.parent@example.org", FromName: "Theo's Mum", FromCount: 1, Subject: "Locked out of the parent portal",
		Text: "Hello, I typed my password wrong and now my account is locked. My son's Student ID is 18100000, " +
			"my name is Jane Parent and my phone number is 07700 900123. Thank you.",
	}, {
		Mailbox: "INBOX", UIDValidity: 1, UID: 2, Key: "mid:<demo-unlock-2@example.org>", MessageID: "<demo-unlock-2@example.org>",
		From: "a.guardian@example.net", FromName: "A Guardian", FromCount: 1, Subject: "can't log in",
		Text:        "Please unlock my account, I can't get in to see my daughter's attendance.",
		AuthResults: []string{"mx.demo.invalid; dmarc=pass header.from=example.net"},
	}}
	mb, err := syncer.NewMailbox(syncer.MailboxOptions{
		Scanner: demoMessages(msgs), Store: store,
		StudentID: regexp.MustCompile(mc.StudentIDPattern), AuthServID: "mx.demo.invalid",
		ResetURL:   strings.TrimRight(cfg.College.PublicBaseURL, "/") + "/forgot-password",
		Registerer: prometheus.NewRegistry(), // no mailbox is watched: keep its metrics off /metrics
	})
	if err != nil {
		return err
	}
	return mb.Run(ctx)
}

// demoMessages is a mailbox scanner that offers its messages once and ends.
type demoMessages []mypt.MailMessage

func (d demoMessages) Scan(ctx context.Context, h mypt.MailHandler) error {
	for _, m := range d {
		if _, err := h.HandleMail(ctx, m); err != nil {
			return err
		}
	}
	return nil
}
