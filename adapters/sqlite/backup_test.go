package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// newRawCache creates a cache file with a schema_migrations table and two
// tables that every write transaction fills together, so a torn copy shows as
// a mismatch between them.
func newRawCache(t testing.TB, path string) *sql.DB {
	t.Helper()
	db := openRawCache(t, path)
	ctx := context.Background()
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`,
		`INSERT INTO schema_migrations VALUES (1, '0001_mis.sql', '2026-12-03T10:00:00Z')`,
		`CREATE TABLE account (id INTEGER PRIMARY KEY, email TEXT NOT NULL, writer INTEGER NOT NULL)`,
		`CREATE TABLE audit (id INTEGER PRIMARY KEY REFERENCES account(id), what TEXT NOT NULL)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// dumpRawCache returns every row of account and audit in id order, for comparing
// caches.
func dumpRawCache(t testing.TB, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", backupDSN(path, "mode=ro"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []string
	rows, err := db.Query(`SELECT a.id, a.email, a.writer, coalesce(u.what, '<none>') FROM account a LEFT JOIN audit u USING (id) ORDER BY a.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, writer int
		var email, what string
		if err := rows.Scan(&id, &email, &writer, &what); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d|%s|%d|%s", id, email, writer, what))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var orphans int
	if err := db.QueryRow(`SELECT count(*) FROM audit WHERE id NOT IN (SELECT id FROM account)`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Fatalf("%s: %d audit rows without their account: torn copy", path, orphans)
	}
	return out
}

func TestBackupWhileWritersRunThenRestoreIntoFreshDir(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "mypt.db")
	db := newRawCache(t, src)
	db.SetMaxOpenConns(8)

	// Three writers × 200 transactions, each inserting an account and its
	// audit row together, plus readers, while backups are taken.
	const writers, txPerWriter = 3, 100
	var wg sync.WaitGroup
	errs := make(chan error, writers+2)
	started := make(chan struct{})
	var once sync.Once
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range txPerWriter {
				id := w*txPerWriter + i + 1
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					errs <- err
					return
				}
				if _, err := tx.Exec(`INSERT INTO account VALUES (?, ?, ?)`, id, fmt.Sprintf("p%d@example.org", id), w); err != nil {
					tx.Rollback()
					errs <- err
					return
				}
				if _, err := tx.Exec(`INSERT INTO audit VALUES (?, ?)`, id, "created"); err != nil {
					tx.Rollback()
					errs <- err
					return
				}
				if err := tx.Commit(); err != nil {
					errs <- err
					return
				}
				if i == 10 {
					once.Do(func() { close(started) })
				}
			}
		}()
	}
	stopReaders := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(1)
	go func() { // page views
		defer readers.Done()
		for {
			select {
			case <-stopReaders:
				return
			default:
			}
			var n int
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM account a JOIN audit u USING (id)`).Scan(&n); err != nil {
				errs <- err
				return
			}
		}
	}()

	<-started
	backupDir := t.TempDir()
	var backups []string
	for i := range 3 {
		dest := filepath.Join(backupDir, fmt.Sprintf("backup-%d.db", i))
		if err := Backup(ctx, db, dest); err != nil {
			t.Fatalf("backup %d during writes: %v", i, err)
		}
		backups = append(backups, dest)
	}
	wg.Wait()
	close(stopReaders)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("writer or reader during backups: %v", err) // SQ-1: no SQLITE_BUSY either
	}

	// Each backup is a consistent prefix of the source's commits.
	final := dumpRawCache(t, src)
	if len(final) != writers*txPerWriter {
		t.Fatalf("source has %d accounts, want %d", len(final), writers*txPerWriter)
	}
	inFinal := map[string]bool{}
	for _, r := range final {
		inFinal[r] = true
	}
	prev := 0
	for _, b := range backups {
		rows := dumpRawCache(t, b)
		if len(rows) < prev {
			t.Fatalf("%s has %d rows, fewer than the earlier backup's %d", b, len(rows), prev)
		}
		prev = len(rows)
		for _, r := range rows {
			if !inFinal[r] {
				t.Fatalf("%s holds a row the source never had: %s", b, r)
			}
		}
		if _, err := os.Stat(b + "-wal"); err == nil {
			t.Errorf("%s has a WAL beside it; a backup must be one self-contained file", b)
		}
	}
	if entries, _ := os.ReadDir(backupDir); len(entries) != len(backups) {
		t.Errorf("backup dir holds %d files, want only the %d backups (no partial leftovers)", len(entries), len(backups))
	}

	// Restore the last backup into a fresh data directory, open it as the
	// daemon would, and compare.
	fresh := filepath.Join(t.TempDir(), "data", "mypt.db")
	if err := os.MkdirAll(filepath.Dir(fresh), 0o750); err != nil {
		t.Fatal(err)
	}
	last := backups[len(backups)-1]
	if _, err := Restore(ctx, last, fresh); err != nil {
		t.Fatalf("restore into a fresh directory: %v", err)
	}
	restored := openRawCache(t, fresh)
	if _, err := restored.ExecContext(ctx, `INSERT INTO account VALUES (100000, 'new@example.org', 9)`); err != nil {
		t.Fatalf("restored cache is not writable: %v", err)
	}
	if _, err := restored.ExecContext(ctx, `DELETE FROM account WHERE id = 100000`); err != nil {
		t.Fatal(err)
	}
	got, want := dumpRawCache(t, fresh), dumpRawCache(t, last)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("restored cache differs from the backup: %d rows vs %d", len(got), len(want))
	}
	var mode string
	if err := restored.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("restored cache journal_mode = %q, %v; want wal", mode, err)
	}
}

func TestBackupFileReadOnlyBesideAWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "mypt.db")
	db := newRawCache(t, src)
	if _, err := db.ExecContext(ctx, `INSERT INTO account VALUES (1, 'a@example.org', 0)`); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(dir, "copy with space.db")
	if err := BackupFile(ctx, src, dest); err != nil {
		t.Fatal(err)
	}
	if got := dumpRawCache(t, dest); len(got) != 1 {
		t.Fatalf("backup rows = %v", got)
	}
	if err := BackupFile(ctx, src, dest); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("backup over an existing file: %v, want fs.ErrExist", err)
	}
	if err := BackupFile(ctx, filepath.Join(dir, "absent.db"), filepath.Join(dir, "x.db")); err == nil {
		t.Fatal("backup of a missing cache succeeded")
	}
}

func TestRestoreRefusesWhileTheCacheIsLocked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	live := filepath.Join(dir, "mypt.db")
	newRawCache(t, live).Close()
	backup := filepath.Join(t.TempDir(), "b.db")
	if err := BackupFile(ctx, live, backup); err != nil {
		t.Fatal(err)
	}
	lock, err := AcquireLock(live) // the daemon
	if err != nil {
		t.Fatal(err)
	}
	_, err = Restore(ctx, backup, live)
	if !errors.Is(err, ErrCacheInUse) || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Fatalf("restore while locked: %v; want ErrCacheInUse naming pid %d", err, os.Getpid())
	}
	if kept, _ := filepath.Glob(live + PreviousSuffix + "*"); len(kept) != 0 {
		t.Fatal("refused restore still moved the live cache")
	}
	if err := lock.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, backup, live); err != nil {
		t.Fatalf("restore after the daemon stopped: %v", err)
	}
}

