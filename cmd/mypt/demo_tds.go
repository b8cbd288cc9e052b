package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt"
	"mypt/adapters/mssql"
	"mypt/adapters/mssql/mssqltest"
	"mypt/adapters/sqlite"
	"mypt/config"
	"mypt/syncer"
)

// DemoTDS is `mypt demo --mis tds`: the synthetic college served by an in-process TDS server on
// loopback and mirrored into the cache through the real go-mssqldb adapter and pull loop.
type DemoTDS struct {
	Server *mssqltest.Server
	Source *mssql.Source
	Puller *syncer.Puller
	Addr   string // host:port of the TDS server, safe to print (`mis <addr>` in the demo's output)
	DSN    string // includes the demo login's password: never log it
	// DSNFile holds DSN (mode 0600), for mis.dsn_file / MYPT_MIS_DSN_FILE.
	DSNFile string
}

// startDemoTDS loads rows into a fresh mssqltest server (contract views, TLS on, a demo SQL
// login), connects the real adapter to it, runs one full pass into store and returns the parts;
// run d.Puller.Run(ctx) under the errgroup to keep polling (every poll interval, or on
// POST /mis/v1/sync via d.Puller.Trigger). Close stops the server.
func startDemoTDS(ctx context.Context, dir string, rows []mypt.Row, store *sqlite.Store,
	logger *slog.Logger, reg prometheus.Registerer) (*DemoTDS, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	mdir := filepath.Join(dir, "mis")
	if err := os.MkdirAll(mdir, 0o750); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	// Start from an empty MIS each time: the demo's rowversions begin again.
	_ = os.Remove(filepath.Join(mdir, "mis.db"))
	srv, err := mssqltest.New(mssqltest.Options{TLS: mssqltest.TLSOptional, Dir: mdir,
		User: "mypt_reader", Password: "Demo-only-" + fmt.Sprint(time.Now().UnixNano()%1e6), Database: "ProSolution"})
	if err != nil {
		return nil, err
	}
	d := &DemoTDS{Server: srv}
	fail := func(err error) (*DemoTDS, error) {
		d.Close()
		return nil, err
	}
	if err := mssql.CreateContract(ctx, srv); err != nil {
		return fail(err)
	}
	if err := mssql.LoadRows(ctx, srv, nil, rows); err != nil {
		return fail(err)
	}
	mis := config.DefaultMIS()
	mis.PollInterval = 30 * time.Second
	d.DSN = srv.DSN() // encrypt=true, the demo server's certificate trusted by file
	d.Addr = srv.Addr()
	// The DSN (with the demo-only password) in a file of its own, so `mypt sync --once` can be
	// pointed at the demo's MIS: MYPT_MIS_DSN_FILE=DIR/mis/dsn.
	d.DSNFile = filepath.Join(mdir, "dsn")
	if err := os.WriteFile(d.DSNFile, []byte(d.DSN+"\n"), 0o600); err != nil {
		return fail(fmt.Errorf("demo: %w", err))
	}
	src, err := openMISSource(ctx, mis, d.DSN, logger)
	if err != nil {
		return fail(err)
	}
	d.Source = src
	// The demo's MIS is served afresh: watermarks from an earlier run would be ahead of it.
	p, err := newMISPuller(mis, src, store, logger, reg, time.Now, nil)
	if err != nil {
		return fail(err)
	}
	d.Puller = p
	if err := p.RunOnce(ctx, "", true); err != nil {
		return fail(fmt.Errorf("demo: first pull from the TDS server: %w", err))
	}
	return d, nil
}

// Close stops the source and the server.
func (d *DemoTDS) Close() error {
	var errs []error
	if d.Source != nil {
		errs = append(errs, d.Source.Close())
	}
	if d.Server != nil {
		errs = append(errs, d.Server.Close())
	}
	return errors.Join(errs...)
}
