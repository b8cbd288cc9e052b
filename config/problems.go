package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"mypt"
)

// Problems checks what spans sections.
func (c *Config) Problems() []string {
	var ps []string
	if c.Public.Addr != "" && c.Public.Addr == c.Internal.Addr {
		ps = append(ps, fmt.Sprintf("internal.addr: %q is also public.addr; the internal site must never be on the public listener", c.Internal.Addr))
	}
	return ps
}

// Problems implements Problemer.
func (d *DataConfig) Problems() []string {
	if strings.TrimSpace(d.Dir) == "" {
		return []string{"dir: is required (the directory holding mypt.db)"}
	}
	return nil
}

// Problems implements Problemer.
func (c *CollegeConfig) Problems() []string {
	var ps []string
	if strings.TrimSpace(c.Name) == "" {
		ps = append(ps, "name: is required (shown on every page and email)")
	}
	switch u, err := url.Parse(c.PublicBaseURL); {
	case c.PublicBaseURL == "":
		ps = append(ps, "public_base_url: is required (every emailed link is built from it)")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		ps = append(ps, fmt.Sprintf("public_base_url: %q is not an absolute http(s) URL", c.PublicBaseURL))
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		ps = append(ps, fmt.Sprintf("public_base_url: %q must not carry a query, fragment or user", c.PublicBaseURL))
	}
	for _, e := range []struct{ key, v string }{{"support_email", c.SupportEmail}, {"attendance_email", c.AttendanceEmail}} {
		if e.v != "" && !strings.Contains(e.v, "@") {
			ps = append(ps, fmt.Sprintf("%s: %q is not an email address", e.key, e.v))
		}
	}
	codes := map[string]bool{}
	for i, s := range c.Sites {
		if s.Code == "" {
			ps = append(ps, fmt.Sprintf("sites[%d].code: is required", i))
		} else if codes[s.Code] {
			ps = append(ps, fmt.Sprintf("sites[%d].code: %q is listed twice", i, s.Code))
		}
		codes[s.Code] = true
		if s.Name == "" {
			ps = append(ps, fmt.Sprintf("sites[%d].name: is required", i))
		}
	}
	return ps
}

// Problems implements Problemer.
func (l *ListenerConfig) Problems() []string {
	var ps []string
	if l.Addr != "" {
		host, port, err := net.SplitHostPort(l.Addr)
		if err != nil {
			ps = append(ps, fmt.Sprintf("addr: %q is not host:port (e.g. :8080 or 127.0.0.1:9090)", l.Addr))
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			ps = append(ps, fmt.Sprintf("addr: port %q is not a number from 0 to 65535", port))
		} else if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /") {
			ps = append(ps, fmt.Sprintf("addr: host %q is not a host name or IP address", host))
		}
	}
	if (l.TLSCertFile == "") != (l.TLSKeyFile == "") {
		ps = append(ps, "tls_cert_file: and tls_key_file must be set together")
	}
	return ps
}

// Problems implements Problemer.
func (l *LogConfig) Problems() []string {
	var ps []string
	if l.Format != "text" && l.Format != "json" {
		ps = append(ps, fmt.Sprintf("format: %q must be \"text\" or \"json\"", l.Format))
	}
	switch strings.ToLower(l.Level) {
	case "debug", "info", "warn", "warning", "error":
	default:
		ps = append(ps, fmt.Sprintf("level: %q must be debug, info, warn or error", l.Level))
	}
	return ps
}

// Problems implements Problemer.
func (a *AttendanceConfig) Problems() []string {
	var ps []string
	if _, err := mypt.ParseUnmarkedPolicy(a.Unmarked); err != nil {
		ps = append(ps, "unmarked: "+err.Error())
	}
	if _, err := mypt.ParseBands(a.Bands); err != nil {
		ps = append(ps, "bands: "+strings.TrimPrefix(err.Error(), "bands: "))
	}
	return ps
}

// Policy returns the eligibility rules as the domain takes them.
func (e EligibilityConfig) Policy() mypt.EligibilityPolicy {
	return mypt.EligibilityPolicy{MaxAge: e.MaxAge, MaxAgeEHCP: e.MaxAgeEHCP, AgeReference: e.AgeReference, LeftGraceDays: e.LeftGraceDays}
}

// Problems implements Problemer: every bad key, not only the first the domain's
// EligibilityPolicy.Validate names (which still has the last word).
func (e *EligibilityConfig) Problems() []string {
	var ps []string
	if e.MaxAge < 1 || e.MaxAge > 120 {
		ps = append(ps, fmt.Sprintf("max_age: %d must be between 1 and 120", e.MaxAge))
	}
	if e.MaxAgeEHCP < e.MaxAge || e.MaxAgeEHCP > 120 {
		if e.MaxAge >= 1 && e.MaxAge <= 120 {
			ps = append(ps, fmt.Sprintf("max_age_ehcp: %d must be between max_age (%d) and 120", e.MaxAgeEHCP, e.MaxAge))
		}
	}
	if e.AgeReference != mypt.AgeAtAcademicYearStart && e.AgeReference != mypt.AgeToday {
		ps = append(ps, fmt.Sprintf("age_reference: %q must be %q or %q", e.AgeReference, mypt.AgeAtAcademicYearStart, mypt.AgeToday))
	}
	if e.LeftGraceDays < 0 {
		ps = append(ps, fmt.Sprintf("left_grace_days: %d must not be negative", e.LeftGraceDays))
	}
	if err := e.Policy().Validate(); err != nil && len(ps) == 0 {
		ps = append(ps, err.Error())
	}
	return ps
}
