package main

import (
	"context"
	"io"
	"net/http"
	"strings"

	"mypt/portal"
	"mypt/syncer"
)

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

// addPuller adds the SQL Server pull loop when mis.enabled is set (the mssql area's
// addMISPuller), and POST /mis/v1/sync to trigger a pass.
func (a *app) addPuller(ctx context.Context) error {
	if !a.cfg.MIS.Enabled {
		return nil
	}
	p, err := a.addMISPuller(ctx)
	if err != nil {
		return err
	}
	a.addSyncTrigger(p)
	return nil
}

// addSyncTrigger answers POST /mis/v1/sync by asking p for a pass now.
func (a *app) addSyncTrigger(p *syncer.Puller) { a.syncNow = a.syncTrigger(p) }

// guardedSyncTrigger is POST /mis/v1/sync as served: only with one of the push tokens (the same
// check as POST /mis/v1/batches), and without a pull syncer a JSON 404 saying so.
func (a *app) guardedSyncTrigger() http.Handler {
	h := a.syncNow
	if h == nil {
		h = noPullSyncer
	}
	return portal.RequirePushToken(a.cfg.Push.Tokens, a.log, h)
}

// noPullSyncer answers POST /mis/v1/sync when no pull syncer runs (push-only mode, or the demo's
// SQL Server mirror not started yet).
var noPullSyncer = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNotFound)
	io.WriteString(w, `{"result":"unavailable","error":"no pull syncer runs here (mis.dsn or mis.host is not configured); push batches to /mis/v1/batches"}`+"\n")
})

// syncTrigger is POST /mis/v1/sync for p: 202, and a pass starts as soon as one may.
func (a *app) syncTrigger(p *syncer.Puller) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.Trigger()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"result":"triggered"}`+"\n")
	})
}
