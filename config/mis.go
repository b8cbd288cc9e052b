package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"mypt"
)

// MISConfig configures the SQL Server pull syncer (section "mis"). See "Connecting to the MIS" in README.md.
type MISConfig struct {
	// Enabled turns the pull syncer on in `mypt serve`. Unset, it is on when dsn or host is set
	// (so naming the MIS mirrors it); give `enabled: false` to keep a configured MIS unused.
	Enabled bool `yaml:"enabled"`
	// Host, Port (default 1433) and Instance locate the SQL Server; Database is the MIS database.
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	Instance string `yaml:"instance"`
	Database string `yaml:"database"`
	// User and Password are the read-only SQL login of deploy/mssql/03_readonly_login.sql.
	User     string `yaml:"user"`
	Password Secret `yaml:"password"`
	// DSN, when set, is a complete sqlserver:// URL used instead of the connection keys (it holds
	// the password, so it is a secret too; give it as dsn_file or MYPT_MIS_DSN_FILE). A DSN that
	// names a user but no password takes Password (e.g. password_file) as that user's password.
	DSN Secret `yaml:"dsn"`
	// Encrypt is "true" (default), "strict" (TDS 8: TLS before anything else), "false" (only the
	// login packet is encrypted) or "disable". mypt never falls back to plain text by itself.
	Encrypt string `yaml:"encrypt"`
	// TrustServerCertificate skips certificate checks: only on a network you trust.
	TrustServerCertificate bool `yaml:"trust_server_certificate"`
	// Certificate is a PEM file with the CA (or the server's own certificate) to trust.
	Certificate string `yaml:"certificate"`
	// HostNameInCertificate is the name to expect in the certificate when Host differs.
	HostNameInCertificate string `yaml:"host_name_in_certificate"`
	// TLSMin is the lowest TLS version accepted: "1.2" (default), "1.3", or knowingly "1.0"/"1.1".
	TLSMin string `yaml:"tls_min"`
	// DialTimeout and KeepAlive tune the TCP connection.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	KeepAlive   time.Duration `yaml:"keepalive"`

	// PollInterval is the time between incremental passes (default 5m).
	PollInterval time.Duration `yaml:"poll_interval"`
	// PassTimeout bounds one pass over every entity (default 10m).
	PassTimeout time.Duration `yaml:"pass_timeout"`
	// BatchRows is how many rows go into one cache transaction (default 20000); a larger pass is
	// staged and applied only once read whole, its last batch with the watermark.
	BatchRows int `yaml:"batch_rows"`
	// ReconcileAt is the local time (Europe/London) of the nightly reconciliation (default "02:30").
	ReconcileAt string `yaml:"reconcile_at"`
	// TimeZone is the zone of the MIS's datetime values and of ReconcileAt (default Europe/London).
	TimeZone string `yaml:"time_zone"`
	// MaxDeleteShare is the share of an entity's cached rows a reconciliation may delete
	// without --force (default 0.2).
	MaxDeleteShare float64 `yaml:"max_delete_share"`
	// MaxDocumentBytes rejects larger documents, reported per row (default 20 MiB).
	MaxDocumentBytes int `yaml:"max_document_bytes"`
	// RetryAttempts and RetryBackoff govern retries of transient errors (deadlock, failover,
	// dropped connection): exponential backoff from RetryBackoff, with jitter, capped at RetryMaxBackoff.
	RetryAttempts   int           `yaml:"retry_attempts"`
	RetryBackoff    time.Duration `yaml:"retry_backoff"`
	RetryMaxBackoff time.Duration `yaml:"retry_max_backoff"`
	// Entities limits the pull to these entities (default: all of DESIGN §3).
	Entities []string `yaml:"entities"`
	// Queries override an entity's incremental query (keys are entity names such as
	// attendance_mark). A query returns the view's columns plus RowVer, filters
	// RowVer > @p1 AND RowVer < @p2, and ends ORDER BY RowVer.
	Queries map[string]string `yaml:"queries"`
	// KeyQueries override an entity's key-set query for reconciliation: a SELECT of one column,
	// the key. Both overrides are checked at load.
	KeyQueries map[string]string `yaml:"key_queries"`
}

// defaultMIS is the mis section's defaults.
func defaultMIS() MISConfig {
	return MISConfig{
		Port:             1433,
		Encrypt:          "true",
		TLSMin:           "1.2",
		DialTimeout:      15 * time.Second,
		KeepAlive:        30 * time.Second,
		PollInterval:     5 * time.Minute,
		PassTimeout:      10 * time.Minute,
		BatchRows:        20000,
		ReconcileAt:      "02:30",
		TimeZone:         "Europe/London",
		MaxDeleteShare:   0.2,
		MaxDocumentBytes: 20 << 20,
		RetryAttempts:    4,
		RetryBackoff:     time.Second,
		RetryMaxBackoff:  30 * time.Second,
	}
}

