package main

import (
	"net/http"

	"mypt/portal"
)

// This file is the seam where the push API plugs into serve and the demo.

// newPushHandler builds POST /mis/v1/batches: the ingest area's handler over the cache, with
// the configured tokens (none configured: every push answers 401).
func newPushHandler(a *app) (http.Handler, error) {
	return portal.NewPushHandler(portal.PushOptions{
		Applier: notifyingApplier{BatchApplier: a.store, after: a.synced.notify}, Tokens: a.cfg.Push.Tokens, MaxBodyBytes: a.cfg.Push.MaxBodyBytes,
		Logger: a.log, Registerer: a.reg,
	}), nil
}

// portalPushWired reports whether POST /mis/v1/batches has a handler.
func (a *app) portalPushWired() bool { return a.push != nil }
