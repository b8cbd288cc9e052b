package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"mypt"
)

// Benchmark shape: 1,000 students × 1,000 marks = 1,000,000 attendance marks, in batches of
// 5,000 — one day's registers (5 sessions) for every student, in date order as a nightly export
// or the pull syncer's rowversion order delivers them.
const (
	benchStudents       = 1000
	benchSessionsPerDay = 5
	benchBatch          = benchStudents * benchSessionsPerDay
)

var benchCodes = func() []string {
	// 85% present, 5% late, 5% unauthorised, 3% authorised, 2% not required.
	var c []string
	for range 85 {
		c = append(c, "/")
	}
	for range 5 {
		c = append(c, "L", "O")
	}
	for range 3 {
		c = append(c, "A")
	}
	c = append(c, "#", "#")
	return c
}()

// benchDay returns day d's marks, deterministic.
func benchDay(d int) []mypt.AttendanceMark {
	date := mypt.NewDate(2018, 9, 3).AddDays(d / 5 * 7).AddDays(d % 5) // Monday to Friday
	marks := make([]mypt.AttendanceMark, 0, benchBatch)
	starts := [benchSessionsPerDay]string{"09:00", "10:00", "11:00", "13:00", "14:00"}
	ends := [benchSessionsPerDay]string{"09:50", "10:50", "11:50", "13:50", "14:50"}
	for s := range benchStudents {
		st := fmt.Sprintf("S%05d", s)
		for k := range benchSessionsPerDay {
			n := (d*benchStudents+s)*benchSessionsPerDay + k
			marks = append(marks, mypt.AttendanceMark{MarkID: fmt.Sprintf("M%08d", n), StudentID: st,
				EnrolmentID: fmt.Sprintf("E%05d-%d", s, k%2), SessionDate: date, StartTime: starts[k], EndTime: ends[k],
				Mark: benchCodes[(n*7919)%len(benchCodes)]})
		}
	}
	return marks
}

func BenchmarkIngestMarks(b *testing.B) {
	ctx := context.Background()
	for range b.N {
		ingest := MustOpenAt(b, filepath.Join(b.TempDir(), "ingest.db"), Options{Now: time.Now})
		bare := MustOpenAt(b, filepath.Join(b.TempDir(), "bare.db"), Options{Now: time.Now})
		if _, err := ingest.ApplyBatch(ctx, mypt.Batch{ID: "types", Source: "bench", Records: upsert(markTypes()...)}); err != nil {
			b.Fatal(err)
		}
		var ingestTime, bareTime time.Duration
		rows := 0
		hash := make([]byte, hashSize)
		// MYPT_BENCH_DAYS shortens the run while profiling (default 200 days: 1,000,000 marks).
		days := 200
		if v, err := strconv.Atoi(os.Getenv("MYPT_BENCH_DAYS")); err == nil && v > 0 {
			days = v
		}
		for d := range days {
			marks := benchDay(d)
			recs := make([]mypt.Record, len(marks))
			for i, m := range marks {
				recs[i] = mypt.Record{Entity: mypt.EntityAttendanceMark, Op: mypt.OpUpsert, Key: m.MarkID, Row: m}
			}
			batch := mypt.Batch{ID: fmt.Sprintf("day-%d", d), Source: "bench", Records: recs,
				Watermarks: []mypt.Watermark{{Entity: mypt.EntityAttendanceMark, Value: []byte(fmt.Sprint(d))}}}

			start := time.Now()
			res, err := ingest.ApplyBatch(ctx, batch)
			ingestTime += time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			if res.Upserted != len(marks) {
				b.Fatalf("day %d: %d upserted, want %d", d, res.Upserted, len(marks))
			}

			// The bare loop: the same rows, one prepared upsert, transactions of the same size.
			start = time.Now()
			err = bare.WithTx(ctx, func(tx *sql.Tx) error {
				st, err := tx.PrepareContext(ctx, tables[mypt.EntityAttendanceMark].upsertSQL)
				if err != nil {
					return err
				}
				defer st.Close()
				for _, m := range marks {
					if _, err := st.ExecContext(ctx, m.MarkID, m.StudentID, m.EnrolmentID, m.SessionDate.String(),
						m.StartTime, m.EndTime, m.Mark, hash); err != nil {
						return err
					}
				}
				return nil
			})
			bareTime += time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			rows += len(marks)
		}
		ingestRate := float64(rows) / ingestTime.Seconds()
		bareRate := float64(rows) / bareTime.Seconds()
		b.ReportMetric(ingestRate, "ingest_rows/s")
		b.ReportMetric(bareRate, "bare_rows/s")
		b.ReportMetric(ingestRate/bareRate, "ratio")
		b.Logf("%d marks: ApplyBatch %.0f rows/s (%v), bare upsert loop %.0f rows/s (%v), ratio %.2f (goal ≥ 0.5)",
			rows, ingestRate, ingestTime.Round(time.Millisecond), bareRate, bareTime.Round(time.Millisecond), ingestRate/bareRate)
		// The nightly case: the same marks sent again (new batch ids), every row unchanged.
		var again []mypt.Batch
		for d := range min(days, 20) {
			marks := benchDay(d)
			recs := make([]mypt.Record, len(marks))
			for i, m := range marks {
				recs[i] = mypt.Record{Entity: mypt.EntityAttendanceMark, Op: mypt.OpUpsert, Key: m.MarkID, Row: m}
			}
			again = append(again, mypt.Batch{ID: fmt.Sprintf("again-%d", d), Source: "bench", Records: recs})
		}
		start := time.Now()
		for _, batch := range again {
			res, err := ingest.ApplyBatch(ctx, batch)
			if err != nil || res.Unchanged != len(batch.Records) {
				b.Fatalf("resend %s: %d unchanged, %v", batch.ID, res.Unchanged, err)
			}
		}
		unchangedRate := float64(min(days, 20)*benchBatch) / time.Since(start).Seconds()
		b.ReportMetric(unchangedRate, "unchanged_rows/s")
		b.Logf("resending %d unchanged marks: %.0f rows/s", min(days, 20)*benchBatch, unchangedRate)
		if n := queryInt(b, ingest.ReadDB(), `SELECT SUM(present + late + absent + authorised_absent + neutral + unmarked) FROM attendance_year WHERE enrolment_id = ''`); n != rows {
			b.Fatalf("year rows count %d marks, want %d", n, rows)
		}
	}
}
