package sqlite

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mypt"
)

// hashes is every row of entity e in the cache: key → row hash.
func hashes(t *testing.T, s *Store, e mypt.Entity) map[string]string {
	t.Helper()
	tb := tables[e]
	rows, err := s.ReadDB().Query(fmt.Sprintf(`SELECT %s, row_hash FROM %s`, tb.key(), tb.name))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k string
		var h []byte
		if err := rows.Scan(&k, &h); err != nil {
			t.Fatal(err)
		}
		out[k] = fmt.Sprintf("%x", h)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// A pass staged in two batches and published leaves every entity's rows exactly as applying
// them directly does (the staged JSON round-trips every type: dates, instants, documents, NULLs).
func TestStagedPassEqualsDirectApply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	staged, direct := MustOpen(t), MustOpen(t)
	rows := everyEntity()
	mustApply(t, direct, mypt.Batch{Source: "mssql", Records: upsert(rows...)})
	for i, e := range mypt.Entities {
		var recs []mypt.Record
		for _, r := range upsert(rows...) {
			if r.Entity == e {
				recs = append(recs, r)
			}
		}
		half := len(recs) / 2
		for seq, part := range [][]mypt.Record{recs[:half], recs[half:]} {
			if err := staged.StageBatch(ctx, "mssql", e, seq, part); err != nil {
				t.Fatal(err)
			}
		}
		if n, _ := staged.CountRows(ctx, e); n != 0 {
			t.Fatalf("%s: %d staged rows visible before the pass is published", e, n)
		}
		wm := binary.BigEndian.AppendUint64(nil, uint64(100+i))
		res, err := staged.PublishStage(ctx, "mssql", e, wm)
		if err != nil {
			t.Fatal(err)
		}
		if res.Upserted != len(recs) || len(res.Rejected) != 0 {
			t.Errorf("%s: publish result %+v, want %d upserted", e, res, len(recs))
		}
		if got, err := staged.Watermark(ctx, "mssql", e); err != nil || !bytes.Equal(got, wm) {
			t.Errorf("%s: watermark %x %v, want %x", e, got, err, wm)
		}
		if a, b := hashes(t, staged, e), hashes(t, direct, e); fmt.Sprint(a) != fmt.Sprint(b) || len(a) == 0 {
			t.Errorf("%s: staged rows %v, direct %v", e, a, b)
		}
	}
	if n := queryInt(t, staged.ReadDB(), `SELECT (SELECT COUNT(*) FROM pull_stage) + (SELECT COUNT(*) FROM pull_stage_ready)`); n != 0 {
		t.Errorf("%d stage rows left after publishing", n)
	}
}

// The batches of a pass that was not read to its end are dropped by the next pass, never applied.
func TestUnfinishedStageIsDropped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := MustOpen(t)
	if err := s.StageBatch(ctx, "mssql", mypt.EntityStudent, 0, upsert(student("S1"), student("S2"))); err != nil {
		t.Fatal(err)
	}
	if err := s.StageBatch(ctx, "mssql", mypt.EntityStudent, 0, upsert(student("S3"))); err == nil {
		t.Error("a batch number was staged twice")
	}
	if err := s.StageBatch(ctx, "mssql", mypt.EntityStudent, 1, upsert(markTypes()...)); err == nil {
		t.Error("a mark type was staged in a student pass")
	}
	res, published, err := s.ResumeStage(ctx, "mssql", mypt.EntityStudent)
	if err != nil || published || res.Upserted != 0 {
		t.Fatalf("resume of an unfinished stage: %+v %v %v", res, published, err)
	}
	if n, _ := s.CountRows(ctx, mypt.EntityStudent); n != 0 {
		t.Errorf("%d students applied from an unfinished pass", n)
	}
	if n := queryInt(t, s.ReadDB(), `SELECT COUNT(*) FROM pull_stage`); n != 0 {
		t.Errorf("%d staged batches left", n)
	}
	if wm, _ := s.Watermark(ctx, "mssql", mypt.EntityStudent); wm != nil {
		t.Errorf("watermark %x from an unfinished pass", wm)
	}
}

// The crash test of publishing: a child process stages a pass of many batches and publishes it;
// it is killed with SIGKILL part-way through the publish. Reopened, the cache holds whole batches
// with the old watermark; the next pass's ResumeStage finishes the publish and moves the watermark.

