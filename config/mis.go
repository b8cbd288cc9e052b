package config

// MISConfig is owned by the mis area; its owner fills it in.
type MISConfig struct{}
