// Package mssql is the MIS source over SQL Server (github.com/microsoft/go-mssqldb): it reads
// the views of the contract in deploy/mssql incrementally by rowversion, in SNAPSHOT isolation
// where the database allows it, and turns their rows into the domain's typed rows.
package mssql

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	gomssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/msdsn"

	"mypt"
)

// ConnOptions describe the connection; Options.DSN is built from them by DSN.
type ConnOptions struct {
	Host     string
	Port     int // default 1433
	Instance string
	Database string
	User     string
	Password string
	// Encrypt is "true" (default), "strict" (TDS 8, TLS first), "false" (login packet only)
	// or "disable".
	Encrypt                string
	TrustServerCertificate bool
	Certificate            string // CA or server certificate, PEM file
	HostNameInCertificate  string
	TLSMin                 string // "1.2" by default
	DialTimeout            time.Duration
	KeepAlive              time.Duration
	AppName                string
}

// DSN renders o as a sqlserver:// URL: encryption on unless told otherwise, read-only intent
// (an Availability Group may route to a readable secondary), dial timeout and keepalive.
func (o ConnOptions) DSN() string {
	q := url.Values{}
	if o.Database != "" {
		q.Set("database", o.Database)
	}
	enc := o.Encrypt
	if enc == "" {
		enc = "true"
	}
	q.Set("encrypt", enc)
	if o.TrustServerCertificate {
		q.Set("TrustServerCertificate", "true")
	} else {
		q.Set("TrustServerCertificate", "false")
	}
	if o.Certificate != "" {
		q.Set("certificate", o.Certificate)
	}
	if o.HostNameInCertificate != "" {
		q.Set("hostNameInCertificate", o.HostNameInCertificate)
	}
	tlsMin := o.TLSMin
	if tlsMin == "" {
		tlsMin = "1.2"
	}
	q.Set("tlsmin", tlsMin)
	q.Set("ApplicationIntent", "ReadOnly")
	dial := o.DialTimeout
	if dial <= 0 {
		dial = 15 * time.Second
	}
	q.Set("dial timeout", strconv.Itoa(max(1, int(dial/time.Second))))
	ka := o.KeepAlive
	if ka <= 0 {
		ka = 30 * time.Second
	}
	q.Set("keepAlive", strconv.Itoa(max(1, int(ka/time.Second))))
	app := o.AppName
	if app == "" {
		app = "mypt"
	}
	q.Set("app name", app)
	host := o.Host
	if o.Port > 0 {
		host += ":" + strconv.Itoa(o.Port)
	}
	u := url.URL{Scheme: "sqlserver", User: url.UserPassword(o.User, o.Password), Host: host, RawQuery: q.Encode()}
	if o.Instance != "" && o.Port == 0 {
		u.Path = "/" + o.Instance
	}
	return u.String()
}

// Options configure a Source.
type Options struct {
	DSN string
	// Location is the zone of datetime/datetime2 values (default Europe/London).
	Location *time.Location
	// Queries override an entity's incremental query. It must return the view's columns and
	// RowVer, take @p1 (rows above the watermark) and @p2 (rows below the bound), and order by RowVer.
	Queries map[mypt.Entity]string
	// KeyQueries override an entity's key-set query (one column: the key).
	KeyQueries map[mypt.Entity]string
	// MaxDocumentBytes rejects larger documents (0 = no limit here; the cache has its own).
	MaxDocumentBytes int
	// MaxOpenConns bounds the pool (default 4).
	MaxOpenConns int
	Logger       *slog.Logger
}

// Source reads the MIS. Safe for concurrent use.
type Source struct {
	db         *sql.DB
	opts       Options
	log        *slog.Logger
	noSnapshot atomic.Bool
	dialer     *trackingDialer
}

