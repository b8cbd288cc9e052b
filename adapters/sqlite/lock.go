package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrCacheInUse is returned by AcquireLock (and so by Restore) when another
// process, normally the running daemon, holds the cache's lock.
var ErrCacheInUse = errors.New("cache is in use")

// Lock is the advisory exclusive lock the daemon holds on its cache for as
// long as it runs, so that offline operations (Restore) can tell it is
// running. It is an OS file lock (flock on Unix, LockFileEx on Windows) on
// LockPath(dbPath): the OS drops it when the process exits, even on a crash,
// so a stale lock file never blocks anything.
type Lock struct {
	f    *os.File
	path string
}

// LockPath returns the lock file guarding the cache at dbPath: a sibling
// file, so it lives in the data directory with the cache.
func LockPath(dbPath string) string { return dbPath + ".lock" }

// AcquireLock takes the lock for the cache at dbPath without waiting,
// creating the data directory if needed. If another holder has it, the error
// wraps ErrCacheInUse and names the holder's process id. The lock file
// records this process's id.
func AcquireLock(dbPath string) (*Lock, error) {
	path := LockPath(dbPath)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: lock %s: %w", path, err)
	}
	held, err := lockFileTry(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("sqlite: lock %s: %w", path, err)
	}
	if !held {
		pid := lockFileHolder(path)
		f.Close()
		return nil, fmt.Errorf("sqlite: %s: %w by process %s (stop mypt first)", dbPath, ErrCacheInUse, pid)
	}
	// Record the holder for the message above. Failure to write is harmless:
	// the lock, not the content, is what counts.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f, path: path}, nil
}

// Release gives the lock up. The file stays: deleting it while another
// process waits to lock it would let two holders lock different files.
// Release on a nil or released Lock does nothing.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := lockFileRelease(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	if err != nil {
		return fmt.Errorf("sqlite: unlock %s: %w", l.path, err)
	}
	return nil
}

func lockFileHolder(path string) string {
	b, err := os.ReadFile(path)
	if pid := strings.TrimSpace(string(b)); err == nil && pid != "" {
		return pid
	}
	return "unknown"
}
