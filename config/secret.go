package config

import (
	"fmt"
	"log/slog"
)

// Secret is a configuration value that must never be shown: it prints, logs and marshals as
// "<secret>". Use Reveal only where the value is handed to the thing that needs it.
//
// Every Secret field `key` may instead be read from a file with `key_file` (YAML) or
// MYPT_<SECTION>_<KEY>_FILE (environment); the file's trailing newline is dropped.
type Secret string

const redacted = "<secret>"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether the secret has a value.
func (s Secret) IsSet() bool { return s != "" }

// String implements fmt.Stringer: "<secret>", or "" when unset (so "not configured" still shows).
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer, so %#v redacts too.
func (s Secret) GoString() string { return `config.Secret("` + s.String() + `")` }

// Format implements fmt.Formatter, so no verb (%d, %x, %q, …) ever reaches the value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		f.Write([]byte(s.GoString()))
		return
	}
	f.Write([]byte(s.String()))
}

// MarshalText redacts the secret in JSON, YAML and slog output.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalYAML redacts the secret in YAML output.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// LogValue keeps slog from ever writing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
