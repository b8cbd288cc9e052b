package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"mypt"
)

// SyncRun is one entity's part of one pull pass.
type SyncRun struct {
	ID         int64
	Source     string
	Entity     mypt.Entity
	Kind       string // incremental | full | reconcile
	StartedAt  time.Time
	FinishedAt time.Time
	Success    bool
	Read       int
	Upserted   int
	Unchanged  int
	Rejected   int
	Deleted    int
	Error      string
}

// RecordSyncRun appends a run to the history.
func (s *Store) RecordSyncRun(ctx context.Context, r SyncRun) error {
	result := "failure"
	if r.Success {
		result = "success"
	}
	_, err := s.write.ExecContext(ctx, `INSERT INTO sync_run
		(source, entity, kind, started_at, finished_at, result, read_rows, upserted, unchanged, rejected, deleted, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Source, string(r.Entity), r.Kind, FormatTime(r.StartedAt), FormatTime(r.FinishedAt), result,
		r.Read, r.Upserted, r.Unchanged, r.Rejected, r.Deleted, r.Error)
	if err != nil {
		return fmt.Errorf("sqlite: record sync run of %s: %w", r.Entity, err)
	}
	return nil
}

// SyncRuns returns the latest runs, newest first (at most limit; entity "" for all).
func (s *Store) SyncRuns(ctx context.Context, entity mypt.Entity, limit int) ([]SyncRun, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.read.QueryContext(ctx, `SELECT run_id, source, entity, kind, started_at, finished_at, result,
		read_rows, upserted, unchanged, rejected, deleted, error
		FROM sync_run WHERE ? = '' OR entity = ? ORDER BY run_id DESC LIMIT ?`, string(entity), string(entity), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read sync runs: %w", err)
	}
	defer rows.Close()
	var out []SyncRun
	for rows.Next() {
		var r SyncRun
		var ent, started, finished, result string
		if err := rows.Scan(&r.ID, &r.Source, &ent, &r.Kind, &started, &finished, &result,
			&r.Read, &r.Upserted, &r.Unchanged, &r.Rejected, &r.Deleted, &r.Error); err != nil {
			return nil, fmt.Errorf("sqlite: read sync runs: %w", err)
		}
		r.Entity = mypt.Entity(ent)
		r.Success = result == "success"
		if r.StartedAt, err = ParseTime(started); err != nil {
			return nil, err
		}
		if r.FinishedAt, err = ParseTime(finished); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// lastSyncSuccessSQL walks the sync_run_entity index backwards from the newest run.
const lastSyncSuccessSQL = `SELECT finished_at FROM sync_run
	WHERE source = ? AND entity = ? AND result = 'success' AND kind <> 'reconcile'
	ORDER BY started_at DESC, run_id DESC LIMIT 1`

// LastSyncSuccess returns, for each entity with one, when its last successful pull pass from
// source (incremental or full; a reconciliation alone does not make the data current) finished,
// from the run history. A restarted pull loop starts from it, so /readyz need not wait for a
// pass when the cache is current. One indexed look-up per entity, however long the history.
func (s *Store) LastSyncSuccess(ctx context.Context, source string) (map[mypt.Entity]time.Time, error) {
	out := map[mypt.Entity]time.Time{}
	for _, e := range mypt.Entities {
		var finished string
		err := s.read.QueryRowContext(ctx, lastSyncSuccessSQL, source, string(e)).Scan(&finished)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: last successful sync of %s: %w", e, err)
		}
		t, err := ParseTime(finished)
		if err != nil {
			return nil, err
		}
		out[e] = t
	}
	return out, nil
}
