// Package mailtest runs a real SMTP server (github.com/emersion/go-smtp) on 127.0.0.1 for
// tests: STARTTLS or implicit TLS with a generated certificate, AUTH PLAIN, every accepted
// message recorded, and Stop/Start on the same port to simulate an outage.
package mailtest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mypt/internal/testcert"
)

// TLSMode is how the server offers TLS.
type TLSMode string

const (
	StartTLS TLSMode = "starttls"
	Implicit TLSMode = "tls"
	None     TLSMode = "none"
)

// Options configure a server. With a Username, AUTH PLAIN is required before MAIL.
type Options struct {
	TLS      TLSMode // default StartTLS
	Username string
	Password string
}

// Received is one accepted message.
type Received struct {
	From      string
	To        []string
	Data      []byte
	MessageID string // without angle brackets
	Header    mail.Header
	Authed    string // the user that authenticated, if any
	TLS       bool
}

// Server is a running (or stopped) SMTP server.
type Server struct {
	t    testing.TB
	opts Options
	cert tls.Certificate
	pool *x509.CertPool
	addr string

	mu         sync.Mutex
	srv        *smtp.Server
	ln         net.Listener
	received   []Received
	rejectRcpt map[string]*smtp.SMTPError
}

// Start starts a server on a free 127.0.0.1 port; it is stopped when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.TLS == "" {
		opts.TLS = StartTLS
	}
	c, err := testcert.New("mailtest", "127.0.0.1", "localhost")
	cert, pool := c.TLS, c.Pool
	if err != nil {
		t.Fatalf("mailtest: certificate: %v", err)
	}
	s := &Server{t: t, opts: opts, cert: cert, pool: pool, rejectRcpt: map[string]*smtp.SMTPError{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s.addr = l.Addr().String()
	s.serve(l)
	t.Cleanup(s.Stop)
	return s
}

// Host is "127.0.0.1".
func (s *Server) Host() string { h, _, _ := net.SplitHostPort(s.addr); return h }

// Port is the listening port (the same after Stop and Start).
func (s *Server) Port() int { _, p, _ := net.SplitHostPort(s.addr); n, _ := strconv.Atoi(p); return n }

// Addr is host:port.
func (s *Server) Addr() string { return s.addr }

// RootCAs trusts the server's certificate (issued for 127.0.0.1 and localhost).
func (s *Server) RootCAs() *x509.CertPool { return s.pool }

// CertPEM is the server's certificate in PEM form (for a ca_file).
func (s *Server) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.cert.Certificate[0]})
}

// TLSConfig is a client configuration that trusts the server.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// RejectRecipient makes RCPT TO addr fail with code (e.g. 550) from now on.
func (s *Server) RejectRecipient(addr string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectRcpt[strings.ToLower(addr)] = &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 1, 1}, Message: "no such user"}
}

// Stop closes the listener and every connection: the server is down until Start.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if ln != nil {
		ln.Close() // Serve may not have registered it with srv yet
	}
	if srv != nil {
		srv.Close()
	}
}

// Restart listens again on the same port after Stop.
func (s *Server) Restart() {
	s.t.Helper()
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port can take a moment to be free again
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("mailtest: listen again on %s: %v", s.addr, err)
	}
	s.serve(l)
}

func (s *Server) serve(l net.Listener) {
	srv := smtp.NewServer(backend{s})
	srv.Domain = "mailtest.local"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 10 << 20
	tlsConf := &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12}
	switch s.opts.TLS {
	case StartTLS:
		srv.TLSConfig = tlsConf
	case Implicit:
		l = tls.NewListener(l, tlsConf)
	case None:
		srv.AllowInsecureAuth = true
	}
	srv.ErrorLog = quietLog{}
	s.mu.Lock()
	s.srv, s.ln = srv, l
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// Messages returns a copy of every accepted message, in order.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// WaitFor waits until at least n messages were accepted or timeout passes, and returns them.
func (s *Server) WaitFor(n int, timeout time.Duration) []Received {
	deadline := time.Now().Add(timeout)
	for {
		got := s.Messages()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{s: b.s, tls: isTLS, conn: c}, nil
}

type session struct {
	s      *Server
	conn   *smtp.Conn
	tls    bool
	authed string
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.s.opts.Username || password != ss.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.authed = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.Username != "" && ss.authed == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	rej := ss.s.rejectRcpt[strings.ToLower(to)]
	ss.s.mu.Unlock()
	if rej != nil {
		return rej
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "unreadable message: " + err.Error()}
	}
	_, isTLS := ss.conn.TLSConnectionState()
	rec := Received{
		From: ss.from, To: append([]string(nil), ss.to...), Data: data, Header: msg.Header,
		MessageID: strings.Trim(msg.Header.Get("Message-Id"), "<> "), Authed: ss.authed, TLS: isTLS || ss.tls,
	}
	ss.s.mu.Lock()
	ss.s.received = append(ss.s.received, rec)
	ss.s.mu.Unlock()
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// CountByMessageID counts accepted messages per Message-ID.
func CountByMessageID(msgs []Received) map[string]int {
	out := map[string]int{}
	for _, m := range msgs {
		out[m.MessageID]++
	}
	return out
}

// quietLog drops go-smtp's per-connection error lines (clients that hang up, tests that stop
// the server) so test output stays readable.
type quietLog struct{}

func (quietLog) Printf(string, ...any) {}
func (quietLog) Println(...any)        {}
