package config

import (
	"errors"
	"fmt"
	"time"
)

// Approval policies for account requests whose every check passed.
const (
	ApprovalAuto   = "auto"   // approve at once
	ApprovalManual = "manual" // queue every request for staff
)

// AccountsConfig configures account requests, approval, one-time tokens, the staff site and
// retention. Zero values take the defaults of WithDefaults. Password hashing cost is the
// portal's (portal.argon2), shared by parents and staff.
type AccountsConfig struct {
	// ApprovalPolicy is "auto" (a full match is approved at once; the default) or "manual"
	// (every verified request waits for staff).
	ApprovalPolicy string `yaml:"approval_policy"`
	// VerifyTokenTTL is how long an email verification link works (default 48h).
	VerifyTokenTTL time.Duration `yaml:"verify_token_ttl"`
	// ResetTokenTTL is how long a password reset link works (default 1h).
	ResetTokenTTL time.Duration `yaml:"reset_token_ttl"`
	// ConsentTokenTTL is how long the student's consent link works (default 14 days).
	ConsentTokenTTL time.Duration `yaml:"consent_token_ttl"`
	// PasswordMinScore is the lowest zxcvbn score (0–4) a new password may have (default 3;
	// 0 keeps only the seed's rule).
	PasswordMinScore int `yaml:"password_min_score"`
	// RetainUnverifiedDays, RetainRejectedDays and RetainNoChildrenDays are how long unverified
	// requests (default 14), rejected requests (default 90) and accounts with no child left
	// (default 30) are kept before the purge removes them.
	RetainUnverifiedDays int `yaml:"retain_unverified_days"`
	RetainRejectedDays   int `yaml:"retain_rejected_days"`
	RetainNoChildrenDays int `yaml:"retain_no_children_days"`
	// SweepInterval is how often links are re-checked, lock notices sent and retention applied
	// when no sync triggers it (default 10m).
	SweepInterval time.Duration `yaml:"sweep_interval"`
	// ForgotPasswordMinDuration pads every forgot-password answer to at least this long, so
	// known and unknown emails take the same time (default 400ms).
	ForgotPasswordMinDuration time.Duration `yaml:"forgot_password_min_duration"`
	// StaffSessionIdleTimeout and StaffSessionMaxAge bound staff sessions (defaults 30m, 10h).
	StaffSessionIdleTimeout time.Duration `yaml:"staff_session_idle_timeout"`
	StaffSessionMaxAge      time.Duration `yaml:"staff_session_max_age"`
	// StaffLockoutAttempts locks a staff user after this many wrong passwords (default 5).
	StaffLockoutAttempts int `yaml:"staff_lockout_attempts"`
	// MailDir is the file transport's directory whose .eml files the staff site lists (the
	// demo's DIR/mail); empty hides that page.
	MailDir string `yaml:"mail_dir"`
}

// WithDefaults returns c with every zero field set to its default.
func (c AccountsConfig) WithDefaults() AccountsConfig {
	if c.ApprovalPolicy == "" {
		c.ApprovalPolicy = ApprovalAuto
	}
	if c.VerifyTokenTTL == 0 {
		c.VerifyTokenTTL = 48 * time.Hour
	}
	if c.ResetTokenTTL == 0 {
		c.ResetTokenTTL = time.Hour
	}
	if c.ConsentTokenTTL == 0 {
		c.ConsentTokenTTL = 14 * 24 * time.Hour
	}
	if c.PasswordMinScore == 0 {
		c.PasswordMinScore = 3
	}
	if c.RetainUnverifiedDays == 0 {
		c.RetainUnverifiedDays = 14
	}
	if c.RetainRejectedDays == 0 {
		c.RetainRejectedDays = 90
	}
	if c.RetainNoChildrenDays == 0 {
		c.RetainNoChildrenDays = 30
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = 10 * time.Minute
	}
	if c.ForgotPasswordMinDuration == 0 {
		c.ForgotPasswordMinDuration = 400 * time.Millisecond
	}
	if c.StaffSessionIdleTimeout == 0 {
		c.StaffSessionIdleTimeout = 30 * time.Minute
	}
	if c.StaffSessionMaxAge == 0 {
		c.StaffSessionMaxAge = 10 * time.Hour
	}
	if c.StaffLockoutAttempts == 0 {
		c.StaffLockoutAttempts = 5
	}
	return c
}

// Validate reports every bad setting (call it on WithDefaults' result), each as "key: message".
func (c AccountsConfig) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.ApprovalPolicy != ApprovalAuto && c.ApprovalPolicy != ApprovalManual {
		bad("approval_policy", "%q must be %q or %q", c.ApprovalPolicy, ApprovalAuto, ApprovalManual)
	}
	if c.VerifyTokenTTL < time.Minute || c.VerifyTokenTTL > 30*24*time.Hour {
		bad("verify_token_ttl", "%s must be between 1m and 720h", c.VerifyTokenTTL)
	}
	if c.ResetTokenTTL < time.Minute || c.ResetTokenTTL > 24*time.Hour {
		bad("reset_token_ttl", "%s must be between 1m and 24h", c.ResetTokenTTL)
	}
	if c.ConsentTokenTTL < time.Hour || c.ConsentTokenTTL > 90*24*time.Hour {
		bad("consent_token_ttl", "%s must be between 1h and 2160h", c.ConsentTokenTTL)
	}
	if c.PasswordMinScore < 0 || c.PasswordMinScore > 4 {
		bad("password_min_score", "%d must be between 0 and 4", c.PasswordMinScore)
	}
	for _, d := range []struct {
		key  string
		days int
	}{{"retain_unverified_days", c.RetainUnverifiedDays}, {"retain_rejected_days", c.RetainRejectedDays}, {"retain_no_children_days", c.RetainNoChildrenDays}} {
		if d.days < 1 {
			bad(d.key, "%d must be at least 1", d.days)
		}
	}
	if c.SweepInterval < time.Second {
		bad("sweep_interval", "%s must be at least 1s", c.SweepInterval)
	}
	if c.ForgotPasswordMinDuration < 0 || c.ForgotPasswordMinDuration > 10*time.Second {
		bad("forgot_password_min_duration", "%s must be between 0 and 10s", c.ForgotPasswordMinDuration)
	}
	if c.StaffLockoutAttempts < 1 {
		bad("staff_lockout_attempts", "%d must be at least 1", c.StaffLockoutAttempts)
	}
	return errors.Join(errs...)
}
