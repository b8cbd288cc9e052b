package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mypt"
)

// SQ-1: sync, portal and mailbox goroutines writing at once never see SQLITE_BUSY, and every
// pooled connection of both pools has WAL and the busy timeout.
func TestConcurrentWritersNeverBusy(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	ctx := context.Background()
	mustApply(t, s, mypt.Batch{ID: "types", Source: "push", Records: upsert(markTypes()...)})
	if _, err := s.WriteDB().ExecContext(ctx, `INSERT INTO account (account_id, email, first_name, last_name, password_hash, created_at, password_changed_at)
		VALUES (1, 'p@example.org', 'P', 'Q', 'x', ?, ?)`, FormatTime(s.Now()), FormatTime(s.Now())); err != nil {
		t.Fatal(err)
	}
	const perWriter = 200
	writers := map[string]func(i int) error{
		"sync": func(i int) error {
			_, err := s.ApplyBatch(ctx, mypt.Batch{ID: fmt.Sprintf("sq1-%d", i), Source: "push",
				Records: upsert(mark(fmt.Sprintf("M%d", i%20), "S1", "E1", "2018-09-10", "/"), student(fmt.Sprintf("S%d", i)))})
			return err
		},
		"portal": func(i int) error {
			return s.WithTx(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `UPDATE account SET failed_attempts = failed_attempts + 1 WHERE account_id = 1`)
				return err
			})
		},
		"mailbox": func(i int) error {
			return s.WithTx(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, actor, action) VALUES (?, 'system', 'unlock')`, FormatTime(s.Now()))
				return err
			})
		},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4*perWriter)
	for name, write := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if err := write(i); err != nil {
					errs <- fmt.Errorf("%s writer, transaction %d: %w", name, i, err)
				}
			}
		})
	}
	// Readers at the same time, as the portal's pages would.
	wg.Go(func() {
		for range perWriter {
			if _, err := s.CountRows(ctx, mypt.EntityStudent); err != nil {
				errs <- fmt.Errorf("reader: %w", err)
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := queryInt(t, s.ReadDB(), `SELECT failed_attempts FROM account WHERE account_id = 1`); n != perWriter {
		t.Errorf("failed_attempts = %d, want %d", n, perWriter)
	}
	if n := queryInt(t, s.ReadDB(), `SELECT COUNT(*) FROM audit_log`); n != perWriter {
		t.Errorf("audit rows = %d, want %d", n, perWriter)
	}

	checkConns := func(pool string, db *sql.DB, n int) {
		conns := make([]*sql.Conn, n)
		for i := range conns {
			c, err := db.Conn(ctx)
			if err != nil {
				t.Fatalf("%s pool: conn %d: %v", pool, i, err)
			}
			conns[i] = c
		}
		for i, c := range conns {
			var mode string
			var busy, fk int
			if err := c.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
				t.Fatal(err)
			}
			if err := c.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy); err != nil {
				t.Fatal(err)
			}
			if err := c.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
				t.Fatal(err)
			}
			if mode != "wal" || busy != int(BusyTimeout.Milliseconds()) || fk != 1 {
				t.Errorf("%s pool conn %d: journal_mode=%s busy_timeout=%d foreign_keys=%d; want wal, %d, 1",
					pool, i, mode, busy, fk, BusyTimeout.Milliseconds())
			}
		}
		for _, c := range conns {
			c.Close()
		}
	}
	checkConns("read", s.ReadDB(), s.opts.MaxReaders)
	checkConns("write", s.WriteDB(), 1)
}

// SQ-2: instants are stored in one UTC format whatever zone they came in, so text comparison
// and MAX() are time order.
func TestInstantsStoredInOneUTCFormat(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	ctx := context.Background()
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatalf("time zone data: %v", err)
	}
	newYork := time.FixedZone("EST", -5*3600)
	// In wall-clock text these sort the other way round from time order.
	instants := []time.Time{
		time.Date(2024, 7, 1, 9, 0, 0, 0, london),               // 08:00Z
		time.Date(2024, 7, 1, 4, 30, 0, 0, newYork),             // 09:30Z, the latest
		time.Date(2024, 7, 1, 8, 59, 59, 999_999_999, time.UTC), // just before 09:00Z
		time.Date(2024, 1, 15, 9, 0, 0, 0, london),              // GMT in winter
	}
	var rows []mypt.Row
	for i, at := range instants {
		rows = append(rows, mypt.PolicyRead{PolicyReadID: fmt.Sprintf("P%d", i), StudentID: "S1", Policy: "Code of conduct", ReadAt: at})
		if _, err := s.WriteDB().ExecContext(ctx, `INSERT INTO account (email, first_name, last_name, password_hash, created_at, password_changed_at, locked_at)
			VALUES (?, 'P', 'Q', 'x', ?, ?, ?)`, fmt.Sprintf("p%d@example.org", i), FormatTime(at), FormatTime(at), FormatTime(at)); err != nil {
			t.Fatal(err)
		}
	}
	mustApply(t, s, mypt.Batch{ID: "sq2", Source: "push", Records: upsert(rows...)})

	stored := map[string]string{}
	r, err := s.ReadDB().QueryContext(ctx, `SELECT policy_read_id, read_at FROM policy_read`)
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var id, at string
		if err := r.Scan(&id, &at); err != nil {
			t.Fatal(err)
		}
		stored[id] = at
	}
	r.Close()
	for i, at := range instants {
		got := stored[fmt.Sprintf("P%d", i)]
		if len(got) != len(TimeFormat) || !strings.HasSuffix(got, "Z") {
			t.Errorf("instant %d stored as %q, not in %s", i, got, TimeFormat)
		}
		back, err := ParseTime(got)
		if err != nil || !back.Equal(at) {
			t.Errorf("instant %d: stored %q reads back as %v, want %v", i, got, back, at)
		}
	}
	if want := "2024-07-01T08:00:00.000000000Z"; stored["P0"] != want {
		t.Errorf("09:00 London in July stored as %q, want %q", stored["P0"], want)
	}

	var maxAt string
	if err := s.ReadDB().QueryRowContext(ctx, `SELECT MAX(read_at) FROM policy_read`).Scan(&maxAt); err != nil {
		t.Fatal(err)
	}
	if got, _ := ParseTime(maxAt); !got.Equal(instants[1]) {
		t.Errorf("MAX(read_at) = %s, want %v", maxAt, instants[1].UTC())
	}
	// "Locked until later than 09:00 London time on 1 July" (08:00Z): the New York row and the
	// one a nanosecond before 09:00Z, not the London row itself nor January's.
	cutoff := time.Date(2024, 7, 1, 9, 0, 0, 0, london)
	n := queryInt(t, s.ReadDB(), `SELECT COUNT(*) FROM account WHERE locked_at > ?`, FormatTime(cutoff.In(newYork)))
	if n != 2 {
		t.Errorf("accounts with locked_at > %v: %d, want 2", cutoff, n)
	}
	if err := s.ReadDB().QueryRowContext(ctx, `SELECT MAX(locked_at) FROM account`).Scan(&maxAt); err != nil {
		t.Fatal(err)
	}
	if got, _ := ParseTime(maxAt); !got.Equal(instants[1]) {
		t.Errorf("MAX(locked_at) = %s, want %v", maxAt, instants[1].UTC())
	}
}

func TestSchemaTooNewRefused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "mypt.db")
	s := MustOpenAt(t, path, Options{})
	if _, err := s.WriteDB().Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future.sql', ?)`,
		LatestSchema()+1, FormatTime(s.Now())); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(context.Background(), path, Options{})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("open a cache from a newer mypt: err = %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), strconv.Itoa(LatestSchema()+1)) {
		t.Errorf("error %q does not give the cache's version", err)
	}
}

func TestOpenRefusesBadOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, o := range map[string]Options{"unmarked": {Unmarked: "present"}, "share": {SnapshotMaxDeleteShare: 1.5}} {
		if _, err := Open(context.Background(), filepath.Join(dir, name+".db"), o); err == nil {
			t.Errorf("%s: Open accepted %+v", name, o)
		}
	}
}

// The crash test: a child process applies batches in a loop and is killed with SIGKILL part-way;
// the cache, reopened, holds whole batches only and its watermark matches its data.

const crashEnv = "MYPT_TEST_CRASH_CACHE"

const crashMarks = 60

func crashBatch(i int) mypt.Batch {
	var rows []mypt.Row
	codes := []string{"/", "L", "O", "A", "#", ""}
	for j := range crashMarks {
		rows = append(rows, mark(fmt.Sprintf("M%02d", j), fmt.Sprintf("S%d", j%5), "E1",
			mypt.NewDate(2018, 9, 10).AddDays(j%14).String(), codes[(i+j)%len(codes)]))
	}
	for j := range 5 {
		st := student(fmt.Sprintf("S%d", j))
		st.PreferredName = fmt.Sprintf("v%d", i)
		rows = append(rows, st)
	}
	return mypt.Batch{ID: fmt.Sprintf("crash-%d", i), Source: "push", Records: upsert(rows...),
		Watermarks: []mypt.Watermark{{Entity: mypt.EntityAttendanceMark, Value: binary.BigEndian.AppendUint64(nil, uint64(i))}}}
}

