package config

// MailConfig is owned by the mail area; its owner fills it in.
type MailConfig struct{}
