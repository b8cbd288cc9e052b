package mssql_test

// The MIS under test, three ways. Helpers here keep their names (other test files use them):
//
//   forEachMIS(t, misOptions{…}, func(t *testing.T, m mis) {…})
//       runs the body as parallel subtests "tds", "tsql" and "sqlserver", each with a fresh MIS
//       holding the contract tables (empty):
//         tds        mssqltest driven through its Go API (Load, Update, SetMinActiveRowVersion,
//                    InjectFault …): what CI has always run.
//         tsql       the T-SQL backend (tsqlMIS) against an mssqltest server: every change is a
//                    T-SQL statement over go-mssqldb, exactly what runs against SQL Server, so CI
//                    checks that code path too.
//         sqlserver  the T-SQL backend against the server of MYPT_TEST_MSSQL_DSN (a login that
//                    may CREATE DATABASE; deploy/mssql/compose.yaml starts one). Without the
//                    variable each test reports one skip saying so.
//   newMIS(t, backend, misOptions) mis     one MIS of a named backend (forEachMIS uses it).
//   newMISRig(t, m, rows, mut) *rig        (sync_test.go) rows loaded into m, a Source on it, a
//                                          fresh SQLite cache and a Puller; r.mis is m, r.srv the
//                                          mssqltest server behind it (nil for sqlserver).
//   newRig(t, rows, mssqltest.Options, mut) the same on a tds MIS (as before this file existed).
//   mis                                    what a test may do to the MIS (interface below).
//   misFault                               a fault for mis.Fault: tds injects it in mssqltest;
//                                          tsql/sqlserver break the TCP stream in faultProxy.
//   faultProxy, newFaultProxy(t, target)   a TCP proxy on 127.0.0.1 that drops or stalls the
//                                          stream after N bytes from the server.
//   dsnWith(dsn, key, value, …)            a sqlserver:// URL with query keys (or "host") changed.
//
// The T-SQL backend makes a database per test (CREATE DATABASE [mypt_t_<random>], snapshot
// isolation as asked, dropped at cleanup), schema mypt with one TABLE per contract view (the
// contract's types plus RowVer rowversion), and writes with parameterised INSERT/UPDATE/DELETE.
// A row "above MIN_ACTIVE_ROWVERSION()" is a real one: OpenTransaction inserts it on a connection
// of its own inside BEGIN TRAN and holds the transaction open until commit is called. The
// Source connects through faultProxy, which also counts its connections (mis.Logins).

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomssql "github.com/microsoft/go-mssqldb"

	"mypt"
	"mypt/adapters/mssql"
	"mypt/adapters/mssql/mssqltest"
)

// misBackends are the subtest names of forEachMIS, in order.
var misBackends = []string{"tds", "tsql", "sqlserver"}

// skipNoDSN is the one skip a sqlserver subtest reports when no server is configured.
const skipNoDSN = "MYPT_TEST_MSSQL_DSN is not set: start deploy/mssql/compose.yaml and set it " +
	"(README, Connecting to the MIS; a login that may CREATE DATABASE) to run this against SQL Server 2022"

// skip1205 is why a deadlock cannot be tested on the T-SQL backends.
const skip1205 = "error 1205 (deadlock victim) cannot be injected into a real server's snapshot read " +
	"(SNAPSHOT readers take no row locks, so no deadlock can be arranged against them); the tds variant covers it"

// misOptions shape a new MIS.
type misOptions struct {
	TLS        bool // mssqltest offers TLS (TLSOptional); a real server encrypts as its DSN says
	NoSnapshot bool // the database does not allow snapshot isolation (error 3952 on SNAPSHOT reads)
	NoContract bool // no contract tables: the test makes its own with CreateTable
}

// misFault is a broken connection for mis.Fault.
type misFault struct {
	Kind   mssqltest.FaultKind // FaultDrop, FaultStall; FaultError (Number) on tds only
	Match  string              // tds: the query it fires on (see mssqltest.Fault)
	Rows   int                 // tds: after this many rows of the result
	Bytes  int                 // tsql, sqlserver: after this many bytes from the server (≥ 1)
	Number int32               // FaultError: the error number
}

