package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"mypt"
	"mypt/adapters/mail"
	"mypt/adapters/sqlite"
	"mypt/config"
	"mypt/portal"
)

// ShutdownTimeout bounds a graceful shutdown: in-flight requests and workers get this long to
// finish before connections are closed and the cache is closed anyway.
const ShutdownTimeout = 10 * time.Second

// configPath returns --config, else $MYPT_CONFIG.
func configPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return os.Getenv("MYPT_CONFIG")
}

// errNoConfig is what a command that needs a configuration says when it was given none.
var errNoConfig = errors.New("no configuration file given (--config FILE or MYPT_CONFIG)")

// loadConfig loads and validates the configuration, reporting every problem at once. With no
// file, the environment's MYPT_<SECTION>_<KEY> variables must give one; if none is set the
// error says a file is needed (not that college.name is missing).
func loadConfig(path string) (config.Config, error) {
	env := os.Environ()
	if path == "" && !config.HasEnv(env) {
		return config.Config{}, errNoConfig
	}
	return config.LoadChecked(path, env)
}

// storeOptions are the cache's settings from the configuration.
func storeOptions(cfg config.Config, now func() time.Time) sqlite.Options {
	return sqlite.Options{Now: now, Unmarked: cfg.Attendance.Unmarked, SnapshotMaxDeleteShare: cfg.Push.SnapshotMaxDeleteShare}
}

// cachePath is where the cache lives under the data directory.
func cachePath(cfg config.Config) string { return filepath.Join(cfg.Data.Dir, "mypt.db") }

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	cfgFile := fs.String("config", "", "configuration file (default $MYPT_CONFIG)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if isWindowsService() {
		// Started by the Windows Service Control Manager: run under it, logging to the event log.
		return runServiceCommand(ctx, []string{"run"}, stdout, func(ctx context.Context) error {
			w, err := serviceLogWriter()
			if err != nil {
				return err
			}
			defer w.Close()
			return serve(ctx, configPath(*cfgFile), w)
		})
	}
	return serve(ctx, configPath(*cfgFile), stderr)
}

// serve loads the configuration at path and runs mypt until ctx ends, logging to logw.
func serve(ctx context.Context, path string, logw io.Writer) error {
	cfg, err := loadConfig(path)
	if errors.Is(err, errNoConfig) {
		return fmt.Errorf("%w; try `mypt demo` for a run with no configuration", err)
	}
	if err != nil {
		return err
	}
	logger, err := newLogger(logw, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		return err
	}
	a, err := newApp(ctx, appOptions{Config: cfg, Logger: logger})
	if err != nil {
		return err
	}
	return a.run(ctx)
}

// appOptions configure newApp.
type appOptions struct {
	Config config.Config
	Logger *slog.Logger
	Now    func() time.Time
	// Listeners already open (the demo and tests pass 127.0.0.1:0 ones); nil listens on the
	// configured addresses.
	Public, Internal net.Listener
	// Push answers POST /mis/v1/batches; when nil, newPushHandler builds it from the config.
	Push http.Handler
	// SyncNow answers POST /mis/v1/sync when the pull syncer is not configured (the demo's).
	SyncNow http.Handler
}

// app is one running mypt: the cache, the portal, both listeners and the background workers.
type app struct {
	cfg      config.Config
	log      *slog.Logger
	now      func() time.Time
	store    *sqlite.Store
	reg      *prometheus.Registry
	portal   *portal.Server
	public   net.Listener // nil when the public listener is disabled
	internal net.Listener
	servers  []*http.Server
	push     http.Handler // POST /mis/v1/batches
	mailer   *mail.Sender // nil when no mail transport is configured
	syncNow  http.Handler // POST /mis/v1/sync behind the push tokens; nil when the pull syncer is off
	// mailboxOn says the mailbox watcher runs (so /readyz checks it is connected).
	mailboxOn bool
	// synced is told of every applied push batch and pull pass (eligibilitywire.go).
	synced  syncDone
	workers []worker
	// steps are run in reverse order by shutdown (LIFO): the last thing started stops first.
	steps []step
	// shutdownTimeout bounds shutdown (ShutdownTimeout; tests shorten it).
	shutdownTimeout time.Duration
}

// worker is a background loop run under the app's errgroup until its context ends.
type worker struct {
	name string
	run  func(ctx context.Context) error
}

// step is one shutdown step.
type step struct {
	name string
	fn   func(ctx context.Context) error
}

func (a *app) onShutdown(name string, fn func(ctx context.Context) error) {
	a.steps = append(a.steps, step{name, fn})
}

