package sqlite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"mypt"
)

// RejectedError is returned by ApplyBatch for an AllOrNothing batch with at least one bad record:
// nothing was applied. It wraps mypt.ErrInvalid; the same rejections are in BatchResult.Rejected.
type RejectedError struct {
	Rejections []mypt.Rejection
}

func (e *RejectedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sqlite: batch refused, %d bad record(s)", len(e.Rejections))
	for i, r := range e.Rejections {
		if i == 5 {
			fmt.Fprintf(&b, "; …")
			break
		}
		fmt.Fprintf(&b, "; %s", describeRejection(r))
	}
	return b.String()
}

// Unwrap makes errors.Is(err, mypt.ErrInvalid) true.
func (e *RejectedError) Unwrap() error { return mypt.ErrInvalid }

func describeRejection(r mypt.Rejection) string {
	var where []string
	if r.Line > 0 {
		where = append(where, fmt.Sprintf("line %d", r.Line))
	}
	if r.Entity != "" {
		where = append(where, string(r.Entity))
	}
	if r.Key != "" {
		where = append(where, fmt.Sprintf("key %q", r.Key))
	}
	if len(where) == 0 {
		return r.Reason
	}
	return strings.Join(where, " ") + ": " + r.Reason
}

// SnapshotRefusal is one entity a snapshot would have emptied too far.
type SnapshotRefusal struct {
	Entity   mypt.Entity
	Delete   int     // rows the snapshot would delete
	Existing int     // rows in the cache before the batch
	MaxShare float64 // the configured share
}

// RefusedError is returned by ApplyBatch when a snapshot would delete more than the configured
// share of an entity's rows and the batch is not forced. Nothing was applied. It wraps
// mypt.ErrRefused.
type RefusedError struct {
	Refusals []SnapshotRefusal
}

func (e *RefusedError) Error() string {
	parts := make([]string, len(e.Refusals))
	for i, r := range e.Refusals {
		parts[i] = fmt.Sprintf("%s: would delete %d of %d rows (%.1f%%), more than the allowed %.1f%%",
			r.Entity, r.Delete, r.Existing, 100*float64(r.Delete)/float64(r.Existing), 100*r.MaxShare)
	}
	return "sqlite: snapshot refused, " + strings.Join(parts, "; ") + "; check the export, or resend with force"
}

// Unwrap makes errors.Is(err, mypt.ErrRefused) true.
func (e *RefusedError) Unwrap() error { return mypt.ErrRefused }

// ApplyBatch applies b in one immediate transaction: its records, the deletes of a snapshot, its
// watermarks, the entities' freshness, the precomputed attendance rows and the version of every
// student touched. Either all of that commits or none of it.
//
// A batch whose ID was applied before with the same content returns Duplicate and changes
// nothing; with other content it fails with an error wrapping mypt.ErrConflict. A bad record is
// rejected with its line, key and reason: with b.AllOrNothing nothing is applied and the error is
// a *RejectedError (wrapping mypt.ErrInvalid); otherwise the other records are applied and the
// rejections are listed in the result. A snapshot that would delete more than
// Options.SnapshotMaxDeleteShare of an entity's existing rows fails with a *RefusedError
// (wrapping mypt.ErrRefused) unless b.Force.
func (s *Store) ApplyBatch(ctx context.Context, b mypt.Batch) (mypt.BatchResult, error) {
	return s.applyBatch(ctx, b, nil)
}

// applyBatch is ApplyBatch, running also (when set) in the same transaction after the batch.
func (s *Store) applyBatch(ctx context.Context, b mypt.Batch, also func(*sql.Tx) error) (mypt.BatchResult, error) {
	if err := s.checkBatch(b); err != nil {
		return mypt.BatchResult{}, err
	}
	p := s.prepareBatch(b)
	if len(p.rejected) > 0 && b.AllOrNothing {
		return mypt.BatchResult{Rejected: p.rejected}, &RejectedError{Rejections: p.rejected}
	}
	var res mypt.BatchResult
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = s.applyTx(ctx, tx, b, p)
		if err == nil && also != nil && !res.Duplicate {
			err = also(tx)
		}
		return err
	})
	if err != nil {
		return mypt.BatchResult{}, err
	}
	return res, nil
}

