package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"mypt"
)

// The pull stage: a pull pass larger than one batch is read whole into pull_stage before any of
// it is applied, so a failure while reading the MIS (a dropped connection, a timeout, a deadlock
// victim) leaves the cache and the watermark exactly as they were before the pass, however many
// batches the pass had. Staging commits one short transaction per batch, so portal writes are
// never held up for the length of a read.
//
// Once read, the pass is published: the staged batches are applied in order, each in its own
// transaction (the writer is never held for the whole pass), the last together with the pass's
// watermark. The ready marker, written first, makes publishing survive a crash: ResumeStage
// finishes it at the next pass, and the watermark moves only when the last batch is in.

// stagedBatch is one staged batch; Rows holds the upserts' rows in order.
type stagedBatch struct {
	Ops  []mypt.Op `json:"ops"`
	Keys []string  `json:"keys"`
	Rows any       `json:"rows"`
}

// StageBatch keeps batch seq of a pass of source's entity aside, invisible to readers, until
// PublishStage. A batch is stored as one JSON object: its ops, its keys, and its rows as one
// array of the entity's row type, under the view's column names as the push format has them.
// (gob would be cheaper but loses the difference between a nil *bool and false.)
func (s *Store) StageBatch(ctx context.Context, source string, entity mypt.Entity, seq int, recs []mypt.Record) error {
	proto, err := mypt.NewRow(entity)
	if err != nil {
		return fmt.Errorf("sqlite: stage batch: %w", err)
	}
	ops := make([]mypt.Op, len(recs))
	keys := make([]string, len(recs))
	rows := reflect.MakeSlice(reflect.SliceOf(reflect.TypeOf(proto).Elem()), 0, len(recs))
	for i, r := range recs {
		if r.Entity != entity {
			return fmt.Errorf("sqlite: stage batch %s/%d: %w: a %s record in a %s pass", entity, seq, mypt.ErrInvalid, r.Entity, entity)
		}
		ops[i], keys[i] = r.Op, r.Key
		if r.Op != mypt.OpUpsert {
			continue
		}
		v := reflect.ValueOf(r.Row)
		if v.Kind() == reflect.Pointer && !v.IsNil() {
			v = v.Elem()
		}
		if !v.IsValid() || v.Type() != rows.Type().Elem() {
			return fmt.Errorf("sqlite: stage batch %s/%d: %w: record %q carries %T", entity, seq, mypt.ErrInvalid, r.Key, r.Row)
		}
		rows = reflect.Append(rows, v)
	}
	data, err := json.Marshal(stagedBatch{Ops: ops, Keys: keys, Rows: rows.Interface()})
	if err != nil {
		return fmt.Errorf("sqlite: stage batch %s/%d: encode: %w", entity, seq, err)
	}
	_, err = s.exec(ctx, fmt.Sprintf("stage batch %s/%d", entity, seq),
		`INSERT INTO pull_stage (source, entity, seq, records) VALUES (?, ?, ?, ?)`,
		source, string(entity), seq, data)
	return err
}

// PublishStage marks the staged pass of source's entity as read to its end with watermark, then
// applies it (see ResumeStage). The result adds up every staged batch's.
func (s *Store) PublishStage(ctx context.Context, source string, entity mypt.Entity, watermark []byte) (mypt.BatchResult, error) {
	if watermark == nil {
		return mypt.BatchResult{}, fmt.Errorf("sqlite: publish %s: %w: no watermark", entity, mypt.ErrInvalid)
	}
	if _, err := s.exec(ctx, "publish "+string(entity),
		`INSERT INTO pull_stage_ready (source, entity, watermark, ready_at) VALUES (?, ?, ?, ?)`,
		source, string(entity), watermark, FormatTime(s.now())); err != nil {
		return mypt.BatchResult{}, err
	}
	res, _, err := s.ResumeStage(ctx, source, entity)
	return res, err
}

