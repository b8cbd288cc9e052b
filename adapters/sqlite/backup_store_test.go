package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"mypt"
)

// TestStoreBackupDuringSyncAndPageViews is the backup story on the real
// store: batches keep arriving (the sync) and readers keep querying (page
// views) while backups are taken; each backup is a consistent cache that
// restores into a fresh data directory, opens with Open and equals the backup.
func TestStoreBackupDuringSyncAndPageViews(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	live := filepath.Join(t.TempDir(), "mypt.db")
	s := MustOpenAt(t, live, Options{})
	mustApply(t, s, mypt.Batch{ID: "seed", Source: "push", Mode: mypt.ModeDelta, Records: upsert(everyEntity()...)})

	const batches = 24
	syncErr := make(chan error, 1)
	firstBatches := make(chan struct{})
	go func() { // the sync: each batch adds a student and their contact together
		defer close(syncErr)
		for i := range batches {
			id := fmt.Sprintf("B%03d", i)
			st := student(id)
			ct := mypt.Contact{ContactID: "K" + id, StudentID: id, FirstName: "Pat", LastName: "Parent",
				Email: "pat" + id + "@example.org", IsNextOfKin: true, HasParentalResponsibility: true}
			if _, err := s.ApplyBatch(ctx, mypt.Batch{ID: "sync-" + id, Source: "mssql", Mode: mypt.ModeDelta, Records: upsert(st, ct)}); err != nil {
				syncErr <- err
				return
			}
			if i == 5 {
				close(firstBatches)
			}
		}
	}()
	stop := make(chan struct{})
	var views sync.WaitGroup
	viewErr := make(chan error, 2)
	for range 2 { // page views
		views.Add(1)
		go func() {
			defer views.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.CountRows(ctx, mypt.EntityStudent); err != nil {
					viewErr <- err
					return
				}
			}
		}()
	}

	<-firstBatches
	dir := t.TempDir()
	var backups []string
	for i := range 2 {
		dest := filepath.Join(dir, fmt.Sprintf("during-%d.db", i))
		if err := s.Backup(ctx, dest); err != nil {
			t.Fatalf("backup during sync and page views: %v", err)
		}
		backups = append(backups, dest)
	}
	if err := <-syncErr; err != nil {
		t.Fatalf("sync during backups: %v", err)
	}
	close(stop)
	views.Wait()
	close(viewErr)
	for err := range viewErr {
		t.Fatalf("page view during backups: %v", err)
	}
	after := filepath.Join(dir, "after.db")
	if err := s.Backup(ctx, after); err != nil {
		t.Fatal(err)
	}
	backups = append(backups, after)

	for i, b := range backups {
		if err := ValidateCache(ctx, b); err != nil {
			t.Fatalf("backup %s: %v", b, err)
		}
		fresh := filepath.Join(t.TempDir(), "data", "mypt.db")
		if err := os.MkdirAll(filepath.Dir(fresh), 0o750); err != nil {
			t.Fatal(err)
		}
		if _, err := Restore(ctx, b, fresh); err != nil {
			t.Fatalf("restore %s: %v", b, err)
		}
		restored := MustOpenAt(t, fresh, Options{})
		direct := MustOpenAt(t, copyForOpen(t, b), Options{})
		if d := diffDumps(dump(t, direct), dump(t, restored)); d != "" {
			t.Fatalf("restored %s differs from the backup:\n%s", b, d)
		}
		students, _ := restored.CountRows(ctx, mypt.EntityStudent)
		contacts, _ := restored.CountRows(ctx, mypt.EntityContact)
		if students != contacts { // seed has S1+K1; every sync batch adds one of each
			t.Fatalf("backup %d: %d students but %d contacts: a batch was copied half-applied", i, students, contacts)
		}
		if i == len(backups)-1 {
			if d := diffDumps(dump(t, s), dump(t, restored)); d != "" {
				t.Fatalf("backup after the sync differs from the live cache:\n%s", d)
			}
			if students != batches+1 {
				t.Fatalf("final backup has %d students, want %d", students, batches+1)
			}
		}
	}

	// The daemon holds the lock: restoring over the live cache is refused.
	lock, err := AcquireLock(live)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	if _, err := Restore(ctx, after, live); !errors.Is(err, ErrCacheInUse) {
		t.Fatalf("restore over the running daemon's cache: %v, want ErrCacheInUse", err)
	}
}

// copyForOpen copies a backup so opening it (which may write a WAL) leaves
// the backup file itself untouched.
func copyForOpen(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(dst, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}
