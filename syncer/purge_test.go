package syncer_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"mypt/adapters/sqlite"
	"mypt/syncer"
)

// The mailbox keeps message marks and review items (personal data) only for its retention
// period: a purge deletes what is older and keeps the rest.
func TestPurgeDeletesOnlyWhatIsOlderThanRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mypt.db"), sqlite.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for key, at := range map[string]time.Time{"mid:<old@x>": now.AddDate(0, 0, -100), "mid:<new@x>": now.AddDate(0, 0, -10)} {
		if _, err := store.WriteDB().Exec(`INSERT INTO mailbox_processed (message_key, folder, uidvalidity, uid, outcome, processed_at) VALUES (?, 'INBOX', 1, 1, 'review', ?)`,
			key, sqlite.FormatTime(at)); err != nil {
			t.Fatal(err)
		}
	}
	p := syncer.NewPurge(syncer.PurgeOptions{
		Name:  "mailbox",
		Every: 24 * time.Hour,
		Purge: func(ctx context.Context, now time.Time) (int64, error) {
			return store.PurgeMailbox(ctx, now.AddDate(0, 0, -90))
		},
		Logger: slog.New(slog.DiscardHandler),
		Now:    func() time.Time { return now },
	})
	n, err := p.RunOnce(ctx)
	if err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v; want 1 row deleted", n, err)
	}
	var left []string
	rows, err := store.ReadDB().Query(`SELECT message_key FROM mailbox_processed`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		rows.Scan(&k)
		left = append(left, k)
	}
	if len(left) != 1 || left[0] != "mid:<new@x>" {
		t.Fatalf("left %v, want only the 10-day-old mark", left)
	}
	// Run stops when its context ends, having purged once at start.
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop when its context ended")
	}
}