// checkBatch refuses batches whose header is unusable; records are checked one by one later.
func (s *Store) checkBatch(b mypt.Batch) error {
	if b.Source == "" {
		return fmt.Errorf("sqlite: apply batch %q: %w: the batch has no source", b.ID, mypt.ErrInvalid)
	}
	switch b.Mode {
	case mypt.ModeDelta, "":
		if len(b.Entities) > 0 {
			return fmt.Errorf("sqlite: apply batch %q: %w: a delta batch names no entities", b.ID, mypt.ErrInvalid)
		}
	case mypt.ModeSnapshot:
		if len(b.Entities) == 0 {
			return fmt.Errorf("sqlite: apply batch %q: %w: a snapshot must name the entities it replaces", b.ID, mypt.ErrInvalid)
		}
		for _, e := range b.Entities {
			if !e.Valid() {
				return fmt.Errorf("sqlite: apply batch %q: %w: snapshot of unknown entity %q", b.ID, mypt.ErrInvalid, e)
			}
		}
	default:
		return fmt.Errorf("sqlite: apply batch %q: %w: unknown mode %q", b.ID, mypt.ErrInvalid, b.Mode)
	}
	for _, w := range b.Watermarks {
		if !w.Entity.Valid() {
			return fmt.Errorf("sqlite: apply batch %q: %w: watermark for unknown entity %q", b.ID, mypt.ErrInvalid, w.Entity)
		}
	}
	return nil
}

// preparedRecord is a record that passed validation, with its bound values and hash.
type preparedRecord struct {
	rec  mypt.Record
	t    *table
	args []any // the columns' values then row_hash; nil for deletes
	hash []byte
}

type preparedBatch struct {
	records  []preparedRecord
	rejected []mypt.Rejection
	// keys lists, per snapshot entity, every key the batch upserts (valid or not: a row we
	// could not read is kept rather than deleted).
	keys   map[mypt.Entity]map[string]struct{}
	digest []byte
}

