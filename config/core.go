package config

// DataConfig says where mypt keeps its state.
type DataConfig struct {
	// Dir holds mypt.db (the cache and mypt's own state) and the lock file.
	Dir string `yaml:"dir"`
}

// College is one college (site) whose students the portal serves.
type College struct {
	// Code is the value of Student.College in the MIS for this college.
	Code string `yaml:"code"`
	// Name is shown to parents, e.g. "Croydon College".
	Name string `yaml:"name"`
}

// CollegeConfig names the college(s) and their contact addresses.
type CollegeConfig struct {
	// Name is the organisation's name on the portal and in emails.
	Name string `yaml:"name"`
	// Sites lists the colleges sharing this portal, each {code, name}: code is the MIS's
	// Student.College value, name what parents see; a student is shown with their own site's name.
	Sites []College `yaml:"sites"`
	// SupportEmail is the Parent Portal Support address (also the unlock mailbox's address),
	// shown on the help page's Contact list and in every email's footer; config check warns when
	// it is empty.
	SupportEmail string `yaml:"support_email"`
	// AttendanceEmail is where attendance queries go.
	AttendanceEmail string `yaml:"attendance_email"`
	// PublicBaseURL is the portal's public address; every emailed link is built from it only.
	PublicBaseURL string `yaml:"public_base_url"`
}

// ListenerConfig is one HTTP listener.
type ListenerConfig struct {
	// Addr is host:port to listen on; empty disables the listener.
	Addr string `yaml:"addr"`
	// TLSCertFile and TLSKeyFile serve HTTPS directly; usually a reverse proxy terminates TLS.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// TrustProxyHeaders takes the client address from X-Forwarded-For (only behind your proxy).
	TrustProxyHeaders bool `yaml:"trust_proxy_headers"`
}

// LogConfig sets logging.
type LogConfig struct {
	// Format is "text" or "json".
	Format string `yaml:"format"`
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
}

// AttendanceConfig sets how attendance is counted and shown.
type AttendanceConfig struct {
	// Unmarked is how sessions with no mark count: "ignore" (default) or "absent".
	Unmarked string `yaml:"unmarked"`
	// Bands is "Excellent=100,Good=90,Requires improvement=85,Poor=0".
	Bands string `yaml:"bands"`
}

// EligibilityConfig sets who parents may see (DESIGN §3).
type EligibilityConfig struct {
	// MaxAge: a parent may see a student younger than this (19).
	MaxAge int `yaml:"max_age"`
	// MaxAgeEHCP: … or younger than this with an EHCP (25).
	MaxAgeEHCP int `yaml:"max_age_ehcp"`
	// AgeReference is the day age is measured on: "academic_year_start" (31 August at the start
	// of the current academic year, as FE funding counts age) or "today".
	AgeReference string `yaml:"age_reference"`
	// LeftGraceDays keeps a student who has left visible this many days after their leaving date.
	LeftGraceDays int `yaml:"left_grace_days"`
}
