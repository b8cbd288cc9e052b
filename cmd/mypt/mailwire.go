package main

import (
	"mypt/adapters/mail"
	"mypt/config"
	"mypt/portal"
	"mypt/syncer"
)

// setDemoMail sends every email to .eml files in dir (the mail area's file transport).
func setDemoMail(cfg *config.Config, dir string) {
	cfg.Mail.Transport = config.MailTransportFile
	cfg.Mail.File.Dir = dir
	cfg.Mail.FromAddress = "noreply@croydon.example.ac.uk"
	cfg.Mail.Retry.Interval = 1e9 // one second: the demo's emails appear at once
}

// addOutbox adds the email delivery worker when mail.transport is set (else mail stays
// queued in the outbox, to be sent once a transport is configured).
func (a *app) addOutbox() error {
	mc := a.cfg.Mail
	if mc.Transport == "" {
		a.log.Warn(config.WarnNoMailTransport)
		return nil
	}
	fromName := mc.FromName
	if fromName == "" {
		fromName = a.cfg.College.Name
	}
	sender, err := mail.New(mail.Options{
		Transport: mc.Transport, From: mail.Address{Name: fromName, Email: mc.FromAddress},
		ReplyTo: replyTo(a.cfg), MessageIDDomain: mc.MessageIDDomain, Logger: a.log,
		SMTP: mail.SMTPOptions{Host: mc.SMTP.Host, Port: mc.SMTP.Port, TLS: mail.TLSMode(mc.SMTP.TLS),
			Username: mc.SMTP.Username, Password: mc.SMTP.Password.Reveal(), Auth: mc.SMTP.Auth,
			CAFile: mc.SMTP.CAFile, HELO: mc.SMTP.HELO, Timeout: mc.SMTP.Timeout},
		Graph: mail.GraphOptions{TenantID: mc.Graph.TenantID, ClientID: mc.Graph.ClientID,
			ClientSecret: mc.Graph.ClientSecret.Reveal(), Sender: mc.Graph.Sender,
			LoginURL: mc.Graph.LoginURL, GraphURL: mc.Graph.GraphURL, Timeout: mc.Graph.Timeout,
			MaxRetries: mc.Graph.MaxRetries, RetryAfterMax: mc.Graph.RetryAfterMax, Logger: a.log, Now: a.now},
		FileDir: mc.FileDir(a.cfg.Data.Dir),
	})
	if err != nil {
		return err
	}
	a.mailer = sender
	outbox, err := syncer.NewOutbox(syncer.OutboxOptions{
		Store: a.store, Mailer: sender, Transport: sender.Name(),
		Logger: a.log, Registerer: a.reg, Now: a.now,
		Interval: mc.Retry.Interval, BackoffMin: mc.Retry.BackoffMin, BackoffMax: mc.Retry.BackoffMax,
		MaxAttempts: mc.Retry.MaxAttempts, SendTimeout: mc.Retry.SendTimeout, RetainSent: mc.Retry.RetainSent,
	})
	if err != nil {
		return err
	}
	a.workers = append(a.workers, worker{name: "outbox", run: outbox.Run})
	return nil
}

// replyTo is the emails' Reply-To: mail.reply_to, by default Parent Portal Support, and nil (no
// header) for "none" or when there is no support address. The footer of the account emails
// follows it (mailSettings).
func replyTo(cfg config.Config) *mail.Address {
	switch {
	case cfg.Mail.ReplyTo == "none":
		return nil
	case cfg.Mail.ReplyTo != "":
		return &mail.Address{Email: cfg.Mail.ReplyTo}
	case cfg.College.SupportEmail != "":
		return &mail.Address{Name: "Parent Portal Support", Email: cfg.College.SupportEmail}
	}
	return nil
}

// mailFiles lets the staff site list the file transport's emails (the demo's DIR/mail).
type mailFiles struct{ sink *mail.FileSink }

func (m mailFiles) List(limit int) ([]portal.MailFile, error) {
	entries, err := m.sink.List(limit)
	if err != nil {
		return nil, err
	}
	out := make([]portal.MailFile, len(entries))
	for i, e := range entries {
		out[i] = portal.MailFile{Name: e.File, To: e.To, Subject: e.Subject, Date: e.Date, Text: e.Text}
	}
	return out, nil
}

// staffMailFiles is the file sink's list when mail goes to files, else nil (the page is hidden).
func (a *app) staffMailFiles() portal.MailFiles {
	if a.mailer == nil {
		return nil
	}
	if sink, ok := a.mailer.Transport().(*mail.FileSink); ok {
		return mailFiles{sink}
	}
	return nil
}
