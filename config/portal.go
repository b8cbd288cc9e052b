package config

import (
	"errors"
	"fmt"
	"time"
)

// PortalConfig configures the parents' site: sessions, lockout, rate limits, password hashing
// and the page cache. Zero values take the defaults of WithDefaults.
type PortalConfig struct {
	// SessionIdleTimeout ends a session after this long without a request (default 20m).
	SessionIdleTimeout time.Duration `yaml:"session_idle_timeout"`
	// SessionMaxAge ends a session this long after sign-in, however active (default 8h).
	SessionMaxAge time.Duration `yaml:"session_max_age"`
	// LockoutAttempts is how many wrong passwords in a row lock an account (default 3, the seed's rule).
	LockoutAttempts int `yaml:"lockout_attempts"`
	// LoginRatePerMinute is how many sign-in attempts one client address may make per minute
	// (default 10), with bursts of LoginRateBurst (default 5).
	LoginRatePerMinute float64 `yaml:"login_rate_per_minute"`
	LoginRateBurst     int     `yaml:"login_rate_burst"`
	// InsecureCookies drops the __Host- prefix and the Secure flag so the plain-http demo works.
	// Never set it behind a real deployment.
	InsecureCookies bool `yaml:"insecure_cookies"`
	// Argon2 sets the password hash cost. Changing it re-hashes each password at its next sign-in.
	Argon2 Argon2Config `yaml:"argon2"`
	// PageCacheEntries bounds the in-memory cache of rendered attendance reports (default 1024; -1 disables).
	PageCacheEntries int `yaml:"page_cache_entries"`
	// MaxFormBytes bounds a form post's body (default 64 KiB).
	MaxFormBytes int64 `yaml:"max_form_bytes"`
}

// Argon2Config is the argon2id cost.
type Argon2Config struct {
	MemoryKiB   uint32 `yaml:"memory_kib"`  // default 19456 (19 MiB, OWASP's minimum for argon2id)
	Iterations  uint32 `yaml:"iterations"`  // default 2
	Parallelism uint8  `yaml:"parallelism"` // default 1
}

// WithDefaults returns p with every zero field set to its default.
func (p PortalConfig) WithDefaults() PortalConfig {
	if p.SessionIdleTimeout == 0 {
		p.SessionIdleTimeout = 20 * time.Minute
	}
	if p.SessionMaxAge == 0 {
		p.SessionMaxAge = 8 * time.Hour
	}
	if p.LockoutAttempts == 0 {
		p.LockoutAttempts = 3
	}
	if p.LoginRatePerMinute == 0 {
		p.LoginRatePerMinute = 10
	}
	if p.LoginRateBurst == 0 {
		p.LoginRateBurst = 5
	}
	if p.Argon2.MemoryKiB == 0 {
		p.Argon2.MemoryKiB = 19456
	}
	if p.Argon2.Iterations == 0 {
		p.Argon2.Iterations = 2
	}
	if p.Argon2.Parallelism == 0 {
		p.Argon2.Parallelism = 1
	}
	if p.PageCacheEntries == 0 {
		p.PageCacheEntries = 1024
	}
	if p.MaxFormBytes == 0 {
		p.MaxFormBytes = 64 << 10
	}
	return p
}

// Validate reports every bad setting (after WithDefaults), each as "key: message".
func (p PortalConfig) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if p.SessionIdleTimeout < time.Minute {
		bad("session_idle_timeout", "%s must be at least 1m", p.SessionIdleTimeout)
	}
	if p.SessionMaxAge < p.SessionIdleTimeout {
		bad("session_max_age", "%s must not be shorter than session_idle_timeout (%s)", p.SessionMaxAge, p.SessionIdleTimeout)
	}
	if p.LockoutAttempts < 1 || p.LockoutAttempts > 100 {
		bad("lockout_attempts", "%d must be between 1 and 100", p.LockoutAttempts)
	}
	if p.LoginRatePerMinute <= 0 {
		bad("login_rate_per_minute", "%v must be above 0", p.LoginRatePerMinute)
	}
	if p.LoginRateBurst < 1 {
		bad("login_rate_burst", "%d must be at least 1", p.LoginRateBurst)
	}
	if p.Argon2.MemoryKiB < 1024 || p.Argon2.MemoryKiB > 1<<20 {
		bad("argon2.memory_kib", "%d must be between 1024 and 1048576", p.Argon2.MemoryKiB)
	}
	if p.Argon2.Iterations < 1 || p.Argon2.Iterations > 20 {
		bad("argon2.iterations", "%d must be between 1 and 20", p.Argon2.Iterations)
	}
	if p.Argon2.Parallelism < 1 || p.Argon2.Parallelism > 16 {
		bad("argon2.parallelism", "%d must be between 1 and 16", p.Argon2.Parallelism)
	}
	if p.PageCacheEntries < -1 {
		bad("page_cache_entries", "%d must be -1 (off) or more", p.PageCacheEntries)
	}
	if p.MaxFormBytes < 1024 {
		bad("max_form_bytes", "%d must be at least 1024", p.MaxFormBytes)
	}
	return errors.Join(errs...)
}
