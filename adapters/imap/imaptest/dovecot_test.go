//go:build linux

package imaptest

import (
	"testing"
)

func TestStartAppendRestart(t *testing.T) {
	s := Start(t, Options{})
	s.Append("parent-support", "INBOX", []byte("From: a@example.org\r\nMessage-ID: <one@x>\r\nSubject: hi\r\n\r\nbody\r\n"))
	if got := s.MessageIDs("parent-support", "INBOX"); len(got) != 1 || got[0] != "<one@x>" {
		t.Fatalf("MessageIDs = %q", got)
	}
	s.Stop()
	s.Deliver("parent-support", []byte("From: a@example.org\r\nMessage-ID: <two@x>\r\nSubject: hi\r\n\r\nbody\r\n"))
	s.Start()
	if got := s.MessageIDs("parent-support", "INBOX"); len(got) != 2 {
		t.Fatalf("after restart MessageIDs = %q\n%s", got, s.Log())
	}
	s.SetUIDValidity("parent-support", "INBOX", 200)
	c := s.Dial("parent-support")
	defer c.Logout()
	mb, err := c.Select("INBOX", true)
	if err != nil {
		t.Fatal(err)
	}
	if mb.UidValidity != 200 {
		t.Fatalf("UIDVALIDITY = %d, want 200", mb.UidValidity)
	}
}