// prepareBatch validates every record and computes the bound values, row hashes and the batch's
// digest, outside the transaction so the writer is held only for the writes.
func (s *Store) prepareBatch(b mypt.Batch) *preparedBatch {
	p := &preparedBatch{records: make([]preparedRecord, 0, len(b.Records))}
	snap := map[mypt.Entity]bool{}
	if b.Mode == mypt.ModeSnapshot {
		p.keys = map[mypt.Entity]map[string]struct{}{}
		for _, e := range b.Entities {
			snap[e] = true
			p.keys[e] = map[string]struct{}{}
		}
	}
	d := sha256.New()
	var h rowHasher
	digestString := func(s string) {
		var n [binary.MaxVarintLen64]byte
		d.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		d.Write([]byte(s))
	}
	digestString("mypt batch v1")
	digestString(b.ID)
	digestString(b.Source)
	digestString(string(b.Mode))
	for _, e := range b.Entities {
		digestString(string(e))
	}
	digestString(fmt.Sprint(b.Force, b.AllOrNothing, len(b.Records)))
	// argBuf is carved into each record's args, so a batch allocates a few large slices
	// instead of one per record.
	var argBuf []any
	for _, rec := range b.Records {
		if rec.Row != nil {
			rec.Row = rowValue(rec.Row)
		}
		if rec.Op == mypt.OpUpsert && rec.Key == "" && rec.Row != nil {
			rec.Key = rec.Row.Key()
		}
		if snap[rec.Entity] && rec.Op == mypt.OpUpsert {
			p.keys[rec.Entity][rec.Key] = struct{}{}
		}
		digestString(string(rec.Entity))
		digestString(string(rec.Op))
		digestString(rec.Key)
		reject := func(format string, args ...any) {
			reason := fmt.Sprintf(format, args...)
			p.rejected = append(p.rejected, mypt.Rejection{Line: rec.Line, Entity: rec.Entity, Key: rec.Key, Reason: reason})
			digestString(reason)
		}
		t := tables[rec.Entity]
		if t == nil {
			reject("unknown entity %q", rec.Entity)
			continue
		}
		switch rec.Op {
		case mypt.OpDelete:
			if rec.Row != nil {
				reject("a delete carries a key, not data")
				continue
			}
			if rec.Key == "" {
				reject("a delete needs the row's key")
				continue
			}
			p.records = append(p.records, preparedRecord{rec: rec, t: t})
		case mypt.OpUpsert:
			if rec.Row == nil {
				reject("an upsert needs the row's data")
				continue
			}
			if rec.Row.EntityName() != rec.Entity {
				reject("data is a %s row, not %s", rec.Row.EntityName(), rec.Entity)
				continue
			}
			if k := rec.Row.Key(); k != rec.Key {
				reject("key %q does not match the row's key %q", rec.Key, k)
				continue
			}
			if err := rec.Row.Validate(); err != nil {
				reject("%v", err)
				continue
			}
			if doc, ok := rec.Row.(mypt.Document); ok && len(doc.Content) > s.opts.MaxDocumentBytes {
				reject("Content: is %d bytes, more than the limit of %d", len(doc.Content), s.opts.MaxDocumentBytes)
				continue
			}
			n := len(t.cols) + 1 // the columns, then row_hash
			if cap(argBuf)-len(argBuf) < n {
				argBuf = make([]any, 0, max(1024, n))
			}
			args := t.args(rec.Row, argBuf[len(argBuf):len(argBuf):len(argBuf)+n])
			hash := h.hash(t.entity, args)
			args = append(args, hash)
			argBuf = argBuf[:len(argBuf)+n]
			d.Write(hash)
			p.records = append(p.records, preparedRecord{rec: rec, t: t, args: args, hash: hash})
		default:
			reject("unknown op %q (upsert or delete)", rec.Op)
		}
	}
	for _, w := range b.Watermarks {
		digestString(string(w.Entity))
		digestString(string(w.Value))
	}
	p.digest = d.Sum(nil)
	return p
}

// applier is the state of one ApplyBatch transaction.
type applier struct {
	ctx   context.Context
	tx    *sql.Tx
	s     *Store
	now   string
	res   mypt.BatchResult
	stmts map[*table]*tableStmts
	att   *attendanceAcc
	// students are the students whose data changed.
	students map[string]struct{}
	// courses and marks changed, whose students are found at the end.
	courses map[string]struct{}
	marks   map[string]struct{}
	// entities that received anything, for entity_freshness.
	entities map[mypt.Entity]struct{}
	// known holds, per table, the rows the batch's keys have in the cache (nil: absent),
	// prefetched and kept current as the batch writes.
	known map[*table]map[string]*oldRow
	// pending holds upserts not yet written, per table (their columns then row_hash, flat).
	pending map[*table][]any
	w       multiWriter
}

type tableStmts struct{ sel, ups, del *sql.Stmt }

func (a *applier) stmt(t *table) (*tableStmts, error) {
	if st := a.stmts[t]; st != nil {
		return st, nil
	}
	st := &tableStmts{}
	for _, q := range []struct {
		dst **sql.Stmt
		sql string
	}{{&st.sel, t.selectSQL}, {&st.ups, t.upsertSQL}, {&st.del, t.deleteSQL}} {
		stmt, err := a.s.txStmt(a.ctx, a.tx, q.sql)
		if err != nil {
			return nil, fmt.Errorf("prepare %s: %w", t.name, err)
		}
		*q.dst = stmt
	}
	a.stmts[t] = st
	return st, nil
}

func (a *applier) close() {
	a.w.close()
	for _, st := range a.stmts {
		st.sel.Close()
		st.ups.Close()
		st.del.Close()
	}
}

