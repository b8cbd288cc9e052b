package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// PreviousSuffix starts the names under which Restore keeps the cache it
// replaced, with its WAL: mypt.db.before-restore-20261203T140501Z(-wal). Each
// restore keeps its own; none is ever overwritten (delete old ones by hand).
const PreviousSuffix = ".before-restore"

// Backup writes a consistent copy of the cache behind db to dest with VACUUM
// INTO: a read transaction, so the daemon keeps serving and writing while it
// runs, and the copy holds exactly the commits before it started, compacted
// and without a WAL. The copy is written next to dest and renamed into place
// only after it passes an integrity check, so dest is either absent or
// complete. Backup refuses to overwrite an existing dest.
func Backup(ctx context.Context, db *sql.DB, dest string) error {
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("sqlite: backup to %s: %w", dest, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sqlite: backup to %s: %w", dest, err)
	}
	tmp, err := backupTempName(filepath.Dir(dest), filepath.Base(dest)+".partial-")
	if err != nil {
		return fmt.Errorf("sqlite: backup to %s: %w", dest, err)
	}
	defer backupRemoveTemp(tmp)

	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return fmt.Errorf("sqlite: backup to %s: vacuum into: %w", dest, err)
	}
	// Personal data and password hashes: readable by mypt's user only, whatever the umask.
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("sqlite: backup to %s: %w", dest, err)
	}
	if err := backupIntegrityCheck(ctx, tmp); err != nil {
		return fmt.Errorf("sqlite: backup to %s: copy failed its check: %w", dest, err)
	}
	if err := backupSyncFile(tmp); err != nil {
		return fmt.Errorf("sqlite: backup to %s: %w", dest, err)
	}
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("sqlite: backup to %s: %w", dest, fs.ErrExist)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return fmt.Errorf("sqlite: backup to %s: %w", dest, err)
	}
	return backupSyncDir(filepath.Dir(dest))
}

// Backup writes a consistent copy of the cache to dest (see the Backup
// function) over a connection of its own: the reader pool is query-only,
// which VACUUM INTO refuses, and the writer must not be held up.
func (s *Store) Backup(ctx context.Context, dest string) error {
	return BackupFile(ctx, s.path, dest)
}

// BackupFile is Backup for a cache given by path, for `mypt backup` beside a
// running daemon: it opens the cache read-only (no migration, no write) just
// for the copy.
func BackupFile(ctx context.Context, dbPath, dest string) error {
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("sqlite: backup %s: %w", dbPath, err)
	}
	// Beside a running daemon the cache is opened read-only. With no daemon (its lock is free)
	// it is opened as usual, so that closing the last connection removes the WAL and
	// shared-memory files a read-only one would leave beside a stopped cache.
	mode := "mode=ro"
	if lock, err := AcquireLock(dbPath); err == nil {
		defer lock.Release()
		mode = "mode=rw"
	}
	db, err := sql.Open("sqlite", backupDSN(dbPath, mode, "_pragma=busy_timeout(10000)"))
	if err != nil {
		return fmt.Errorf("sqlite: backup %s: %w", dbPath, err)
	}
	defer db.Close()
	return Backup(ctx, db, dest)
}