// DefaultMIS returns the mis section's defaults (for the loader and for tests).
func DefaultMIS() MISConfig { return defaultMIS() }

// setDefaults fills the mis section's defaults (called by Default on every section).
func (c *MISConfig) setDefaults() { *c = defaultMIS() }

// Problems reports the mis section's problems, each starting with its key (for Validate).
func (c MISConfig) Problems() []string {
	var ps []string
	bad := func(key, format string, args ...any) { ps = append(ps, key+": "+fmt.Sprintf(format, args...)) }
	if c.Enabled && !c.DSN.IsSet() {
		if c.Host == "" {
			bad("host", "is required when the pull syncer is enabled")
		}
		if c.User == "" {
			bad("user", "is required when the pull syncer is enabled")
		}
		if !c.Password.IsSet() {
			bad("password", "is required when the pull syncer is enabled (give password_file or MYPT_MIS_PASSWORD_FILE)")
		}
	}
	switch c.Encrypt {
	case "", "true", "strict", "false", "disable":
	default:
		bad("encrypt", "%q: want true, strict, false or disable", c.Encrypt)
	}
	if c.Encrypt == "disable" && c.Enabled {
		bad("encrypt", `"disable" sends the MIS password and student data in clear; use true (and mis.certificate)`)
	}
	switch c.TLSMin {
	case "", "1.0", "1.1", "1.2", "1.3":
	default:
		bad("tls_min", "%q: want 1.0, 1.1, 1.2 or 1.3", c.TLSMin)
	}
	if c.Port < 0 || c.Port > 65535 {
		bad("port", "%d is not a TCP port", c.Port)
	}
	if c.PollInterval < 0 || (c.PollInterval > 0 && c.PollInterval < time.Second) {
		bad("poll_interval", "%s is too short", c.PollInterval)
	}
	if c.PassTimeout < 0 {
		bad("pass_timeout", "must not be negative")
	}
	if c.BatchRows < 0 {
		bad("batch_rows", "must not be negative")
	}
	if c.ReconcileAt != "" {
		if t, err := time.Parse("15:04", c.ReconcileAt); err != nil || len(c.ReconcileAt) != 5 || t.IsZero() && c.ReconcileAt != "00:00" {
			bad("reconcile_at", "%q is not a time of day HH:MM", c.ReconcileAt)
		}
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			bad("time_zone", "%q: %v", c.TimeZone, err)
		}
	}
	if c.MaxDeleteShare < 0 || c.MaxDeleteShare > 1 {
		bad("max_delete_share", "%v: want a share between 0 and 1", c.MaxDeleteShare)
	}
	for _, e := range c.Entities {
		if _, err := mypt.ParseEntity(e); err != nil {
			bad("entities", "%v", err)
		}
	}
	for _, e := range slices.Sorted(maps.Keys(c.Queries)) {
		if _, err := mypt.ParseEntity(e); err != nil {
			bad("queries", "%v", err)
		} else if msg := queryProblem(c.Queries[e]); msg != "" {
			bad("queries."+e, "%s", msg)
		}
	}
	for _, e := range slices.Sorted(maps.Keys(c.KeyQueries)) {
		if _, err := mypt.ParseEntity(e); err != nil {
			bad("key_queries", "%v", err)
		} else if !oneColumnSelect(c.KeyQueries[e]) {
			bad("key_queries."+e, "must be a SELECT of one column (the key), e.g. SELECT StudentID FROM dbo.vwPortal_Student")
		}
	}
	return ps
}

// orderByRowVer is the end every incremental query needs, in any case and spacing, the column
// optionally qualified (ORDER BY rm.RowVer).
var orderByRowVer = regexp.MustCompile(`(?is)\border\s+by\s+(\[?\w+\]?\.)?\[?rowver\]?\s*(asc\s*)?;?\s*$`)

// oneColumnSelect is a light check of a key query: it starts SELECT and has one column, i.e.
// no comma outside brackets before its FROM (CONVERT(nvarchar(40), ID) is one column).
func oneColumnSelect(q string) bool {
	f := strings.Fields(strings.ToLower(q))
	if len(f) < 4 || f[0] != "select" {
		return false
	}
	depth := 0
	for _, w := range f[1:] {
		if depth == 0 && w == "from" {
			return true
		}
		for _, r := range w {
			switch r {
			case '(':
				depth++
			case ')':
				depth--
			case ',':
				if depth == 0 {
					return false
				}
			}
		}
	}
	return false
}

// queryProblem says what an incremental query override lacks, or "".
func queryProblem(q string) string {
	lower := strings.ToLower(q)
	if !strings.Contains(lower, "@p1") || !strings.Contains(lower, "@p2") {
		return "must filter RowVer > @p1 AND RowVer < @p2 (the watermarks mypt passes)"
	}
	if !orderByRowVer.MatchString(q) {
		return "must end ORDER BY RowVer (rows are applied in RowVer order)"
	}
	return ""
}
