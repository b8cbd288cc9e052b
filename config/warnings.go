package config

// Warnings are what `mypt config check` prints (and `mypt serve` logs at WARN) for a
// configuration that runs but leaves something undone. They are not problems: the exit
// status stays 0.
const (
	WarnNoMailTransport = "mail transport not configured; emails stay queued"
	WarnNoSupportEmail  = "not set; the help page's Contact list and every email's footer go without the support address"
	WarnNoDataSource    = "neither the pull syncer (mis.dsn or mis.host) nor push (push.tokens) is configured; the cache is never filled and /readyz stays not ready"
)

// Warnings lists the configuration's warnings, each starting with its key.
func (c Config) Warnings() []string {
	var ws []string
	if c.Mail.Transport == "" {
		ws = append(ws, "mail.transport: "+WarnNoMailTransport)
	}
	if c.College.SupportEmail == "" {
		ws = append(ws, "college.support_email: "+WarnNoSupportEmail)
	}
	if !c.MIS.Enabled && !c.Push.Enabled() {
		ws = append(ws, "mis, push: "+WarnNoDataSource)
	}
	return ws
}

// Enabled reports whether at least one push token is set, so POST /mis/v1/batches can succeed.
func (c PushConfig) Enabled() bool {
	for _, t := range c.Tokens {
		if t.IsSet() {
			return true
		}
	}
	return false
}
