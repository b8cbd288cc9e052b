package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestSizeCollectorCountsDatabaseAndWAL(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "mypt.db")
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewSizeCollector(path))
	if _, err := reg.Gather(); err == nil {
		t.Fatal("missing cache file: want a gather error")
	}

	db := openTestDB(t, path)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE blob (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO blob VALUES (randomblob(200000))`); err != nil {
		t.Fatal(err)
	}
	want := fileSize(t, path) + fileSize(t, path+"-wal")
	if fileSize(t, path+"-wal") == 0 {
		t.Fatal("test set-up: expected a non-empty WAL while the connection is open")
	}
	if got := testutil.ToFloat64(NewSizeCollector(path)); got != float64(want) {
		t.Fatalf("mypt_cache_size_bytes = %v, want %d (db + wal)", got, want)
	}
	if got := testutil.ToFloat64(NewSizeCollector(path)); got < 200000 {
		t.Fatalf("mypt_cache_size_bytes = %v, want >= the blob written", got)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// openTestDB opens a WAL-mode cache file the way the store does (pragmas on
// every pooled connection through the DSN).
func openTestDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
