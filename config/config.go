// Package config is mypt's configuration: one YAML file, then MYPT_<SECTION>_<KEY> environment
// overrides, then <key>_file indirection for secrets. Each area of mypt owns its section type in
// its own file (mis.go, mail.go, mailbox.go, …); this file composes them.
//
// The loader is generic: it walks the yaml tags by reflection, so a section needs nothing but
// its struct. Keys may be strings, ints, floats, bools, time.Duration ("5m"), lists, maps,
// nested sections, lists of sections, Secret and []Secret (each also settable as key_file). A
// section may add, in its own file:
//
//   - defaults: `func (c XConfig) WithDefaults() XConfig` (fills zero fields) or
//     `func (c *XConfig) setDefaults()`; Default applies them before the file is read;
//   - checks: `func (c *XConfig) Problems() []string` (each problem starting with its key) or
//     `func (c XConfig) Validate() error` (an errors.Join of several is several problems);
//     Validate reports them all, with the section's path.
//
// docs/configuration.md is generated from these types and their doc comments; after changing a
// section run `go test ./config -run TestConfigurationDocs -update`.
package config

// Config is the whole configuration. The zero value is not useful: start from Default().
type Config struct {
	// Data is the directory holding the cache (mypt.db) and other state.
	Data DataConfig `yaml:"data"`
	// College names the college(s) and their contacts, shown on pages and in emails.
	College CollegeConfig `yaml:"college"`
	// Public is the parents' listener.
	Public ListenerConfig `yaml:"public"`
	// Internal is the staff, MIS-push and ops listener.
	Internal ListenerConfig `yaml:"internal"`
	// Log sets the log format and level.
	Log LogConfig `yaml:"log"`
	// Attendance sets how figures are counted and banded.
	Attendance AttendanceConfig `yaml:"attendance"`
	// Eligibility sets who parents may see.
	Eligibility EligibilityConfig `yaml:"eligibility"`
	// Push configures the MIS push API.
	Push PushConfig `yaml:"push"`
	// Portal configures sessions, lockout and pages.
	Portal PortalConfig `yaml:"portal"`
	// Accounts configures account requests, approval, tokens and retention.
	Accounts AccountsConfig `yaml:"accounts"`
	// MIS configures the SQL Server pull syncer.
	MIS MISConfig `yaml:"mis"`
	// Mail configures outbound email.
	Mail MailConfig `yaml:"mail"`
	// Mailbox configures the support mailbox watcher.
	Mailbox MailboxConfig `yaml:"mailbox"`
	// Ops configures readiness and metrics.
	Ops OpsConfig `yaml:"ops"`
}