// Open connects and logs in once, so a bad setting fails at start-up with an error naming the
// cause and the setting to change (*ConnectError).
func Open(ctx context.Context, opts Options) (*Source, error) {
	if opts.Location == nil {
		loc, err := time.LoadLocation("Europe/London")
		if err != nil {
			return nil, fmt.Errorf("mssql: load Europe/London: %w", err)
		}
		opts.Location = loc
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = 4
	}
	cfg, err := msdsn.Parse(opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("mssql: bad connection settings: %w", err)
	}
	connector, err := gomssql.NewConnector(opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("mssql: bad connection settings: %w", err)
	}
	dialer := &trackingDialer{d: net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: cfg.KeepAlive}}
	connector.Dialer = dialer
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(opts.MaxOpenConns)
	db.SetMaxIdleConns(opts.MaxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, explainConnect(err)
	}
	return &Source{db: db, opts: opts, log: opts.Logger, dialer: dialer}, nil
}

// Close closes the pool.
// A connection the server (or a fault) already closed is not a failure to close.
func (s *Source) Close() error {
	if err := s.db.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("mssql: close: %w", err)
	}
	return nil
}

// Name is the source's name in sync state and batches.
func (s *Source) Name() string { return "mssql" }

// Retryable reports whether a failed read is worth retrying (IsTransient).
func (s *Source) Retryable(err error) bool { return IsTransient(err) }

// Bound returns MIN_ACTIVE_ROWVERSION(): every rowversion below it belongs to a committed
// transaction, so a pass that reads below it never skips a row of a transaction still open.
func (s *Source) Bound(ctx context.Context) ([]byte, error) {
	var b []byte
	err := s.withConn(ctx, func(c *sql.Conn) error {
		return c.QueryRowContext(ctx, "SELECT MIN_ACTIVE_ROWVERSION()").Scan(&b)
	})
	if err != nil {
		return nil, fmt.Errorf("mssql: read MIN_ACTIVE_ROWVERSION(): %w", err)
	}
	if len(b) != 8 {
		return nil, fmt.Errorf("mssql: MIN_ACTIVE_ROWVERSION() returned %d bytes, want 8", len(b))
	}
	return b, nil
}

// withConn runs fn on a connection of its own; after a failure that is not an SQL error (a
// dropped or stalled connection) the connection is discarded, never returned to the pool (MS-4).
func (s *Source) withConn(ctx context.Context, fn func(*sql.Conn) error) error {
	stop := context.AfterFunc(ctx, s.dialer.closeAll)
	defer stop()
	c, err := s.db.Conn(ctx)
	if err != nil {
		return explainConnect(err)
	}
	err = fn(c)
	if err != nil && sqlNumber(err) == 0 {
		_ = c.Raw(func(any) error { return driver.ErrBadConn })
	}
	c.Close()
	return err
}

var zeroRowVer = make([]byte, 8)

// ReadChanges streams the rows of e whose RowVer is above after and below before, in RowVer
// order, calling fn for each; fn gets the row, or the reason it was rejected (with its key).
// An error from fn stops the read and is returned. Memory use does not grow with the result.
func (s *Source) ReadChanges(ctx context.Context, e mypt.Entity, after, before []byte,
	fn func(key string, rowVer []byte, row mypt.Row, reject error) error) error {
	spec, err := SpecFor(e)
	if err != nil {
		return err
	}
	if len(after) == 0 {
		after = zeroRowVer
	}
	q := spec.ChangesQuery()
	if o, ok := s.opts.Queries[e]; ok && o != "" {
		q = o
	}
	err = s.withConn(ctx, func(c *sql.Conn) error {
		return s.readTx(ctx, c, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, q, after, before)
			if err != nil {
				return err
			}
			defer rows.Close()
			cts, err := rows.ColumnTypes()
			if err != nil {
				return err
			}
			conv, err := newConverter(e, spec.Key, cts, s.opts.Location, s.opts.MaxDocumentBytes)
			if err != nil {
				return err
			}
			vals := make([]any, len(cts))
			ptrs := make([]any, len(cts))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			var last []byte
			for rows.Next() {
				if err := rows.Scan(ptrs...); err != nil {
					return err
				}
				key, rv, row, reject := conv.convert(vals)
				if rv != nil {
					if last != nil && bytes.Compare(rv, last) <= 0 {
						return fmt.Errorf("mssql: %s is not ordered by RowVer (%x after %x); the query must end ORDER BY RowVer", e, rv, last)
					}
					last = rv
				}
				if err := fn(key, rv, row, reject); err != nil {
					return errStop{err}
				}
			}
			return rows.Err()
		})
	})
	var stop errStop
	if errors.As(err, &stop) {
		return stop.err
	}
	if err != nil {
		return fmt.Errorf("mssql: read %s since %x: %w", e, after, err)
	}
	return nil
}

