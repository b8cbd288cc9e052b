package config

// PortalConfig is owned by the portal area; its owner fills it in.
type PortalConfig struct{}
