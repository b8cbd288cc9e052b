// Package mssqltest is a TDS 7.4 server that the real go-mssqldb driver connects to over
// loopback, for tests and benchmarks of the SQL Server adapter (DESIGN §6). Its tables live
// in SQLite with each column's SQL Server type recorded; the T-SQL it receives is lightly
// rewritten and run by SQLite; results go back in SQL Server's wire types. It can inject the
// faults that matter to a sync: a dropped connection, a stall, a refused login, a deadlock.
package mssqltest

import (
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	_ "modernc.org/sqlite" // the tables' store

	"mypt/internal/testcert"
)

// TLSMode says what the server offers in PRELOGIN.
type TLSMode int

const (
	// TLSOff answers ENCRYPT_NOT_SUP: no TLS at all. A client with encrypt=true fails.
	TLSOff TLSMode = iota
	// TLSOptional encrypts as the client asks (login only for encrypt=false, everything for
	// encrypt=true, nothing for encrypt=disable) and accepts TDS 8 strict connections.
	TLSOptional
	// TLSRequired answers ENCRYPT_REQ when the client would rather not encrypt.
	TLSRequired
)

// Options configure a Server. The zero value is a plain-text server with user "mypt".
type Options struct {
	User     string // default "mypt"
	Password string // default "Test-pass-1"
	Database string // default "mis"
	TLS      TLSMode
	// CertHosts are the names in the self-signed certificate (default 127.0.0.1, localhost).
	CertHosts []string
	// TLSMaxVersion caps the server's TLS version (tls.VersionTLS10 simulates an old server).
	TLSMaxVersion uint16
	// NoSnapshot makes SNAPSHOT transactions fail with error 3952, as on a database where
	// ALLOW_SNAPSHOT_ISOLATION is OFF.
	NoSnapshot bool
	// Dir holds the SQLite file; default a new temporary directory removed by Close.
	Dir string
	// Logf, when set, receives one line per connection-level problem.
	Logf func(format string, args ...any)
}

// Column declares one column of a table.
type Column struct {
	Name     string
	Type     string // T-SQL type: nvarchar(200), datetime2(0), uniqueidentifier, rowversion ...
	Nullable bool
	Key      bool // part of the primary key
}

type table struct {
	name   string
	cols   []Column
	types  []Type
	rowver int // index of the rowversion column, or -1
}

// Server is a running TDS server on 127.0.0.1.
type Server struct {
	opts    Options
	db      *sql.DB
	ln      net.Listener
	tlsCfg  *tls.Config
	certPEM []byte
	dir     string
	ownDir  bool

	closing chan struct{}
	wg      sync.WaitGroup

	mu        sync.Mutex
	tables    map[string]*table
	dbts      uint64 // last rowversion handed out
	minActive uint64 // 0: automatic (dbts+1)
	faults    []*Fault
	conns     map[*conn]struct{}
	queries   []string
	databases map[string]bool   // made by CREATE DATABASE (tsql.go)
	backups   map[string]uint64 // backup file → @@DBTS when it was taken

	noSnapshot atomic.Bool // Options.NoSnapshot, or ALTER DATABASE … SET ALLOW_SNAPSHOT_ISOLATION OFF

	logins   atomic.Int64
	rowsSent atomic.Int64
}