// mis is the MIS under test. Views are named as in the contract ("mypt.Student"); a where
// clause is plain SQL that SQLite and T-SQL read alike (MarkID IN ('K1','K2')).
type mis interface {
	Backend() string // "tds", "tsql" or "sqlserver"
	// DSN is what the Source connects to.
	DSN() string
	// LoadRows writes domain rows as the MIS holds them, one committed transaction per entity.
	LoadRows(ctx context.Context, rows []mypt.Row) error
	// Insert writes one row of raw column values (strings for dates and times).
	Insert(ctx context.Context, view string, row map[string]any) error
	// LoadValues writes many rows of raw values in one transaction; next fills row (in cols
	// order) and returns false when done.
	LoadValues(ctx context.Context, view string, cols []string, next func(row []any) bool) error
	Update(ctx context.Context, view string, set map[string]any, where string) (int64, error)
	Delete(ctx context.Context, view, where string) (int64, error)
	// DropView removes a view (its table), so reading it fails with "Invalid object name".
	DropView(ctx context.Context, view string) error
	// CreateTable makes a table of the test's own (with misOptions.NoContract).
	CreateTable(ctx context.Context, view string, cols ...mssqltest.Column) error
	// OpenTransaction writes rows in a transaction it leaves open, so their rowversions are at
	// or above MIN_ACTIVE_ROWVERSION() until commit is called.
	OpenTransaction(ctx context.Context, rows []mypt.Row) (commit func() error, err error)
	// Backup keeps the database as it is now; Restore puts it back (rowversions go back too).
	Backup(ctx context.Context) error
	Restore(ctx context.Context) error
	// Fault breaks the Source's next read as f says (skips the test where it cannot).
	Fault(t *testing.T, f misFault)
	// Logins counts the connections the Source has opened.
	Logins() int64
	// RowsSent counts result rows the server sent, where it can be known.
	RowsSent() (int64, bool)
	// Server is the mssqltest server behind tds and tsql (nil for sqlserver).
	Server() *mssqltest.Server
}

// forEachMIS runs body once per backend, as parallel subtests named by misBackends.
func forEachMIS(t *testing.T, o misOptions, body func(t *testing.T, m mis)) {
	t.Helper()
	for _, b := range misBackends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			body(t, newMIS(t, b, o))
		})
	}
}

// newMIS makes a fresh MIS of the named backend; "sqlserver" skips without MYPT_TEST_MSSQL_DSN.
func newMIS(t *testing.T, backend string, o misOptions) mis {
	t.Helper()
	srvOpts := mssqltest.Options{}
	if o.TLS {
		srvOpts.TLS = mssqltest.TLSOptional
	}
	switch backend {
	case "tds":
		srvOpts.NoSnapshot = o.NoSnapshot
		var srv *mssqltest.Server
		if o.NoContract {
			srv = newServer(t, srvOpts)
		} else {
			srv = contractServer(t, srvOpts)
		}
		return &tdsMIS{srv: srv}
	case "tsql":
		srv := newServer(t, srvOpts)
		return newTSQLMIS(t, "tsql", srv.DSN(), srv, o)
	case "sqlserver":
		dsn := os.Getenv("MYPT_TEST_MSSQL_DSN")
		if dsn == "" {
			t.Skip(skipNoDSN)
		}
		return newTSQLMIS(t, "sqlserver", dsn, nil, o)
	}
	t.Fatalf("no MIS backend %q", backend)
	return nil
}

var (
	_ mis = (*tdsMIS)(nil)
	_ mis = (*tsqlMIS)(nil)
)

// tdsMIS is mssqltest through its Go API.
type tdsMIS struct {
	srv *mssqltest.Server
}

