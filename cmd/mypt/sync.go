package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt"
	"mypt/adapters/mssql"
	"mypt/adapters/sqlite"
	"mypt/config"
	"mypt/syncer"
)

// misQueries turns the config's entity-name keys into the adapter's map, refusing unknown names.
func misQueries(m map[string]string, what string) (map[mypt.Entity]string, error) {
	out := map[mypt.Entity]string{}
	for k, q := range m {
		e, err := mypt.ParseEntity(k)
		if err != nil {
			return nil, fmt.Errorf("config: mis.%s: %w", what, err)
		}
		out[e] = q
	}
	return out, nil
}

// misLocation is the zone of the MIS's datetimes and of the nightly reconciliation.
func misLocation(mis config.MISConfig) (*time.Location, error) {
	tz := mis.TimeZone
	if tz == "" {
		tz = "Europe/London"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("config: mis.time_zone %q: %w", tz, err)
	}
	return loc, nil
}

// misDSN builds the connection URL from the mis section (the password is revealed only here).
func misDSN(mis config.MISConfig) string {
	return mssql.ConnOptions{
		Host: mis.Host, Port: mis.Port, Instance: mis.Instance, Database: mis.Database,
		User: mis.User, Password: mis.Password.Reveal(),
		Encrypt: mis.Encrypt, TrustServerCertificate: mis.TrustServerCertificate,
		Certificate: mis.Certificate, HostNameInCertificate: mis.HostNameInCertificate, TLSMin: mis.TLSMin,
		DialTimeout: mis.DialTimeout, KeepAlive: mis.KeepAlive, AppName: "mypt",
	}.DSN()
}

// misConfiguredDSN is mis.dsn with mis.password (e.g. from password_file) put in as the
// user's password when the DSN names a user but carries no password of its own. It never
// shows the DSN in an error: it may hold a password.
func misConfiguredDSN(mis config.MISConfig) (string, error) {
	dsn := mis.DSN.Reveal()
	if dsn == "" || !mis.Password.IsSet() {
		return dsn, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", errors.New("config: mis.dsn is not a valid sqlserver:// URL")
	}
	if u.User == nil || u.Query().Has("password") {
		return dsn, nil
	}
	if _, has := u.User.Password(); has {
		return dsn, nil
	}
	u.User = url.UserPassword(u.User.Username(), mis.Password.Reveal())
	return u.String(), nil
}

// openMISSource connects to the MIS: it fails at start-up with a *mssql.ConnectError that names
// the cause and the setting (MS-3). dsn overrides the one built from mis when not empty.
func openMISSource(ctx context.Context, mis config.MISConfig, dsn string, logger *slog.Logger) (*mssql.Source, error) {
	if dsn == "" {
		var err error
		if dsn, err = misConfiguredDSN(mis); err != nil {
			return nil, err
		}
	}
	if dsn == "" {
		if mis.Host == "" {
			return nil, errors.New("config: mis.host is not set")
		}
		dsn = misDSN(mis)
	}
	loc, err := misLocation(mis)
	if err != nil {
		return nil, err
	}
	qs, err := misQueries(mis.Queries, "queries")
	if err != nil {
		return nil, err
	}
	ks, err := misQueries(mis.KeyQueries, "key_queries")
	if err != nil {
		return nil, err
	}
	return mssql.Open(ctx, mssql.Options{DSN: dsn, Location: loc, Queries: qs, KeyQueries: ks,
		MaxDocumentBytes: mis.MaxDocumentBytes, Logger: logger})
}

