package mssql

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	gomssql "github.com/microsoft/go-mssqldb"
)

// transientNumbers are SQL Server errors worth retrying: deadlock victim, Azure/AG failover and
// throttling, and "database not available" during a restart.
var transientNumbers = map[int32]bool{
	1205:  true,                           // deadlock victim
	1222:  true,                           // lock request time out
	40613: true,                           // database not currently available
	40197: true,                           // service error processing the request
	40501: true,                           // service busy
	49918: true, 49919: true, 49920: true, // too many operations
	4060:  false,                          // cannot open database: a setting, not a blip
	233:   true,                           // connection closed by the server
	10053: true, 10054: true, 10060: true, // transport-level errors
	-2: true, // timeout
}

// IsTransient reports whether err is worth retrying with a fresh connection: a deadlock, a
// failover, a dropped or timed-out connection. Context cancellation is not transient (the
// caller gave up). go-mssqldb returns its errors as the value type mssql.Error, so they are
// matched with errors.As on a value, never a pointer (a *mssql.Error target silently fails).
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var se gomssql.Error
	if errors.As(err, &se) {
		if transientNumbers[se.Number] {
			return true
		}
		for _, e := range se.All {
			if transientNumbers[e.Number] {
				return true
			}
		}
		return false
	}
	var stream gomssql.StreamError
	if errors.As(err, &stream) {
		return true
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection reset", "broken pipe", "unexpected EOF", "i/o timeout",
		"did not get cancellation confirmation", "use of closed network connection", "bad connection"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	// A pass that hit its own deadline mid-read is retried by the next pass, not in place.
	return false
}

// sqlNumber returns the SQL Server error number in err, or 0.
func sqlNumber(err error) int32 {
	var se gomssql.Error
	if errors.As(err, &se) {
		return se.Number
	}
	return 0
}

// ConnectError is a failure to connect or log in, with the cause in words and the setting that
// changes it (MS-3). Its message never contains the password.
type ConnectError struct {
	Cause   string // e.g. "the server's TLS certificate is not trusted"
	Setting string // e.g. "mis.certificate"
	Err     error
}

func (e *ConnectError) Error() string {
	s := "mssql: connect: " + e.Cause
	if e.Setting != "" {
		s += " (setting: " + e.Setting + ")"
	}
	return s + ": " + e.Err.Error()
}

func (e *ConnectError) Unwrap() error { return e.Err }

// explainConnect names the cause of a connection failure. TLS failures are named precisely and
// never answered by falling back to an unencrypted connection.
func explainConnect(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	ce := &ConnectError{Err: err}
	switch {
	case has("certificate signed by unknown authority", "certificate is not trusted", "x509: certificate signed by"):
		ce.Cause = "TLS: the server's certificate is not trusted (self-signed or from a private CA); give mypt the CA certificate as a PEM file, or (only on a trusted network) trust the server certificate"
		ce.Setting = "mis.certificate or mis.trust_server_certificate"
	case has("certificate is valid for", "not valid for any names", "doesn't contain any IP SANs", "x509: cannot validate certificate"):
		ce.Cause = "TLS: the server's certificate is for another host name; connect with the name in the certificate or name it explicitly"
		ce.Setting = "mis.host or mis.host_name_in_certificate"
	case has("certificate has expired", "is not yet valid"):
		ce.Cause = "TLS: the server's certificate has expired or is not yet valid; renew it on the SQL Server"
		ce.Setting = "(server certificate)"
	case has("protocol version not supported", "unsupported protocol version", "no supported versions", "tls: protocol version"):
		ce.Cause = "TLS: the server offers only an old TLS version (1.0/1.1); enable TLS 1.2 on the SQL Server, or knowingly lower the minimum"
		ce.Setting = "mis.tls_min"
	case has("server does not support encryption"):
		ce.Cause = "TLS: the server does not offer encryption but mypt requires it; enable encryption on the SQL Server (it is never switched off silently)"
		ce.Setting = "mis.encrypt"
	case has("TLS Handshake failed", "tls:"):
		ce.Cause = "TLS handshake failed"
		ce.Setting = "mis.encrypt, mis.certificate, mis.tls_min"
	case sqlNumber(err) == 18456:
		ce.Cause = "login failed: wrong user name or password, or the login is disabled"
		ce.Setting = "mis.user and mis.password"
	case sqlNumber(err) == 4060:
		ce.Cause = "the login cannot open the database"
		ce.Setting = "mis.database"
	case has("connection refused"):
		ce.Cause = "nothing is listening at the server's address"
		ce.Setting = "mis.host and mis.port"
	case has("i/o timeout", "deadline exceeded"):
		ce.Cause = "the server did not answer in time"
		ce.Setting = "mis.host, mis.port, mis.dial_timeout"
	default:
		ce.Cause = "cannot connect to SQL Server"
	}
	return ce
}
