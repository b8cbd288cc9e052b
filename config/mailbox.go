package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"time"
)

// MailboxConfig configures the support mailbox watcher (issue #6): where the unlock requests
// arrive, how to sign in, and the rules for acting on them. The watcher runs only when Enabled.
type MailboxConfig struct {
	// Enabled starts the watcher in `mypt serve`.
	Enabled bool `yaml:"enabled"`
	// Addr is the IMAP server, host:port (993 for tls, 143 for starttls).
	Addr string `yaml:"addr"`
	// Security is "tls" (implicit TLS, default), "starttls", or "plain" (no TLS: only for a
	// trusted local server or tests; never chosen automatically).
	Security string `yaml:"security"`
	// CAFile is a PEM file of extra CAs to trust (a private CA); empty uses the system roots.
	CAFile string `yaml:"ca_file"`
	// Username is the mailbox's login (for XOAUTH2, the mailbox address).
	Username string `yaml:"username"`
	// Auth is "password" (default) or "xoauth2" (Microsoft 365, Google).
	Auth string `yaml:"auth"`
	// Password for Auth "password" (or password_file).
	Password Secret `yaml:"password"`
	// OAuth2 is the client-credentials grant for Auth "xoauth2".
	OAuth2 MailboxOAuth2Config `yaml:"oauth2"`

	// Folder is the watched folder (default INBOX); handled messages are moved to
	// ProcessedFolder (default "Processed") or ReviewFolder (default "Needs review"), created
	// if missing.
	Folder          string `yaml:"folder"`
	ProcessedFolder string `yaml:"processed_folder"`
	ReviewFolder    string `yaml:"review_folder"`

	// ReIdle is how often IDLE is re-issued (default 10m; must be well under 29m).
	ReIdle time.Duration `yaml:"reidle"`
	// PollInterval is used when the server has no IDLE (default 1m).
	PollInterval time.Duration `yaml:"poll_interval"`
	// CommandTimeout bounds one IMAP command (default 1m).
	CommandTimeout time.Duration `yaml:"command_timeout"`
	// MaxMessageBytes: larger messages go to review unread (default 2 MiB).
	MaxMessageBytes int `yaml:"max_message_bytes"`

	// StudentIDPattern is a regular expression matching one Student ID as printed on the
	// college pass (default [0-9]{8}). A match counts only as a whole word.
	StudentIDPattern string `yaml:"student_id_pattern"`
	// AuthServID is the authserv-id the college's own receiving mail server writes in
	// Authentication-Results (e.g. "mx.croydon.ac.uk"); only its verdict is trusted. Required.
	// "none" is for Exchange Online, which writes no id: the topmost header is trusted only if
	// it has none.
	AuthServID string `yaml:"authserv_id"`
	// AllowSPFDKIM also accepts SPF and DKIM both passing aligned with From when DMARC did not
	// pass (for sender domains that publish no DMARC policy). Default false: dmarc=pass only.
	AllowSPFDKIM bool `yaml:"allow_spf_dkim"`
	// RetainDays is how long processed-message marks, review items (which hold the senders'
	// addresses and text) and rate-limit records are kept (default 90; at least 30, so a
	// re-delivered message is still recognised).
	RetainDays int `yaml:"retain_days"`
}

// MailboxOAuth2Config is an OAuth2 client-credentials grant.
type MailboxOAuth2Config struct {
	// TokenURL, e.g. https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token.
	TokenURL string `yaml:"token_url"`
	// ClientID is the application (client) id of the app registration.
	ClientID string `yaml:"client_id"`
	// ClientSecret (or client_secret_file).
	ClientSecret Secret `yaml:"client_secret"`
	// Scope, e.g. https://outlook.office365.com/.default.
	Scope string `yaml:"scope"`
}

// DefaultMailbox is the mailbox section's defaults (disabled).
func DefaultMailbox() MailboxConfig {
	return MailboxConfig{
		Security:         "tls",
		Auth:             "password",
		Folder:           "INBOX",
		ProcessedFolder:  "Processed",
		ReviewFolder:     "Needs review",
		ReIdle:           10 * time.Minute,
		PollInterval:     time.Minute,
		CommandTimeout:   time.Minute,
		MaxMessageBytes:  2 << 20,
		StudentIDPattern: `[0-9]{8}`,
		RetainDays:       90,
	}
}

// WithDefaults returns c with every zero key set to its default (the config loader calls it
// before reading the file).
func (c MailboxConfig) WithDefaults() MailboxConfig {
	d := DefaultMailbox()
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
	set(&c.Security, d.Security)
	set(&c.Auth, d.Auth)
	set(&c.Folder, d.Folder)
	set(&c.ProcessedFolder, d.ProcessedFolder)
	set(&c.ReviewFolder, d.ReviewFolder)
	set(&c.StudentIDPattern, d.StudentIDPattern)
	setD(&c.ReIdle, d.ReIdle)
	setD(&c.PollInterval, d.PollInterval)
	setD(&c.CommandTimeout, d.CommandTimeout)
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = d.MaxMessageBytes
	}
	if c.RetainDays == 0 {
		c.RetainDays = d.RetainDays
	}
	return c
}

// Validate checks the section; a disabled mailbox is always valid. Errors name the setting.
func (c MailboxConfig) Validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("mailbox."+format, a...)) }
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("addr: %q is not host:port", c.Addr)
	}
	switch c.Security {
	case "tls", "starttls", "plain":
	default:
		bad("security: %q: want tls, starttls or plain", c.Security)
	}
	if c.Username == "" {
		bad("username: required")
	}
	switch c.Auth {
	case "password":
		if !c.Password.IsSet() {
			bad("password: required for auth password (or set password_file)")
		}
	case "xoauth2":
		if c.OAuth2.TokenURL == "" || c.OAuth2.ClientID == "" || !c.OAuth2.ClientSecret.IsSet() {
			bad("oauth2: token_url, client_id and client_secret are required for auth xoauth2")
		}
	default:
		bad("auth: %q: want password or xoauth2", c.Auth)
	}
	if c.Folder == "" || c.ProcessedFolder == "" || c.ReviewFolder == "" ||
		c.Folder == c.ProcessedFolder || c.Folder == c.ReviewFolder || c.ProcessedFolder == c.ReviewFolder {
		bad("folder, processed_folder, review_folder: must be set and all different")
	}
	if c.ReIdle <= 0 || c.ReIdle > 25*time.Minute {
		bad("reidle: %s: must be between 0 and 25m (servers drop IDLE at 29m)", c.ReIdle)
	}
	if c.PollInterval <= 0 || c.CommandTimeout <= 0 {
		bad("poll_interval, command_timeout: must be positive")
	}
	if c.MaxMessageBytes < 16<<10 {
		bad("max_message_bytes: %d: at least 16384", c.MaxMessageBytes)
	}
	if re, err := regexp.Compile(c.StudentIDPattern); err != nil {
		bad("student_id_pattern: %v", err)
	} else if c.StudentIDPattern == "" || re.MatchString("") {
		bad("student_id_pattern: %q matches the empty string", c.StudentIDPattern)
	}
	if c.RetainDays < 30 {
		bad("retain_days: %d: at least 30, so a re-delivered message is still recognised", c.RetainDays)
	}
	if c.AuthServID == "" {
		bad("authserv_id: required (the college mail server's name in Authentication-Results)")
	}
	return errors.Join(errs...)
}