const stageCrashEnv = "MYPT_TEST_STAGE_CRASH_CACHE"

const (
	stageCrashBatches = 60
	stageCrashMarks   = 400
)

func stageCrashBatch(i int) []mypt.Record {
	rows := make([]mypt.Row, stageCrashMarks)
	for j := range rows {
		n := i*stageCrashMarks + j
		rows[j] = mark(fmt.Sprintf("M%06d", n), fmt.Sprintf("S%d", n%50), "E1", mypt.NewDate(2018, 9, 10).AddDays(n%200).String(), "/")
	}
	return upsert(rows...)
}

var stageCrashWM = binary.BigEndian.AppendUint64(nil, 0xC0FFEE)

func TestKilledWhilePublishingFinishesAtNextPass(t *testing.T) {
	if path := os.Getenv(stageCrashEnv); path != "" {
		ctx := context.Background()
		s, err := Open(ctx, path, Options{})
		if err == nil {
			fmt.Println("publishing")
			_, err = s.PublishStage(ctx, "mssql", mypt.EntityAttendanceMark, stageCrashWM)
		}
		fmt.Fprintln(os.Stderr, "stage crash child:", err)
		os.Exit(2)
	}
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mypt.db")
	s := MustOpenAt(t, path, Options{})
	mustApply(t, s, mypt.Batch{Source: "push", Records: upsert(markTypes()...)})
	for i := range stageCrashBatches {
		if err := s.StageBatch(ctx, "mssql", mypt.EntityAttendanceMark, i, stageCrashBatch(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	cmd, sc := startChild(t, "TestKilledWhilePublishingFinishesAtNextPass", stageCrashEnv, path)
	for sc.Scan() && !strings.Contains(sc.Text(), "publishing") {
	}
	// Kill it once the first staged batches have been applied.
	watch := MustOpenAt(t, path, Options{})
	left := stageCrashBatches
	for i := 0; i < 20000 && left > stageCrashBatches-3; i++ {
		left = queryInt(t, watch.ReadDB(), `SELECT COUNT(*) FROM pull_stage`)
		time.Sleep(time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	watch.Close()

	s = MustOpenAt(t, path, Options{})
	left = queryInt(t, s.ReadDB(), `SELECT COUNT(*) FROM pull_stage`)
	if left == 0 || left == stageCrashBatches {
		t.Fatalf("the child was not killed mid-publish: %d of %d batches left", left, stageCrashBatches)
	}
	applied := stageCrashBatches - left
	t.Logf("killed with %d of %d batches applied", applied, stageCrashBatches)
	if n, _ := s.CountRows(ctx, mypt.EntityAttendanceMark); n != applied*stageCrashMarks {
		t.Errorf("%d marks cached, want whole batches: %d", n, applied*stageCrashMarks)
	}
	if wm, _ := s.Watermark(ctx, "mssql", mypt.EntityAttendanceMark); wm != nil {
		t.Errorf("watermark %x moved before the publish ended", wm)
	}
	res, published, err := s.ResumeStage(ctx, "mssql", mypt.EntityAttendanceMark)
	if err != nil || !published || res.Upserted != left*stageCrashMarks {
		t.Fatalf("resume: %+v published=%v %v; want %d upserted", res, published, err, left*stageCrashMarks)
	}
	if n, _ := s.CountRows(ctx, mypt.EntityAttendanceMark); n != stageCrashBatches*stageCrashMarks {
		t.Errorf("%d marks after resume, want %d", n, stageCrashBatches*stageCrashMarks)
	}
	if wm, _ := s.Watermark(ctx, "mssql", mypt.EntityAttendanceMark); !bytes.Equal(wm, stageCrashWM) {
		t.Errorf("watermark after resume %x, want %x", wm, stageCrashWM)
	}
	// The precomputed attendance rows agree with the marks, as after any apply.
	if n := queryInt(t, s.ReadDB(), `SELECT COALESCE(SUM(present), 0) FROM attendance_year WHERE enrolment_id = ''`); n != stageCrashBatches*stageCrashMarks {
		t.Errorf("attendance_year counts %d present marks, want %d", n, stageCrashBatches*stageCrashMarks)
	}
}
