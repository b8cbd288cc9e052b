package config

import (
	"time"
)

// OpsConfig is the ops section: readiness (docs/operations.md).
type OpsConfig struct {
	// ReadyMaxSyncAge makes /readyz fail when the data is older than this: with the pull syncer,
	// the oldest entity's last successful pull from the MIS; without it (push only, the demo),
	// the last batch applied from any source, so an empty never-filled cache is not ready.
	// Default 2h, for the pull syncer's minutes-long interval (match the MyptSyncStale alert if
	// you change it); a college that only pushes nightly sets about 26h. 0 keeps the default.
	ReadyMaxSyncAge time.Duration `yaml:"ready_max_sync_age"`
}

// DefaultReadyMaxSyncAge is ReadyMaxSyncAge's default.
const DefaultReadyMaxSyncAge = 2 * time.Hour

// WithDefaults returns c with unset fields at their defaults (Default calls it).
func (c OpsConfig) WithDefaults() OpsConfig {
	if c.ReadyMaxSyncAge == 0 {
		c.ReadyMaxSyncAge = DefaultReadyMaxSyncAge
	}
	return c
}

// Problems reports the ops section's problems, each starting with its key (for Validate).
func (c OpsConfig) Problems() []string {
	var ps []string
	switch {
	case c.ReadyMaxSyncAge < 0:
		ps = append(ps, "ready_max_sync_age: "+c.ReadyMaxSyncAge.String()+" is negative")
	case c.ReadyMaxSyncAge != 0 && c.ReadyMaxSyncAge < time.Minute:
		ps = append(ps, "ready_max_sync_age: "+c.ReadyMaxSyncAge.String()+" is under a minute: /readyz would flap between passes")
	}
	return ps
}