// New starts a server listening on a free port of 127.0.0.1.
func New(opts Options) (*Server, error) {
	if opts.User == "" {
		opts.User = "mypt"
	}
	if opts.Password == "" {
		opts.Password = "Test-pass-1"
	}
	if opts.Database == "" {
		opts.Database = "mis"
	}
	if len(opts.CertHosts) == 0 {
		opts.CertHosts = []string{"127.0.0.1", "localhost"}
	}
	s := &Server{opts: opts, tables: map[string]*table{}, conns: map[*conn]struct{}{}, closing: make(chan struct{}),
		databases: map[string]bool{}, backups: map[string]uint64{}}
	s.noSnapshot.Store(opts.NoSnapshot)
	s.dir = opts.Dir
	if s.dir == "" {
		d, err := os.MkdirTemp("", "mssqltest-")
		if err != nil {
			return nil, fmt.Errorf("mssqltest: %w", err)
		}
		s.dir, s.ownDir = d, true
	}
	dsn := "file:" + filepath.Join(s.dir, "mis.db") +
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(OFF)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("mssqltest: open store: %w", err)
	}
	s.db = db
	if opts.TLS != TLSOff {
		c, err := testcert.New("mssqltest", opts.CertHosts...)
		if err != nil {
			s.cleanup()
			return nil, fmt.Errorf("mssqltest: %w", err)
		}
		cert, pemBytes := c.TLS, c.CertPEM
		s.certPEM = pemBytes
		if err := os.WriteFile(s.CertFile(), pemBytes, 0o600); err != nil {
			s.cleanup()
			return nil, fmt.Errorf("mssqltest: write certificate: %w", err)
		}
		s.tlsCfg = &tls.Config{
			Certificates:           []tls.Certificate{cert},
			MaxVersion:             opts.TLSMaxVersion,
			MinVersion:             tls.VersionTLS10,
			SessionTicketsDisabled: true, // tickets would arrive after the TDS-wrapped handshake
			NextProtos:             []string{"tds/8.0"},
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("mssqltest: listen: %w", err)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *Server) cleanup() {
	if s.db != nil {
		s.db.Close()
	}
	if s.ownDir {
		os.RemoveAll(s.dir)
	}
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		c := newConn(s, nc)
		s.mu.Lock()
		select {
		case <-s.closing:
			s.mu.Unlock()
			nc.Close()
			return
		default:
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close stops the server, ends every connection (stalled ones too) and removes its files.
func (s *Server) Close() error {
	s.mu.Lock()
	select {
	case <-s.closing:
		s.mu.Unlock()
		return nil
	default:
	}
	close(s.closing)
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
	s.cleanup()
	return nil
}

// Addr is host:port of the listener.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Port is the listener's TCP port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// User and Password are the SQL login the server accepts.
func (s *Server) User() string     { return s.opts.User }
func (s *Server) Password() string { return s.opts.Password }
func (s *Server) Database() string { return s.opts.Database }

// CertFile is the PEM file of the server's self-signed certificate (TLS modes only).
func (s *Server) CertFile() string { return filepath.Join(s.dir, "server.pem") }

// CertPEM is the server's certificate in PEM form (nil with TLSOff).
func (s *Server) CertPEM() []byte { return s.certPEM }

// DSN is a sqlserver:// URL for the server. Without TLS it says encrypt=disable; with TLS,
// encrypt=true and the server certificate trusted via certificate=. Extra key/value pairs
// override or add query parameters ("encrypt", "false", ...).
func (s *Server) DSN(kv ...string) string {
	q := url.Values{}
	q.Set("database", s.opts.Database)
	q.Set("dial timeout", "5")
	if s.opts.TLS == TLSOff {
		q.Set("encrypt", "disable")
	} else {
		q.Set("encrypt", "true")
		q.Set("certificate", s.CertFile())
		q.Set("hostNameInCertificate", s.opts.CertHosts[0])
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			q.Del(kv[i])
			continue
		}
		q.Set(kv[i], kv[i+1])
	}
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword(s.opts.User, s.opts.Password), Host: s.Addr(), RawQuery: q.Encode()}
	return u.String()
}

// Store is the SQLite database behind the tables, for bulk loading in tests and benchmarks.
// Rows written here directly get no RowVer unless the caller sets one (see NextRowVersion).
func (s *Server) Store() *sql.DB { return s.db }

func tableName(name string) string {
	n := reSchema.ReplaceAllString(strings.TrimSpace(name), "")
	return strings.Trim(n, "[]")
}

// CreateTable creates a table (a "view" of the contract, e.g. mypt.Student; the schema
// prefix is dropped). A rowversion column is filled in by Insert, Update and Load.
func (s *Server) CreateTable(ctx context.Context, name string, cols ...Column) error {
	t := &table{name: tableName(name), cols: cols, rowver: -1}
	var defs, keys []string
	for i, c := range cols {
		typ, err := ParseType(c.Type)
		if err != nil {
			return err
		}
		t.types = append(t.types, typ)
		d := `"` + c.Name + `" ` + typ.sqliteDecl()
		// A rowversion column may be NULL in SQLite only for the moment between a T-SQL INSERT
		// and the rowversions it is given in the same transaction (execWrite).
		if !c.Nullable && typ.Kind != KindRowVersion {
			d += " NOT NULL"
		}
		defs = append(defs, d)
		if c.Key {
			keys = append(keys, `"`+c.Name+`"`)
		}
		if typ.Kind == KindRowVersion {
			t.rowver = i
		}
	}
	if len(keys) > 0 {
		defs = append(defs, "PRIMARY KEY ("+strings.Join(keys, ",")+")")
	}
	ddl := fmt.Sprintf(`CREATE TABLE "%s" (%s)`, t.name, strings.Join(defs, ", "))
	if _, err := s.db.ExecContext(ctx, ddl); err != nil {
		return fmt.Errorf("mssqltest: create %s: %w", t.name, err)
	}
	if t.rowver >= 0 {
		idx := fmt.Sprintf(`CREATE UNIQUE INDEX "%s_rowver" ON "%s" ("%s")`, t.name, t.name, cols[t.rowver].Name)
		if _, err := s.db.ExecContext(ctx, idx); err != nil {
			return fmt.Errorf("mssqltest: index %s: %w", t.name, err)
		}
	}
	s.mu.Lock()
	s.tables[strings.ToLower(t.name)] = t
	s.mu.Unlock()
	return nil
}

func (s *Server) table(name string) (*table, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[strings.ToLower(tableName(name))]
	if !ok {
		return nil, fmt.Errorf("mssqltest: no table %q", name)
	}
	return t, nil
}

// RowVersion encodes a rowversion as its 8 big-endian bytes.
func RowVersion(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// NextRowVersion hands out the next rowversion of the database (like @@DBTS + 1).
func (s *Server) NextRowVersion() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dbts++
	return s.dbts
}

// DBTS is the last rowversion handed out.
func (s *Server) DBTS() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dbts
}

