package config

// MailboxConfig is owned by the mailbox area; its owner fills it in.
type MailboxConfig struct{}