// Restore replaces the cache at dbPath with the backup src. It refuses while
// the daemon runs (it takes the cache's Lock itself, so the daemon cannot
// start half-way either) and refuses a src that is not an intact mypt cache
// (SQLite integrity check, a schema_migrations table). src is copied into the
// data directory first and renamed over dbPath, so a crash leaves either the
// old cache or the new one. The old cache and its WAL are kept under a name
// of their own, dbPath+PreviousSuffix+"-<UTC time>", which Restore returns
// ("" when there was no cache); a WAL of the old cache never meets the new file.
func Restore(ctx context.Context, src, dbPath string) (kept string, err error) {
	lock, err := AcquireLock(dbPath)
	if err != nil {
		return "", err // already "sqlite: …"; the caller says it was a restore
	}
	defer lock.Release()

	if err := ValidateCache(ctx, src); err != nil {
		return "", fmt.Errorf("sqlite: restore %s: %w", src, err)
	}
	dir := filepath.Dir(dbPath)
	tmp, err := backupTempName(dir, filepath.Base(dbPath)+".restoring-")
	if err != nil {
		return "", fmt.Errorf("sqlite: restore %s: %w", src, err)
	}
	defer backupRemoveTemp(tmp)
	if err := backupCopy(ctx, src, tmp); err != nil {
		return "", fmt.Errorf("sqlite: restore %s: %w", src, err)
	}
	if err := ValidateCache(ctx, tmp); err != nil { // the copy, not just the source
		return "", fmt.Errorf("sqlite: restore %s: copy failed its check: %w", src, err)
	}

	// Keep the replaced cache with its WAL and shared-memory files renamed
	// together (SQLite finds a WAL by name), and remove the live names so
	// the new file starts with no WAL of the old one.
	prev, err := keepName(dbPath)
	if err != nil {
		return "", fmt.Errorf("sqlite: restore: %w", err)
	}
	if _, err := os.Stat(dbPath); errors.Is(err, fs.ErrNotExist) {
		prev = ""
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if prev == "" {
			break
		}
		if err := os.Rename(dbPath+suffix, prev+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("sqlite: restore: keep %s: %w", dbPath+suffix, err)
		}
	}
	if err := os.Rename(tmp, dbPath); err != nil {
		return "", fmt.Errorf("sqlite: restore %s: %w", src, err)
	}
	return prev, backupSyncDir(dir)
}

// keepName is a name for the replaced cache that no file has yet.
func keepName(dbPath string) (string, error) {
	base := dbPath + PreviousSuffix + "-" + time.Now().UTC().Format("20060102T150405Z")
	for i := 0; i < 100; i++ {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			return name, nil
		}
	}
	return "", fmt.Errorf("no free name beside %s for the replaced cache", dbPath)
}

// ValidateCache reports whether the file at path is an intact mypt cache:
// SQLite's integrity_check passes, the schema_migrations table records at
// least one migration, and none newer than this binary knows (a cache from a
// newer mypt wraps ErrSchemaTooNew: upgrade mypt first). It
// opens the file read-only and immutable, so it changes nothing, and
// returns an error naming what is wrong.
func ValidateCache(ctx context.Context, path string) error {
	if fi, err := os.Stat(path); err != nil {
		return err
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if err := backupIntegrityCheck(ctx, path); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", backupDSN(path, "mode=ro", "immutable=1"))
	if err != nil {
		return err
	}
	defer db.Close()
	var n int
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n)
	if err != nil {
		return fmt.Errorf("not a SQLite database: %w", err)
	}
	if n == 0 {
		return errors.New("not a mypt cache: no schema_migrations table")
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return fmt.Errorf("not a mypt cache: read schema_migrations: %w", err)
	}
	if n == 0 {
		return errors.New("not a mypt cache: no migration recorded")
	}
	var version int
	if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&version); err != nil {
		return fmt.Errorf("not a mypt cache: read schema version: %w", err)
	}
	if latest := LatestSchema(); version > latest {
		return fmt.Errorf("%w: it is at version %d, this binary knows up to %d; upgrade mypt first", ErrSchemaTooNew, version, latest)
	}
	return nil
}

// backupIntegrityCheck runs PRAGMA integrity_check on the file at path, read-only.
func backupIntegrityCheck(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", backupDSN(path, "mode=ro", "immutable=1"))
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return fmt.Errorf("not a SQLite database or unreadable: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("integrity check: %w", err)
		}
		if s != "ok" && len(problems) < 5 {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("integrity check failed: %s", strings.Join(problems, "; "))
	}
	return nil
}

// backupDSN builds a modernc.org/sqlite URI for path with the given query
// parameters; the path is escaped so spaces and '?' in it are safe.
func backupDSN(path string, params ...string) string {
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: filepath.ToSlash(path)}).EscapedPath()}
	return u.String() + "?" + strings.Join(params, "&")
}

// backupTempName returns the name of a new, absent file in dir: VACUUM INTO
// needs a name that does not exist yet.
func backupTempName(dir, prefix string) (string, error) {
	f, err := os.CreateTemp(dir, prefix+"*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return "", err
	}
	return name, nil
}

func backupRemoveTemp(path string) {
	for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
		_ = os.Remove(path + suffix)
	}
}

func backupCopy(ctx context.Context, src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, backupCtxReader{ctx, in}); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// backupCtxReader stops a long copy when ctx ends.
type backupCtxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r backupCtxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func backupSyncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
