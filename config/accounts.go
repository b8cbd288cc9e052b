package config

// AccountsConfig is owned by the accounts area; its owner fills it in.
type AccountsConfig struct{}
