//go:build linux

package imaptest

import (
	"bytes"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/client"
)

// Dial logs in as user over plain IMAP (test set-up and assertions only).
func (s *Server) Dial(user string) *client.Client {
	s.t.Helper()
	c, err := client.Dial(s.Addr)
	if err != nil {
		s.t.Fatalf("imaptest: dial: %v", err)
	}
	c.Timeout = 30 * time.Second
	if err := c.Login(user, Password); err != nil {
		c.Logout()
		s.t.Fatalf("imaptest: login: %v", err)
	}
	return c
}

// Append stores raw in user's folder (created if missing), as a mail server delivering it.
func (s *Server) Append(user, folder string, raw []byte) {
	s.t.Helper()
	c := s.Dial(user)
	defer c.Logout()
	if folder != "INBOX" {
		_ = c.Create(folder)
	}
	if err := c.Append(folder, nil, time.Now(), bytes.NewReader(raw)); err != nil {
		s.t.Fatalf("imaptest: append to %s: %v", folder, err)
	}
}

// MessageIDs lists the Message-IDs in user's folder, in UID order; a missing folder is empty.
func (s *Server) MessageIDs(user, folder string) []string {
	s.t.Helper()
	c := s.Dial(user)
	defer c.Logout()
	mb, err := c.Select(folder, true)
	if err != nil {
		return nil
	}
	if mb.Messages == 0 {
		return nil
	}
	seq := new(imap.SeqSet)
	seq.AddRange(1, mb.Messages)
	ch := make(chan *imap.Message, 16)
	done := make(chan error, 1)
	go func() { done <- c.Fetch(seq, []imap.FetchItem{imap.FetchEnvelope}, ch) }()
	var ids []string
	for m := range ch {
		if m.Envelope != nil {
			ids = append(ids, m.Envelope.MessageId)
		}
	}
	if err := <-done; err != nil {
		s.t.Fatalf("imaptest: fetch %s: %v", folder, err)
	}
	return ids
}

// Flags returns the flags of every message in user's folder, in sequence order.
func (s *Server) Flags(user, folder string) [][]string {
	s.t.Helper()
	c := s.Dial(user)
	defer c.Logout()
	mb, err := c.Select(folder, true)
	if err != nil || mb.Messages == 0 {
		return nil
	}
	seq := new(imap.SeqSet)
	seq.AddRange(1, mb.Messages)
	ch := make(chan *imap.Message, 16)
	done := make(chan error, 1)
	go func() { done <- c.Fetch(seq, []imap.FetchItem{imap.FetchFlags}, ch) }()
	var out [][]string
	for m := range ch {
		out = append(out, m.Flags)
	}
	if err := <-done; err != nil {
		s.t.Fatalf("imaptest: fetch flags: %v", err)
	}
	return out
}
