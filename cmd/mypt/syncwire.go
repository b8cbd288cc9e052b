package main

import (
	"context"
	"io"
	"net/http"
	"strings"

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

// syncTrigger is POST /mis/v1/sync for p: 202, and a pass starts as soon as one may.
func (a *app) syncTrigger(p *syncer.Puller) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.Trigger()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"result":"triggered"}`+"\n")
	})
}
