package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"mypt"
)

// keyColumns names each entity's cache table key column (tables are named as the entities).
var keyColumns = map[mypt.Entity]string{
	mypt.EntityStudent:        "student_id",
	mypt.EntityContact:        "contact_id",
	mypt.EntityCourse:         "course_id",
	mypt.EntityEnrolment:      "enrolment_id",
	mypt.EntityTutor:          "tutor_id",
	mypt.EntityMarkType:       "mark",
	mypt.EntityAttendanceMark: "mark_id",
	mypt.EntityDocument:       "document_id",
	mypt.EntityAchievement:    "achievement_id",
	mypt.EntityTargetGrade:    "enrolment_id",
	mypt.EntityTarget:         "target_id",
	mypt.EntityPolicyRead:     "policy_read_id",
	mypt.EntityMeeting:        "meeting_id",
	mypt.EntityFurtherDetail:  "student_id",
}

// Watermark returns how far source has read entity e (the value committed with the last batch),
// or nil when it has never read it.
func (s *Store) Watermark(ctx context.Context, source string, e mypt.Entity) ([]byte, error) {
	var v []byte
	err := s.read.QueryRowContext(ctx,
		`SELECT value FROM sync_watermark WHERE source = ? AND entity = ?`, source, string(e)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: read watermark of %s/%s: %w", source, e, err)
	}
	return v, nil
}

// ForEachKey calls fn with the key of every cached row of e (in key order), for reconciliation.
func (s *Store) ForEachKey(ctx context.Context, e mypt.Entity, fn func(key string) error) error {
	col, ok := keyColumns[e]
	if !ok {
		return fmt.Errorf("sqlite: unknown entity %q", e)
	}
	rows, err := s.read.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s ORDER BY %s`, col, string(e), col))
	if err != nil {
		return fmt.Errorf("sqlite: read keys of %s: %w", e, err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return fmt.Errorf("sqlite: read keys of %s: %w", e, err)
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	return rows.Err()
}

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
