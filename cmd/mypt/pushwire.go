package main

import (
	"log/slog"
	"net/http"

	"mypt/config"
)

// This file is the seam where the ingest area's push handler (portal/push*.go on branch
// ingest) and the mail area's file transport plug into serve and the demo.

// newPushHandler builds POST /mis/v1/batches from the push area's handler and the configured
// tokens. Until that lands it returns nil, which the portal answers with 404.
func newPushHandler(a *app) (http.Handler, error) { return nil, nil }

// demoPushHandler is the push handler accepting the demo's generated token. While it is nil the
// demo applies its batches in-process (mypt.ParseBatch + Store.ApplyBatch, the same code the
// handler runs) instead of POSTing them.
func demoPushHandler(cfg config.Config, token string, logger *slog.Logger) http.Handler { return nil }

// setDemoMail sends every email to .eml files in dir (the mail area's file transport) once
// the mail section lands; until then mail stays queued in the outbox.
func setDemoMail(cfg *config.Config, dir string) {}

// portalPushWired reports whether POST /mis/v1/batches has a handler.
func (a *app) portalPushWired() bool { return a.push != nil }