func (m *tdsMIS) Backend() string { return "tds" }
func (m *tdsMIS) DSN() string     { return m.srv.DSN() }
func (m *tdsMIS) LoadRows(ctx context.Context, rows []mypt.Row) error {
	return mssql.LoadRows(ctx, m.srv, nil, rows)
}
func (m *tdsMIS) Insert(ctx context.Context, view string, row map[string]any) error {
	return m.srv.Insert(ctx, view, row)
}
func (m *tdsMIS) LoadValues(ctx context.Context, view string, cols []string, next func([]any) bool) error {
	return m.srv.Load(ctx, view, cols, next)
}
func (m *tdsMIS) Update(ctx context.Context, view string, set map[string]any, where string) (int64, error) {
	return m.srv.Update(ctx, view, set, where)
}
func (m *tdsMIS) Delete(ctx context.Context, view, where string) (int64, error) {
	return m.srv.Delete(ctx, view, where)
}
func (m *tdsMIS) DropView(ctx context.Context, view string) error {
	_, err := m.srv.Store().ExecContext(ctx, `DROP TABLE "`+viewTable(view)+`"`)
	return err
}
func (m *tdsMIS) CreateTable(ctx context.Context, view string, cols ...mssqltest.Column) error {
	return m.srv.CreateTable(ctx, view, cols...)
}
func (m *tdsMIS) OpenTransaction(ctx context.Context, rows []mypt.Row) (func() error, error) {
	first := m.srv.DBTS() + 1
	if err := m.LoadRows(ctx, rows); err != nil {
		return nil, err
	}
	m.srv.SetMinActiveRowVersion(first) // as if their transaction were still open
	return func() error { m.srv.SetMinActiveRowVersion(0); return nil }, nil
}
func (m *tdsMIS) Backup(ctx context.Context) error  { return m.srv.Backup(ctx, "tds.bak") }
func (m *tdsMIS) Restore(ctx context.Context) error { return m.srv.Restore(ctx, "tds.bak") }
func (m *tdsMIS) Fault(t *testing.T, f misFault) {
	m.srv.InjectFault(mssqltest.Fault{Kind: f.Kind, Match: f.Match, Rows: f.Rows, Number: f.Number})
}
func (m *tdsMIS) Logins() int64             { return m.srv.Logins() }
func (m *tdsMIS) RowsSent() (int64, bool)   { return m.srv.RowsSent(), true }
func (m *tdsMIS) Server() *mssqltest.Server { return m.srv }

func viewTable(view string) string { return view[strings.LastIndexByte(view, '.')+1:] }
func quoteView(view string) string { return "[mypt].[" + viewTable(view) + "]" }
func bracket(name string) string   { return "[" + strings.ReplaceAll(name, "]", "]]") + "]" }

func randomName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// tsqlMIS is the T-SQL backend: a database of its own on a server reached with go-mssqldb.
type tsqlMIS struct {
	backend string
	admin   *sql.DB // the server (database master)
	db      *sql.DB // the test's database, direct
	dbName  string
	srcDSN  string // the test's database through the proxy
	proxy   *faultProxy
	srv     *mssqltest.Server
	mu      sync.Mutex
	types   map[string]map[string]string // table → column → SQL type (lower case)
}

func (m *tsqlMIS) Backend() string           { return m.backend }
func (m *tsqlMIS) DSN() string               { return m.srcDSN }
func (m *tsqlMIS) Logins() int64             { return m.proxy.Accepted() }
func (m *tsqlMIS) RowsSent() (int64, bool)   { return 0, false }
func (m *tsqlMIS) Server() *mssqltest.Server { return m.srv }

// bakFile is a file name only: SQL Server writes it in its default backup directory.
func (m *tsqlMIS) bakFile() string { return m.dbName + ".bak" }

func (m *tsqlMIS) Backup(ctx context.Context) error {
	_, err := m.admin.ExecContext(ctx, fmt.Sprintf(`BACKUP DATABASE %s TO DISK = N'%s' WITH INIT, COPY_ONLY`, bracket(m.dbName), m.bakFile()))
	return err
}