func TestCrashBetweenBatches(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path)
		return
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "mypt.db")
	s := MustOpenAt(t, path, Options{})
	mustApply(t, s, mypt.Batch{ID: "types", Source: "push", Records: upsert(markTypes()...)})
	s.Close()

	cmd, sc := startChild(t, "TestCrashBetweenBatches", crashEnv, path)
	// Let it commit some batches, then kill it while it is in the middle of others.
	lastReported := 0
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "applied "); ok {
			lastReported, _ = strconv.Atoi(n)
			if lastReported >= 15 {
				break
			}
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	go func() {
		for sc.Scan() {
		}
	}()
	cmd.Wait()
	if lastReported < 15 {
		t.Fatalf("child reported only %d batches before it stopped", lastReported)
	}

	s = MustOpenAt(t, path, Options{})
	var integrity string
	if err := s.ReadDB().QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check = %q, %v", integrity, err)
	}
	wm, err := s.Watermark(context.Background(), "push", mypt.EntityAttendanceMark)
	if err != nil || len(wm) != 8 {
		t.Fatalf("watermark = %x, %v", wm, err)
	}
	w := int(binary.BigEndian.Uint64(wm))
	if w < lastReported {
		t.Errorf("watermark %d is behind the last batch the child saw commit (%d)", w, lastReported)
	}
	if n := queryInt(t, s.ReadDB(), `SELECT COUNT(*) FROM ingest_batch WHERE batch_id LIKE 'crash-%'`); n != w {
		t.Errorf("%d crash batches recorded, watermark says %d", n, w)
	}
	// Every row is batch w's: no half batch.
	want := map[string]string{}
	for _, r := range crashBatch(w).Records {
		switch row := r.Row.(type) {
		case mypt.AttendanceMark:
			want["mark "+row.MarkID] = row.Mark
		case mypt.Student:
			want["student "+row.StudentID] = row.PreferredName
		}
	}
	got := map[string]string{}
	rows, err := s.ReadDB().Query(`SELECT 'mark ' || mark_id, mark FROM attendance_mark UNION ALL SELECT 'student ' || student_id, preferred_name FROM student`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		got[k] = v
	}
	rows.Close()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (batch %d)", k, got[k], v, w)
		}
	}
	if v := queryInt(t, s.ReadDB(), `SELECT version FROM student_version WHERE student_id = 'S0'`); v != w {
		t.Errorf("student version = %d, want %d (one per batch)", v, w)
	}
	checkAttendance(t, s)
	// And the next batch applies.
	mustApply(t, s, crashBatch(w+1))
	checkAttendance(t, s)
}

// crashChild applies crash batches until killed (or, bounded, after 100,000).
func crashChild(path string) {
	ctx := context.Background()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	for i := 1; i <= 100_000; i++ {
		if _, err := s.ApplyBatch(ctx, crashBatch(i)); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(2)
		}
		fmt.Printf("applied %d\n", i)
	}
	os.Exit(0)
}

// A new cache, its WAL and a backup are readable by mypt's user only.
func TestCacheAndBackupFilesArePrivate(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("file modes are Unix permissions; on Windows the data folder's ACL protects them")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "mypt.db")
	s := MustOpenAt(t, path, Options{})
	mustApply(t, s, mypt.Batch{Source: "push", Records: upsert(student("S1"))})
	backup := filepath.Join(dir, "backup.db")
	if err := s.Backup(context.Background(), backup); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", backup} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m&0o077 != 0 {
			t.Errorf("%s has mode %v: readable by others", filepath.Base(f), m)
		}
	}
}

// A backup of a stopped cache leaves nothing beside it: no WAL or shared-memory file that a
// later restore would then keep too.
func TestBackupOfAStoppedCacheLeavesNoFilesBehind(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "mypt.db")
	s := MustOpenAt(t, path, Options{})
	mustApply(t, s, mypt.Batch{Source: "push", Records: upsert(student("S1"))})
	s.Close()
	if err := BackupFile(context.Background(), path, filepath.Join(dir, "backup.db")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path + "-wal", path + "-shm"} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s is left beside the stopped cache", filepath.Base(f))
		}
	}
}