// ResumeStage brings the stage of source's entity to rest before a new pass: a pass that was read
// to its end (PublishStage was called) is applied, batch by batch in order, each batch deleted
// from the stage in the transaction that applies it and the watermark written with the last; the
// batches of a pass that was not read to its end are dropped. published says whether a pass was
// applied.
func (s *Store) ResumeStage(ctx context.Context, source string, entity mypt.Entity) (res mypt.BatchResult, published bool, err error) {
	var wm []byte
	err = s.read.QueryRowContext(ctx, `SELECT watermark FROM pull_stage_ready WHERE source = ? AND entity = ?`,
		source, string(entity)).Scan(&wm)
	if errors.Is(err, sql.ErrNoRows) {
		// A pass that was not read to its end (the process stopped mid-read) leaves batches.
		var left bool
		if err := s.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pull_stage WHERE source = ? AND entity = ?)`,
			source, string(entity)).Scan(&left); err != nil {
			return res, false, fmt.Errorf("sqlite: read stage of %s: %w", entity, err)
		}
		if left {
			return res, false, s.DiscardStage(ctx, source, entity)
		}
		return res, false, nil
	}
	if err != nil {
		return res, false, fmt.Errorf("sqlite: read stage of %s: %w", entity, err)
	}
	students := map[string]struct{}{}
	for {
		seq, recs, last, err := s.nextStaged(ctx, source, entity)
		if err != nil {
			return res, true, err
		}
		b := mypt.Batch{Source: source, Mode: mypt.ModeDelta, Records: recs}
		if last {
			b.Watermarks = []mypt.Watermark{{Entity: entity, Value: wm}}
		}
		r, err := s.applyBatch(ctx, b, func(tx *sql.Tx) error {
			if seq >= 0 {
				if _, err := tx.ExecContext(ctx, `DELETE FROM pull_stage WHERE source = ? AND entity = ? AND seq = ?`,
					source, string(entity), seq); err != nil {
					return err
				}
			}
			if last {
				_, err := tx.ExecContext(ctx, `DELETE FROM pull_stage_ready WHERE source = ? AND entity = ?`, source, string(entity))
				return err
			}
			return nil
		})
		if err != nil {
			return res, true, fmt.Errorf("sqlite: publish %s batch %d: %w", entity, seq, err)
		}
		res.Upserted += r.Upserted
		res.Unchanged += r.Unchanged
		res.Deleted += r.Deleted
		res.Rejected = append(res.Rejected, r.Rejected...)
		for _, id := range r.Students {
			if _, ok := students[id]; !ok {
				students[id] = struct{}{}
				res.Students = append(res.Students, id)
			}
		}
		if last {
			return res, true, nil
		}
	}
}

// nextStaged reads and decodes the first staged batch of a pass; seq is -1 when none is left
// (the pass is then finished with the watermark alone). last says no batch follows it.
func (s *Store) nextStaged(ctx context.Context, source string, entity mypt.Entity) (seq int, recs []mypt.Record, last bool, err error) {
	rows, err := s.read.QueryContext(ctx, `SELECT seq, records FROM pull_stage WHERE source = ? AND entity = ? ORDER BY seq LIMIT 2`,
		source, string(entity))
	if err != nil {
		return 0, nil, false, fmt.Errorf("sqlite: read stage of %s: %w", entity, err)
	}
	defer rows.Close()
	seq, n := -1, 0
	var data []byte
	for rows.Next() {
		if n == 0 {
			if err := rows.Scan(&seq, &data); err != nil {
				return 0, nil, false, fmt.Errorf("sqlite: read stage of %s: %w", entity, err)
			}
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, nil, false, fmt.Errorf("sqlite: read stage of %s: %w", entity, err)
	}
	if seq < 0 {
		return -1, nil, true, nil
	}
	recs, err = decodeStaged(entity, data)
	if err != nil {
		return 0, nil, false, fmt.Errorf("sqlite: staged %s batch %d: %w", entity, seq, err)
	}
	return seq, recs, n == 1, nil
}

// decodeStaged reads the records StageBatch wrote.
func decodeStaged(entity mypt.Entity, data []byte) ([]mypt.Record, error) {
	proto, err := mypt.NewRow(entity)
	if err != nil {
		return nil, err
	}
	rows := reflect.New(reflect.SliceOf(reflect.TypeOf(proto).Elem()))
	b := stagedBatch{Rows: rows.Interface()}
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	ops, keys := b.Ops, b.Keys
	if len(keys) != len(ops) {
		return nil, fmt.Errorf("decode: %d keys for %d records", len(keys), len(ops))
	}
	recs := make([]mypt.Record, len(ops))
	rs, next := rows.Elem(), 0
	for i, op := range ops {
		recs[i] = mypt.Record{Entity: entity, Op: op, Key: keys[i]}
		if op == mypt.OpUpsert {
			if next >= rs.Len() {
				return nil, fmt.Errorf("decode: %d rows for more upserts", rs.Len())
			}
			recs[i].Row = rs.Index(next).Interface().(mypt.Row)
			next++
		}
	}
	return recs, nil
}

// DiscardStage drops whatever is staged for source's entity.
func (s *Store) DiscardStage(ctx context.Context, source string, entity mypt.Entity) error {
	return s.WithTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM pull_stage WHERE source = ? AND entity = ?`,
			`DELETE FROM pull_stage_ready WHERE source = ? AND entity = ?`} {
			if _, err := tx.ExecContext(ctx, q, source, string(entity)); err != nil {
				return fmt.Errorf("sqlite: discard stage of %s: %w", entity, err)
			}
		}
		return nil
	})
}