func newTSQLMIS(t *testing.T, backend, serverDSN string, srv *mssqltest.Server, o misOptions) *tsqlMIS {
	t.Helper()
	ctx := ctxT(t)
	if _, err := url.Parse(serverDSN); err != nil || !strings.HasPrefix(serverDSN, "sqlserver://") {
		t.Fatalf("%s: the DSN must be a sqlserver:// URL (see README, Connecting to the MIS)", backend)
	}
	admin, err := sql.Open("sqlserver", dsnWith(serverDSN, "database", "master"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	m := &tsqlMIS{backend: backend, admin: admin, srv: srv, dbName: "mypt_t_" + randomName(), types: map[string]map[string]string{}}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+bracket(m.dbName)); err != nil {
		t.Fatalf("%s: CREATE DATABASE (the login needs CREATE DATABASE permission): %v", backend, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for _, q := range []string{
			"ALTER DATABASE " + bracket(m.dbName) + " SET SINGLE_USER WITH ROLLBACK IMMEDIATE",
			"DROP DATABASE " + bracket(m.dbName),
		} {
			if _, err := admin.ExecContext(ctx, q); err != nil {
				t.Errorf("cleanup: %s: %v", q, err)
				return
			}
		}
	})
	snap := "ON"
	if o.NoSnapshot {
		snap = "OFF"
	}
	if _, err := admin.ExecContext(ctx, "ALTER DATABASE "+bracket(m.dbName)+" SET ALLOW_SNAPSHOT_ISOLATION "+snap); err != nil {
		t.Fatal(err)
	}
	dsn := dsnWith(serverDSN, "database", m.dbName)
	if m.db, err = sql.Open("sqlserver", dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.db.Close() })
	if _, err := m.db.ExecContext(ctx, "CREATE SCHEMA [mypt] AUTHORIZATION [dbo]"); err != nil {
		t.Fatal(err)
	}
	if !o.NoContract {
		for _, v := range mssql.Contract {
			cols := make([]mssqltest.Column, 0, len(v.Columns)+1)
			for _, c := range v.Columns {
				cols = append(cols, mssqltest.Column{Name: c.Name, Type: c.Type, Nullable: c.Nullable, Key: c.Name == v.Key})
			}
			cols = append(cols, mssqltest.Column{Name: "RowVer", Type: "rowversion"})
			if err := m.CreateTable(ctx, v.View, cols...); err != nil {
				t.Fatal(err)
			}
		}
	}
	u, _ := url.Parse(dsn)
	m.proxy = newFaultProxy(t, u.Host)
	m.srcDSN = dsnWith(dsn, "host", m.proxy.Addr())
	return m
}

func (m *tsqlMIS) CreateTable(ctx context.Context, view string, cols ...mssqltest.Column) error {
	var defs, keys []string
	types := map[string]string{}
	for _, c := range cols {
		d := bracket(c.Name) + " " + c.Type
		if c.Nullable && !c.Key {
			d += " NULL"
		} else {
			d += " NOT NULL"
		}
		defs = append(defs, d)
		if c.Key {
			keys = append(keys, bracket(c.Name))
		}
		types[strings.ToLower(c.Name)] = strings.ToLower(c.Type)
	}
	name := viewTable(view)
	if len(keys) > 0 {
		defs = append(defs, "CONSTRAINT "+bracket("PK_"+name)+" PRIMARY KEY ("+strings.Join(keys, ", ")+")")
	}
	if _, err := m.db.ExecContext(ctx, "CREATE TABLE "+quoteView(view)+" ("+strings.Join(defs, ", ")+")"); err != nil {
		return fmt.Errorf("create %s: %w", view, err)
	}
	for _, c := range cols {
		if strings.EqualFold(c.Type, "rowversion") {
			q := fmt.Sprintf("CREATE UNIQUE INDEX %s ON %s (%s)", bracket("IX_"+name+"_RowVer"), quoteView(view), bracket(c.Name))
			if _, err := m.db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("index %s: %w", view, err)
			}
		}
	}
	m.mu.Lock()
	m.types[strings.ToLower(name)] = types
	m.mu.Unlock()
	return nil
}

