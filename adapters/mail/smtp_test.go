package mail_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"mypt/adapters/mail"
	"mypt/adapters/mail/mailtest"
)

var (
	_ mail.Transport = (*mail.SMTP)(nil)
	_ mail.Transport = (*mail.Graph)(nil)
	_ mail.Transport = (*mail.FileSink)(nil)
)

func smtpFor(t *testing.T, srv *mailtest.Server, mode mail.TLSMode, user, pass string) *mail.SMTP {
	t.Helper()
	s, err := mail.NewSMTP(mail.SMTPOptions{
		Host: srv.Host(), Port: srv.Port(), TLS: mode, Username: user, Password: pass,
		TLSConfig: srv.TLSConfig(), Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSMTPStartTLSWithAuthPlain(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{TLS: mailtest.StartTLS, Username: "mypt", Password: "s3cret-pw"})
	s := smtpFor(t, srv, mail.TLSStartTLS, "mypt", "s3cret-pw")
	m := sampleMessage()
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()
	if len(got) != 1 {
		t.Fatalf("server has %d messages", len(got))
	}
	r := got[0]
	if !r.TLS || r.Authed != "mypt" {
		t.Fatalf("tls=%v authed=%q", r.TLS, r.Authed)
	}
	if r.From != m.From.Email || len(r.To) != 1 || r.To[0] != m.To.Email {
		t.Fatalf("envelope from=%q to=%v", r.From, r.To)
	}
	if r.MessageID != m.MessageID {
		t.Fatalf("Message-ID %q", r.MessageID)
	}
	want, _ := m.Bytes()
	if strings.TrimRight(string(r.Data), "\r\n") != strings.TrimRight(string(want), "\r\n") {
		t.Fatalf("server received different bytes:\n%s", r.Data)
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{TLS: mailtest.Implicit, Username: "mypt", Password: "pw"})
	if err := smtpFor(t, srv, mail.TLSImplicit, "mypt", "pw").Send(context.Background(), sampleMessage()); err != nil {
		t.Fatal(err)
	}
	if got := srv.Messages(); len(got) != 1 || !got[0].TLS {
		t.Fatalf("messages %+v", got)
	}
}

func TestSMTPPlainOnlyWhenConfigured(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{TLS: mailtest.None})
	// A server without STARTTLS is refused in the default (starttls) mode: no silent fall-back.
	err := smtpFor(t, srv, "", "", "").Send(context.Background(), sampleMessage())
	if err == nil || mail.IsPermanent(err) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("starttls against a plain server: %v", err)
	}
	if err := smtpFor(t, srv, mail.TLSNone, "", "").Send(context.Background(), sampleMessage()); err != nil {
		t.Fatal(err)
	}
	if got := srv.Messages(); len(got) != 1 || got[0].TLS {
		t.Fatalf("messages %+v", got)
	}
	if _, err := mail.NewSMTP(mail.SMTPOptions{Host: "127.0.0.1", TLS: mail.TLSNone, Username: "u", Password: "p"}); err == nil {
		t.Fatal("auth over an unencrypted connection was accepted")
	}
}

func TestSMTPErrorsAreClassified(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{Username: "mypt", Password: "right-password"})

	t.Run("wrong password is temporary and hides the password", func(t *testing.T) {
		err := smtpFor(t, srv, mail.TLSStartTLS, "mypt", "wrong-password").Send(context.Background(), sampleMessage())
		if err == nil || mail.IsPermanent(err) {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), "wrong-password") {
			t.Fatalf("password in error: %v", err)
		}
	})
	t.Run("rejected recipient is permanent", func(t *testing.T) {
		srv.RejectRecipient("gone@example.org", 550)
		m := sampleMessage()
		m.To.Email = "gone@example.org"
		err := smtpFor(t, srv, mail.TLSStartTLS, "mypt", "right-password").Send(context.Background(), m)
		if !mail.IsPermanent(err) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("temporarily rejected recipient is temporary", func(t *testing.T) {
		srv.RejectRecipient("full@example.org", 452)
		m := sampleMessage()
		m.To.Email = "full@example.org"
		err := smtpFor(t, srv, mail.TLSStartTLS, "mypt", "right-password").Send(context.Background(), m)
		if err == nil || mail.IsPermanent(err) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("untrusted certificate is refused", func(t *testing.T) {
		s, err := mail.NewSMTP(mail.SMTPOptions{Host: srv.Host(), Port: srv.Port(), Username: "mypt", Password: "right-password",
			TLSConfig: &tls.Config{ServerName: "127.0.0.1"}, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(context.Background(), sampleMessage())
		if err == nil || mail.IsPermanent(err) || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("server down is temporary", func(t *testing.T) {
		down := mailtest.Start(t, mailtest.Options{})
		s := smtpFor(t, down, mail.TLSStartTLS, "", "")
		down.Stop()
		err := s.Send(context.Background(), sampleMessage())
		if err == nil || mail.IsPermanent(err) {
			t.Fatalf("err = %v", err)
		}
	})
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("server accepted %d messages", n)
	}
}

func TestSMTPOptionsNeverPrintThePassword(t *testing.T) {
	t.Parallel()
	o := mail.SMTPOptions{Host: "smtp.example.org", Username: "u", Password: "hunter2-very-secret"}
	for _, s := range []string{o.String(), o.GoString()} {
		if strings.Contains(s, "hunter2") || !strings.Contains(s, "<secret>") {
			t.Fatalf("%s", s)
		}
	}
}
