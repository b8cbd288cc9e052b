package mssql_test

// Benchmarks of the pull path (run with: go test ./adapters/mssql -run '^$' -bench . -benchtime 1x).
// They print ratios rather than asserting times.

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt"
	"mypt/adapters/mssql"
	"mypt/adapters/mssql/mssqltest"
	"mypt/adapters/sqlite"
	"mypt/syncer"
)

var markCols = []string{"MarkID", "StudentID", "EnrolmentID", "SessionDate", "StartTime", "EndTime", "Mark"}

func markValues(i int, mark string, row []any) {
	sid := fmt.Sprintf("S%05d", i%2000)
	row[0] = fmt.Sprintf("K%08d", i)
	row[1] = sid
	row[2] = "E" + sid
	row[3] = mypt.NewDate(2018, 9, 3).AddDays(i % 300).String()
	row[4] = []string{"09:00", "11:00", "14:00"}[i%3]
	row[5] = []string{"10:30", "12:30", "15:30"}[i%3]
	row[6] = mark
}

func benchServer(b *testing.B, marks int) *mssqltest.Server {
	b.Helper()
	ctx := context.Background()
	srv, err := mssqltest.New(mssqltest.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	if err := mssql.CreateContract(ctx, srv); err != nil {
		b.Fatal(err)
	}
	i := 0
	err = srv.Load(ctx, "mypt.AttendanceMark", markCols, func(row []any) bool {
		if i == marks {
			return false
		}
		markValues(i, "/", row)
		i++
		return true
	})
	if err != nil {
		b.Fatal(err)
	}
	return srv
}

func benchPuller(b *testing.B, srv *mssqltest.Server, store *sqlite.Store) *syncer.Puller {
	b.Helper()
	src, err := mssql.Open(context.Background(), mssql.Options{DSN: srv.DSN()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { src.Close() })
	p, err := syncer.NewPuller(syncer.PullOptions{Source: src, Cache: store, Registerer: prometheus.NewRegistry(),
		PassTimeout: time.Hour, Entities: []mypt.Entity{mypt.EntityAttendanceMark}})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func openStore(b *testing.B, name string) *sqlite.Store {
	b.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), name), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// bareUpsert is the floor: the same rows upserted into a plain SQLite table, no TDS, no ingest core.
func bareUpsert(b *testing.B, n int) (wall, cpu time.Duration) {
	b.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "bare.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE m (mark_id TEXT PRIMARY KEY, student_id TEXT, enrolment_id TEXT,
		session_date TEXT, start_time TEXT, end_time TEXT, mark TEXT)`); err != nil {
		b.Fatal(err)
	}
	row := make([]any, 7)
	start, c0 := time.Now(), cpuTime()
	for i := 0; i < n; {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		st, err := tx.PrepareContext(ctx, `INSERT INTO m VALUES (?,?,?,?,?,?,?) ON CONFLICT (mark_id) DO UPDATE SET
			student_id=excluded.student_id, enrolment_id=excluded.enrolment_id, session_date=excluded.session_date,
			start_time=excluded.start_time, end_time=excluded.end_time, mark=excluded.mark`)
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < 20000 && i < n; j, i = j+1, i+1 {
			markValues(i, "/", row)
			if _, err := st.ExecContext(ctx, row...); err != nil {
				b.Fatal(err)
			}
		}
		st.Close()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start), cpuTime() - c0
}

// ingestOnly applies the same typed rows through the ingest core (ApplyBatch), without TDS.
func ingestOnly(b *testing.B, n int) (wall, cpu time.Duration) {
	b.Helper()
	store := openStore(b, "ingest.db")
	row := make([]any, 7)
	start, c0 := time.Now(), cpuTime()
	for i := 0; i < n; {
		recs := make([]mypt.Record, 0, 20000)
		for j := 0; j < 20000 && i < n; j, i = j+1, i+1 {
			markValues(i, "/", row)
			d, _ := mypt.ParseDate(row[3].(string))
			m := mypt.AttendanceMark{MarkID: row[0].(string), StudentID: row[1].(string), EnrolmentID: row[2].(string),
				SessionDate: d, StartTime: row[4].(string), EndTime: row[5].(string), Mark: row[6].(string)}
			recs = append(recs, mypt.Record{Entity: mypt.EntityAttendanceMark, Op: mypt.OpUpsert, Key: m.MarkID, Row: m})
		}
		if _, err := store.ApplyBatch(context.Background(), mypt.Batch{Source: "bench", Mode: mypt.ModeDelta, Records: recs}); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start), cpuTime() - c0
}

func BenchmarkFullSync(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("marks=%d", n), func(b *testing.B) {
			srv := benchServer(b, n)
			var pull, pullCPU time.Duration
			for i := 0; i < b.N; i++ {
				store := openStore(b, fmt.Sprintf("pull%d.db", i))
				p := benchPuller(b, srv, store)
				start, c0 := time.Now(), cpuTime()
				if err := p.RunOnce(context.Background(), mypt.EntityAttendanceMark, true); err != nil {
					b.Fatal(err)
				}
				pull += time.Since(start)
				pullCPU += cpuTime() - c0 // includes mssqltest's side: it runs in this process
				if got, _ := store.CountRows(context.Background(), mypt.EntityAttendanceMark); got != n {
					b.Fatalf("synced %d of %d", got, n)
				}
			}
			b.StopTimer()
			pull /= time.Duration(b.N)
			pullCPU /= time.Duration(b.N)
			bare, bareCPU := bareUpsert(b, n)
			ingest, ingestCPU := ingestOnly(b, n)
			b.ReportMetric(float64(n)/pull.Seconds(), "rows/s")
			b.ReportMetric(pull.Seconds()/bare.Seconds(), "x_bare_wall")
			b.ReportMetric(pullCPU.Seconds()/bareCPU.Seconds(), "x_bare_cpu")
			b.ReportMetric(pullCPU.Seconds()/ingestCPU.Seconds(), "x_ingest_cpu")
			b.Logf("full sync of %d marks — wall: pull via TDS %s, ingest core alone %s, bare SQLite upsert loop %s (pull/bare %.1f); "+
				"CPU: pull %s (server side included), ingest %s, bare %s (pull/bare %.1f, pull/ingest %.2f)",
				n, pull.Round(time.Millisecond), ingest.Round(time.Millisecond), bare.Round(time.Millisecond), pull.Seconds()/bare.Seconds(),
				pullCPU.Round(time.Millisecond), ingestCPU.Round(time.Millisecond), bareCPU.Round(time.Millisecond),
				pullCPU.Seconds()/bareCPU.Seconds(), pullCPU.Seconds()/ingestCPU.Seconds())
		})
	}
}

func BenchmarkIncremental10k(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("table=%d", n), func(b *testing.B) {
			ctx := context.Background()
			srv := benchServer(b, n)
			store := openStore(b, "cache.db")
			p := benchPuller(b, srv, store)
			if err := p.RunOnce(ctx, mypt.EntityAttendanceMark, true); err != nil {
				b.Fatal(err)
			}
			var total, cpu time.Duration
			for i := 0; i < b.N; i++ {
				mark := []string{"O", "L"}[i%2]
				lo := (i * 10_000) % (n - 10_000)
				if _, err := srv.Update(ctx, "mypt.AttendanceMark", map[string]any{"Mark": mark}, "rowid > ? AND rowid <= ?", lo, lo+10_000); err != nil {
					b.Fatal(err)
				}
				start, c0 := time.Now(), cpuTime()
				if err := p.RunOnce(ctx, mypt.EntityAttendanceMark, false); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				cpu += cpuTime() - c0
			}
			b.StopTimer()
			per, perCPU := total/time.Duration(b.N), cpu/time.Duration(b.N)
			b.ReportMetric(per.Seconds()*1000, "ms/pass")
			b.ReportMetric(perCPU.Seconds()*1000, "cpu_ms/pass")
			b.Logf("incremental pass, 10,000 changed marks of a %d-mark table: wall %s, CPU %s", n, per.Round(time.Millisecond), perCPU.Round(time.Millisecond))
		})
	}
}
