package mssqltest_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"mypt/adapters/mssql/mssqltest"
)

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

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func studentTable(t *testing.T, s *mssqltest.Server) {
	t.Helper()
	ctx := ctxT(t)
	err := s.CreateTable(ctx, "mypt.Student",
		mssqltest.Column{Name: "StudentID", Type: "nvarchar(20)", Key: true},
		mssqltest.Column{Name: "LegalFirstNames", Type: "nvarchar(100)"},
		mssqltest.Column{Name: "Notes", Type: "nvarchar(max)", Nullable: true},
		mssqltest.Column{Name: "DateOfBirth", Type: "date"},
		mssqltest.Column{Name: "HasEHCP", Type: "bit"},
		mssqltest.Column{Name: "Age", Type: "int", Nullable: true},
		mssqltest.Column{Name: "Big", Type: "bigint", Nullable: true},
		mssqltest.Column{Name: "StartTime", Type: "time(0)", Nullable: true},
		mssqltest.Column{Name: "CreatedAt", Type: "datetime", Nullable: true},
		mssqltest.Column{Name: "UpdatedAt", Type: "datetime2(3)", Nullable: true},
		mssqltest.Column{Name: "Guid", Type: "uniqueidentifier", Nullable: true},
		mssqltest.Column{Name: "Content", Type: "varbinary(max)", Nullable: true},
		mssqltest.Column{Name: "RowVer", Type: "rowversion"},
	)
	if err != nil {
		t.Fatal(err)
	}
}