// param is a value as sent: datetime columns get a typed datetime (a string would be read by
// the login's DATEFORMAT); everything else goes as is and converts on the server.
func (m *tsqlMIS) param(view, col string, v any) any {
	m.mu.Lock()
	typ := m.types[strings.ToLower(viewTable(view))][strings.ToLower(col)]
	m.mu.Unlock()
	s, ok := v.(string)
	if !ok || (typ != "datetime" && typ != "smalldatetime") {
		return v
	}
	for _, layout := range []string{"2006-01-02 15:04:05.9999999", "2006-01-02T15:04:05.9999999", "2006-01-02"} {
		if tm, err := time.Parse(layout, s); err == nil {
			return gomssql.DateTime1(tm)
		}
	}
	return v
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// insert writes rows with multi-row parameterised INSERTs of at most 500 parameters (SQL Server
// allows 2100; mssqltest binds named parameters in time quadratic in their number).
func (m *tsqlMIS) insert(ctx context.Context, ex execer, view string, cols []string, next func(row []any) bool) error {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = bracket(c)
	}
	head := "INSERT INTO " + quoteView(view) + " (" + strings.Join(names, ", ") + ") VALUES "
	per := max(1, min(1000, 500/max(1, len(cols))))
	row := make([]any, len(cols))
	var args []any
	var tuples []string
	flush := func() error {
		if len(tuples) == 0 {
			return nil
		}
		_, err := ex.ExecContext(ctx, head+strings.Join(tuples, ", "), args...)
		args, tuples = args[:0], tuples[:0]
		if err != nil {
			return fmt.Errorf("insert into %s: %w", view, err)
		}
		return nil
	}
	for next(row) {
		ph := make([]string, len(cols))
		for j := range cols {
			args = append(args, m.param(view, cols[j], row[j]))
			ph[j] = "@p" + strconv.Itoa(len(args))
			row[j] = nil
		}
		tuples = append(tuples, "("+strings.Join(ph, ", ")+")")
		if len(tuples) == per {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func (m *tsqlMIS) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// loadRows writes domain rows, one entity after another in dependency order.
func (m *tsqlMIS) loadRows(ctx context.Context, ex execer, rows []mypt.Row) error {
	type group struct {
		spec mssql.ViewSpec
		vals [][]any
	}
	groups := map[mypt.Entity]*group{}
	for _, r := range rows {
		spec, vals, err := mssql.ContractRow(r, nil)
		if err != nil {
			return err
		}
		g := groups[spec.Entity]
		if g == nil {
			g = &group{spec: spec}
			groups[spec.Entity] = g
		}
		g.vals = append(g.vals, vals)
	}
	for _, e := range mypt.Entities {
		g := groups[e]
		if g == nil {
			continue
		}
		cols := make([]string, len(g.spec.Columns))
		for i, c := range g.spec.Columns {
			cols[i] = c.Name
		}
		i := 0
		err := m.insert(ctx, ex, g.spec.View, cols, func(row []any) bool {
			if i == len(g.vals) {
				return false
			}
			copy(row, g.vals[i])
			i++
			return true
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *tsqlMIS) LoadRows(ctx context.Context, rows []mypt.Row) error {
	return m.inTx(ctx, func(tx *sql.Tx) error { return m.loadRows(ctx, tx, rows) })
}

func (m *tsqlMIS) Insert(ctx context.Context, view string, row map[string]any) error {
	cols := make([]string, 0, len(row))
	for c := range row {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	done := false
	return m.insert(ctx, m.db, view, cols, func(out []any) bool {
		if done {
			return false
		}
		for i, c := range cols {
			out[i] = row[c]
		}
		done = true
		return true
	})
}

func (m *tsqlMIS) LoadValues(ctx context.Context, view string, cols []string, next func([]any) bool) error {
	return m.inTx(ctx, func(tx *sql.Tx) error { return m.insert(ctx, tx, view, cols, next) })
}

func (m *tsqlMIS) Update(ctx context.Context, view string, set map[string]any, where string) (int64, error) {
	cols := make([]string, 0, len(set))
	for c := range set {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	var sets []string
	var args []any
	for _, c := range cols {
		args = append(args, m.param(view, c, set[c]))
		sets = append(sets, bracket(c)+" = @p"+strconv.Itoa(len(args)))
	}
	res, err := m.db.ExecContext(ctx, "UPDATE "+quoteView(view)+" SET "+strings.Join(sets, ", ")+" WHERE "+where, args...)
	if err != nil {
		return 0, fmt.Errorf("update %s: %w", view, err)
	}
	return res.RowsAffected()
}

func (m *tsqlMIS) Delete(ctx context.Context, view, where string) (int64, error) {
	res, err := m.db.ExecContext(ctx, "DELETE FROM "+quoteView(view)+" WHERE "+where)
	if err != nil {
		return 0, fmt.Errorf("delete from %s: %w", view, err)
	}
	return res.RowsAffected()
}

func (m *tsqlMIS) DropView(ctx context.Context, view string) error {
	_, err := m.db.ExecContext(ctx, "DROP TABLE "+quoteView(view))
	return err
}

// OpenTransaction inserts rows on a connection of its own inside a transaction it holds open:
// on SQL Server (and mssqltest) MIN_ACTIVE_ROWVERSION() stays at their first rowversion until
// commit.
func (m *tsqlMIS) OpenTransaction(ctx context.Context, rows []mypt.Row) (func() error, error) {
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if err := m.loadRows(ctx, tx, rows); err != nil {
		tx.Rollback()
		conn.Close()
		return nil, err
	}
	var once sync.Once
	var cerr error
	commit := func() error {
		once.Do(func() { cerr = tx.Commit(); conn.Close() })
		return cerr
	}
	return commit, nil
}

// Restore puts the database back as Backup left it (RESTORE … WITH REPLACE): every session in it
// is ended first, the Source's pooled ones too, as on a real restore.
func (m *tsqlMIS) Restore(ctx context.Context) error {
	m.db.SetMaxIdleConns(0) // close ours; they would be dead after the restore
	defer m.db.SetMaxIdleConns(2)
	db := bracket(m.dbName)
	for _, q := range []string{
		"ALTER DATABASE " + db + " SET SINGLE_USER WITH ROLLBACK IMMEDIATE",
		fmt.Sprintf("RESTORE DATABASE %s FROM DISK = N'%s' WITH REPLACE", db, m.bakFile()),
		"ALTER DATABASE " + db + " SET MULTI_USER",
	} {
		if _, err := m.admin.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

func (m *tsqlMIS) Fault(t *testing.T, f misFault) {
	t.Helper()
	switch f.Kind {
	case mssqltest.FaultDrop, mssqltest.FaultStall:
		if f.Bytes < 1 {
			t.Fatal("misFault.Bytes must be at least 1 on the T-SQL backends")
		}
		m.proxy.Arm(f.Kind, f.Bytes)
	case mssqltest.FaultError:
		if f.Number == 1205 {
			t.Skip(skip1205)
		}
		t.Skipf("error %d cannot be injected into a real server; the tds variant covers it", f.Number)
	default:
		t.Fatalf("fault kind %v is not available on %s", f.Kind, m.backend)
	}
}

// dsnWith changes query keys of a sqlserver:// URL; key "host" replaces host:port (and keeps
// the certificate check on the original name via hostNameInCertificate).
func dsnWith(dsn string, kv ...string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == "host" {
			if q.Get("hostNameInCertificate") == "" {
				q.Set("hostNameInCertificate", u.Hostname())
			}
			u.Host = kv[i+1]
			u.Path = "" // an instance name would send the driver to the SQL Browser
			continue
		}
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// faultProxy forwards TCP from 127.0.0.1 to a server and can break the stream as a network does:
// drop the connection, or stall it (stop forwarding, never close), once, after a number of bytes
// from the server. Accepted counts the connections made through it.
type faultProxy struct {
	ln       net.Listener
	target   string
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	armed    *proxyFault
	conns    map[net.Conn]struct{}
	closed   bool
}

type proxyFault struct {
	kind  mssqltest.FaultKind
	after int // bytes still to forward before the fault
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

func (p *faultProxy) Addr() string    { return p.ln.Addr().String() }
func (p *faultProxy) Accepted() int64 { return p.accepted.Load() }

// Arm makes the next connection to receive data from the server drop or stall (kind) after
// bytes more bytes.
func (p *faultProxy) Arm(kind mssqltest.FaultKind, bytes int) {
	p.mu.Lock()
	p.armed = &proxyFault{kind: kind, after: bytes}
	p.mu.Unlock()
}

// Close ends every connection (stalled ones too) and waits for them.
func (p *faultProxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

func (p *faultProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *faultProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	for _, c := range cs {
		delete(p.conns, c)
		c.Close()
	}
	p.mu.Unlock()
}

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		p.wg.Add(1)
		go p.pipe(c)
	}
}

// take says how many of n bytes from the server to forward, and the fault that fires after them.
func (p *faultProxy) take(n int) (int, *proxyFault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.armed
	if f == nil {
		return n, nil
	}
	if f.after > n {
		f.after -= n
		return n, nil
	}
	p.armed = nil
	return f.after, f
}

func (p *faultProxy) pipe(client net.Conn) {
	defer p.wg.Done()
	server, err := net.DialTimeout("tcp", p.target, 10*time.Second)
	if err != nil {
		client.Close()
		return
	}
	if !p.track(client, server) {
		client.Close()
		server.Close()
		return
	}
	clientGone := make(chan struct{})
	go func() { // client → server, until either side closes
		defer close(clientGone)
		io.Copy(server, client)
		client.Close()
		server.Close()
	}()
	defer func() {
		client.Close()
		server.Close()
		<-clientGone
		p.untrack(client, server)
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 {
			cut, f := p.take(n)
			if _, werr := client.Write(buf[:cut]); werr != nil {
				return
			}
			if f != nil {
				if f.kind == mssqltest.FaultStall {
					<-clientGone // hold everything until the client (or Close) gives up
				}
				return
			}
		}
		if err != nil {
			return
		}
	}
}
