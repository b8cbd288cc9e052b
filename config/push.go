package config

// PushConfig is owned by the push area; its owner fills it in.
type PushConfig struct{}
