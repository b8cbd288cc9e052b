package main

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt/adapters/sqlite"
	"mypt/portal"
)

// opsReadiness says which /readyz checks apply; serve fills it from the
// configuration.
type opsReadiness struct {
	// PullEnabled adds the "sync" check: the oldest entity's
	// mypt_sync_last_success_timestamp_seconds within MaxSyncAge.
	PullEnabled bool
	MaxSyncAge  time.Duration
	// MailboxEnabled adds the "mailbox" check: mypt_mailbox_connected is 1.
	MailboxEnabled bool
	Now            func() time.Time
}

// opsReadinessChecks returns the checks for portal.ReadyzHandler: "cache"
// (the SQLite file answers a query), "schema" (every migration this binary
// knows is applied), and "sync" and "mailbox" when enabled, read from the
// metrics those components export on g, so the checks need no handle on
// the components themselves.
func opsReadinessChecks(store *sqlite.Store, g prometheus.Gatherer, o opsReadiness) []portal.ReadinessCheck {
	if o.Now == nil {
		o.Now = time.Now
	}
	checks := []portal.ReadinessCheck{
		{Name: "cache", Check: func(ctx context.Context) error {
			var one int
			if err := store.ReadDB().QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
				return fmt.Errorf("cache does not answer: %w", err)
			}
			return nil
		}},
		{Name: "schema", Check: func(ctx context.Context) error {
			v, err := store.SchemaVersion(ctx)
			if err != nil {
				return err
			}
			if latest := sqlite.LatestSchema(); v != latest {
				return fmt.Errorf("cache schema is at version %d, this binary expects %d", v, latest)
			}
			return nil
		}},
	}
	if o.PullEnabled {
		checks = append(checks, portal.MaxAgeCheck("sync", o.MaxSyncAge, o.Now,
			portal.OldestGaugeTimestamp(g, "mypt_sync_last_success_timestamp_seconds")))
	}
	if o.MailboxEnabled {
		checks = append(checks, portal.GaugeCheck("mailbox", g, "mypt_mailbox_connected", 1,
			"not connected to the support mailbox"))
	}
	return checks
}
