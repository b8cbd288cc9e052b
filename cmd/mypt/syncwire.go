package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"

	"mypt/syncer"
)

// runSyncCmd is `mypt sync --once [--entity E] [--full] [--force] [--config FILE]`: it loads
// the configuration and hands over to the mssql area's runSync.
func runSyncCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfgFile, rest := takeFlag(args, "config")
	cfg, err := loadConfig(configPath(cfgFile))
	if err != nil {
		return err
	}
	logger, err := newLogger(stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		return err
	}
	return runSync(ctx, rest, syncEnv{MIS: cfg.MIS, CachePath: cachePath(cfg), Logger: logger, Stdout: stdout,
		DSN: os.Getenv("MYPT_MIS_DSN")})
}

// takeFlag removes --name V / --name=V (or one dash) from args and returns V and the rest.
func takeFlag(args []string, name string) (string, []string) {
	var v string
	var rest []string
	for i := 0; i < len(args); i++ {
		a := strings.TrimPrefix(strings.TrimPrefix(args[i], "-"), "-")
		switch {
		case !strings.HasPrefix(args[i], "-"):
			rest = append(rest, args[i])
		case a == name:
			if i+1 < len(args) {
				v = args[i+1]
				i++
			}
		case strings.HasPrefix(a, name+"="):
			v = strings.TrimPrefix(a, name+"=")
		default:
			rest = append(rest, args[i])
		}
	}
	return v, rest
}

// addPuller adds the SQL Server pull loop when mis.enabled is set, and POST /mis/v1/sync to
// trigger a pass.
func (a *app) addPuller(ctx context.Context) error {
	if !a.cfg.MIS.Enabled {
		return nil
	}
	src, err := openMISSource(ctx, a.cfg.MIS, os.Getenv("MYPT_MIS_DSN"), a.log)
	if err != nil {
		return err
	}
	a.onShutdown("close MIS connection", func(context.Context) error { return src.Close() })
	if !src.SnapshotIsolation() {
		a.log.Warn("mis: reading in READ COMMITTED")
	}
	p, err := newMISPuller(a.cfg.MIS, src, a.store, a.log, a.reg, a.now)
	if err != nil {
		return err
	}
	a.addSyncTrigger(p)
	a.workers = append(a.workers, worker{name: "mis pull", run: p.Run})
	return nil
}

// addSyncTrigger answers POST /mis/v1/sync by asking p for a pass now.
func (a *app) addSyncTrigger(p *syncer.Puller) { a.syncNow = a.syncTrigger(p) }

// syncTrigger is POST /mis/v1/sync for p: 202, and a pass starts as soon as one may.
func (a *app) syncTrigger(p *syncer.Puller) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.Trigger()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"result":"triggered"}`+"\n")
	})
}
