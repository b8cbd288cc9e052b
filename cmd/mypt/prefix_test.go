package main

import (
	"context"
	"errors"
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
