package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"mypt"
)

// Reconciliation in constant memory. The MIS's key set of an entity may hold millions of keys;
// instead of a Go map, it is streamed into a scratch SQLite file beside the cache (same disk,
// which has room for the cache; /tmp may be a RAM disk) on one dedicated connection that also
// attaches the cache read-only. Set difference is then SQL on BINARY-collated TEXT, so it needs
// no agreement between SQL Server's collation or uniqueidentifier order and SQLite's.
// The cache writer (which portal writes wait on) is never held by the comparison; only the
// deletions the caller makes through ApplyBatch use it.

const (
	// scratchCacheKiB is the scratch connection's page cache (the bound on its memory; pages
	// beyond it live in the scratch file).
	scratchCacheKiB = 16 << 10
	// scratchInsertRows is how many keys go in one INSERT statement.
	scratchInsertRows = 256
	// scratchTxKeys is how many keys are loaded per scratch transaction.
	scratchTxKeys = 65536
)

// scratchSuffix names a reconciliation's scratch file beside the cache: <cache>.reconcile-<random>.
// Each is removed when its reconciliation ends; one left by a crash holds nothing worth keeping
// and may be deleted while no reconciliation runs.
const scratchSuffix = ".reconcile-*"

// ScratchPattern is the filepath.Glob pattern of the scratch files of the cache at dbPath.
func ScratchPattern(dbPath string) string { return dbPath + scratchSuffix }

// MissingKeys finds the cached keys of entity that the source no longer has, in constant memory
// whatever the table's size. mis streams the source's keys (calling yield once per key; it must
// return yield's error); they are stored in a scratch file, not in memory. Then, in one read
// transaction of the cache, it counts the cached keys and those mis did not yield, and calls
// check with the number of distinct keys mis yielded, the cached count and the missing count.
// If check returns nil, fn is called with each missing key, in key order; fn may write to the
// cache (no read transaction on the cache is open while it runs). The first error of mis, check
// or fn is returned as it is; errors of the scratch space are wrapped "sqlite: reconcile …".
func (s *Store) MissingKeys(ctx context.Context, entity mypt.Entity, mis func(yield func(key string) error) error,
	check func(misKeys, cached, missing int) error, fn func(key string) error) (err error) {
	t := tables[entity]
	if t == nil {
		return fmt.Errorf("sqlite: reconcile: %w: unknown entity %q", mypt.ErrInvalid, entity)
	}
	sc, err := s.openScratch(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := sc.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()

	misKeys, err := sc.load(ctx, mis)
	if err != nil {
		return err
	}
	cached, missing, err := sc.diff(ctx, t)
	if err != nil {
		return err
	}
	if err := check(misKeys, cached, missing); err != nil {
		return err
	}
	if missing == 0 {
		return nil
	}
	return sc.each(ctx, fn)
}

// scratch is one reconciliation's scratch database: its own file as main, the cache attached
// read-only as "cache", on one pinned connection.
type scratch struct {
	path string
	db   *sql.DB
	conn *sql.Conn
}

func (s *Store) openScratch(ctx context.Context) (*scratch, error) {
	f, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+scratchSuffix)
	if err != nil {
		return nil, fmt.Errorf("sqlite: reconcile: create scratch file: %w", err)
	}
	sc := &scratch{path: f.Name()}
	if err := f.Close(); err != nil {
		os.Remove(sc.path)
		return nil, fmt.Errorf("sqlite: reconcile: create scratch file: %w", err)
	}
	// A scratch file needs no durability: no journal, no fsync. An empty file is an empty
	// database.
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(OFF)")
	q.Add("_pragma", "synchronous(OFF)")
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", scratchCacheKiB))
	q.Add("_pragma", "temp_store(FILE)")
	sc.db, err = sql.Open("sqlite", "file:"+(&url.URL{Path: sc.path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		os.Remove(sc.path)
		return nil, fmt.Errorf("sqlite: reconcile: open scratch: %w", err)
	}
	sc.db.SetMaxOpenConns(1)
	if sc.conn, err = sc.db.Conn(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: reconcile: open scratch: %w", err), sc.close())
	}
	// The cache read-only: this connection cannot write it, whatever runs on it.
	cacheURI := "file:" + (&url.URL{Path: s.path}).EscapedPath() + "?mode=ro"
	for _, stmt := range []struct {
		sql  string
		args []any
	}{
		{`ATTACH DATABASE ? AS cache`, []any{cacheURI}},
		{`CREATE TABLE mis_key (k TEXT PRIMARY KEY) WITHOUT ROWID`, nil},
		{`CREATE TABLE gone (k TEXT PRIMARY KEY) WITHOUT ROWID`, nil},
	} {
		if _, err := sc.conn.ExecContext(ctx, stmt.sql, stmt.args...); err != nil {
			return nil, errors.Join(fmt.Errorf("sqlite: reconcile: prepare scratch: %w", err), sc.close())
		}
	}
	return sc, nil
}

func (sc *scratch) close() error {
	var errs []error
	if sc.conn != nil {
		errs = append(errs, sc.conn.Close())
	}
	errs = append(errs, sc.db.Close())
	if err := os.Remove(sc.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("sqlite: reconcile: remove scratch file: %w", err))
	}
	return errors.Join(errs...)
}

// load stores every key mis yields and returns how many distinct keys it yielded. Keys go in
// multi-row INSERTs, scratchTxKeys to a transaction (BEGIN/COMMIT on the pinned connection).
func (sc *scratch) load(ctx context.Context, mis func(yield func(key string) error) error) (int, error) {
	full, err := sc.conn.PrepareContext(ctx, insertKeysSQL(scratchInsertRows))
	if err != nil {
		return 0, fmt.Errorf("sqlite: reconcile: prepare scratch: %w", err)
	}
	defer full.Close()
	var (
		inTx, distinct int
		open           bool
		buf            = make([]any, 0, scratchInsertRows)
		loadErr        error // an error of the scratch space, as opposed to one of mis
	)
	exec := func(q string) error {
		_, err := sc.conn.ExecContext(ctx, q)
		return err
	}
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if !open {
			if err := exec("BEGIN"); err != nil {
				loadErr = fmt.Errorf("sqlite: reconcile: load keys: %w", err)
				return loadErr
			}
			open = true
		}
		var res sql.Result
		var err error
		if len(buf) == scratchInsertRows {
			res, err = full.ExecContext(ctx, buf...)
		} else {
			res, err = sc.conn.ExecContext(ctx, insertKeysSQL(len(buf)), buf...)
		}
		var n int64
		if err == nil {
			n, err = res.RowsAffected()
		}
		if err != nil {
			loadErr = fmt.Errorf("sqlite: reconcile: load keys: %w", err)
			return loadErr
		}
		distinct += int(n)
		inTx += len(buf)
		buf = buf[:0]
		if inTx >= scratchTxKeys {
			open, inTx = false, 0
			if err := exec("COMMIT"); err != nil {
				loadErr = fmt.Errorf("sqlite: reconcile: load keys: %w", err)
				return loadErr
			}
		}
		return nil
	}
	err = mis(func(key string) error {
		buf = append(buf, key)
		if len(buf) == scratchInsertRows {
			return flush()
		}
		return nil
	})
	if err == nil && loadErr == nil {
		err = flush()
	}
	if loadErr != nil {
		return 0, loadErr
	}
	if err != nil {
		return 0, err
	}
	if open {
		if err := exec("COMMIT"); err != nil {
			return 0, fmt.Errorf("sqlite: reconcile: load keys: %w", err)
		}
	}
	return distinct, nil
}