func (s *Store) applyTx(ctx context.Context, tx *sql.Tx, b mypt.Batch, p *preparedBatch) (mypt.BatchResult, error) {
	if b.ID != "" {
		var digest []byte
		err := tx.QueryRowContext(ctx, `SELECT digest FROM ingest_batch WHERE batch_id = ?`, b.ID).Scan(&digest)
		switch {
		case err == nil && bytes.Equal(digest, p.digest):
			return mypt.BatchResult{Duplicate: true}, nil
		case err == nil:
			return mypt.BatchResult{}, fmt.Errorf("sqlite: apply batch %q: %w: a batch with this id but other content was applied before; give a changed batch a new id",
				b.ID, mypt.ErrConflict)
		case !errors.Is(err, sql.ErrNoRows):
			return mypt.BatchResult{}, fmt.Errorf("sqlite: apply batch %q: read ingest_batch: %w", b.ID, err)
		}
	}
	a := &applier{
		ctx: ctx, tx: tx, s: s, now: FormatTime(s.now()),
		stmts:    map[*table]*tableStmts{},
		students: map[string]struct{}{},
		courses:  map[string]struct{}{},
		marks:    map[string]struct{}{},
		entities: map[mypt.Entity]struct{}{},
		known:    map[*table]map[string]*oldRow{},
		pending:  map[*table][]any{},
		w:        multiWriter{ctx: ctx, tx: tx},
	}
	defer a.close()
	a.res.Rejected = p.rejected
	att, err := newAttendanceAcc(ctx, tx, s.unmarked)
	if err != nil {
		return mypt.BatchResult{}, fmt.Errorf("sqlite: apply batch %q: %w", b.ID, err)
	}
	a.att = att

	// A snapshot's deletes are decided against the cache before the batch, and refused before
	// anything is written.
	var snapshotDeletes map[mypt.Entity][]string
	if b.Mode == mypt.ModeSnapshot {
		snapshotDeletes, err = a.snapshotDeletes(b, p)
		if err != nil {
			return mypt.BatchResult{}, err
		}
	}
	// Entity by entity, in mypt.Entities order, each entity's records in batch order: mark types
	// come first, so every mark is counted under the types the batch leaves.
	byEntity := map[mypt.Entity][]*preparedRecord{}
	for i := range p.records {
		r := &p.records[i]
		byEntity[r.t.entity] = append(byEntity[r.t.entity], r)
	}
	for _, e := range mypt.Entities {
		if e == mypt.EntityAttendanceMark {
			a.att.freezeTypes()
		}
		if err := a.prefetch(tables[e], byEntity[e]); err != nil {
			return mypt.BatchResult{}, fmt.Errorf("sqlite: apply batch %q: read %s: %w", b.ID, e, err)
		}
		for _, r := range byEntity[e] {
			a.entities[e] = struct{}{}
			var err error
			if r.rec.Op == mypt.OpDelete {
				err = a.delete(r.t, r.rec.Key)
			} else {
				err = a.upsert(r)
			}
			if err != nil {
				return mypt.BatchResult{}, fmt.Errorf("sqlite: apply batch %q: %s %s %q: %w", b.ID, r.rec.Op, e, r.rec.Key, err)
			}
		}
		if err := a.flush(tables[e]); err != nil {
			return mypt.BatchResult{}, fmt.Errorf("sqlite: apply batch %q: write %s: %w", b.ID, e, err)
		}
		if dels, ok := snapshotDeletes[e]; ok {
			a.entities[e] = struct{}{}
			for _, k := range dels {
				if err := a.delete(tables[e], k); err != nil {
					return mypt.BatchResult{}, fmt.Errorf("sqlite: apply batch %q: snapshot delete %s %q: %w", b.ID, e, k, err)
				}
			}
		}
	}
	for _, rej := range p.rejected {
		if rej.Entity.Valid() {
			a.entities[rej.Entity] = struct{}{}
		}
	}
	if err := a.finish(b, p); err != nil {
		return mypt.BatchResult{}, fmt.Errorf("sqlite: apply batch %q: %w", b.ID, err)
	}
	return a.res, nil
}