// errStop carries the callback's own error out of the read unchanged.
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }
func (e errStop) Unwrap() error { return e.err }

// readTx runs fn in a SNAPSHOT transaction, or READ COMMITTED (with a warning, once) where the
// database does not allow snapshot isolation (error 3952).
func (s *Source) readTx(ctx context.Context, c *sql.Conn, fn func(*sql.Tx) error) error {
	for {
		iso := sql.LevelSnapshot
		if s.noSnapshot.Load() {
			iso = sql.LevelReadCommitted
		}
		tx, err := c.BeginTx(ctx, &sql.TxOptions{Isolation: iso})
		if err != nil {
			return err
		}
		err = fn(tx)
		if err == nil {
			return tx.Commit()
		}
		_ = tx.Rollback()
		if iso == sql.LevelSnapshot && sqlNumber(err) == 3952 {
			s.noSnapshot.Store(true)
			s.log.Warn("mssql: snapshot isolation is not allowed in the MIS database; reading in READ COMMITTED (run ALTER DATABASE ... SET ALLOW_SNAPSHOT_ISOLATION ON, see deploy/mssql/03_readonly_login.sql)")
			continue
		}
		return err
	}
}

// SnapshotIsolation reports whether reads run in SNAPSHOT isolation (false after fallback).
func (s *Source) SnapshotIsolation() bool { return !s.noSnapshot.Load() }

// ReadKeys streams the key set of e, for reconciliation.
func (s *Source) ReadKeys(ctx context.Context, e mypt.Entity, fn func(key string) error) error {
	spec, err := SpecFor(e)
	if err != nil {
		return err
	}
	q := spec.KeysQuery()
	if o, ok := s.opts.KeyQueries[e]; ok && o != "" {
		q = o
	}
	isGUID := false
	for _, c := range spec.Columns {
		if c.Name == spec.Key && c.Type == "uniqueidentifier" {
			isGUID = true
		}
	}
	err = s.withConn(ctx, func(c *sql.Conn) error {
		return s.readTx(ctx, c, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, q)
			if err != nil {
				return err
			}
			defer rows.Close()
			cts, err := rows.ColumnTypes()
			if err != nil {
				return err
			}
			guid := isGUID || (len(cts) > 0 && cts[0].DatabaseTypeName() == "UNIQUEIDENTIFIER")
			var v any
			for rows.Next() {
				if err := rows.Scan(&v); err != nil {
					return err
				}
				key, err := keyString(v, guid)
				if err != nil {
					return err
				}
				if err := fn(key); err != nil {
					return errStop{err}
				}
			}
			return rows.Err()
		})
	})
	var stop errStop
	if errors.As(err, &stop) {
		return stop.err
	}
	if err != nil {
		return fmt.Errorf("mssql: read keys of %s: %w", e, err)
	}
	return nil
}

func keyString(v any, guid bool) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case []byte:
		if guid && len(x) == 16 {
			return guidKey(x)
		}
		return string(x), nil
	}
	return "", fmt.Errorf("key of type %T", v)
}