func TestRestoreRefusesFilesThatAreNotAMyptCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	live := filepath.Join(dir, "mypt.db")
	db := newRawCache(t, live)
	if _, err := db.ExecContext(ctx, `INSERT INTO account VALUES (1, 'keep@example.org', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := dumpRawCache(t, live)

	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte("this is not a database at all, just some text\n"), 0o600)

	other := filepath.Join(dir, "other.db")
	odb := openRawCache(t, other)
	odb.Exec(`CREATE TABLE t (x)`)
	odb.Close()

	empty := filepath.Join(dir, "empty-migrations.db")
	edb := openRawCache(t, empty)
	edb.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)`)
	edb.Close()

	newer := filepath.Join(dir, "newer.db")
	ndb := openRawCache(t, newer)
	ndb.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)`)
	ndb.Exec(`INSERT INTO schema_migrations VALUES (1), (9999)`)
	ndb.Close()

	good := filepath.Join(dir, "good.db")
	if err := BackupFile(ctx, live, good); err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(dir, "corrupt.db")
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	for i := 4096; i < len(raw) && i < 2*4096; i++ { // smash the second page
		raw[i] = 0xA5
	}
	os.WriteFile(corrupt, raw, 0o600)

	cases := []struct {
		name, src, want string
	}{
		{"missing file", filepath.Join(dir, "absent.db"), "no such file"},
		{"not sqlite", junk, "not a SQLite database"},
		{"sqlite but not mypt", other, "no schema_migrations table"},
		{"no migration recorded", empty, "no migration recorded"},
		{"corrupt pages", corrupt, "integrity check"},
		{"from a newer mypt", newer, "version 9999"},
		{"a directory", dir, "not a regular file"},
	}
	for _, c := range cases {
		_, err := Restore(ctx, c.src, live)
		t.Logf("%s: %v", c.name, err)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: restore error %v, want one containing %q", c.name, err, c.want)
		}
	}
	if after := dumpRawCache(t, live); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("refused restores changed the live cache: %v -> %v", before, after)
	}
	if kept, _ := filepath.Glob(live + PreviousSuffix + "*"); len(kept) != 0 {
		t.Fatal("a refused restore moved the live cache aside")
	}
}

func TestRestoreKeepsThePreviousCacheWithItsWAL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	live := filepath.Join(dir, "mypt.db")

	bdb := newRawCache(t, filepath.Join(dir, "seed.db"))
	bdb.Exec(`INSERT INTO account VALUES (7, 'from-backup@example.org', 0)`)
	backup := filepath.Join(dir, "backup.db")
	if err := Backup(ctx, bdb, backup); err != nil {
		t.Fatal(err)
	}

	// A live cache whose last commit is still only in its WAL, as after a
	// crash: copy db and wal while a connection holds them open.
	cdb := newRawCache(t, filepath.Join(dir, "crashed.db"))
	cdb.Exec(`PRAGMA wal_autocheckpoint = 0`)
	cdb.Exec(`INSERT INTO account VALUES (1, 'only-in-wal@example.org', 0)`)
	for _, suffix := range []string{"", "-wal"} {
		raw, err := os.ReadFile(filepath.Join(dir, "crashed.db") + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(live+suffix, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	kept, err := Restore(ctx, backup, live)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live + "-wal"); err == nil {
		t.Fatal("the old cache's WAL is still beside the restored cache")
	}
	if got := dumpRawCache(t, live); len(got) != 1 || !strings.Contains(got[0], "from-backup") {
		t.Fatalf("restored cache = %v", got)
	}
	if got := dumpRawCache(t, kept); len(got) != 1 || !strings.Contains(got[0], "only-in-wal") {
		t.Fatalf("previous cache kept with its WAL = %v", got)
	}
	// A second restore (a wrong choice corrected) keeps the cache it replaces under a new name:
	// the cache from before the first restore is still there.
	again, err := Restore(ctx, backup, live)
	if err != nil {
		t.Fatal(err)
	}
	if again == kept || again == "" {
		t.Fatalf("second restore kept the replaced cache as %q (first %q)", again, kept)
	}
	if got := dumpRawCache(t, kept); len(got) != 1 || !strings.Contains(got[0], "only-in-wal") {
		t.Fatalf("the second restore overwrote the first one's kept cache: %v", got)
	}
}

func TestLockIsExclusiveAndReleasable(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "mypt.db")
	a, err := AcquireLock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AcquireLock(path); !errors.Is(err, ErrCacheInUse) {
		t.Fatalf("second lock: %v, want ErrCacheInUse", err)
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(); err != nil {
		t.Fatalf("second release: %v", err)
	}
	b, err := AcquireLock(path)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	b.Release()
}

// TestLockHeldByAnotherProcessDiesWithIt runs this test binary as a
// "daemon" that takes the lock, then kills it: the lock must go with it, as
// after a crash, with no stale file to clean up.
func TestLockHeldByAnotherProcessDiesWithIt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "mypt.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$")
	cmd.Env = append(os.Environ(), "MYPT_TEST_HOLD_LOCK="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "locked ") {
				line <- sc.Text()
				return
			}
		}
		close(line)
	}()
	var pid string
	select {
	case l, ok := <-line:
		if !ok {
			t.Fatal("helper exited before taking the lock")
		}
		pid = strings.TrimPrefix(l, "locked ")
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("helper never took the lock")
	}
	_, err = AcquireLock(path)
	if !errors.Is(err, ErrCacheInUse) || !strings.Contains(err.Error(), "process "+pid) {
		t.Fatalf("lock held by process %s: got %v", pid, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := AcquireLock(path)
	if err != nil {
		t.Fatalf("lock after its holder died: %v", err)
	}
	l.Release()
}

func TestHelperHoldLock(t *testing.T) {
	path := os.Getenv("MYPT_TEST_HOLD_LOCK")
	if path == "" {
		return // only meaningful as the child of TestLockHeldByAnotherProcessDiesWithIt
	}
	l, err := AcquireLock(path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Printf("locked %d\n", os.Getpid())
	buf := make([]byte, 1)
	os.Stdin.Read(buf) // until the parent kills us or closes stdin
	l.Release()
	os.Exit(0)
}
