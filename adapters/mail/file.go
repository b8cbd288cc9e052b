package mail

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// FileSink writes each message as one .eml file in a directory. The file name comes from the
// Message-ID, so a re-send replaces the file instead of adding a second one, and a file is
// written to a temporary name and renamed, so a reader never sees half a message.
type FileSink struct {
	dir string
}

// NewFileSink returns a sink writing into dir, creating it (0750) if it does not exist.
func NewFileSink(dir string) (*FileSink, error) {
	if dir == "" {
		return nil, fmt.Errorf("mail: file sink: no directory configured")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("mail: file sink: %w", err)
	}
	return &FileSink{dir: dir}, nil
}

// Dir is the directory the sink writes into.
func (s *FileSink) Dir() string { return s.dir }

// Name is the transport label "file".
func (s *FileSink) Name() string { return TransportFile }

// FileName is the name of the .eml file for a Message-ID: characters other than letters,
// digits, '.', '-' and '_' become '_', so the name is safe on every file system.
func FileName(messageID string) string {
	var b strings.Builder
	for _, r := range messageID {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String() + ".eml"
}

// Send writes m to <dir>/<FileName(m.MessageID)>, replacing an earlier copy.
func (s *FileSink) Send(ctx context.Context, m *Message) error {
	if err := ctx.Err(); err != nil {
		return temporary("file: send", err)
	}
	raw, err := m.Bytes()
	if err != nil {
		return err
	}
	final := filepath.Join(s.dir, FileName(m.MessageID))
	tmp, err := os.CreateTemp(s.dir, ".tmp-*.eml")
	if err != nil {
		return temporary("file: send", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return temporary("file: send", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return temporary("file: send", err)
	}
	if err := tmp.Close(); err != nil {
		return temporary("file: send", err)
	}
	if err := os.Chmod(tmp.Name(), 0o640); err != nil {
		return temporary("file: send", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return temporary("file: send", err)
	}
	// Make the rename itself durable before the outbox records the email as sent.
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync() // not supported on every platform (Windows); the file's own data is synced
		d.Close()
	}
	return nil
}
