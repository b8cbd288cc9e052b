package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt"
	"mypt/adapters/sqlite"
	"mypt/config"
	"mypt/portal"
)

func TestRestoreCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dataDir := t.TempDir()
	dbPath := filepath.Join(dataDir, "mypt.db")
	store, err := sqlite.Open(ctx, dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "b.db")
	if err := sqlite.BackupFile(ctx, dbPath, dest); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "mypt.yaml")
	if err := os.WriteFile(cfgFile, []byte("data:\n  dir: "+dataDir+"\ncollege:\n  name: Test College\n  public_base_url: https://parents.example.org\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	lock, err := sqlite.AcquireLock(dbPath) // what serve holds
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err = runRestore(ctx, []string{dest, "--config", cfgFile}, &out, &errOut)
	if !errors.Is(err, sqlite.ErrCacheInUse) || !strings.Contains(err.Error(), "(stop mypt first): systemctl stop mypt") || strings.Count(err.Error(), "stop") != 3 {
		t.Fatalf("restore while serve runs: %v (%s)", err, errOut.String())
	}
	lock.Release()
	store.Close()
	if err := runRestore(ctx, []string{dest, "--config", cfgFile}, &out, &errOut); err != nil {
		t.Fatalf("restore: %v (%s)", err, errOut.String())
	}
	if !strings.Contains(out.String(), sqlite.PreviousSuffix) {
		t.Errorf("restore output %q does not say where the old cache went", out.String())
	}
	if kept, _ := filepath.Glob(dbPath + sqlite.PreviousSuffix + "-*"); len(kept) != 1 {
		t.Errorf("previous cache not kept: %v", kept)
	}
	var ec exitCode
	if err := runRestore(ctx, []string{"--config", cfgFile}, &out, &errOut); !errors.As(err, &ec) || ec != 2 {
		t.Errorf("restore without a file: %v, want exit status 2", err)
	}
}

func TestOpsReadinessChecks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	reg := portal.NewRegistry("test")
	last := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mypt_sync_last_success_timestamp_seconds", Help: "h"}, []string{"entity"})
	connected := prometheus.NewGauge(prometheus.GaugeOpts{Name: "mypt_mailbox_connected", Help: "h"})
	reg.MustRegister(last, connected)
	last.WithLabelValues("student").Set(float64(now.Add(-10 * time.Minute).Unix()))
	last.WithLabelValues("contact").Set(float64(now.Add(-90 * time.Minute).Unix()))

	checks := opsReadinessChecks(reg, opsReadiness{PullEnabled: true, MaxSyncAge: time.Hour, MailboxEnabled: true,
		Now: func() time.Time { return now }})
	if res := portal.RunReadiness(ctx, checks); !reflect.DeepEqual(res.Failed, []string{"sync", "mailbox"}) {
		t.Fatalf("contact stale and mailbox down: %+v", res)
	}
	last.WithLabelValues("contact").Set(float64(now.Unix()))
	connected.Set(1)
	if res := portal.RunReadiness(ctx, checks); res.Status != "ready" {
		t.Fatalf("all up: %+v", res)
	}
	if n := len(opsReadinessChecks(reg, opsReadiness{})); n != 0 {
		t.Fatalf("checks with pull and mailbox off = %d, want none", n)
	}
}

// Readiness includes data freshness in every mode. Without the pull syncer (push only, or no
// MIS at all) the last batch applied from any source must be within ops.ready_max_sync_age: an
// empty never-filled cache is not ready.
func TestReadinessNeedsFreshDataWithoutPull(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	cfg, err := config.Parse("test.yaml", []byte("data: {dir: "+t.TempDir()+"}\ncollege: {name: Croydon College, public_base_url: \"https://parents.example.ac.uk\"}\n"+
		"ops: {ready_max_sync_age: 26h}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(ctx, appOptions{Public: loopback(t), Internal: loopback(t), Config: cfg, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.shutdown(ctx) })
	res := portal.RunReadiness(ctx, a.readiness())
	if !reflect.DeepEqual(res.Failed, []string{"data"}) || !strings.Contains(fmt.Sprint(res.Checks), "never") {
		t.Fatalf("empty cache: %+v", res)
	}
	b := mypt.Batch{ID: "b1", Source: "push", Records: []mypt.Record{{Line: 2, Entity: mypt.EntityMarkType, Op: mypt.OpUpsert, Key: "/",
		Row: mypt.MarkType{Mark: "/", Description: "Present", Status: 1}}}}
	if _, err := a.store.ApplyBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	if res := portal.RunReadiness(ctx, a.readiness()); res.Status != "ready" {
		t.Fatalf("after a batch: %+v", res)
	}
	now = now.Add(27 * time.Hour)
	if res := portal.RunReadiness(ctx, a.readiness()); !reflect.DeepEqual(res.Failed, []string{"data"}) {
		t.Fatalf("27h after the last batch: %+v", res)
	}
}

// loopback is a listener on 127.0.0.1:0 (tests never listen on the configured addresses).
func loopback(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestRegisterOpsMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "mypt.db")
	store, err := sqlite.Open(ctx, dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a := &app{log: slog.New(slog.DiscardHandler), reg: portal.NewRegistry("test")}
	if err := a.registerOpsMetrics(dbPath); err != nil {
		t.Fatal(err)
	}
	if n, err := portal.MinGaugeValue(a.reg, "mypt_cache_size_bytes"); err != nil || n <= 0 {
		t.Fatalf("mypt_cache_size_bytes = %v, %v", n, err)
	}
}
