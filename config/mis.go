package config

import "time"

// MISConfig configures the SQL Server pull syncer (section "mis"). See docs/mssql.md.
type MISConfig struct {
	// Enabled turns the pull syncer on in `mypt serve`.
	Enabled bool `yaml:"enabled"`
	// Host, Port (default 1433) and Instance locate the SQL Server; Database is the MIS database.
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	Instance string `yaml:"instance"`
	Database string `yaml:"database"`
	// User and Password are the read-only SQL login of deploy/mssql/03_readonly_login.sql.
	User     string `yaml:"user"`
	Password Secret `yaml:"password"`
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
	// BatchRows is how many rows go into one cache transaction with their watermark (default 20000).
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
	// KeyQueries override an entity's key-set query for reconciliation (one column, the key).
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
