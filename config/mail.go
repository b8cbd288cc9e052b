package config

import (
	"errors"
	"fmt"
	"net/mail"
	"path/filepath"
	"strings"
	"time"
)

// MailConfig configures outbound email: which transport delivers the outbox, the sender, and
// how failed deliveries are retried. Keys are documented in docs/mail.md.
type MailConfig struct {
	// Transport is smtp, graph or file. Empty: emails are queued in the cache but not sent
	// (mypt_outbox_pending grows) until a transport is configured.
	Transport string `yaml:"transport"`
	// FromAddress is the sending address, e.g. noreply@college.ac.uk.
	FromAddress string `yaml:"from_address"`
	// FromName is the display name; default college.name.
	FromName string `yaml:"from_name"`
	// ReplyTo is where replies go; default college.support_email. "none" sets no Reply-To.
	ReplyTo string `yaml:"reply_to"`
	// MessageIDDomain is the right-hand side of every Message-ID; default the domain of
	// FromAddress. Do not change it while emails are queued: a re-send must keep its Message-ID.
	MessageIDDomain string `yaml:"message_id_domain"`

	SMTP  SMTPConfig      `yaml:"smtp"`
	Graph GraphConfig     `yaml:"graph"`
	File  FileMailConfig  `yaml:"file"`
	Retry MailRetryConfig `yaml:"retry"`
}

// SMTPConfig is the SMTP submission server.
type SMTPConfig struct {
	Host string `yaml:"host"`
	// Port defaults by TLS mode: 587 starttls, 465 tls, 25 none.
	Port int `yaml:"port"`
	// TLS is starttls (default; the server must offer it), tls (implicit, port 465) or none
	// (plain; only for a relay on a trusted network, and never with a username).
	TLS string `yaml:"tls"`
	// Username and Password authenticate to the server (none when empty); give the password
	// as password_file or MYPT_MAIL_SMTP_PASSWORD_FILE.
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	// Auth is plain (default), login or auto.
	Auth string `yaml:"auth"`
	// CAFile is a PEM bundle to trust instead of the system's roots (a private CA).
	CAFile string `yaml:"ca_file"`
	// HELO is the name given in EHLO; default the host name.
	HELO string `yaml:"helo"`
	// Timeout bounds one connection, from dial to QUIT.
	Timeout time.Duration `yaml:"timeout"`
}

// GraphConfig is Microsoft Graph sendMail with an app registration (client credentials). The
// app needs the Mail.Send application permission, ideally limited to Sender by an application
// access policy.
type GraphConfig struct {
	TenantID     string `yaml:"tenant_id"`
	ClientID     string `yaml:"client_id"`
	ClientSecret Secret `yaml:"client_secret"`
	// Sender is the mailbox that sends (UPN or user id); default mail.from_address.
	Sender string `yaml:"sender"`
	// LoginURL and GraphURL change only for national clouds.
	LoginURL string `yaml:"login_url"`
	GraphURL string `yaml:"graph_url"`
	// Timeout bounds one HTTP attempt.
	Timeout time.Duration `yaml:"timeout"`
	// MaxRetries is how often one call is retried where that is safe (throttling, never a
	// sendMail whose outcome is unknown).
	MaxRetries int `yaml:"max_retries"`
	// RetryAfterMax is the longest Retry-After honoured inside one call.
	RetryAfterMax time.Duration `yaml:"retry_after_max"`
}

// FileMailConfig is the file sink: one .eml file per email (the demo, tests, air-gapped trials).
type FileMailConfig struct {
	// Dir is where .eml files go; default <data.dir>/mail.
	Dir string `yaml:"dir"`
}

// MailRetryConfig is the outbox worker's schedule.
type MailRetryConfig struct {
	// Interval is how often the outbox looks for due email.
	Interval time.Duration `yaml:"interval"`
	// BackoffMin is the wait after the first failure; it doubles per failure up to BackoffMax.
	BackoffMin time.Duration `yaml:"backoff_min"`
	BackoffMax time.Duration `yaml:"backoff_max"`
	// MaxAttempts is how many attempts an email gets before it is given up.
	MaxAttempts int `yaml:"max_attempts"`
	// SendTimeout bounds one delivery attempt.
	SendTimeout time.Duration `yaml:"send_timeout"`
	// RetainSent is how long sent emails stay in the cache; 0 keeps them for ever.
	RetainSent time.Duration `yaml:"retain_sent"`
}

// Mail transports.
const (
	MailTransportSMTP  = "smtp"
	MailTransportGraph = "graph"
	MailTransportFile  = "file"
)

// DefaultMail is the mail section's defaults.
func DefaultMail() MailConfig {
	return MailConfig{
		SMTP: SMTPConfig{TLS: "starttls", Auth: "plain", Timeout: 30 * time.Second},
		Graph: GraphConfig{
			LoginURL: "https://login.microsoftonline.com", GraphURL: "https://graph.microsoft.com/v1.0",
			Timeout: 30 * time.Second, MaxRetries: 4, RetryAfterMax: time.Minute,
		},
		Retry: MailRetryConfig{
			Interval: 5 * time.Second, BackoffMin: 30 * time.Second, BackoffMax: time.Hour,
			MaxAttempts: 25, SendTimeout: 2 * time.Minute, RetainSent: 7 * 24 * time.Hour,
		},
	}
}

