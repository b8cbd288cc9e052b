// Package sqlite is mypt's local cache and state store, on modernc.org/sqlite (pure Go).
//
// One Store holds two pools on the same file: a single-connection writer whose transactions
// begin IMMEDIATE (so writers queue on the busy timeout instead of failing with SQLITE_BUSY on
// upgrade), and a reader pool. Every connection of both pools gets WAL, busy_timeout and
// foreign_keys from the DSN, because a one-off PRAGMA reaches only one pooled connection (SQ-1).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"mypt"
)

// TimeFormat is the one format every instant is stored in: UTC, fixed width, so text order is
// time order and MAX()/comparisons are right (SQ-2).
const TimeFormat = "2006-01-02T15:04:05.000000000Z"

// FormatTime writes t in TimeFormat (in UTC).
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// ParseTime reads a TimeFormat string back.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(TimeFormat, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: bad stored time %q: %w", s, err)
	}
	return t, nil
}

// BusyTimeout is how long a connection waits for a lock before SQLITE_BUSY.
const BusyTimeout = 10 * time.Second

// Options configure Open.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MaxReaders bounds the reader pool (default 2×GOMAXPROCS, at least 4).
	MaxReaders int
	// SnapshotMaxDeleteShare is the share of an entity's rows a snapshot may delete without
	// Force (default 0.2).
	SnapshotMaxDeleteShare float64
	// MaxDocumentBytes rejects larger documents (default 20 MiB).
	MaxDocumentBytes int
	// Unmarked says how unmarked sessions count in the precomputed attendance rows: "ignore"
	// (default) or "absent" (mypt.ParseUnmarkedPolicy). Opening a cache counted under another
	// policy recomputes its attendance rows.
	Unmarked string
}

// Store is the cache. Its methods are safe for concurrent use.
type Store struct {
	path     string
	write    *sql.DB
	read     *sql.DB
	opts     Options
	now      func() time.Time
	unmarked mypt.UnmarkedPolicy
	// stmts are prepared on the writer at Open and reused by every batch (ingest.go).
	stmts map[string]*sql.Stmt
	// readStmts caches prepared statements of the reader pool by query text (portal.go).
	readStmts sync.Map
}

// Open opens (creating if needed) the cache at path and brings its schema up to date.
// It refuses a cache whose schema is newer than this binary (ErrSchemaTooNew).
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxReaders <= 0 {
		opts.MaxReaders = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if opts.SnapshotMaxDeleteShare <= 0 {
		opts.SnapshotMaxDeleteShare = 0.2
	}
	if opts.MaxDocumentBytes <= 0 {
		opts.MaxDocumentBytes = 20 << 20
	}
	unmarked, err := mypt.ParseUnmarkedPolicy(opts.Unmarked)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	opts.Unmarked = string(unmarked)
	if opts.SnapshotMaxDeleteShare > 1 {
		return nil, fmt.Errorf("sqlite: open %s: snapshot max delete share %v is above 1", path, opts.SnapshotMaxDeleteShare)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: create directory for %s: %w", path, err)
		}
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		// A new cache is created readable by mypt's user only (SQLite gives its WAL and
		// shared-memory files the same mode), whatever the umask: it holds personal data.
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			err = f.Close()
		}
		if err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
		}
	}
	write, err := sql.Open("sqlite", dsn(path, "immediate", false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	s := &Store{path: path, write: write, opts: opts, now: opts.Now, unmarked: unmarked}
	if err := s.migrate(ctx); err != nil {
		write.Close()
		return nil, err
	}
	if err := s.syncAttendancePolicy(ctx); err != nil {
		write.Close()
		return nil, err
	}
	if err := s.prepareIngest(ctx); err != nil {
		s.Close()
		return nil, err
	}
	read, err := sql.Open("sqlite", dsn(path, "deferred", true))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	read.SetMaxOpenConns(opts.MaxReaders)
	read.SetMaxIdleConns(opts.MaxReaders)
	s.read = read
	if err := read.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	return s, nil
}

// dsn builds a modernc.org/sqlite DSN whose every connection gets the pragmas we rely on.
func dsn(path, txlock string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// SQLite's default page cache is 2 MiB per connection: a year of a college's marks (a few
	// hundred MiB with its indexes) would be read back from the OS page by page on every batch.
	// The writer gets 64 MiB, each reader 16 MiB (used only as pages are touched), and the file is
	// memory-mapped so reads of cached pages make no system call.
	q.Add("_pragma", "mmap_size(268435456)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
		q.Add("_pragma", "cache_size(-16384)")
	} else {
		q.Add("_pragma", "cache_size(-65536)")
		q.Add("_pragma", "temp_store(MEMORY)")
	}
	q.Set("_txlock", txlock)
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Close closes both pools.
func (s *Store) Close() error {
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	if s.read != nil {
		errs = append(errs, s.read.Close())
	}
	errs = append(errs, s.write.Close())
	return errors.Join(errs...)
}

// Path is the cache file's path.
func (s *Store) Path() string { return s.path }

// ReadDB is the reader pool, for adapters' read-only queries.
func (s *Store) ReadDB() *sql.DB { return s.read }

// WriteDB is the single writer connection's pool. Use WithTx for writes.
func (s *Store) WriteDB() *sql.DB { return s.write }

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now() }

// WithTx runs fn in an immediate write transaction and commits if fn returns nil.
// Writes from every goroutine queue on the one writer connection, so none fails with SQLITE_BUSY.
func (s *Store) WithTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// exec runs one statement in its own write transaction and returns how many rows it changed;
// an error is wrapped "sqlite: <what>: …".
func (s *Store) exec(ctx context.Context, what, query string, args ...any) (int64, error) {
	var n int64
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return n, nil
}

// nullString stores the empty string as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
