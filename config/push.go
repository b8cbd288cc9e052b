package config

import (
	"fmt"
	"strings"
)

// PushConfig configures the MIS push API, POST /mis/v1/batches on the internal listener.
type PushConfig struct {
	// Tokens are the bearer tokens the MIS's jobs push with. None disables push (every request
	// answers 401). Give them as tokens_file (one file per token) to keep them out of the file.
	Tokens []Secret `yaml:"tokens"`
	// MaxBodyBytes bounds one batch's request body (default 64 MiB); larger answers 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// SnapshotMaxDeleteShare is the share of an entity's rows a snapshot may delete without
	// "force" (default 0.2): an empty or truncated export must never empty the portal.
	SnapshotMaxDeleteShare float64 `yaml:"snapshot_max_delete_share"`
}

// Default push limits.
const (
	DefaultPushMaxBodyBytes       = 64 << 20
	DefaultSnapshotMaxDeleteShare = 0.2
	minPushTokenLength            = 16
)

func (c *PushConfig) setDefaults() {
	c.MaxBodyBytes = DefaultPushMaxBodyBytes
	c.SnapshotMaxDeleteShare = DefaultSnapshotMaxDeleteShare
}

// Problems implements Problemer.
func (c *PushConfig) Problems() []string {
	var ps []string
	for i, t := range c.Tokens {
		switch v := t.Reveal(); {
		case len(v) < minPushTokenLength:
			// The message never shows the token, only its length.
			ps = append(ps, fmt.Sprintf("tokens[%d]: is %d characters; use at least %d random characters (e.g. openssl rand -hex 32)", i, len(v), minPushTokenLength))
		case strings.TrimSpace(v) != v || strings.ContainsAny(v, " \t\r\n"):
			ps = append(ps, fmt.Sprintf("tokens[%d]: contains spaces", i))
		}
	}
	if c.MaxBodyBytes <= 0 {
		ps = append(ps, fmt.Sprintf("max_body_bytes: %d must be above 0 (default %d)", c.MaxBodyBytes, DefaultPushMaxBodyBytes))
	}
	if c.SnapshotMaxDeleteShare <= 0 || c.SnapshotMaxDeleteShare > 1 {
		ps = append(ps, fmt.Sprintf("snapshot_max_delete_share: %v must be above 0 and at most 1 (default %v)", c.SnapshotMaxDeleteShare, DefaultSnapshotMaxDeleteShare))
	}
	return ps
}
