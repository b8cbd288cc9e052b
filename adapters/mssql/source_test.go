package mssql_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomssql "github.com/microsoft/go-mssqldb"

	"mypt"
	"mypt/adapters/mssql"
	"mypt/adapters/mssql/mssqltest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newServer(t *testing.T, opts mssqltest.Options) *mssqltest.Server {
	t.Helper()
	opts.Dir = t.TempDir()
	s, err := mssqltest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func contractServer(t *testing.T, opts mssqltest.Options) *mssqltest.Server {
	t.Helper()
	s := newServer(t, opts)
	if err := mssql.CreateContract(ctxT(t), s); err != nil {
		t.Fatal(err)
	}
	return s
}

func openSource(t *testing.T, dsn string) *mssql.Source {
	t.Helper()
	src, err := mssql.Open(ctxT(t), mssql.Options{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

type got struct {
	key    string
	rowVer []byte
	row    mypt.Row
	reject error
}

func readAll(t *testing.T, src *mssql.Source, e mypt.Entity, after []byte) ([]got, []byte) {
	t.Helper()
	ctx := ctxT(t)
	bound, err := src.Bound(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []got
	err = src.ReadChanges(ctx, e, after, bound, func(key string, rv []byte, row mypt.Row, reject error) error {
		out = append(out, got{key, rv, row, reject})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, bound
}

func student(id, first, last string) mypt.Student {
	return mypt.Student{StudentID: id, LegalFirstNames: first, LegalLastName: last, DateOfBirth: mypt.NewDate(2008, 3, 1),
		College: "Main", Status: mypt.StudentCurrent, HasEHCP: true}
}

func TestReadChangesIncremental(t *testing.T) {
	t.Parallel()
	forEachMIS(t, misOptions{}, func(t *testing.T, m mis) {
		ctx := ctxT(t)
		rows := []mypt.Row{
			student("S1", "Siobhán", "O’Neill-Smith"), student("S2", "D'Arcy", "José"),
			mypt.MarkType{Mark: "/", Description: "Present", Status: 1},
			mypt.AttendanceMark{MarkID: "M1", StudentID: "S1", EnrolmentID: "E1", SessionDate: mypt.NewDate(2019, 1, 7), StartTime: "09:00", EndTime: "10:30", Mark: "/"},
			mypt.AttendanceMark{MarkID: "M2", StudentID: "S1", EnrolmentID: "E1", SessionDate: mypt.NewDate(2019, 1, 8), StartTime: "09:00", EndTime: "10:30"},
		}
		if err := m.LoadRows(ctx, rows); err != nil {
			t.Fatal(err)
		}
		src := openSource(t, m.DSN())
		all, _ := readAll(t, src, mypt.EntityStudent, nil)
		if len(all) != 2 || all[0].reject != nil {
			t.Fatalf("students: %+v", all)
		}
		if st := all[0].row.(mypt.Student); st != rows[0].(mypt.Student) {
			t.Errorf("round trip:\n got %+v\nwant %+v", st, rows[0])
		}
		marks, _ := readAll(t, src, mypt.EntityAttendanceMark, nil)
		if len(marks) != 2 || marks[1].row.(mypt.AttendanceMark) != rows[4].(mypt.AttendanceMark) {
			t.Fatalf("marks: %+v", marks)
		}
		last := marks[1].rowVer
		if n, err := m.Update(ctx, "mypt.AttendanceMark", map[string]any{"Mark": "O"}, "MarkID = 'M1'"); err != nil || n != 1 {
			t.Fatal(n, err)
		}
		changed, _ := readAll(t, src, mypt.EntityAttendanceMark, last)
		if len(changed) != 1 || changed[0].key != "M1" || changed[0].row.(mypt.AttendanceMark).Mark != "O" {
			t.Fatalf("incremental: %+v", changed)
		}

		// A row of a transaction still open (RowVer at or above MIN_ACTIVE_ROWVERSION()) waits.
		commit, err := m.OpenTransaction(ctx, []mypt.Row{student("S3", "Open", "Transaction")})
		if err != nil {
			t.Fatal(err)
		}
		defer commit()
		wm := all[1].rowVer
		pending, _ := readAll(t, src, mypt.EntityStudent, wm)
		if len(pending) != 0 {
			t.Fatalf("read a row above MIN_ACTIVE_ROWVERSION(): %+v", pending)
		}
		if err := commit(); err != nil {
			t.Fatal(err)
		}
		later, _ := readAll(t, src, mypt.EntityStudent, wm)
		if len(later) != 1 || later[0].key != "S3" {
			t.Fatalf("after commit: %+v", later)
		}
	})
}

func TestGUIDAndLondonTime(t *testing.T) {
	t.Parallel()
	forEachMIS(t, misOptions{NoContract: true}, func(t *testing.T, m mis) {
		ctx := ctxT(t)
		// A college whose Document view keys on a uniqueidentifier (MS-1) and keeps datetime (MS-2).
		err := m.CreateTable(ctx, "mypt.Document",
			mssqltest.Column{Name: "DocumentID", Type: "uniqueidentifier", Key: true},
			mssqltest.Column{Name: "StudentID", Type: "nvarchar(40)"},
			mssqltest.Column{Name: "Title", Type: "nvarchar(200)"},
			mssqltest.Column{Name: "Category", Type: "nvarchar(100)", Nullable: true},
			mssqltest.Column{Name: "CreatedAt", Type: "datetime"},
			mssqltest.Column{Name: "ContentType", Type: "nvarchar(100)"},
			mssqltest.Column{Name: "Content", Type: "varbinary(max)"},
			mssqltest.Column{Name: "RowVer", Type: "rowversion"})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []struct{ id, at string }{
			{"6F9619FF-8B86-D011-B42D-00C04FC964FF", "2024-07-01 09:00:00"},
			{"0E984725-C51C-4BF4-9960-E1C80E27ABA0", "2024-01-15 09:00:00"},
		} {
			if err := m.Insert(ctx, "mypt.Document", map[string]any{"DocumentID": d.id, "StudentID": "S1", "Title": "Letter",
				"CreatedAt": d.at, "ContentType": "application/pdf", "Content": []byte("%PDF-1.4")}); err != nil {
				t.Fatal(err)
			}
		}
		src := openSource(t, m.DSN())
		docs, _ := readAll(t, src, mypt.EntityDocument, nil)
		if len(docs) != 2 {
			t.Fatalf("docs %+v", docs)
		}
		if docs[0].key != "6F9619FF-8B86-D011-B42D-00C04FC964FF" || docs[0].row.Key() != docs[0].key {
			t.Errorf("MS-1: key %q", docs[0].key)
		}
		if at := docs[0].row.(mypt.Document).CreatedAt; !at.Equal(time.Date(2024, 7, 1, 8, 0, 0, 0, time.UTC)) {
			t.Errorf("MS-2 summer: %v", at)
		}
		if at := docs[1].row.(mypt.Document).CreatedAt; !at.Equal(time.Date(2024, 1, 15, 9, 0, 0, 0, time.UTC)) {
			t.Errorf("MS-2 winter: %v", at)
		}
		db, err := sql.Open("sqlserver", m.DSN())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var title string
		if err := db.QueryRowContext(ctx, "SELECT Title FROM mypt.Document WHERE DocumentID = @p1", docs[0].key).Scan(&title); err != nil || title != "Letter" {
			t.Errorf("MS-1: the key as a parameter: %q %v", title, err)
		}
		var keys []string
		if err := src.ReadKeys(ctx, mypt.EntityDocument, func(k string) error { keys = append(keys, k); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(keys) != 2 || (keys[0] != docs[0].key && keys[1] != docs[0].key) {
			t.Errorf("keys %v", keys)
		}
	})
}

func TestRejections(t *testing.T) {
	t.Parallel()
	forEachMIS(t, misOptions{}, func(t *testing.T, m mis) {
		ctx := ctxT(t)
		ok := student("S1", "Ok", "Row")
		if err := m.LoadRows(ctx, []mypt.Row{ok}); err != nil {
			t.Fatal(err)
		}
		if err := m.Insert(ctx, "mypt.Student", map[string]any{"StudentID": "S2", "LegalFirstNames": "Bad", "LegalLastName": "Status",
			"DateOfBirth": "2008-01-01", "HasEHCP": false, "ShareInfoConsent": false, "Status": "maybe"}); err != nil {
			t.Fatal(err)
		}
		if err := m.Insert(ctx, "mypt.Document", map[string]any{"DocumentID": "D1", "StudentID": "S1", "Title": "Huge",
			"CreatedAt": "2024-01-01 10:00:00", "ContentType": "application/pdf", "Content": bytes.Repeat([]byte("x"), 2000)}); err != nil {
			t.Fatal(err)
		}
		src := openSource(t, m.DSN())
		rows, _ := readAll(t, src, mypt.EntityStudent, nil)
		if len(rows) != 2 || rows[0].reject != nil || rows[1].reject == nil || rows[1].key != "S2" || rows[1].rowVer == nil {
			t.Fatalf("rows %+v", rows)
		}
		if !errors.Is(rows[1].reject, mypt.ErrInvalid) || !strings.Contains(rows[1].reject.Error(), "Status") {
			t.Errorf("reason %v", rows[1].reject)
		}
		small, err := mssql.Open(ctx, mssql.Options{DSN: m.DSN(), MaxDocumentBytes: 1000})
		if err != nil {
			t.Fatal(err)
		}
		defer small.Close()
		docs, _ := readAll(t, small, mypt.EntityDocument, nil)
		if len(docs) != 1 || docs[0].reject == nil || !strings.Contains(docs[0].reject.Error(), "mis.max_document_bytes") {
			t.Fatalf("big document: %+v", docs)
		}
		// An override query with a column the entity does not have fails the read, naming it.
		bad, err := mssql.Open(ctx, mssql.Options{DSN: m.DSN(), Queries: map[mypt.Entity]string{
			mypt.EntityStudent: "SELECT StudentID, LegalFirstNames AS Forename, RowVer FROM mypt.Student WHERE RowVer > @p1 AND RowVer < @p2 ORDER BY RowVer"}})
		if err != nil {
			t.Fatal(err)
		}
		defer bad.Close()
		bound, _ := bad.Bound(ctx)
		err = bad.ReadChanges(ctx, mypt.EntityStudent, nil, bound, func(string, []byte, mypt.Row, error) error { return nil })
		if err == nil || !strings.Contains(err.Error(), `"Forename"`) {
			t.Errorf("override with unknown column: %v", err)
		}
	})
}

// A database that does not allow snapshot isolation is read in READ COMMITTED (error 3952 once);
// one that does is read in SNAPSHOT.
func TestSnapshotFallback(t *testing.T) {
	t.Parallel()
	forEachMIS(t, misOptions{NoSnapshot: true}, func(t *testing.T, m mis) {
		if err := m.LoadRows(ctxT(t), []mypt.Row{student("S1", "A", "B")}); err != nil {
			t.Fatal(err)
		}
		src := openSource(t, m.DSN())
		if rows, _ := readAll(t, src, mypt.EntityStudent, nil); len(rows) != 1 {
			t.Fatalf("rows %+v", rows)
		}
		if src.SnapshotIsolation() {
			t.Error("still claims snapshot isolation")
		}
		ok := newMIS(t, m.Backend(), misOptions{})
		src2 := openSource(t, ok.DSN())
		readAll(t, src2, mypt.EntityStudent, nil)
		if !src2.SnapshotIsolation() {
			t.Error("fell back without need")
		}
	})
}

// MS-3: start-up fails naming the TLS cause and the setting; never a plain-text fallback.
func TestConnectErrorsNameTheCause(t *testing.T) {
	t.Parallel()
	plain := newServer(t, mssqltest.Options{})
	tlsSrv := newServer(t, mssqltest.Options{TLS: mssqltest.TLSOptional})
	wrongHost := newServer(t, mssqltest.Options{TLS: mssqltest.TLSOptional, CertHosts: []string{"mis.example.org"}})
	old := newServer(t, mssqltest.Options{TLS: mssqltest.TLSOptional, TLSMaxVersion: 0x0301})
	conn := func(s *mssqltest.Server, mut func(*mssql.ConnOptions)) string {
		o := mssql.ConnOptions{Host: "127.0.0.1", Port: s.Port(), Database: s.Database(), User: s.User(), Password: s.Password(), DialTimeout: 5 * time.Second}
		if mut != nil {
			mut(&o)
		}
		return o.DSN()
	}
	cases := []struct {
		name, dsn, setting string
	}{
		{"self-signed certificate, encrypt=true", conn(tlsSrv, nil), "mis.certificate"},
		{"certificate for another host", conn(wrongHost, func(o *mssql.ConnOptions) { o.Certificate = wrongHost.CertFile() }), "mis.host_name_in_certificate"},
		{"TLS 1.0 only server", conn(old, func(o *mssql.ConnOptions) { o.Certificate = old.CertFile() }), "mis.tls_min"},
		{"server without encryption", conn(plain, nil), "mis.encrypt"},
		{"wrong password", conn(plain, func(o *mssql.ConnOptions) { o.Encrypt = "disable"; o.Password = "nope-secret" }), "mis.password"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mssql.Open(ctxT(t), mssql.Options{DSN: tc.dsn})
			var ce *mssql.ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a ConnectError", err)
			}
			if !strings.Contains(ce.Setting, tc.setting) {
				t.Errorf("setting %q, want %q (%v)", ce.Setting, tc.setting, err)
			}
			if strings.Contains(err.Error(), "nope-secret") || strings.Contains(err.Error(), plain.Password()) {
				t.Errorf("password in error: %v", err)
			}
		})
	}
	// The trusted configuration works, with full encryption.
	src, err := mssql.Open(ctxT(t), mssql.Options{DSN: conn(tlsSrv, func(o *mssql.ConnOptions) { o.Certificate = tlsSrv.CertFile() })})
	if err != nil {
		t.Fatal(err)
	}
	src.Close()
}

func TestIsTransient(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want bool
	}{
		{gomssql.Error{Number: 1205}, true},
		{fmt.Errorf("mssql: read: %w", gomssql.Error{Number: 40613}), true},
		{gomssql.Error{Number: 208}, false},
		{gomssql.Error{Number: 18456}, false},
		{context.Canceled, false},
		{errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer"), true},
	}
	for _, c := range cases {
		if got := mssql.IsTransient(c.err); got != c.want {
			t.Errorf("IsTransient(%v) = %v", c.err, got)
		}
	}
}

// TestRealSQLServer runs deploy/mssql's 01_contract_views.sql and sample_data.sql, as
// compose.yaml does, in a fresh database of the SQL Server of MYPT_TEST_MSSQL_DSN, then reads
// every contract view through the adapter: the scripts are valid T-SQL and the sample rows are
// all accepted. Only a real server runs these scripts (IF OBJECT_ID, CREATE OR ALTER VIEW, EXEC).
func TestRealSQLServer(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("MYPT_TEST_MSSQL_DSN")
	if dsn == "" {
		t.Skip(skipNoDSN)
	}
	m := newTSQLMIS(t, "sqlserver", dsn, nil, misOptions{NoContract: true})
	ctx := ctxT(t)
	for _, file := range []string{"01_contract_views.sql", "sample_data.sql"} {
		script, err := os.ReadFile(filepath.Join("..", "..", "deploy", "mssql", file))
		if err != nil {
			t.Fatal(err)
		}
		for i, batch := range sqlcmdBatches(string(script)) {
			if _, err := m.db.ExecContext(ctx, batch); err != nil {
				t.Fatalf("%s, batch %d: %v\n%s", file, i+1, err, batch)
			}
		}
	}
	src := openSource(t, m.DSN())
	bound, err := src.Bound(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range mypt.Entities {
		n, rejected := 0, 0
		err := src.ReadChanges(ctx, e, nil, bound, func(key string, rv []byte, row mypt.Row, reject error) error {
			n++
			if reject != nil {
				rejected++
				t.Errorf("%s %s rejected: %v", e, key, reject)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", e, err)
			continue
		}
		keys := 0
		if err := src.ReadKeys(ctx, e, func(string) error { keys++; return nil }); err != nil {
			t.Errorf("%s keys: %v", e, err)
		}
		if keys != n {
			t.Errorf("%s: %d rows but %d keys", e, n, keys)
		}
		t.Logf("%s: %d rows (%d rejected), %d keys; snapshot isolation %v", e, n, rejected, keys, src.SnapshotIsolation())
	}
}

// sqlcmdBatches splits a script on sqlcmd's GO lines.
func sqlcmdBatches(script string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if b := strings.TrimSpace(cur.String()); b != "" {
			out = append(out, b)
		}
		cur.Reset()
	}
	for _, line := range strings.Split(script, "\n") {
		if strings.EqualFold(strings.TrimSpace(line), "GO") {
			flush()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return out
}

func TestSQLCmdBatches(t *testing.T) {
	got := sqlcmdBatches("SET X ON;\nGO\n\nCREATE VIEW v AS\nSELECT 1 AS go_on\n  go  \nSELECT 2")
	if len(got) != 3 || got[1] != "CREATE VIEW v AS\nSELECT 1 AS go_on" || got[2] != "SELECT 2" {
		t.Errorf("batches %q", got)
	}
}
