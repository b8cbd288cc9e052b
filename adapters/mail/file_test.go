package mail_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"mypt/adapters/mail"
)

func TestFileSinkWritesOneFilePerMessageID(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "mail")
	sink, err := mail.NewFileSink(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := sampleMessage()
	for i := 0; i < 3; i++ { // a re-send overwrites rather than duplicates
		if err := sink.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	other := sampleMessage()
	other.MessageID = mail.MessageID(18, "00ff", "college.example.ac.uk")
	if err := sink.Send(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 2 {
		t.Fatalf("files %v", names)
	}
	want := mail.FileName(m.MessageID)
	if want != "mypt.17.9f3a2c1b7d4e6a50_college.example.ac.uk.eml" {
		t.Fatalf("file name %q", want)
	}
	got, err := os.ReadFile(filepath.Join(dir, want))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := m.Bytes()
	if !bytes.Equal(got, raw) {
		t.Fatal("file content differs from the message")
	}
}

func TestFileSinkNameIsSafe(t *testing.T) {
	t.Parallel()
	if got := mail.FileName("../../etc/passwd@x"); got != ".._.._etc_passwd_x.eml" {
		t.Fatalf("%q", got)
	}
}

func TestFileSinkRefusesInvalidMessage(t *testing.T) {
	t.Parallel()
	sink, err := mail.NewFileSink(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := sampleMessage()
	m.To.Email = ""
	if err := sink.Send(context.Background(), m); !mail.IsPermanent(err) {
		t.Fatalf("err = %v", err)
	}
	entries, _ := os.ReadDir(sink.Dir())
	if len(entries) != 0 {
		t.Fatalf("left %d files", len(entries))
	}
}

func TestFileSinkListDecodesForTheStaffPage(t *testing.T) {
	t.Parallel()
	sink, err := mail.NewFileSink(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := sampleMessage()
	if err := sink.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	list, err := sink.List(10)
	if err != nil || len(list) != 1 {
		t.Fatalf("%v %+v", err, list)
	}
	e := list[0]
	if e.MessageID != m.MessageID || e.Subject != m.Subject || e.To != "Siobhán O’Neill-Smith <siobhan@example.org>" ||
		e.Text != m.Text || !e.Date.Equal(m.Date) || e.File != mail.FileName(m.MessageID) {
		t.Fatalf("%+v", e)
	}
	for _, bad := range []string{"../x.eml", ".tmp-1.eml", "x.txt", ""} {
		if _, err := sink.Read(bad); err == nil {
			t.Errorf("Read(%q) allowed", bad)
		}
	}
}