// newApp opens the cache, builds the portal and opens the listeners. On error it undoes what
// it had done.
func newApp(ctx context.Context, o appOptions) (_ *app, err error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg := o.Config
	a := &app{cfg: cfg, log: o.Logger, now: o.Now, shutdownTimeout: ShutdownTimeout}
	defer func() {
		if err != nil {
			a.shutdown(context.WithoutCancel(ctx))
		}
	}()

	// Listeners handed in are ours to close too, even if start-up fails before serving them.
	for _, l := range []net.Listener{o.Public, o.Internal} {
		if l != nil {
			a.onShutdown("close listener", func(context.Context) error { l.Close(); return nil })
		}
	}
	// The daemon lock tells offline operations (restore) that the cache is in use.
	if err := os.MkdirAll(cfg.Data.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	lock, err := sqlite.AcquireLock(cachePath(cfg))
	if err != nil {
		return nil, err
	}
	a.onShutdown("release cache lock", func(context.Context) error { return lock.Release() })
	store, err := sqlite.Open(ctx, cachePath(cfg), storeOptions(cfg, o.Now))
	if err != nil {
		return nil, err
	}
	a.store = store
	a.onShutdown("close cache", func(context.Context) error { return store.Close() })

	a.reg = portal.NewRegistry(moduleVersion())
	if err := a.registerOpsMetrics(store.Path()); err != nil {
		return nil, err
	}
	bands, err := mypt.ParseBands(cfg.Attendance.Bands)
	if err != nil {
		return nil, fmt.Errorf("attendance.bands: %w", err)
	}
	unmarked, err := mypt.ParseUnmarkedPolicy(cfg.Attendance.Unmarked)
	if err != nil {
		return nil, fmt.Errorf("attendance.unmarked: %w", err)
	}
	if err := a.addWorkers(ctx); err != nil {
		return nil, err
	}
	if !cfg.MIS.Enabled && !cfg.Push.Enabled() {
		a.log.Warn(config.WarnNoDataSource)
	}
	if cfg.College.SupportEmail == "" {
		a.log.Warn("college.support_email " + config.WarnNoSupportEmail)
	}
	if a.syncNow == nil && o.SyncNow != nil {
		a.syncNow = o.SyncNow
	}
	push := o.Push
	if push == nil {
		if push, err = newPushHandler(a); err != nil {
			return nil, err
		}
	}
	a.push = push
	hsts := false
	if u, err := url.Parse(cfg.College.PublicBaseURL); err == nil && u.Scheme == "https" {
		hsts = true
	}
	srv, err := portal.New(portal.Options{
		Store: store, Logger: a.log, Registerer: a.reg, Now: o.Now,
		College: cfg.College, Portal: cfg.Portal, Eligibility: cfg.Eligibility.Policy(),
		Bands: bands, Unmarked: unmarked, HSTS: hsts, TrustProxyHeaders: cfg.Public.TrustProxyHeaders,
		Gatherer: a.reg, Readiness: a.readiness(), Push: push, SyncNow: a.guardedSyncTrigger(),
		Accounts: portal.AccountsOptions{Config: cfg.Accounts, MailFiles: a.staffMailFiles(), Mail: mailSettings(a)},
	})
	if err != nil {
		return nil, err
	}
	a.portal = srv
	a.onShutdown("flush audit log", srv.Close)
	a.workers = append(a.workers, worker{name: "session sweeper", run: srv.Run})

	if a.public, err = listen(o.Public, cfg.Public.Addr); err != nil {
		return nil, fmt.Errorf("public listener: %w", err)
	}
	if o.Public == nil && a.public != nil {
		a.onShutdown("close listener", func(context.Context) error { a.public.Close(); return nil })
	}
	if a.internal, err = listen(o.Internal, cfg.Internal.Addr); err != nil {
		return nil, fmt.Errorf("internal listener: %w", err)
	}
	if o.Internal == nil && a.internal != nil {
		a.onShutdown("close listener", func(context.Context) error { a.internal.Close(); return nil })
	}
	return a, nil
}

func listen(l net.Listener, addr string) (net.Listener, error) {
	if l != nil {
		return l, nil
	}
	if addr == "" {
		return nil, nil
	}
	return net.Listen("tcp", addr)
}

// readiness is what /readyz requires: the cache answers and its schema is current, plus (the
// ops area's checks) fresh data — a recent successful sync when the pull syncer runs, else a
// recently applied batch from any source — and a connected mailbox when the watcher runs.
func (a *app) readiness() []portal.ReadinessCheck {
	checks := []portal.ReadinessCheck{
		{Name: "cache", Check: func(ctx context.Context) error {
			var one int
			if err := a.store.ReadDB().QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
				return fmt.Errorf("cache does not answer: %w", err)
			}
			return nil
		}},
		{Name: "schema", Check: func(ctx context.Context) error {
			v, err := a.store.SchemaVersion(ctx)
			if err != nil {
				return err
			}
			if latest := sqlite.LatestSchema(); v != latest {
				return fmt.Errorf("cache schema is at version %d, this binary expects %d", v, latest)
			}
			return nil
		}},
	}
	return append(checks, opsReadinessChecks(a.reg, opsReadiness{
		PullEnabled: a.cfg.MIS.Enabled, MaxSyncAge: a.cfg.Ops.WithDefaults().ReadyMaxSyncAge,
		LastApplied: a.store.LastAppliedAt, MailboxEnabled: a.mailboxOn, Now: a.now,
	})...)
}