func insertKeysSQL(n int) string {
	return "INSERT OR IGNORE INTO mis_key (k) VALUES " + strings.TrimSuffix(strings.Repeat("(?),", n), ",")
}

// diff counts t's cached keys and stores those not in mis_key in gone, in one read transaction
// of the cache so both counts describe the same state.
func (sc *scratch) diff(ctx context.Context, t *table) (cached, missing int, err error) {
	tx, err := sc.conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: reconcile %s: %w", t.entity, err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT COUNT(*) FROM cache.%s`, t.name)).Scan(&cached); err != nil {
		return 0, 0, fmt.Errorf("sqlite: reconcile %s: count cached keys: %w", t.entity, err)
	}
	res, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO gone (k) SELECT c.%[1]s FROM cache.%[2]s AS c
		WHERE NOT EXISTS (SELECT 1 FROM mis_key AS m WHERE m.k = c.%[1]s)`, t.key(), t.name))
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: reconcile %s: find missing keys: %w", t.entity, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: reconcile %s: find missing keys: %w", t.entity, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, fmt.Errorf("sqlite: reconcile %s: %w", t.entity, err)
	}
	return cached, int(n), nil
}

// each calls fn with every key in gone, in key order. Only the scratch file is read.
func (sc *scratch) each(ctx context.Context, fn func(key string) error) error {
	rows, err := sc.conn.QueryContext(ctx, `SELECT k FROM gone ORDER BY k`)
	if err != nil {
		return fmt.Errorf("sqlite: reconcile: read missing keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return fmt.Errorf("sqlite: reconcile: read missing keys: %w", err)
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: reconcile: read missing keys: %w", err)
	}
	return nil
}
