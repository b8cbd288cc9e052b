package config

import (
	"strings"
	"testing"
	"time"
)

func TestAccountsConfigDefaults(t *testing.T) {
	c := AccountsConfig{}.WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.ApprovalPolicy != ApprovalAuto || c.VerifyTokenTTL != 48*time.Hour || c.ResetTokenTTL != time.Hour ||
		c.RetainUnverifiedDays != 14 || c.RetainRejectedDays != 90 || c.RetainNoChildrenDays != 30 {
		t.Fatalf("defaults %+v", c)
	}
}

func TestAccountsConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*AccountsConfig)
		want string
	}{
		{func(c *AccountsConfig) { c.ApprovalPolicy = "sometimes" }, "approval_policy"},
		{func(c *AccountsConfig) { c.ResetTokenTTL = 48 * time.Hour }, "reset_token_ttl"},
		{func(c *AccountsConfig) { c.PasswordMinScore = 5 }, "password_min_score"},
		{func(c *AccountsConfig) { c.RetainRejectedDays = -1 }, "retain_"},
	} {
		c := AccountsConfig{}.WithDefaults()
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want it to name %s", err, tc.want)
		}
	}
}
