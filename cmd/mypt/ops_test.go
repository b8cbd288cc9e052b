package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt/adapters/sqlite"
	"mypt/portal"
)

func TestBackupAndRestoreCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "mypt.db")
	store, err := sqlite.Open(ctx, dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	dest := filepath.Join(t.TempDir(), "b.db")
	var out bytes.Buffer
	if err := runBackup(ctx, dbPath, []string{dest}, &out); err != nil {
		t.Fatalf("backup while the store is open: %v", err)
	}
	if !strings.Contains(out.String(), "written to "+dest) {
		t.Errorf("backup output %q", out.String())
	}
	if err := runBackup(ctx, dbPath, []string{dest}, &out); err == nil {
		t.Error("backup over an existing file succeeded")
	}
	if err := runBackup(ctx, dbPath, nil, &out); err == nil {
		t.Error("backup without a file name succeeded")
	}

	lock, err := sqlite.AcquireLock(dbPath) // what serve holds
	if err != nil {
		t.Fatal(err)
	}
	err = runRestore(ctx, dbPath, []string{dest}, &out)
	if !errors.Is(err, sqlite.ErrCacheInUse) || !strings.Contains(err.Error(), "stop the service first") {
		t.Fatalf("restore while serve runs: %v", err)
	}
	lock.Release()
	store.Close()
	out.Reset()
	if err := runRestore(ctx, dbPath, []string{dest}, &out); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if !strings.Contains(out.String(), sqlite.PreviousSuffix) {
		t.Errorf("restore output %q does not say where the old cache went", out.String())
	}
	if _, err := os.Stat(dbPath + sqlite.PreviousSuffix); err != nil {
		t.Errorf("previous cache not kept: %v", err)
	}
}

func TestOpsReadinessChecks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mypt.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	reg := portal.NewRegistry("test")
	last := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mypt_sync_last_success_timestamp_seconds", Help: "h"}, []string{"entity"})
	connected := prometheus.NewGauge(prometheus.GaugeOpts{Name: "mypt_mailbox_connected", Help: "h"})
	reg.MustRegister(last, connected)
	last.WithLabelValues("student").Set(float64(now.Add(-10 * time.Minute).Unix()))

	checks := opsReadinessChecks(store, reg, opsReadiness{PullEnabled: true, MaxSyncAge: time.Hour, MailboxEnabled: true,
		Now: func() time.Time { return now }})
	res := portal.RunReadiness(ctx, checks)
	if !reflect.DeepEqual(res.Failed, []string{"mailbox"}) {
		t.Fatalf("with the mailbox down: %+v", res)
	}
	connected.Set(1)
	if res := portal.RunReadiness(ctx, checks); res.Status != "ready" {
		t.Fatalf("all up: %+v", res)
	}
	if n := len(opsReadinessChecks(store, reg, opsReadiness{})); n != 2 {
		t.Fatalf("checks with pull and mailbox off = %d, want cache and schema", n)
	}
	store.Close()
	if res := portal.RunReadiness(ctx, checks); !reflect.DeepEqual(res.Failed, []string{"cache", "schema"}) {
		t.Fatalf("closed cache: %+v", res)
	}
}
