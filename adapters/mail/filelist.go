package mail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"mypt"
)

// SinkEntry is one .eml file of the file sink, decoded for the demo's staff page (so a
// newcomer can follow the verification and reset links).
type SinkEntry struct {
	File      string // base name, for Read
	MessageID string
	To        string // decoded, e.g. "Siobhán O’Neill-Smith <s@example.org>"
	Subject   string // decoded
	Date      time.Time
	Text      string // the plain-text part
}

// List returns up to limit messages, newest first. Unreadable files are skipped.
func (s *FileSink) List(limit int) ([]SinkEntry, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("mail: file sink: list: %w", err)
	}
	type file struct {
		name string
		mod  time.Time
	}
	var files []file
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".eml") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if info, err := e.Info(); err == nil {
			files = append(files, file{e.Name(), info.ModTime()})
		}
	}
	sort.Slice(files, func(i, j int) bool {
		if !files[i].mod.Equal(files[j].mod) {
			return files[i].mod.After(files[j].mod)
		}
		return files[i].name > files[j].name
	})
	var out []SinkEntry
	for _, f := range files {
		if limit > 0 && len(out) >= limit {
			break
		}
		raw, err := s.Read(f.name)
		if err != nil {
			continue
		}
		e, err := parseEML(raw)
		if err != nil {
			continue
		}
		e.File = f.name
		out = append(out, e)
	}
	return out, nil
}

// Read returns the raw bytes of one .eml file by base name; it returns an error wrapping
// mypt.ErrNotFound for a name that is not a file of the sink.
func (s *FileSink) Read(name string) ([]byte, error) {
	if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".eml") {
		return nil, fmt.Errorf("mail: file sink: read %q: %w", name, mypt.ErrNotFound)
	}
	b, err := os.ReadFile(filepath.Join(s.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("mail: file sink: read %q: %w", name, mypt.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("mail: file sink: read %q: %w", name, err)
	}
	return b, nil
}

func parseEML(raw []byte) (SinkEntry, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return SinkEntry{}, err
	}
	dec := new(mime.WordDecoder)
	e := SinkEntry{MessageID: strings.Trim(msg.Header.Get("Message-Id"), "<> ")}
	if subj, err := dec.DecodeHeader(msg.Header.Get("Subject")); err == nil {
		e.Subject = subj
	}
	if to, err := msg.Header.AddressList("To"); err == nil && len(to) > 0 {
		e.To = to[0].Name + " <" + to[0].Address + ">"
		if to[0].Name == "" {
			e.To = to[0].Address
		}
	}
	e.Date, _ = msg.Header.Date()
	e.Text, err = plainText(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	return e, err
}

// plainText finds the first text/plain part of a (possibly multipart) body.
func plainText(contentType, cte string, body io.Reader) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for i := 0; i < 20; i++ {
			p, err := mr.NextPart()
			if err != nil {
				return "", err
			}
			// multipart.Reader already decodes quoted-printable and drops the header.
			text, err := plainText(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
			if err == nil && text != "" {
				return text, nil
			}
		}
		return "", errors.New("no text part")
	}
	if mt != "text/plain" {
		return "", nil
	}
	if strings.EqualFold(cte, "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(io.LimitReader(body, 1<<20))
	return strings.ReplaceAll(string(b), "\r\n", "\n"), err
}
