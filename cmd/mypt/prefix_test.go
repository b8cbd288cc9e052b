package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"mypt/adapters/sqlite"
)

// Every message says each of its prefixes once: main adds "mypt: ", a command its own name.
func TestErrorsSayEachPrefixOnce(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "mypt.db")
	lock, err := sqlite.AcquireLock(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	err = restoreCache(context.Background(), filepath.Join(t.TempDir(), "backup.db"), dbPath, &strings.Builder{})
	if err == nil || strings.Count(err.Error(), "restore") != 1 || strings.Count(err.Error(), "sqlite:") != 1 || !errors.Is(err, sqlite.ErrCacheInUse) {
		t.Errorf("restore over a locked cache: %v", err)
	}
	if strings.HasPrefix(errNoWindowsService.Error(), "mypt") {
		t.Errorf("service error %q repeats main's prefix", errNoWindowsService)
	}
	_, errOut, err := runCmd(t, "staff", "add", "--email", "nope")
	if err == nil || !strings.HasPrefix(errOut, "mypt: staff add: ") {
		t.Errorf("staff add --email nope: %v %q", err, errOut)
	}
}

// A command stopped by its configuration lists the problems one per line, as config check does.
func TestReportErrorListsConfigProblems(t *testing.T) {
	cfg := writeConfig(t, "log:\n  level: loud\npublic: {addr: nonsense}\n")
	_, _, err := runCmd(t, "migrate", "--config", cfg)
	var b strings.Builder
	reportError(&b, err)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) < 3 || !strings.Contains(b.String(), "mypt.yaml:2: log.level: ") || lines[len(lines)-1] != fmt.Sprintf("mypt: %d problem(s) in the configuration", len(lines)-1) {
		t.Errorf("reported:\n%s", b.String())
	}
	b.Reset()
	reportError(&b, errors.New("sync: boom"))
	if b.String() != "mypt: sync: boom\n" {
		t.Errorf("plain error: %q", b.String())
	}
}
