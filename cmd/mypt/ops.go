package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt/adapters/sqlite"
	"mypt/portal"
)

// registerOpsMetrics adds mypt_cache_size_bytes (the cache file plus its WAL, measured at
// each scrape) to the app's registry; mypt_build_info and the Go and process collectors come
// with portal.NewRegistry.
func (a *app) registerOpsMetrics(dbPath string) error {
	return a.reg.Register(sqlite.NewSizeCollector(dbPath))
}

// opsReadiness says which metric-based /readyz checks apply; serve fills it from the
// configuration.
type opsReadiness struct {
	// PullEnabled adds the "sync" check: the oldest entity's
	// mypt_sync_last_success_timestamp_seconds within MaxSyncAge (config ops.ready_max_sync_age).
	PullEnabled bool
	MaxSyncAge  time.Duration
	// LastApplied, without the pull syncer, adds the "data" check: the last batch applied from
	// any source (push, the demo's load) within MaxSyncAge. Without it and without the pull
	// syncer there is no freshness check.
	LastApplied func(ctx context.Context) (time.Time, error)
	// MailboxEnabled adds the "mailbox" check: mypt_mailbox_connected is 1.
	MailboxEnabled bool
	Now            func() time.Time
}

// opsReadinessChecks returns the "sync" (or "data") and "mailbox" checks for /readyz, to append to the
// cache and schema checks. They read the metrics the pull syncer and the mailbox watcher
// export on g, so they need no handle on those components; register the components on g
// before the first probe.
func opsReadinessChecks(g prometheus.Gatherer, o opsReadiness) []portal.ReadinessCheck {
	if o.Now == nil {
		o.Now = time.Now
	}
	var checks []portal.ReadinessCheck
	if o.PullEnabled {
		checks = append(checks, portal.MaxAgeCheck("sync", o.MaxSyncAge, o.Now,
			portal.OldestGaugeTimestamp(g, "mypt_sync_last_success_timestamp_seconds")))
	} else if o.LastApplied != nil {
		checks = append(checks, portal.MaxAgeCheck("data", o.MaxSyncAge, o.Now, o.LastApplied))
	}
	if o.MailboxEnabled {
		checks = append(checks, portal.GaugeCheck("mailbox", g, "mypt_mailbox_connected", 1,
			"not connected to the support mailbox"))
	}
	return checks
}