// newMISPuller wires the pull loop onto a source and the cache, with run history in the cache.
// afterRun, when set, is called after every entity's pass has been recorded (serve passes the
// eligibility sweep's Notify, so access that a sync ended ends at once).
func newMISPuller(mis config.MISConfig, src syncer.Source, store *sqlite.Store, logger *slog.Logger,
	reg prometheus.Registerer, now func() time.Time, afterRun func(syncer.Run)) (*syncer.Puller, error) {
	loc, err := misLocation(mis)
	if err != nil {
		return nil, err
	}
	at := mis.ReconcileAt
	if at == "" {
		at = "02:30"
	}
	daily, err := syncer.ParseDaily(at, loc)
	if err != nil {
		return nil, fmt.Errorf("config: mis.reconcile_at: %w", err)
	}
	var entities []mypt.Entity
	for _, s := range mis.Entities {
		e, err := mypt.ParseEntity(s)
		if err != nil {
			return nil, fmt.Errorf("config: mis.entities: %w", err)
		}
		entities = append(entities, e)
	}
	return syncer.NewPuller(syncer.PullOptions{
		Source: src, Cache: store, Entities: entities,
		PollInterval: mis.PollInterval, PassTimeout: mis.PassTimeout, BatchRows: mis.BatchRows,
		Reconcile: daily, MaxDeleteShare: mis.MaxDeleteShare,
		RetryAttempts: mis.RetryAttempts, RetryBackoff: mis.RetryBackoff, RetryMaxBackoff: mis.RetryMaxBackoff,
		RecordRun: recordRunThen(recordRunIn(store), afterRun), Logger: logger, Registerer: reg, Now: now,
		// After a restart the run history says how current the cache is (/readyz, the gauges).
		LastSuccess: func(ctx context.Context) (map[mypt.Entity]time.Time, error) {
			return store.LastSyncSuccess(ctx, src.Name())
		},
	})
}

// recordRunThen records the run, then calls after (when set) whatever the record's outcome: a
// failed pass may still have committed batches.
func recordRunThen(record func(context.Context, syncer.Run) error, after func(syncer.Run)) func(context.Context, syncer.Run) error {
	if after == nil {
		return record
	}
	return func(ctx context.Context, r syncer.Run) error {
		err := record(ctx, r)
		after(r)
		return err
	}
}

// recordRunIn stores the syncer's runs in the cache's run history.
func recordRunIn(store *sqlite.Store) func(context.Context, syncer.Run) error {
	return func(ctx context.Context, r syncer.Run) error {
		run := sqlite.SyncRun{Source: r.Source, Entity: r.Entity, Kind: r.Kind, StartedAt: r.StartedAt,
			FinishedAt: r.FinishedAt, Success: r.Err == nil, Read: r.Read, Upserted: r.Upserted,
			Unchanged: r.Unchanged, Rejected: r.Rejected, Deleted: r.Deleted}
		if r.Err != nil {
			run.Error = r.Err.Error()
		}
		return store.RecordSyncRun(ctx, run)
	}
}

// syncEnv is what `mypt sync` needs from main: the loaded configuration's parts and the outputs.
type syncEnv struct {
	MIS       config.MISConfig
	CachePath string // the cache file (config data.dir + /mypt.db)
	Logger    *slog.Logger
	Stdout    io.Writer
	// DSN, when set, replaces the one built from MIS (tests).
	DSN string
	Now func() time.Time
}

// runSync implements `mypt sync --once [--entity E] [--full] [--force] [--config FILE]`: one
// pull pass, a summary line per entity on stdout, and an error (so a non-zero exit) if any
// entity failed. --full re-reads every row and reconciles deletions; --force lets a
// reconciliation delete more than mis.max_delete_share of an entity.
func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sync", stderr)
	cfgFile := fs.String("config", "", "configuration file (default $MYPT_CONFIG)")
	sf := addSyncFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(configPath(*cfgFile))
	if err != nil {
		return err
	}
	// stdout has a line per run already: at the default level only warnings and errors go to
	// stderr, so a terminal or a cron mail does not show every pass twice (log.level: debug
	// shows everything).
	level := cfg.Log.Level
	if l := strings.ToLower(level); l == "" || l == "info" {
		level = "warn"
	}
	logger, err := newLogger(stderr, cfg.Log.Format, level)
	if err != nil {
		return err
	}
	return syncOnce(ctx, sf, syncEnv{MIS: cfg.MIS, CachePath: cachePath(cfg), Logger: logger, Stdout: stdout})
}

type syncFlags struct {
	once, full, force *bool
	entity            *string
}

func addSyncFlags(fs *flag.FlagSet) syncFlags {
	return syncFlags{
		once:   fs.Bool("once", false, "run one pass and exit"),
		entity: fs.String("entity", "", "only this entity (e.g. attendance_mark)"),
		full:   fs.Bool("full", false, "re-read every row and reconcile deletions"),
		force:  fs.Bool("force", false, "let reconciliation delete more than mis.max_delete_share"),
	}
}

