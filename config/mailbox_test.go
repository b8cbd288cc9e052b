package config

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestMailboxDefaultsValid(t *testing.T) {
	t.Parallel()
	c := DefaultMailbox()
	if err := c.Validate(); err != nil {
		t.Fatalf("disabled default: %v", err)
	}
	c.Enabled = true
	err := c.Validate()
	for _, want := range []string{"mailbox.addr", "mailbox.username", "mailbox.password", "mailbox.authserv_id"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("enabled without settings: error %v does not name %s", err, want)
		}
	}
	c.Addr, c.Username, c.Password, c.AuthServID = "imap.example.org:993", "support@college.ac.uk", "pw", "mx.college.ac.uk"
	if err := c.Validate(); err != nil {
		t.Fatalf("complete: %v", err)
	}
	c.StudentIDPattern = "[0-9]*"
	if err := c.Validate(); err == nil {
		t.Fatal("a pattern matching the empty string was accepted")
	}
}

func TestMailboxWithDefaults(t *testing.T) {
	t.Parallel()
	if got, want := (MailboxConfig{}).WithDefaults(), DefaultMailbox(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("WithDefaults = %+v, want %+v", got, want)
	}
	c := MailboxConfig{Folder: "Unlocks", ReIdle: 5 * time.Minute}.WithDefaults()
	if c.Folder != "Unlocks" || c.ReIdle != 5*time.Minute || c.ReviewFolder != "Needs review" {
		t.Fatalf("WithDefaults overwrote a set key: %+v", c)
	}
}

func TestMailboxYAML(t *testing.T) {
	t.Parallel()
	c := DefaultMailbox()
	in := `
enabled: true
addr: outlook.office365.com:993
username: parentportalsupport@college.ac.uk
auth: xoauth2
oauth2:
  token_url: https://login.example/token
  client_id: app
  client_secret: very-secret
reidle: 8m
authserv_id: mx.college.ac.uk
`
	if err := yaml.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.ReIdle.Minutes() != 8 || c.Folder != "INBOX" || c.OAuth2.ClientSecret.Reveal() != "very-secret" {
		t.Fatalf("got %+v", c)
	}
	if s := fmt.Sprintf("%v %+v %#v", c, c, c); strings.Contains(s, "very-secret") {
		t.Fatalf("secret printed: %s", s)
	}
}
