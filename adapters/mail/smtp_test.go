package mail_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
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

// A server that accepts the connection and then says nothing must not hold a shutting-down
// worker: cancelling ctx ends Send within 1 s, not after the 30 s timeout.
func TestSMTPCancelEndsAStalledSession(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c // hold it open, say nothing
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	p, _ := strconv.Atoi(port)
	s, err := mail.NewSMTP(mail.SMTPOptions{Host: "127.0.0.1", Port: p, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Send(ctx, sampleMessage()) }()
	var conn net.Conn
	select {
	case conn = <-accepted:
		defer conn.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("no connection")
	}
	time.Sleep(100 * time.Millisecond)
	cancelled := time.Now()
	cancel()
	select {
	case err := <-done:
		if took := time.Since(cancelled); took > time.Second {
			t.Fatalf("Send returned %v after cancel", took)
		}
		if err == nil || mail.IsPermanent(err) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send still blocked 10 s after cancel")
	}
}

func TestSMTPCAFile(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{Username: "mypt", Password: "pw"})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := mail.New(mail.Options{
		Transport: "smtp", From: mail.Address{Email: "noreply@college.example.ac.uk"},
		SMTP: mail.SMTPOptions{Host: "127.0.0.1", Port: srv.Port(), Username: "mypt", Password: "pw", CAFile: ca},
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "smtp" {
		t.Fatal(s.Name())
	}
	if err := s.Transport().Send(context.Background(), sampleMessage()); err != nil {
		t.Fatal(err)
	}
	if _, err := mail.NewSMTP(mail.SMTPOptions{Host: "x", CAFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Fatal("missing ca_file accepted")
	}
}

// A server that accepts the message (250 after the data) and then drops the connection
// instead of answering RSET/QUIT: the message was delivered, so Send must not report failure
// (the outbox would send it twice).
func TestSMTPDroppedAfterAcceptanceIsDelivered(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		say := func(s string) { _, _ = c.Write([]byte(s + "\r\n")) }
		say("220 fake ESMTP")
		for i := 0; i < 20; i++ {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
			case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
				say("250 fake")
			case strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RCPT"):
				say("250 ok")
			case cmd == "DATA":
				say("354 go on")
				var data strings.Builder
				for j := 0; j < 10000; j++ {
					l, err := r.ReadString('\n')
					if err != nil || l == ".\r\n" {
						break
					}
					data.WriteString(l)
				}
				say("250 queued")
				accepted <- data.String()
				return // drop the connection before RSET and QUIT
			default:
				say("502 no")
			}
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	p, _ := strconv.Atoi(port)
	s, err := mail.NewSMTP(mail.SMTPOptions{Host: "127.0.0.1", Port: p, TLS: mail.TLSNone, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), sampleMessage()); err != nil {
		t.Fatalf("delivered message reported as %v", err)
	}
	select {
	case d := <-accepted:
		if !strings.Contains(d, sampleMessage().MessageID) {
			t.Fatalf("server got %q", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server never accepted")
	}
}