// runSyncEnv parses the sync flags in args and runs syncOnce (tests call it without a config file).
func runSyncEnv(ctx context.Context, args []string, env syncEnv) error {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sf := addSyncFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return syncOnce(ctx, sf, env)
}

func syncOnce(ctx context.Context, sf syncFlags, env syncEnv) error {
	once, entity, full, force := sf.once, sf.entity, sf.full, sf.force
	if !*once {
		return errors.New("sync: only --once is supported here; `mypt serve` runs the loop")
	}
	var e mypt.Entity
	if *entity != "" {
		var err error
		if e, err = mypt.ParseEntity(*entity); err != nil {
			return fmt.Errorf("sync: --entity: %w", err)
		}
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	store, err := sqlite.Open(ctx, env.CachePath, sqlite.Options{MaxDocumentBytes: env.MIS.MaxDocumentBytes})
	if err != nil {
		return err
	}
	defer store.Close()
	src, err := openMISSource(ctx, env.MIS, env.DSN, env.Logger)
	if err != nil {
		return err
	}
	defer src.Close()
	if !src.SnapshotIsolation() {
		env.Logger.Warn("mis: reading in READ COMMITTED")
	}
	// This command's own runs, as they are recorded: not other processes' rows of the history.
	var runs []syncer.Run
	p, err := newMISPuller(env.MIS, src, store, env.Logger, prometheus.NewRegistry(), env.Now,
		func(r syncer.Run) { runs = append(runs, r) })
	if err != nil {
		return err
	}
	switch {
	case *force:
		if *full {
			if err = p.RunOnce(ctx, e, true); err != nil && !errors.Is(err, mypt.ErrRefused) {
				break
			}
		}
		err = p.Reconcile(ctx, e, true)
	default:
		err = p.RunOnce(ctx, e, *full)
	}
	for _, r := range runs {
		status := "ok"
		if r.Err != nil {
			status = "FAILED: " + firstLine(r.Err.Error())
		}
		fmt.Fprintf(env.Stdout, "%-16s %-11s read=%d upserted=%d unchanged=%d rejected=%d deleted=%d %s\n",
			r.Entity, r.Kind, r.Read, r.Upserted, r.Unchanged, r.Rejected, r.Deleted, status)
	}
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// addMISPuller connects to the MIS (failing with the cause named, MS-3), builds the pull loop on
// the app's cache, registry and clock, and adds it as a worker; the source is closed at
// shutdown. serve calls it from addWorkers when mis.enabled; the returned Puller's Trigger
// answers POST /mis/v1/sync.
func (a *app) addMISPuller(ctx context.Context) (*syncer.Puller, error) {
	src, err := openMISSource(ctx, a.cfg.MIS, "", a.log)
	if err != nil {
		return nil, err
	}
	if !src.SnapshotIsolation() {
		a.log.Warn("mis: reading in READ COMMITTED")
	}
	p, err := newMISPuller(a.cfg.MIS, src, a.store, a.log, a.reg, a.now, func(syncer.Run) { a.synced.notify() })
	if err != nil {
		src.Close()
		return nil, err
	}
	a.workers = append(a.workers, worker{name: "mis pull", run: p.Run})
	a.onShutdown("close mis connections", func(context.Context) error { return src.Close() })
	return p, nil
}

// addDemoTDS is `mypt demo --mis tds`: it serves rows (the synthetic college) from an
// in-process TDS server, mirrors them into the app's cache through the real driver, adapter
// and pull loop (one full pass before it returns), and adds the loop as a worker.
func (a *app) addDemoTDS(ctx context.Context, dir string, rows []mypt.Row) (*DemoTDS, error) {
	d, err := startDemoTDS(ctx, dir, rows, a.store, a.log, a.reg)
	if err != nil {
		return nil, err
	}
	a.workers = append(a.workers, worker{name: "mis pull (demo tds)", run: d.Puller.Run})
	a.onShutdown("stop demo tds server", func(context.Context) error { return d.Close() })
	return d, nil
}
