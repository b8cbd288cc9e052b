package mssql_test

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"mypt/adapters/mssql/mssqltest"
)

// The fault proxy forwards both ways, drops after N bytes from the server, and stalls (the
// client sees neither data nor a close) until the client gives up.
func TestFaultProxy(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // echo server
		for i := 0; i < 10; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	p := newFaultProxy(t, ln.Addr().String())
	dial := func() net.Conn {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	msg := bytes.Repeat([]byte("0123456789"), 10)
	echo := func(c net.Conn, want int) []byte {
		t.Helper()
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		got := make([]byte, want)
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("read %d bytes: %v", want, err)
		}
		return got
	}
	c := dial()
	if got := echo(c, len(msg)); !bytes.Equal(got, msg) {
		t.Fatalf("echo %q", got)
	}
	p.Arm(mssqltest.FaultDrop, 30)
	if got := echo(c, 30); !bytes.Equal(got, msg[:30]) {
		t.Fatalf("before the drop %q", got)
	}
	if n, err := c.Read(make([]byte, 10)); err == nil {
		t.Fatalf("read %d bytes after the drop", n)
	}
	s := dial()
	p.Arm(mssqltest.FaultStall, 5)
	echo(s, 5)
	s.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := s.Read(make([]byte, 10)); n != 0 || err == nil || !err.(net.Error).Timeout() {
		t.Fatalf("stalled connection: %d bytes, %v; want a timeout", n, err)
	}
	if p.Accepted() != 2 {
		t.Errorf("accepted %d connections, want 2", p.Accepted())
	}
}