// SetMinActiveRowVersion fixes what MIN_ACTIVE_ROWVERSION() answers, to simulate a
// transaction that is still open; 0 goes back to automatic: @@DBTS + 1, or the lowest
// rowversion written by a transaction still open on a connection (see tsql.go).
func (s *Server) SetMinActiveRowVersion(rv uint64) {
	s.mu.Lock()
	s.minActive = rv
	s.mu.Unlock()
}

func (s *Server) versions() (minActive, dbts []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.minActive
	if m == 0 {
		m = s.dbts + 1
	}
	for c := range s.conns {
		if c.txMinRV != 0 && c.txMinRV < m {
			m = c.txMinRV
		}
	}
	return RowVersion(m), RowVersion(s.dbts)
}

// Insert adds one row (column name → value); the rowversion column is assigned.
// Values: int64/int, bool, string (also for dates "2006-01-02", times "15:04:05",
// datetimes "2006-01-02 15:04:05" and GUIDs), []byte, or nil.
func (s *Server) Insert(ctx context.Context, tableName string, row map[string]any) error {
	t, err := s.table(tableName)
	if err != nil {
		return err
	}
	var names, marks []string
	var args []any
	for i, c := range t.cols {
		v, ok := row[c.Name]
		if i == t.rowver {
			v, ok = RowVersion(s.NextRowVersion()), true
		}
		if !ok {
			continue
		}
		names = append(names, `"`+c.Name+`"`)
		marks = append(marks, "?")
		args = append(args, normalise(t.types[i], v))
	}
	q := fmt.Sprintf(`INSERT INTO "%s" (%s) VALUES (%s)`, t.name, strings.Join(names, ","), strings.Join(marks, ","))
	if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("mssqltest: insert into %s: %w", t.name, err)
	}
	return nil
}

// Load inserts many rows in one SQLite transaction: next fills row (in cols order) and
// returns false when done. The rowversion column, if not in cols, is assigned.
func (s *Server) Load(ctx context.Context, tableName string, cols []string, next func(row []any) bool) error {
	t, err := s.table(tableName)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(cols)+1)
	idx := make([]int, 0, len(cols))
	for _, c := range cols {
		names = append(names, `"`+c+`"`)
		j := -1
		for i, tc := range t.cols {
			if strings.EqualFold(tc.Name, c) {
				j = i
			}
		}
		if j < 0 {
			return fmt.Errorf("mssqltest: %s has no column %q", t.name, c)
		}
		idx = append(idx, j)
	}
	addRV := t.rowver >= 0
	for _, j := range idx {
		if j == t.rowver {
			addRV = false
		}
	}
	if addRV {
		names = append(names, `"`+t.cols[t.rowver].Name+`"`)
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", len(names)), ",")
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, fmt.Sprintf(`INSERT INTO "%s" (%s) VALUES (%s)`, t.name, strings.Join(names, ","), marks))
	if err != nil {
		return fmt.Errorf("mssqltest: load %s: %w", t.name, err)
	}
	defer st.Close()
	row := make([]any, len(cols))
	args := make([]any, len(names))
	for next(row) {
		for i, j := range idx {
			args[i] = normalise(t.types[j], row[i])
		}
		if addRV {
			args[len(args)-1] = RowVersion(s.NextRowVersion())
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("mssqltest: load %s: %w", t.name, err)
		}
	}
	return tx.Commit()
}

