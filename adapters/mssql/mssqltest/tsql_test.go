package mssqltest_test

import (
	"bytes"
	"database/sql"
	"errors"
	"net/url"
	"testing"

	mssql "github.com/microsoft/go-mssqldb"

	"mypt/adapters/mssql/mssqltest"
)

// The T-SQL a test sends to set up a real SQL Server runs here too (tsql.go): databases, schema,
// CREATE TABLE with rowversion, parameterised writes that assign rowversions, an open transaction
// holding MIN_ACTIVE_ROWVERSION(), backup and restore.
func TestTSQLSetupAndOpenTransaction(t *testing.T) {
	t.Parallel()
	s := newServer(t, mssqltest.Options{})
	ctx := ctxT(t)
	admin := open(t, s.DSN())
	for _, q := range []string{
		`CREATE DATABASE [mypt_t_1]`,
		`ALTER DATABASE [mypt_t_1] SET ALLOW_SNAPSHOT_ISOLATION ON`,
	} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE [mypt_t_1]`); err == nil {
		t.Error("a database was created twice")
	}
	u, _ := url.Parse(s.DSN())
	q := u.Query()
	q.Set("database", "mypt_t_1")
	u.RawQuery = q.Encode()
	db := open(t, u.String())
	for _, q := range []string{
		`CREATE SCHEMA [mypt] AUTHORIZATION [dbo]`,
		`CREATE TABLE [mypt].[Mark] ([MarkID] nvarchar(40) NOT NULL, [SessionDate] date NOT NULL, [StartTime] time(0) NOT NULL,
			[ReadAt] datetime NULL, [Mark] nvarchar(10) NULL, [Content] varbinary(max) NULL, [RowVer] rowversion NOT NULL,
			CONSTRAINT [PK_Mark] PRIMARY KEY ([MarkID]))`,
		`CREATE UNIQUE INDEX [IX_Mark_RowVer] ON [mypt].[Mark] ([RowVer])`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	res, err := db.ExecContext(ctx, `INSERT INTO [mypt].[Mark] ([MarkID], [SessionDate], [StartTime], [ReadAt], [Mark], [Content]) VALUES (@p1, @p2, @p3, @p4, @p5, @p6), (@p7, @p8, @p9, @p10, @p11, @p12)`,
		"K1", "2019-01-07", "09:00", nil, "/", []byte{1}, "K2", "2019-01-08", "11:00", nil, nil, nil)
	if n, _ := res.RowsAffected(); err != nil || n != 2 {
		t.Fatalf("insert: %v %d", err, n)
	}
	rowVers := func() map[string][]byte {
		rows, err := db.QueryContext(ctx, `SELECT MarkID, RowVer FROM mypt.Mark ORDER BY RowVer`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string][]byte{}
		for rows.Next() {
			var k string
			var rv []byte
			if err := rows.Scan(&k, &rv); err != nil {
				t.Fatal(err)
			}
			out[k] = rv
		}
		return out
	}
	minActive := func() []byte {
		var b []byte
		if err := db.QueryRowContext(ctx, `SELECT MIN_ACTIVE_ROWVERSION()`).Scan(&b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	rv := rowVers()
	if !bytes.Equal(rv["K1"], mssqltest.RowVersion(1)) || !bytes.Equal(rv["K2"], mssqltest.RowVersion(2)) {
		t.Fatalf("rowversions %x", rv)
	}
	if _, err := db.ExecContext(ctx, `UPDATE [mypt].[Mark] SET [Mark] = @p1 WHERE [MarkID] = @p2`, "O", "K1"); err != nil {
		t.Fatal(err)
	}
	if rv := rowVers(); !bytes.Equal(rv["K1"], mssqltest.RowVersion(3)) {
		t.Fatalf("update gave %x", rv["K1"])
	}
	if _, err := db.ExecContext(ctx, `BACKUP DATABASE [mypt_t_1] TO DISK = N'mypt_t_1.bak' WITH INIT`); err != nil {
		t.Fatal(err)
	}
	// A second connection writes in a transaction it holds open.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO [mypt].[Mark] ([MarkID], [SessionDate], [StartTime]) VALUES (@p1, @p2, @p3)`, "K3", "2019-01-09", "09:00"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO [mypt].[Mark] ([MarkID], [SessionDate], [StartTime]) VALUES (@p1, @p2, @p3)`, "K4", "2019-01-09", "11:00"); err != nil {
		t.Fatal(err)
	}
	if m := minActive(); !bytes.Equal(m, mssqltest.RowVersion(4)) {
		t.Errorf("MIN_ACTIVE_ROWVERSION() with K3's transaction open = %x, want 4", m)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if m := minActive(); !bytes.Equal(m, mssqltest.RowVersion(6)) {
		t.Errorf("MIN_ACTIVE_ROWVERSION() after commit = %x, want 6", m)
	}
	// The restore brings back the rows and @@DBTS of the backup.
	if _, err := admin.ExecContext(ctx, `RESTORE DATABASE [mypt_t_1] FROM DISK = N'mypt_t_1.bak' WITH REPLACE`); err != nil {
		t.Fatal(err)
	}
	if rv := rowVers(); len(rv) != 2 || rv["K3"] != nil {
		t.Errorf("after restore %x", rv)
	}
	if m := minActive(); !bytes.Equal(m, mssqltest.RowVersion(4)) {
		t.Errorf("MIN_ACTIVE_ROWVERSION() after restore = %x, want 4", m)
	}
	// ALLOW_SNAPSHOT_ISOLATION OFF: snapshot reads fail with 3952.
	if _, err := admin.ExecContext(ctx, `ALTER DATABASE [mypt_t_1] SET ALLOW_SNAPSHOT_ISOLATION OFF`); err != nil {
		t.Fatal(err)
	}
	stx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSnapshot})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	err = stx.QueryRowContext(ctx, `SELECT COUNT(*) FROM mypt.Mark`).Scan(&n)
	var me mssql.Error
	if !errors.As(err, &me) || me.Number != 3952 {
		t.Errorf("snapshot after OFF: %v", err)
	}
	stx.Rollback()
	if _, err := db.ExecContext(ctx, `DROP TABLE [mypt].[Mark]`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`ALTER DATABASE [mypt_t_1] SET SINGLE_USER WITH ROLLBACK IMMEDIATE`,
		`DROP DATABASE [mypt_t_1]`,
	} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