func TestTypesRoundTrip(t *testing.T) {
	t.Parallel()
	s := newServer(t, mssqltest.Options{})
	studentTable(t, s)
	ctx := ctxT(t)
	long := strings.Repeat("Siobhán O’Neill-Smith ", 1000) // > 8000 bytes: several PLP chunks
	blob := bytes.Repeat([]byte{0, 1, 2, 0xff}, 5000)
	if err := s.Insert(ctx, "mypt.Student", map[string]any{
		"StudentID": "S1", "LegalFirstNames": "Siobhán O’Neill-Smith", "Notes": long,
		"DateOfBirth": "2008-02-29", "HasEHCP": true, "Age": 17, "Big": int64(1) << 40,
		"StartTime": "09:15:00", "CreatedAt": "2024-07-01 09:00:00", "UpdatedAt": "2024-01-15 09:00:00.123",
		"Guid": "6F9619FF-8B86-D011-B42D-00C04FC964FF", "Content": blob,
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(ctx, "mypt.Student", map[string]any{"StudentID": "S2", "LegalFirstNames": "José", "DateOfBirth": "2007-09-01", "HasEHCP": false}); err != nil {
		t.Fatal(err)
	}
	db := open(t, s.DSN())
	rows, err := db.QueryContext(ctx, `SELECT StudentID, LegalFirstNames, Notes, DateOfBirth, HasEHCP, Age, Big, StartTime, CreatedAt, UpdatedAt, Guid, Content, RowVer FROM mypt.Student ORDER BY RowVer`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type row struct {
		id, name      string
		notes         sql.NullString
		dob           time.Time
		ehcp          bool
		age, big      sql.NullInt64
		start, cr, up sql.NullTime
		guid          mssql.NullUniqueIdentifier
		content       []byte
		rv            []byte
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.name, &r.notes, &r.dob, &r.ehcp, &r.age, &r.big, &r.start, &r.cr, &r.up, &r.guid, &r.content, &r.rv); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d rows", len(got))
	}
	r := got[0]
	if r.name != "Siobhán O’Neill-Smith" || r.notes.String != long || !r.ehcp || r.age.Int64 != 17 || r.big.Int64 != 1<<40 {
		t.Errorf("row 1 = %+v", r.name)
	}
	if r.dob.Format("2006-01-02") != "2008-02-29" {
		t.Errorf("dob %v", r.dob)
	}
	if r.start.Time.Format("15:04:05") != "09:15:00" || r.cr.Time.Format("2006-01-02 15:04:05") != "2024-07-01 09:00:00" ||
		r.up.Time.Format("2006-01-02 15:04:05.000") != "2024-01-15 09:00:00.123" {
		t.Errorf("times %v %v %v", r.start.Time, r.cr.Time, r.up.Time)
	}
	if g := r.guid.UUID.String(); g != "6F9619FF-8B86-D011-B42D-00C04FC964FF" {
		t.Errorf("guid %s", g)
	}
	if !bytes.Equal(r.content, blob) {
		t.Errorf("content of %d bytes", len(r.content))
	}
	if len(r.rv) != 8 || bytes.Compare(r.rv, got[1].rv) >= 0 {
		t.Errorf("rowversions %x %x", r.rv, got[1].rv)
	}
	if got[1].notes.Valid || got[1].age.Valid || got[1].guid.Valid || got[1].content != nil || got[1].name != "José" {
		t.Errorf("row 2 = %+v", got[1])
	}

	// A GUID scanned into []byte comes back in wire order (MS-1's trap); as a parameter it finds the row.
	var raw []byte
	if err := db.QueryRowContext(ctx, `SELECT Guid FROM mypt.Student WHERE StudentID = @p1`, "S1").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if want := []byte{0xff, 0x19, 0x96, 0x6f, 0x86, 0x8b, 0x11, 0xd0}; !bytes.Equal(raw[:8], want) {
		t.Errorf("wire guid %x", raw)
	}
	var g mssql.UniqueIdentifier
	if err := g.Scan("6F9619FF-8B86-D011-B42D-00C04FC964FF"); err != nil {
		t.Fatal(err)
	}
	var id string
	if err := db.QueryRowContext(ctx, `SELECT StudentID FROM mypt.Student WHERE Guid = @p1`, g).Scan(&id); err != nil || id != "S1" {
		t.Errorf("guid parameter: %q %v", id, err)
	}
}

func TestParamsAndMinActiveRowVersion(t *testing.T) {
	t.Parallel()
	s := newServer(t, mssqltest.Options{})
	studentTable(t, s)
	ctx := ctxT(t)
	for _, id := range []string{"A", "B", "C"} {
		if err := s.Insert(ctx, "mypt.Student", map[string]any{"StudentID": id, "LegalFirstNames": id, "DateOfBirth": "2008-01-01", "HasEHCP": false}); err != nil {
			t.Fatal(err)
		}
	}
	db := open(t, s.DSN())
	s.SetMinActiveRowVersion(3) // row C (rowversion 3) belongs to an open transaction
	count := func() int {
		var n int
		err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM [mypt].[Student] WHERE RowVer > @p1 AND RowVer < MIN_ACTIVE_ROWVERSION()`, mssqltest.RowVersion(0)).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 2 {
		t.Errorf("below min active: %d rows, want 2", n)
	}
	s.SetMinActiveRowVersion(0)
	if n := count(); n != 3 {
		t.Errorf("after commit: %d rows, want 3", n)
	}
	var top string
	if err := db.QueryRowContext(ctx, `SET NOCOUNT ON; SELECT TOP (1) StudentID FROM mypt.Student WHERE LegalFirstNames <> @name ORDER BY RowVer DESC`, sql.Named("name", "C")).Scan(&top); err != nil || top != "B" {
		t.Errorf("top: %q %v", top, err)
	}
	var mar []byte
	if err := db.QueryRowContext(ctx, `SELECT MIN_ACTIVE_ROWVERSION()`).Scan(&mar); err != nil || !bytes.Equal(mar, mssqltest.RowVersion(4)) {
		t.Errorf("min active %x %v", mar, err)
	}
	// Typed parameters of every common kind arrive intact.
	var a int64
	var b bool
	var c string
	var d []byte
	if err := db.QueryRowContext(ctx, `SELECT @p1, @p2, @p3, @p4`, int64(42), true, strings.Repeat("é", 5000), []byte{1, 2, 3}).Scan(&a, &b, &c, &d); err != nil {
		t.Fatal(err)
	}
	if a != 42 || !b || c != strings.Repeat("é", 5000) || !bytes.Equal(d, []byte{1, 2, 3}) {
		t.Errorf("params %v %v %d %v", a, b, len(c), d)
	}
	if _, err := db.QueryContext(ctx, `SELECT Nope FROM mypt.Missing`); err == nil {
		t.Error("missing table: no error")
	} else {
		var me mssql.Error
		if !errors.As(err, &me) || me.Number != 208 {
			t.Errorf("missing table: %v", err)
		}
	}
}

func TestLoginAndTLS(t *testing.T) {
	t.Parallel()
	plain := newServer(t, mssqltest.Options{})
	tlsSrv := newServer(t, mssqltest.Options{TLS: mssqltest.TLSOptional})
	wrongHost := newServer(t, mssqltest.Options{TLS: mssqltest.TLSOptional, CertHosts: []string{"mis.example.org"}})
	old := newServer(t, mssqltest.Options{TLS: mssqltest.TLSOptional, TLSMaxVersion: 0x0301})
	cases := []struct {
		name    string
		dsn     string
		wantErr string
	}{
		{"plain", plain.DSN(), ""},
		{"wrong password", strings.Replace(plain.DSN(), ":Test-pass-1@", ":wrong@", 1), "18456"},
		{"encrypt true against a server without TLS", plain.DSN("encrypt", "true"), "does not support encryption"},
		{"tls trusted by certificate", tlsSrv.DSN(), ""},
		{"tls login only", tlsSrv.DSN("encrypt", "false"), ""},
		{"tls strict", tlsSrv.DSN("encrypt", "strict"), ""},
		{"tls untrusted self-signed", tlsSrv.DSN("certificate", "", "hostNameInCertificate", ""), "certificate"},
		{"tls wrong host", wrongHost.DSN("hostNameInCertificate", ""), "certificate"},
		{"tls 1.0 only server", old.DSN(), "protocol version"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := open(t, tc.dsn)
			var n int
			err := db.QueryRowContext(ctxT(t), `SELECT 1`).Scan(&n)
			if tc.wantErr == "" {
				if err != nil || n != 1 {
					t.Fatalf("select 1: %d %v", n, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestTransactionsAndSnapshot(t *testing.T) {
	t.Parallel()
	s := newServer(t, mssqltest.Options{})
	no := newServer(t, mssqltest.Options{NoSnapshot: true})
	ctx := ctxT(t)
	for _, srv := range []*mssqltest.Server{s, no} {
		studentTable(t, srv)
	}
	db := open(t, s.DSN())
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSnapshot})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM mypt.Student`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db2 := open(t, no.DSN())
	tx, err = db2.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSnapshot})
	if err != nil {
		t.Fatal(err)
	}
	err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM mypt.Student`).Scan(&n)
	var me mssql.Error
	if !errors.As(err, &me) || me.Number != 3952 {
		t.Errorf("snapshot not allowed: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	tx, err = db2.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM mypt.Student`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
}

func loadMany(t *testing.T, s *mssqltest.Server, n int) {
	t.Helper()
	studentTable(t, s)
	i := 0
	err := s.Load(ctxT(t), "mypt.Student", []string{"StudentID", "LegalFirstNames", "DateOfBirth", "HasEHCP"}, func(row []any) bool {
		if i == n {
			return false
		}
		i++
		row[0], row[1], row[2], row[3] = "S"+strings.Repeat("0", 6-len(itoa(i)))+itoa(i), "Name", "2008-01-01", false
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(i)) }

func fmtInt(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func countRows(ctx context.Context, db *sql.DB) (int, error) {
	rows, err := db.QueryContext(ctx, `SELECT StudentID, LegalFirstNames, RowVer FROM mypt.Student ORDER BY RowVer`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}

func TestFaults(t *testing.T) {
	t.Parallel()
	s := newServer(t, mssqltest.Options{})
	loadMany(t, s, 10000)
	ctx := ctxT(t)
	db := open(t, s.DSN())
	if n, err := countRows(ctx, db); err != nil || n != 10000 {
		t.Fatalf("baseline %d %v", n, err)
	}

	t.Run("deadlock victim", func(t *testing.T) {
		s.InjectFault(mssqltest.Fault{Kind: mssqltest.FaultError, Number: 1205, Match: "FROM mypt.Student"})
		_, err := countRows(ctx, db)
		var me mssql.Error
		if !errors.As(err, &me) || me.Number != 1205 {
			t.Fatalf("got %v", err)
		}
		var pme *mssql.Error
		if errors.As(err, &pme) {
			t.Error("errors.As with *mssql.Error matched; the driver's errors are values")
		}
		if n, err := countRows(ctx, db); err != nil || n != 10000 {
			t.Fatalf("after: %d %v", n, err)
		}
	})
	t.Run("drop after rows", func(t *testing.T) {
		before := s.Logins()
		s.InjectFault(mssqltest.Fault{Kind: mssqltest.FaultDrop, Rows: 5000, Match: "FROM mypt.Student"})
		n, err := countRows(ctx, db)
		if err == nil {
			t.Fatalf("drop: read %d rows and no error", n)
		}
		if n2, err := countRows(ctx, db); err != nil || n2 != 10000 {
			t.Fatalf("after drop: %d %v", n2, err)
		}
		if s.Logins() == before {
			t.Error("no new connection after a drop")
		}
	})
	t.Run("stall ends with the context", func(t *testing.T) {
		s.InjectFault(mssqltest.Fault{Kind: mssqltest.FaultStall, Rows: 5000, Match: "FROM mypt.Student"})
		sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		_, err := countRows(sctx, db)
		if err == nil {
			t.Fatal("stall: no error")
		}
		if n, err := countRows(ctx, db); err != nil || n != 10000 {
			t.Fatalf("after stall: %d %v", n, err)
		}
	})
	t.Run("cancel is answered with attention", func(t *testing.T) {
		before := s.Logins()
		cctx, cancel := context.WithCancel(ctx)
		rows, err := db.QueryContext(cctx, `SELECT StudentID FROM mypt.Student`)
		if err != nil {
			t.Fatal(err)
		}
		rows.Next()
		cancel()
		for rows.Next() {
		}
		rows.Close()
		if n, err := countRows(ctx, db); err != nil || n != 10000 {
			t.Fatalf("after cancel: %d %v", n, err)
		}
		if s.Logins() != before {
			t.Logf("a cancelled query cost a reconnect (%d → %d)", before, s.Logins())
		}
	})
	t.Run("refused login", func(t *testing.T) {
		s.InjectFault(mssqltest.Fault{Kind: mssqltest.FaultRefuseLogin, Number: 40613})
		db := open(t, s.DSN())
		err := db.PingContext(ctx)
		var me mssql.Error
		if !errors.As(err, &me) || me.Number != 40613 {
			t.Fatalf("got %v", err)
		}
		if err := db.PingContext(ctx); err != nil {
			t.Fatalf("second login: %v", err)
		}
	})
}