// addWorkers adds the background loops the configuration enables: the SQL Server pull loop,
// the support mailbox watcher, the eligibility sweep and the email outbox.
func (a *app) addWorkers(ctx context.Context) error {
	if err := a.addPuller(ctx); err != nil {
		return err
	}
	if err := a.addMailbox(); err != nil {
		return err
	}
	if err := a.addEligibility(); err != nil {
		return err
	}
	return a.addOutbox()
}

// httpServer builds an http.Server with timeouts that a slow or hostile client cannot abuse.
func (a *app) httpServer(name string, h http.Handler, readTimeout time.Duration) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       readTimeout,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.With("listener", name).Handler(), slog.LevelWarn),
	}
}

// run serves until ctx ends or a listener or worker fails, then shuts down gracefully: stop
// accepting and let in-flight requests finish, stop the workers, flush the audit log, close
// the cache — all within ShutdownTimeout.
func (a *app) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	serve := func(name string, l net.Listener, h http.Handler, tlsCfg config.ListenerConfig, readTimeout time.Duration) {
		if l == nil {
			a.log.Info("listener disabled", "listener", name)
			return
		}
		srv := a.httpServer(name, h, readTimeout)
		a.servers = append(a.servers, srv)
		a.log.Info("listening", "listener", name, "addr", l.Addr().String(), "tls", tlsCfg.TLSCertFile != "")
		g.Go(func() error {
			var err error
			if tlsCfg.TLSCertFile != "" {
				err = srv.ServeTLS(l, tlsCfg.TLSCertFile, tlsCfg.TLSKeyFile)
			} else {
				err = srv.Serve(l)
			}
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("%s listener: %w", name, err)
		})
	}

	var wg sync.WaitGroup
	wctx, stopWorkers := context.WithCancel(context.WithoutCancel(gctx))
	defer stopWorkers()
	for _, w := range a.workers {
		wg.Add(1)
		g.Go(func() error {
			defer wg.Done()
			err := w.run(wctx)
			if err == nil || errors.Is(err, context.Canceled) {
				return nil
			}
			return fmt.Errorf("%s: %w", w.name, err)
		})
	}
	a.onShutdown("stop workers", func(ctx context.Context) error {
		stopWorkers()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("workers still running after %s", a.shutdownTimeout)
		}
	})

	serve("internal", a.internal, a.portal.InternalHandler(), a.cfg.Internal, 5*time.Minute)
	serve("public", a.public, a.portal.PublicHandler(), a.cfg.Public, time.Minute)
	for _, srv := range a.servers {
		a.onShutdown("stop accepting", func(ctx context.Context) error {
			if err := srv.Shutdown(ctx); err != nil {
				srv.Close()
				return fmt.Errorf("in-flight requests cut off: %w", err)
			}
			return nil
		})
	}
	a.log.Info("mypt started", "version", moduleVersion(), "cache", a.store.Path())

	waited := make(chan error, 1)
	go func() { waited <- g.Wait() }()
	<-gctx.Done() // a signal, or a listener or worker failed
	a.log.Info("shutting down", "reason", context.Cause(gctx))
	shutdownErr := a.shutdown(context.WithoutCancel(ctx))
	var err error
	select {
	case err = <-waited:
	case <-time.After(time.Second):
		// A worker ignored its context: do not hang the exit on it.
		err = errors.New("a worker did not stop within the shutdown bound")
	}
	if err == nil && shutdownErr == nil {
		a.log.Info("mypt stopped")
	}
	return errors.Join(err, shutdownErr)
}

// shutdown runs the shutdown steps last-first, each within what is left of ShutdownTimeout;
// a failed step is logged and the rest still run.
func (a *app) shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, a.shutdownTimeout)
	defer cancel()
	var errs []error
	for i := len(a.steps) - 1; i >= 0; i-- {
		s := a.steps[i]
		if err := s.fn(ctx); err != nil {
			a.log.Warn("shutdown step failed", "step", s.name, "err", err)
			errs = append(errs, fmt.Errorf("shutdown: %s: %w", s.name, err))
		}
	}
	a.steps = nil
	return errors.Join(errs...)
}
