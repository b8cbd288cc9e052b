package config

// Secret is a configuration value that must never be shown: it prints, logs and marshals as
// "<secret>". Use Reveal only where the value is handed to the thing that needs it.
type Secret string

const redacted = "<secret>"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether the secret has a value.
func (s Secret) IsSet() bool { return s != "" }

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer, so %#v redacts too.
func (s Secret) GoString() string { return `config.Secret("` + s.String() + `")` }

// MarshalText redacts the secret in JSON, YAML and slog output.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue keeps slog from ever writing the value.
func (s Secret) LogValue() any { return s.String() }