// snapshotDeletes lists, per snapshot entity, the keys in the cache that the batch does not
// upsert, and refuses the batch if that is too large a share of the entity's rows.
func (a *applier) snapshotDeletes(b mypt.Batch, p *preparedBatch) (map[mypt.Entity][]string, error) {
	out := map[mypt.Entity][]string{}
	var refused []SnapshotRefusal
	for _, e := range b.Entities {
		t := tables[e]
		keep := p.keys[e]
		rows, err := a.tx.QueryContext(a.ctx, t.keysSQL)
		if err != nil {
			return nil, fmt.Errorf("sqlite: apply batch %q: list %s: %w", b.ID, e, err)
		}
		existing := 0
		var del []string
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: apply batch %q: list %s: %w", b.ID, e, err)
			}
			existing++
			if _, ok := keep[k]; !ok {
				del = append(del, k)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("sqlite: apply batch %q: list %s: %w", b.ID, e, err)
		}
		share := a.s.opts.SnapshotMaxDeleteShare
		if existing > 0 && float64(len(del)) > share*float64(existing) && !b.Force {
			refused = append(refused, SnapshotRefusal{Entity: e, Delete: len(del), Existing: existing, MaxShare: share})
		}
		out[e] = del
	}
	if len(refused) > 0 {
		return nil, &RefusedError{Refusals: refused}
	}
	return out, nil
}

