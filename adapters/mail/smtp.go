package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLSMode says how an SMTP connection is protected.
type TLSMode string

const (
	TLSStartTLS TLSMode = "starttls" // plain connect, then STARTTLS; refuse a server without it (port 587)
	TLSImplicit TLSMode = "tls"      // TLS from the first byte (port 465)
	TLSNone     TLSMode = "none"     // no encryption; only when configured, never as a fall-back
)

// SMTPOptions configure an SMTP transport. Password is never printed: String redacts it.
type SMTPOptions struct {
	Host     string
	Port     int     // 0: 587 for starttls, 465 for tls, 25 for none
	TLS      TLSMode // "" means starttls
	Username string  // empty: no AUTH
	Password string
	// Auth is the SASL mechanism: "plain" (default), "login", or "auto" (the strongest the
	// server offers).
	Auth string
	// TLSConfig overrides the TLS settings; ServerName defaults to Host.
	TLSConfig *tls.Config
	// CAFile is a PEM bundle trusted instead of the system roots (a private CA).
	CAFile  string
	HELO    string        // default: the local host name
	Timeout time.Duration // per connection; default 30s
}

// String describes the options without the password.
func (o SMTPOptions) String() string {
	pw := ""
	if o.Password != "" {
		pw = "<secret>"
	}
	return fmt.Sprintf("smtp{host=%s port=%d tls=%s user=%q password=%s auth=%s}", o.Host, o.Port, o.TLS, o.Username, pw, o.Auth)
}

// GoString is String, so %#v cannot print the password either.
func (o SMTPOptions) GoString() string { return o.String() }

// SMTP delivers over SMTP, one connection per message (a college sends few; a fresh
// connection never trips over a server's idle timeout).
type SMTP struct {
	opts    SMTPOptions
	tlsConf *tls.Config
	base    []gomail.Option
}

// NewSMTP checks the options and returns the transport. It refuses AUTH over an unencrypted
// connection, since that would send the password in the clear.
func NewSMTP(o SMTPOptions) (*SMTP, error) {
	if o.Host == "" {
		return nil, errors.New("mail: smtp: no host configured")
	}
	if o.TLS == "" {
		o.TLS = TLSStartTLS
	}
	if o.Port == 0 {
		switch o.TLS {
		case TLSImplicit:
			o.Port = 465
		case TLSNone:
			o.Port = 25
		default:
			o.Port = 587
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	tlsConf := &tls.Config{ServerName: o.Host, MinVersion: tls.VersionTLS12}
	if o.TLSConfig != nil {
		tlsConf = o.TLSConfig.Clone()
		if tlsConf.ServerName == "" {
			tlsConf.ServerName = o.Host
		}
		if tlsConf.MinVersion == 0 {
			tlsConf.MinVersion = tls.VersionTLS12
		}
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mail: smtp: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mail: smtp: ca_file %s: no PEM certificates in it", o.CAFile)
		}
		tlsConf.RootCAs = pool
	}
	opts := []gomail.Option{
		gomail.WithPort(o.Port),
		gomail.WithTimeout(o.Timeout),
		gomail.WithTLSConfig(tlsConf),
		gomail.WithoutNoop(),
	}
	if o.HELO != "" {
		opts = append(opts, gomail.WithHELO(o.HELO))
	}
	switch o.TLS {
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("mail: smtp: tls mode %q: want starttls, tls or none", o.TLS)
	}
	if o.Username != "" {
		if o.TLS == TLSNone {
			return nil, errors.New("mail: smtp: a username is set but tls is none: the password would be sent unencrypted (set tls: starttls or tls)")
		}
		var mech gomail.SMTPAuthType
		switch o.Auth {
		case "", "plain":
			mech = gomail.SMTPAuthPlain
		case "login":
			mech = gomail.SMTPAuthLogin
		case "auto":
			mech = gomail.SMTPAuthAutoDiscover
		default:
			return nil, fmt.Errorf("mail: smtp: auth %q: want plain, login or auto", o.Auth)
		}
		opts = append(opts, gomail.WithSMTPAuth(mech), gomail.WithUsername(o.Username), gomail.WithPassword(o.Password))
	}
	return &SMTP{opts: o, tlsConf: tlsConf, base: opts}, nil
}

// Name is the transport label "smtp".
func (s *SMTP) Name() string { return TransportSMTP }

// Send delivers m. A 5xx answer to the recipient or the content is permanent; a failure to
// connect, authenticate or start TLS, a 4xx answer, or a connection lost after DATA is
// temporary (the last may mean the server already has the message: the outbox re-sends it with
// the same Message-ID).
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	msg, err := m.goMail()
	if err != nil {
		return err
	}
	if err := msg.EnvelopeFrom(m.From.Email); err != nil {
		return permanent("smtp: send", fmt.Errorf("envelope from: %w", err))
	}
	// go-mail uses ctx only while dialling; closing the connection when ctx ends makes a
	// stalled server release a shutting-down worker at once instead of after Timeout.
	var stop func() bool
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		raw, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		stop = context.AfterFunc(ctx, func() { raw.Close() })
		if s.opts.TLS != TLSImplicit {
			return raw, nil
		}
		tc := tls.Client(raw, s.tlsConf)
		if err := tc.HandshakeContext(dctx); err != nil {
			raw.Close()
			return nil, err
		}
		return tc, nil // a *tls.Conn, so go-mail knows the session is encrypted
	}
	c, err := gomail.NewClient(s.opts.Host, append(s.base, gomail.WithDialContextFunc(dial))...)
	if err != nil {
		return temporary("smtp: send", fmt.Errorf("client: %w", err))
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		if msg.IsDelivered() {
			// The server said 250 to the data; only RSET or QUIT failed afterwards. Reporting
			// an error would make the outbox send it again.
			return nil
		}
		if ctx.Err() != nil {
			return temporary("smtp: send", fmt.Errorf("%w (%v)", ctx.Err(), err))
		}
		return classifySMTP(err)
	}
	return nil
}

// classifySMTP turns a go-mail error into an *Error.
func classifySMTP(err error) error {
	var se *gomail.SendError
	if errors.As(err, &se) {
		switch code := se.ErrorCode(); {
		case se.Reason == gomail.ErrGetSender || se.Reason == gomail.ErrGetRcpts:
			return permanent("smtp: send", err)
		case code >= 500 && code < 600 &&
			(se.Reason == gomail.ErrSMTPRcptTo || se.Reason == gomail.ErrSMTPData || se.Reason == gomail.ErrSMTPDataClose):
			return permanent("smtp: send", err)
		}
	}
	// Dial, TLS and AUTH failures, 4xx answers, lost connections: a server or configuration
	// problem, not this message's.
	return temporary("smtp: send", err)
}
