package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt"
	"mypt/adapters/sqlite"
	"mypt/config"
)

func testRows(n int) []mypt.Row {
	rows := []mypt.Row{mypt.MarkType{Mark: "/", Description: "Present", Status: 1}}
	for i := 1; i <= n; i++ {
		sid := fmt.Sprintf("S%03d", i)
		rows = append(rows,
			mypt.Student{StudentID: sid, LegalFirstNames: "Siobhán", LegalLastName: "O’Neill-Smith", DateOfBirth: mypt.NewDate(2008, 1, 2),
				College: "Main", Status: mypt.StudentCurrent},
			mypt.AttendanceMark{MarkID: "K" + sid, StudentID: sid, EnrolmentID: "E" + sid, SessionDate: mypt.NewDate(2019, 1, 7),
				StartTime: "09:00", EndTime: "10:00", Mark: "/"})
	}
	return rows
}

func TestSyncOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := contractMIS(t, ctx, testRows(5))
	mis := config.DefaultMIS()
	mis.Host, mis.Port, mis.Database, mis.User = "127.0.0.1", srv.Port(), srv.Database(), srv.User()
	mis.Password = config.Secret(srv.Password())
	mis.Certificate = srv.CertFile()
	cache := filepath.Join(t.TempDir(), "mypt.db")
	var out bytes.Buffer
	env := syncEnv{MIS: mis, CachePath: cache, Stdout: &out}
	if err := runSyncEnv(ctx, []string{"--once"}, env); err != nil {
		t.Fatalf("sync --once: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "attendance_mark") || !strings.Contains(out.String(), "read=5") {
		t.Errorf("output:\n%s", out.String())
	}
	// A second pass straight after prints its own runs only, one line per entity, not the first's too.
	out.Reset()
	if err := runSyncEnv(ctx, []string{"--once"}, env); err != nil {
		t.Fatalf("second sync --once: %v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), "\n"); n != len(mypt.Entities) {
		t.Errorf("the second pass printed %d lines, want %d (one per entity):\n%s", n, len(mypt.Entities), out.String())
	}
	out.Reset()
	if _, err := srv.Delete(ctx, "mypt.Student", "StudentID = 'S001'"); err != nil {
		t.Fatal(err)
	}
	if err := runSyncEnv(ctx, []string{"--once", "--entity", "student", "--full"}, env); err != nil {
		t.Fatalf("sync --full: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "deleted=1") || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("full sync of one entity, output:\n%s", out.String())
	}
	if err := runSyncEnv(ctx, []string{"--once", "--entity", "nope"}, env); err == nil {
		t.Error("unknown entity accepted")
	}
	// A bad setting fails with the cause named (MS-3): here, no CA for the self-signed certificate.
	mis.Certificate = ""
	err := runSyncEnv(ctx, []string{"--once"}, syncEnv{MIS: mis, CachePath: cache, Stdout: &out})
	if err == nil || !strings.Contains(err.Error(), "mis.certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
	if strings.Contains(fmt.Sprint(err), srv.Password()) {
		t.Error("password in the error")
	}
}

func TestStartDemoTDS(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "mypt.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	d, err := startDemoTDS(ctx, dir, testRows(3), store, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	n, err := store.CountRows(ctx, mypt.EntityAttendanceMark)
	if err != nil || n != 3 {
		t.Fatalf("demo mirrored %d marks, %v", n, err)
	}
	// The loop keeps mirroring: a change in the MIS arrives after a triggered pass.
	if _, err := d.Server.Update(ctx, "mypt.AttendanceMark", map[string]any{"Mark": ""}, "MarkID = 'KS001'"); err != nil {
		t.Fatal(err)
	}
	if err := d.Puller.RunOnce(ctx, mypt.EntityAttendanceMark, false); err != nil {
		t.Fatal(err)
	}
	var mark string
	if err := store.ReadDB().QueryRowContext(ctx, "SELECT IFNULL(mark, '') FROM attendance_mark WHERE mark_id = 'KS001'").Scan(&mark); err != nil || mark != "" {
		t.Errorf("mark %q %v", mark, err)
	}
}

// The serve and demo wiring: the pull loop is added as a worker and mirrors the MIS.
func TestAddMISPullerAndDemoTDS(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	srv := contractMIS(t, ctx, testRows(4))
	cfg := config.Default()
	cfg.MIS.Enabled, cfg.MIS.Host, cfg.MIS.Port, cfg.MIS.Database = true, "127.0.0.1", srv.Port(), srv.Database()
	cfg.MIS.User, cfg.MIS.Password, cfg.MIS.Certificate = srv.User(), config.Secret(srv.Password()), srv.CertFile()
	dir := t.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "mypt.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a := &app{cfg: cfg, log: slog.New(slog.DiscardHandler), now: time.Now, store: store, reg: prometheus.NewRegistry()}
	if _, err := a.addMISPuller(ctx); err != nil {
		t.Fatal(err)
	}
	if len(a.workers) != 1 {
		t.Fatalf("%d workers", len(a.workers))
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.workers[0].run(wctx) }()
	for i := 0; i < 2400; i++ {
		if n, _ := store.CountRows(ctx, mypt.EntityAttendanceMark); n == 4 {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, _ := store.CountRows(ctx, mypt.EntityAttendanceMark); n != 4 {
		t.Fatalf("the worker mirrored %d marks", n)
	}
	for i := len(a.steps) - 1; i >= 0; i-- {
		if err := a.steps[i].fn(ctx); err != nil {
			t.Errorf("shutdown %s: %v", a.steps[i].name, err)
		}
	}

	// The demo variant into a second cache.
	store2, err := sqlite.Open(ctx, filepath.Join(dir, "demo.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store2.Close()
	b := &app{cfg: config.Default(), log: slog.New(slog.DiscardHandler), now: time.Now, store: store2, reg: prometheus.NewRegistry()}
	d, err := b.addDemoTDS(ctx, dir, testRows(2))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := store2.CountRows(ctx, mypt.EntityStudent); n != 2 || d.Addr == "" || len(b.workers) != 1 {
		t.Fatalf("demo: %d students, addr %q, %d workers", n, d.Addr, len(b.workers))
	}
	for i := len(b.steps) - 1; i >= 0; i-- {
		if err := b.steps[i].fn(ctx); err != nil {
			t.Errorf("shutdown %s: %v", b.steps[i].name, err)
		}
	}
}

// The README's mis section gives the password apart from the DSN (password_file): it goes into
// the DSN's user info, and a DSN that carries its own password keeps it.
func TestMISDSNTakesThePasswordKey(t *testing.T) {
	for _, c := range []struct {
		name, dsn string
		password  config.Secret
		want      string
	}{
		{"password from password_file", "sqlserver://mypt_reader@mis.example.ac.uk?database=ProSolution", "p@ss:w/rd",
			"sqlserver://mypt_reader:p%40ss%3Aw%2Frd@mis.example.ac.uk?database=ProSolution"},
		{"no password key", "sqlserver://mypt_reader@mis.example.ac.uk?database=ProSolution", "",
			"sqlserver://mypt_reader@mis.example.ac.uk?database=ProSolution"},
		{"password in the DSN wins", "sqlserver://u:inline@h?database=d", "other", "sqlserver://u:inline@h?database=d"},
		{"password query parameter wins", "sqlserver://u@h?password=inline", "other", "sqlserver://u@h?password=inline"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := misConfiguredDSN(config.MISConfig{DSN: config.Secret(c.dsn), Password: c.password})
			if err != nil || got != c.want {
				t.Errorf("= %q, %v; want %q", got, err, c.want)
			}
		})
	}
	if _, err := misConfiguredDSN(config.MISConfig{DSN: "sqlserver://u:%zz@h", Password: "x"}); err == nil ||
		strings.Contains(err.Error(), "%zz") {
		t.Errorf("a broken DSN: %v (must fail without showing the DSN)", err)
	}
}
