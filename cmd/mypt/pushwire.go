package main

import (
	"net/http"

	"mypt/config"
	"mypt/portal"
)

// This file is the seam where the push API and the mail area's file transport plug into serve
// and the demo.

// newPushHandler builds POST /mis/v1/batches: the ingest area's handler over the cache, with
// the configured tokens (none configured: every push answers 401).
func newPushHandler(a *app) (http.Handler, error) {
	return portal.NewPushHandler(portal.PushOptions{
		Applier: a.store, Tokens: a.cfg.Push.Tokens, MaxBodyBytes: a.cfg.Push.MaxBodyBytes,
		Logger: a.log, Registerer: a.reg,
	}), nil
}

// setDemoMail sends every email to .eml files in dir (the mail area's file transport) once
// the mail section lands; until then mail stays queued in the outbox.
func setDemoMail(cfg *config.Config, dir string) {}

// portalPushWired reports whether POST /mis/v1/batches has a handler.
func (a *app) portalPushWired() bool { return a.push != nil }