// WithDefaults returns c with every zero key set to its default (the config loader calls it
// before reading the file, so a key the file sets to zero stays zero).
func (c MailConfig) WithDefaults() MailConfig {
	d := DefaultMail()
	set := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	setD := func(dst *time.Duration, v time.Duration) {
		if *dst == 0 {
			*dst = v
		}
	}
	set(&c.SMTP.TLS, d.SMTP.TLS)
	set(&c.SMTP.Auth, d.SMTP.Auth)
	setD(&c.SMTP.Timeout, d.SMTP.Timeout)
	set(&c.Graph.LoginURL, d.Graph.LoginURL)
	set(&c.Graph.GraphURL, d.Graph.GraphURL)
	setD(&c.Graph.Timeout, d.Graph.Timeout)
	setD(&c.Graph.RetryAfterMax, d.Graph.RetryAfterMax)
	if c.Graph.MaxRetries == 0 {
		c.Graph.MaxRetries = d.Graph.MaxRetries
	}
	setD(&c.Retry.Interval, d.Retry.Interval)
	setD(&c.Retry.BackoffMin, d.Retry.BackoffMin)
	setD(&c.Retry.BackoffMax, d.Retry.BackoffMax)
	setD(&c.Retry.SendTimeout, d.Retry.SendTimeout)
	setD(&c.Retry.RetainSent, d.Retry.RetainSent)
	if c.Retry.MaxAttempts == 0 {
		c.Retry.MaxAttempts = d.Retry.MaxAttempts
	}
	return c
}

// FileDir is the file sink's directory: File.Dir, or <dataDir>/mail.
func (c MailConfig) FileDir(dataDir string) string {
	if c.File.Dir != "" {
		return c.File.Dir
	}
	return filepath.Join(dataDir, "mail")
}

// SMTPPort is the configured port or the TLS mode's usual one.
func (c SMTPConfig) SMTPPort() int {
	if c.Port != 0 {
		return c.Port
	}
	switch c.TLS {
	case "tls":
		return 465
	case "none":
		return 25
	}
	return 587
}

// Validate reports every problem in the mail section, each naming its key.
func (c MailConfig) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("mail.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	switch c.Transport {
	case "":
		return nil // queue only
	case MailTransportSMTP, MailTransportGraph, MailTransportFile:
	default:
		bad("transport", "%q: want smtp, graph or file", c.Transport)
	}
	if !isEmail(c.FromAddress) {
		bad("from_address", "%q is not an email address", c.FromAddress)
	}
	if strings.ContainsAny(c.FromName, "\r\n") {
		bad("from_name", "contains a line break")
	}
	if c.ReplyTo != "" && c.ReplyTo != "none" && !isEmail(c.ReplyTo) {
		bad("reply_to", "%q is not an email address", c.ReplyTo)
	}
	if strings.ContainsAny(c.MessageIDDomain, "<>@ \r\n") {
		bad("message_id_domain", "%q is not a domain", c.MessageIDDomain)
	}
	switch c.Transport {
	case MailTransportSMTP:
		s := c.SMTP
		if s.Host == "" {
			bad("smtp.host", "is required for transport smtp")
		}
		if s.Port < 0 || s.Port > 65535 {
			bad("smtp.port", "%d is not a port", s.Port)
		}
		switch s.TLS {
		case "starttls", "tls", "none":
		default:
			bad("smtp.tls", "%q: want starttls, tls or none", s.TLS)
		}
		switch s.Auth {
		case "", "plain", "login", "auto":
		default:
			bad("smtp.auth", "%q: want plain, login or auto", s.Auth)
		}
		if s.TLS == "none" && s.Username != "" {
			bad("smtp.tls", "none with a username would send the password unencrypted; use starttls or tls")
		}
		if s.Username != "" && !s.Password.IsSet() {
			bad("smtp.password", "is required when smtp.username is set (or set smtp.password_file)")
		}
		if s.Timeout < 0 {
			bad("smtp.timeout", "is negative")
		}
	case MailTransportGraph:
		g := c.Graph
		if g.TenantID == "" {
			bad("graph.tenant_id", "is required for transport graph")
		}
		if g.ClientID == "" {
			bad("graph.client_id", "is required for transport graph")
		}
		if !g.ClientSecret.IsSet() {
			bad("graph.client_secret", "is required for transport graph (or set graph.client_secret_file)")
		}
		if g.MaxRetries < 0 {
			bad("graph.max_retries", "is negative")
		}
		for key, u := range map[string]string{"graph.login_url": g.LoginURL, "graph.graph_url": g.GraphURL} {
			if u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://127.0.0.1") {
				bad(key, "%q must be an https URL", u)
			}
		}
	}
	r := c.Retry
	if r.Interval < 0 || r.BackoffMin < 0 || r.BackoffMax < 0 || r.SendTimeout < 0 || r.RetainSent < 0 {
		bad("retry", "durations must not be negative")
	}
	if r.BackoffMax != 0 && r.BackoffMin > r.BackoffMax {
		bad("retry.backoff_min", "%v is more than retry.backoff_max %v", r.BackoffMin, r.BackoffMax)
	}
	if r.MaxAttempts < 0 {
		bad("retry.max_attempts", "is negative")
	}
	return errors.Join(errs...)
}

func isEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s
}
