package config

import (
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestMailConfigYAMLAndDefaults(t *testing.T) {
	t.Parallel()
	c := DefaultMail()
	src := `
transport: smtp
from_address: noreply@college.example.ac.uk
from_name: "Example College"
smtp:
  host: smtp.office365.com
  username: noreply@college.example.ac.uk
  password: hunter2-very-secret
retry:
  backoff_min: 1m
`
	if err := yaml.Unmarshal([]byte(src), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.SMTP.TLS != "starttls" || c.SMTP.SMTPPort() != 587 || c.Retry.BackoffMin.String() != "1m0s" || c.Retry.MaxAttempts != 25 {
		t.Fatalf("%+v", c)
	}
	if c.SMTP.Password.Reveal() != "hunter2-very-secret" {
		t.Fatal("password not read")
	}
	out, _ := yaml.Marshal(c)
	if s := fmt.Sprintf("%v %+v %#v %s", c, c, c, out); strings.Contains(s, "hunter2") {
		t.Fatalf("password shown: %s", s)
	}
	if c.FileDir("/var/lib/mypt") != "/var/lib/mypt/mail" {
		t.Fatal(c.FileDir("/var/lib/mypt"))
	}
}

func TestMailConfigValidate(t *testing.T) {
	t.Parallel()
	base := func() MailConfig {
		c := DefaultMail()
		c.Transport, c.FromAddress = "smtp", "noreply@college.example.ac.uk"
		c.SMTP.Host = "smtp.example.org"
		return c
	}
	cases := map[string]struct {
		mod  func(*MailConfig)
		want string
	}{
		"unknown transport": {func(c *MailConfig) { c.Transport = "sendmail" }, "mail.transport"},
		"bad from":          {func(c *MailConfig) { c.FromAddress = "college" }, "mail.from_address"},
		"no host":           {func(c *MailConfig) { c.SMTP.Host = "" }, "mail.smtp.host"},
		"bad tls":           {func(c *MailConfig) { c.SMTP.TLS = "ssl" }, "mail.smtp.tls"},
		"password in clear": {func(c *MailConfig) { c.SMTP.TLS = "none"; c.SMTP.Username = "u"; c.SMTP.Password = "p" }, "unencrypted"},
		"no password":       {func(c *MailConfig) { c.SMTP.Username = "u" }, "mail.smtp.password"},
		"graph incomplete":  {func(c *MailConfig) { c.Transport = "graph" }, "mail.graph.client_secret"},
		"backoff inverted":  {func(c *MailConfig) { c.Retry.BackoffMin = 2 * c.Retry.BackoffMax }, "mail.retry.backoff_min"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := base()
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want mention of %q", err, tc.want)
			}
		})
	}
	if err := base().Validate(); err != nil {
		t.Fatal(err)
	}
	queueOnly := DefaultMail()
	if err := queueOnly.Validate(); err != nil {
		t.Fatalf("empty transport (queue only): %v", err)
	}
}

func TestMailConfigWithDefaults(t *testing.T) {
	t.Parallel()
	if got, want := (MailConfig{}).WithDefaults(), DefaultMail(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("WithDefaults of zero\n%+v\nwant\n%+v", got, want)
	}
	c := MailConfig{Retry: MailRetryConfig{MaxAttempts: 3}}.WithDefaults()
	if c.Retry.MaxAttempts != 3 || c.Retry.BackoffMin == 0 {
		t.Fatalf("%+v", c.Retry)
	}
}