// Update sets columns on the rows matching where (SQLite syntax, with args) and gives each
// a new rowversion, as SQL Server does. It returns the number of rows changed.
func (s *Server) Update(ctx context.Context, tableName string, set map[string]any, where string, args ...any) (int64, error) {
	t, err := s.table(tableName)
	if err != nil {
		return 0, err
	}
	var sets []string
	var vals []any
	for i, c := range t.cols {
		if v, ok := set[c.Name]; ok && i != t.rowver {
			sets = append(sets, `"`+c.Name+`" = ?`)
			vals = append(vals, normalise(t.types[i], v))
		}
	}
	// Rowversions for the changed rows: above every one handed out, distinct, by rowid.
	s.mu.Lock()
	defer s.mu.Unlock()
	var maxRowid int64
	if err := s.db.QueryRowContext(ctx, fmt.Sprintf(`SELECT IFNULL(MAX(rowid), 0) FROM "%s"`, t.name)).Scan(&maxRowid); err != nil {
		return 0, fmt.Errorf("mssqltest: update %s: %w", t.name, err)
	}
	if t.rowver >= 0 {
		sets = append(sets, fmt.Sprintf(`"%s" = unhex(printf('%%016X', %d + rowid))`, t.cols[t.rowver].Name, s.dbts))
	}
	if len(sets) == 0 {
		return 0, nil
	}
	q := fmt.Sprintf(`UPDATE "%s" SET %s WHERE %s`, t.name, strings.Join(sets, ", "), where)
	res, err := s.db.ExecContext(ctx, q, append(vals, args...)...)
	if err != nil {
		return 0, fmt.Errorf("mssqltest: update %s: %w", t.name, err)
	}
	if t.rowver >= 0 {
		s.dbts += uint64(maxRowid)
	}
	return res.RowsAffected()
}

// Delete removes the rows matching where (SQLite syntax).
func (s *Server) Delete(ctx context.Context, tableName string, where string, args ...any) (int64, error) {
	t, err := s.table(tableName)
	if err != nil {
		return 0, err
	}
	res, err := s.db.ExecContext(ctx, fmt.Sprintf(`DELETE FROM "%s" WHERE %s`, t.name, where), args...)
	if err != nil {
		return 0, fmt.Errorf("mssqltest: delete from %s: %w", t.name, err)
	}
	return res.RowsAffected()
}

// normalise stores values in the forms the encoder reads back: GUIDs upper-case text,
// booleans 0/1.
func normalise(t Type, v any) any {
	switch x := v.(type) {
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case int:
		return int64(x)
	case string:
		if t.Kind == KindUniqueIdentifier {
			return strings.ToUpper(strings.Trim(x, "{}"))
		}
	}
	return v
}

// FaultKind is what an injected fault does.
type FaultKind int

const (
	// FaultError answers the query with an ERROR token (Number, e.g. 1205 or 40613).
	FaultError FaultKind = iota + 1
	// FaultDrop closes the TCP connection after Rows rows of the result.
	FaultDrop
	// FaultStall stops sending after Rows rows, keeps the connection open and ignores
	// attention (a dead network path without a reset), until the server closes.
	FaultStall
	// FaultRefuseLogin answers the next login with error Number (default 18456).
	FaultRefuseLogin
)

// Fault is one injected failure. It fires on the next query whose text contains Match
// (case-insensitive; empty matches any SELECT), Times times (default once).
type Fault struct {
	Kind   FaultKind
	Match  string
	Rows   int
	Number int32
	Times  int
}

// InjectFault queues a fault.
func (s *Server) InjectFault(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	s.faults = append(s.faults, &f)
	s.mu.Unlock()
}

// ClearFaults drops every queued fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

func (s *Server) takeFault(login bool, stmt string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if login != (f.Kind == FaultRefuseLogin) {
			continue
		}
		if !login {
			if f.Match == "" && firstWord(stmt) != "SELECT" {
				continue
			}
			if f.Match != "" && !strings.Contains(strings.ToLower(stmt), strings.ToLower(f.Match)) {
				continue
			}
		}
		f.Times--
		if f.Times <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		c := *f
		return &c
	}
	return nil
}

// Logins counts successful logins (each is a new connection).
func (s *Server) Logins() int64 { return s.logins.Load() }

// RowsSent counts rows sent in results since start.
func (s *Server) RowsSent() int64 { return s.rowsSent.Load() }

// Queries returns the statements run so far (the last 1000), as received.
func (s *Server) Queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queries...)
}

func (s *Server) recordQuery(q string) {
	s.mu.Lock()
	s.queries = append(s.queries, q)
	if len(s.queries) > 1000 {
		s.queries = s.queries[len(s.queries)-1000:]
	}
	s.mu.Unlock()
}

var errClosed = errors.New("mssqltest: server closed")
