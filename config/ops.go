package config

import (
	"fmt"
	"time"
)

// OpsConfig is the ops section: readiness and metrics (docs/operations.md).
type OpsConfig struct {
	// ReadyMaxSyncAge makes /readyz fail when the data is older than this: with the pull syncer,
	// the oldest entity's last successful sync; without it (push only, the demo), the last batch
	// applied from any source, so an empty never-filled cache is not ready. Default 2h, for the
	// pull syncer's minutes-long interval; a college that only pushes nightly sets about 26h.
	// 0 keeps the default.
	ReadyMaxSyncAge time.Duration `yaml:"ready_max_sync_age"`
}

// DefaultReadyMaxSyncAge is ReadyMaxSyncAge's default.
const DefaultReadyMaxSyncAge = 2 * time.Hour

// WithDefaults returns c with unset fields at their defaults.
func (c OpsConfig) WithDefaults() OpsConfig {
	if c.ReadyMaxSyncAge == 0 {
		c.ReadyMaxSyncAge = DefaultReadyMaxSyncAge
	}
	return c
}

// Validate reports a field that cannot work, naming it.
func (c OpsConfig) Validate() error {
	if c.ReadyMaxSyncAge < 0 {
		return fmt.Errorf("config: ops.ready_max_sync_age %s is negative", c.ReadyMaxSyncAge)
	}
	if c.ReadyMaxSyncAge != 0 && c.ReadyMaxSyncAge < time.Minute {
		return fmt.Errorf("config: ops.ready_max_sync_age %s is under a minute: /readyz would flap between passes", c.ReadyMaxSyncAge)
	}
	return nil
}