// prefetch reads, in a few queries rather than one per record, what the cache holds for every
// key that recs upsert, into a.known.
func (a *applier) prefetch(t *table, recs []*preparedRecord) error {
	known := a.known[t]
	if known == nil {
		known = map[string]*oldRow{}
		a.known[t] = known
	}
	var keys []any
	for _, r := range recs {
		if r.rec.Op != mypt.OpUpsert {
			continue
		}
		if _, ok := known[r.rec.Key]; !ok {
			known[r.rec.Key] = nil // absent unless the query finds it
			keys = append(keys, r.rec.Key)
		}
	}
	const chunk = 500
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	for i := 0; i < len(keys); i += chunk {
		part := keys[i:min(i+chunk, len(keys))]
		q := fmt.Sprintf("SELECT %s, %s FROM %s WHERE %s IN (%s)", t.key(), t.tracked(), t.name, t.key(), inList(len(part)))
		var rows *sql.Rows
		var err error
		if len(part) == chunk {
			if full == nil {
				if full, err = a.tx.PrepareContext(a.ctx, q); err != nil {
					return err
				}
			}
			rows, err = full.QueryContext(a.ctx, part...)
		} else {
			rows, err = a.tx.QueryContext(a.ctx, q, part...)
		}
		if err != nil {
			return err
		}
		for rows.Next() {
			var key string
			o, err := scanOld(t, rows.Scan, &key)
			if err != nil {
				rows.Close()
				return err
			}
			known[key] = &o
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// upsert writes one row unless the cache already holds it unchanged.
func (a *applier) upsert(r *preparedRecord) error {
	st, err := a.stmt(r.t)
	if err != nil {
		return err
	}
	known := a.known[r.t]
	old, prefetched := known[r.rec.Key]
	if !prefetched {
		o, found, err := readOld(r.t, st.sel.QueryRowContext(a.ctx, r.rec.Key))
		if err != nil {
			return err
		}
		if found {
			old = &o
		}
	}
	if old != nil && bytes.Equal(old.hash, r.hash) {
		a.res.Unchanged++
		return nil
	}
	a.pending[r.t] = append(a.pending[r.t], r.args...)
	if len(a.pending[r.t]) >= r.t.chunk*(len(r.t.cols)+1) {
		if err := a.flush(r.t); err != nil {
			return err
		}
	}
	a.res.Upserted++
	if old != nil {
		if err := a.forget(r.t, r.rec.Key, *old); err != nil {
			return err
		}
	}
	if known != nil {
		now := oldFromArgs(r.t, r.args)
		known[r.rec.Key] = &now
	}
	return a.learn(r)
}

// flush writes t's pending upserts.
func (a *applier) flush(t *table) error {
	args := a.pending[t]
	if len(args) == 0 {
		return nil
	}
	n := len(t.cols) + 1
	if err := a.w.exec(t.insertHead, "("+inList(n)+")", t.upsertTail, n, t.chunk, args); err != nil {
		return err
	}
	clear(args) // let the rows' values go
	a.pending[t] = args[:0]
	return nil
}

// delete removes one row if present.
func (a *applier) delete(t *table, key string) error {
	// Earlier upserts of this table are written first, so the delete sees them.
	if err := a.flush(t); err != nil {
		return err
	}
	st, err := a.stmt(t)
	if err != nil {
		return err
	}
	if known := a.known[t]; known != nil {
		if old, ok := known[key]; ok && old == nil {
			return nil // known to be absent
		}
		known[key] = nil
	}
	old, found, err := readOld(t, st.del.QueryRowContext(a.ctx, key))
	if err != nil || !found {
		return err
	}
	a.res.Deleted++
	return a.forget(t, key, old)
}

// oldRow is what was in the cache before a change: the columns of table.tracked.
type oldRow struct {
	hash                      []byte
	student, enrolment, date  string
	mark                      string
	status, isLate, isAuthAbs int64
}

// oldFromArgs is the oldRow a row written with args will read back as.
func oldFromArgs(t *table, args []any) oldRow {
	o := oldRow{hash: args[len(args)-1].([]byte)}
	switch {
	case t.entity == mypt.EntityAttendanceMark:
		o.student, o.enrolment, o.date, o.mark = args[1].(string), args[2].(string), args[3].(string), args[6].(string)
	case t.entity == mypt.EntityMarkType:
		o.status, o.isLate, o.isAuthAbs = args[2].(int64), args[3].(int64), args[4].(int64)
	case t.hasStudent && t.key() == "student_id":
		o.student = args[0].(string)
	case t.hasStudent:
		o.student = args[1].(string)
	}
	return o
}

func readOld(t *table, row *sql.Row) (oldRow, bool, error) {
	o, err := scanOld(t, row.Scan, nil)
	if errors.Is(err, sql.ErrNoRows) {
		return o, false, nil
	}
	if err != nil {
		return o, false, err
	}
	return o, true, nil
}

// scanOld scans table.tracked's columns, preceded by the key when key is not nil.
func scanOld(t *table, scan func(...any) error, key *string) (oldRow, error) {
	var o oldRow
	var dest []any
	if key != nil {
		dest = append(dest, key)
	}
	dest = append(dest, &o.hash)
	switch {
	case t.entity == mypt.EntityAttendanceMark:
		dest = append(dest, &o.student, &o.enrolment, &o.date, &o.mark)
	case t.entity == mypt.EntityMarkType:
		dest = append(dest, &o.status, &o.isLate, &o.isAuthAbs)
	case t.hasStudent:
		dest = append(dest, &o.student)
	}
	return o, scan(dest...)
}

// forget accounts for a row leaving the cache (deleted, or replaced by a new version).
func (a *applier) forget(t *table, key string, o oldRow) error {
	switch t.entity {
	case mypt.EntityAttendanceMark:
		if err := a.att.add(o.student, o.enrolment, o.date, o.mark, -1); err != nil {
			return err
		}
	case mypt.EntityMarkType:
		a.marks[key] = struct{}{}
		a.att.setType(key, nil)
	case mypt.EntityCourse:
		a.courses[key] = struct{}{}
	}
	if o.student != "" {
		a.students[o.student] = struct{}{}
	}
	return nil
}

// learn accounts for a row entering the cache.
func (a *applier) learn(r *preparedRecord) error {
	switch row := r.rec.Row.(type) {
	case mypt.AttendanceMark:
		if err := a.att.add(row.StudentID, row.EnrolmentID, r.args[3].(string), row.Mark, +1); err != nil {
			return err
		}
	case mypt.MarkType:
		a.marks[row.Mark] = struct{}{}
		a.att.setType(row.Mark, &row)
	case mypt.Course:
		a.courses[row.CourseID] = struct{}{}
	}
	if r.t.hasStudent {
		// Every table with a student has student_id as its second column, or as its key.
		if r.t.key() == "student_id" {
			a.students[r.rec.Key] = struct{}{}
		} else {
			a.students[r.args[1].(string)] = struct{}{}
		}
	}
	return nil
}

// finish writes what follows from the records: attendance rows, student versions, watermarks,
// freshness and the batch's idempotency record.
func (a *applier) finish(b mypt.Batch, p *preparedBatch) error {
	ctx, tx := a.ctx, a.tx
	for c := range a.courses {
		if err := a.studentsWhere(`SELECT DISTINCT student_id FROM enrolment WHERE course_id = ?`, c); err != nil {
			return fmt.Errorf("students of course %q: %w", c, err)
		}
	}
	// Every student holding a changed mark type's mark is touched; if its meaning changed, their
	// figures are recomputed from all their marks rather than adjusted.
	if len(a.marks) > 0 {
		marks := make([]any, 0, len(a.marks))
		for m := range a.marks {
			marks = append(marks, m)
		}
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT student_id, mark FROM attendance_mark WHERE mark IN (`+inList(len(marks))+`)`, marks...)
		if err != nil {
			return fmt.Errorf("students with changed mark types: %w", err)
		}
		for rows.Next() {
			var id, m string
			if err := rows.Scan(&id, &m); err != nil {
				rows.Close()
				return fmt.Errorf("students with changed mark types: %w", err)
			}
			a.students[id] = struct{}{}
			if _, ok := a.att.changed[m]; ok {
				a.att.recompute[id] = struct{}{}
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("students with changed mark types: %w", err)
		}
	}
	if err := a.att.apply(&a.w); err != nil {
		return err
	}
	if len(a.att.recompute) > 0 {
		ids := make([]string, 0, len(a.att.recompute))
		for id := range a.att.recompute {
			ids = append(ids, id)
			a.students[id] = struct{}{}
		}
		slices.Sort(ids)
		if err := recomputeStudents(ctx, tx, ids, a.att.types, a.att.policy); err != nil {
			return err
		}
	}

	ids := make([]string, 0, len(a.students))
	for id := range a.students {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(ids) > 0 {
		args := make([]any, 0, 2*len(ids))
		for _, id := range ids {
			args = append(args, id, a.now)
		}
		if err := a.w.exec(studentVersionInsert, "(?, 1, ?)", studentVersionUpsert, 2, 100, args); err != nil {
			return fmt.Errorf("student versions: %w", err)
		}
	}
	a.res.Students = ids

	for _, w := range b.Watermarks {
		a.entities[w.Entity] = struct{}{}
		value := w.Value
		if value == nil {
			value = []byte{}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sync_watermark (source, entity, value, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (source, entity) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			b.Source, string(w.Entity), value, a.now); err != nil {
			return fmt.Errorf("watermark %s: %w", w.Entity, err)
		}
	}
	for e := range a.entities {
		if _, err := tx.ExecContext(ctx, `INSERT INTO entity_freshness (entity, source, applied_at) VALUES (?, ?, ?)
			ON CONFLICT (entity) DO UPDATE SET source = excluded.source, applied_at = excluded.applied_at`,
			string(e), b.Source, a.now); err != nil {
			return fmt.Errorf("freshness of %s: %w", e, err)
		}
	}
	if b.ID != "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO ingest_batch (batch_id, source, digest, applied_at, upserted, unchanged, deleted, rejected)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, b.ID, b.Source, p.digest, a.now,
			a.res.Upserted, a.res.Unchanged, a.res.Deleted, len(a.res.Rejected)); err != nil {
			return fmt.Errorf("record batch: %w", err)
		}
	}
	return nil
}

func (a *applier) studentsWhere(query string, args ...any) error {
	rows, err := a.tx.QueryContext(a.ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		a.students[id] = struct{}{}
	}
	return rows.Err()
}

const (
	studentVersionInsert = `INSERT INTO student_version (student_id, version, changed_at)`
	studentVersionUpsert = `ON CONFLICT (student_id) DO UPDATE SET version = version + 1, changed_at = excluded.changed_at`
	studentVersionSQL    = studentVersionInsert + ` VALUES (?, 1, ?) ` + studentVersionUpsert
)

// multiWriter writes many rows per INSERT statement (head, VALUES with one tuple per row, then
// tail): one statement per row costs more in the driver than in SQLite. It keeps the statements
// it prepares for the transaction's life; close closes them.
type multiWriter struct {
	ctx   context.Context
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func (m *multiWriter) close() {
	for _, st := range m.stmts {
		st.Close()
	}
}

// exec writes the rows in args, ncols arguments each, up to chunk rows per statement. tuple is
// one row's "(?, ?, …)".
func (m *multiWriter) exec(head, tuple, tail string, ncols, chunk int, args []any) error {
	n := len(args) / ncols
	for i := 0; i < n; i += chunk {
		k := min(chunk, n-i)
		q := head + " VALUES " + strings.Repeat(tuple+", ", k-1) + tuple + " " + tail
		part := args[i*ncols : (i+k)*ncols]
		var err error
		if k == chunk || k >= 8 {
			st := m.stmts[q]
			if st == nil {
				if st, err = m.tx.PrepareContext(m.ctx, q); err != nil {
					return err
				}
				if m.stmts == nil {
					m.stmts = map[string]*sql.Stmt{}
				}
				m.stmts[q] = st
			}
			_, err = st.ExecContext(m.ctx, part...)
		} else {
			_, err = m.tx.ExecContext(m.ctx, q, part...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// prepareIngest prepares, on the writer and for the store's life, the statements every batch
// uses. It runs at Open, when no transaction holds the one writer connection.
func (s *Store) prepareIngest(ctx context.Context) error {
	s.stmts = map[string]*sql.Stmt{}
	qs := []string{studentVersionSQL}
	for _, e := range mypt.Entities {
		t := tables[e]
		qs = append(qs, t.selectSQL, t.upsertSQL, t.deleteSQL)
	}
	for _, q := range qs {
		st, err := s.write.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("sqlite: prepare %q: %w", q, err)
		}
		s.stmts[q] = st
	}
	return nil
}

// txStmt returns query's statement bound to tx: the one prepared at Open, or a new one.
// The caller closes it (which leaves the store's statement open).
func (s *Store) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if st := s.stmts[query]; st != nil {
		return tx.StmtContext(ctx, st), nil
	}
	return tx.PrepareContext(ctx, query)
}

// Watermark returns the watermark source last committed for entity, or nil if it has none.
func (s *Store) Watermark(ctx context.Context, source string, entity mypt.Entity) ([]byte, error) {
	var v []byte
	err := s.read.QueryRowContext(ctx, `SELECT value FROM sync_watermark WHERE source = ? AND entity = ?`,
		source, string(entity)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: read watermark %s/%s: %w", source, entity, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// EntityKeys calls fn with every key of entity in the cache, in key order, for reconciliation
// against the source. It stops at and returns fn's first error.
func (s *Store) EntityKeys(ctx context.Context, entity mypt.Entity, fn func(key string) error) error {
	t := tables[entity]
	if t == nil {
		return fmt.Errorf("sqlite: entity keys: %w: unknown entity %q", mypt.ErrInvalid, entity)
	}
	rows, err := s.read.QueryContext(ctx, t.keysSQL)
	if err != nil {
		return fmt.Errorf("sqlite: keys of %s: %w", entity, err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return fmt.Errorf("sqlite: keys of %s: %w", entity, err)
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: keys of %s: %w", entity, err)
	}
	return nil
}

// CountRows returns how many rows of entity the cache holds.
func (s *Store) CountRows(ctx context.Context, entity mypt.Entity) (int, error) {
	t := tables[entity]
	if t == nil {
		return 0, fmt.Errorf("sqlite: count rows: %w: unknown entity %q", mypt.ErrInvalid, entity)
	}
	var n int
	if err := s.read.QueryRowContext(ctx, t.countSQL).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count %s: %w", entity, err)
	}
	return n, nil
}
