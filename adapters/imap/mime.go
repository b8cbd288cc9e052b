package imap

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // every charset go-message knows
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"mypt"
)

// Limits that keep one hostile message from costing much.
const (
	DefaultMaxMessageBytes = 2 << 20
	maxHeaderBytes         = 256 << 10
	maxPartDepth           = 8
	maxParts               = 100
)

// ParseMessage decodes a raw RFC 5322 message: RFC 2047 headers, MIME multipart, quoted-printable
// and base64, every charset of go-message/charset, HTML-only bodies turned into text. It never
// fails and never panics on bad input: what could not be read is named in Problem, and such a
// message goes to review. A message larger than maxBytes is not decoded at all (Problem says so).
func ParseMessage(raw []byte, maxBytes int) (m mypt.MailMessage) {
	m.Size = len(raw)
	m.Key = "sha256:" + hashHex(raw)
	defer func() {
		if r := recover(); r != nil { // a library bug must not become a crash loop
			m.Problem = fmt.Sprintf("decoder panic: %v", r)
		}
	}()
	if maxBytes <= 0 {
		maxBytes = DefaultMaxMessageBytes
	}
	if len(raw) > maxBytes {
		m.Problem = fmt.Sprintf("message of %d bytes is larger than the limit of %d", len(raw), maxBytes)
		// Still read the header so staff see who sent it.
	}
	th, err := textproto.ReadHeader(bufio.NewReader(io.LimitReader(bytes.NewReader(raw), maxHeaderBytes)))
	if err != nil {
		m.Problem = firstProblem(m.Problem, "header: "+err.Error())
		return m
	}
	h := mail.Header{Header: message.Header{Header: th}}
	readHeaders(&m, h)
	if m.Problem != "" {
		return m
	}
	body := raw[headerLen(raw):]
	p := &partWalker{}
	p.walk(th, bytes.NewReader(body), 0)
	switch {
	case p.plain != "":
		m.Text = p.plain
	case p.html != "":
		m.Text = mypt.HTMLToText(p.html)
	}
	if p.problem != "" && (m.Text == "" || p.charsetProblem) {
		m.Problem = p.problem
	}
	return m
}

func firstProblem(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func hashHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// headerLen is the length of the header block including the blank line after it.
func headerLen(raw []byte) int {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		if j := bytes.Index(raw, []byte("\n\n")); j >= 0 && j < i {
			return j + 2
		}
		return i + 4
	}
	if j := bytes.Index(raw, []byte("\n\n")); j >= 0 {
		return j + 2
	}
	return len(raw)
}

var reAngleAddr = regexp.MustCompile(`<([^<>@\s]+@[^<>@\s]+)>`)

func readHeaders(m *mypt.MailMessage, h mail.Header) {
	if id, err := h.MessageID(); err == nil && id != "" {
		m.MessageID = id
		m.Key = "mid:" + id
	}
	subj, err := h.Subject()
	if err != nil {
		m.Problem = firstProblem(m.Problem, "subject: "+err.Error())
	}
	m.Subject = strings.TrimSpace(subj)

	for _, v := range h.Values("From") {
		addrs, err := mail.ParseAddressList(v)
		if err != nil {
			if message.IsUnknownCharset(err) {
				m.Problem = firstProblem(m.Problem, "from: "+err.Error())
			}
			// People's mailers write "Name, Surname <a@b>" unquoted: take the angle address.
			for _, a := range reAngleAddr.FindAllStringSubmatch(v, -1) {
				m.FromCount++
				if m.From == "" {
					m.From = strings.ToLower(a[1])
					m.FromName = strings.TrimSpace(strings.Trim(strings.TrimSpace(v[:strings.Index(v, a[0])]), `"`))
				}
			}
			continue
		}
		for _, a := range addrs {
			m.FromCount++
			if m.From == "" {
				m.From = strings.ToLower(a.Address)
				m.FromName = a.Name
			}
		}
	}
	m.AuthResults = h.Values("Authentication-Results")

	auto := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted")))
	prec := strings.ToLower(strings.TrimSpace(h.Get("Precedence")))
	local, _, _ := strings.Cut(m.From, "@")
	m.AutoSubmitted = (auto != "" && auto != "no") ||
		prec == "bulk" || prec == "junk" || prec == "list" ||
		h.Get("X-Autoreply") != "" || h.Get("X-Autorespond") != "" || h.Get("List-Id") != "" ||
		strings.TrimSpace(h.Get("Return-Path")) == "<>" ||
		local == "mailer-daemon" || local == "postmaster" || strings.HasPrefix(local, "noreply") || strings.HasPrefix(local, "no-reply")
}

type partWalker struct {
	plain, html    string
	problem        string
	charsetProblem bool
	parts          int
}

func (p *partWalker) fail(s string) {
	if p.problem == "" {
		p.problem = s
	}
}

// walk visits one MIME entity with its raw (still transfer-encoded) body.
func (p *partWalker) walk(h textproto.Header, body io.Reader, depth int) {
	p.parts++
	if depth > maxPartDepth || p.parts > maxParts {
		p.fail("too many nested MIME parts")
		return
	}
	mt, params, repaired := contentType(h.Get("Content-Type"))
	if repaired {
		h.Set("Content-Type", mime.FormatMediaType(mt, params))
	}
	disp, _, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		b := params["boundary"]
		if b == "" {
			p.fail("multipart without a boundary")
			return
		}
		mr := textproto.NewMultipartReader(body, b)
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				p.fail("multipart: " + err.Error())
				return
			}
			p.walk(part.Header, part, depth+1)
		}
	case disp == "attachment":
		return
	case mt == "text/plain" || mt == "text/html":
		e, err := message.New(message.Header{Header: h}, body)
		if err != nil {
			if message.IsUnknownCharset(err) {
				p.charsetProblem = true
			}
			p.fail(mt + ": " + err.Error())
			return
		}
		b, err := io.ReadAll(io.LimitReader(e.Body, 4*mypt.MaxMailTextBytes))
		if err != nil {
			p.fail(mt + ": " + err.Error())
			if len(b) == 0 {
				return
			}
		}
		s := strings.ToValidUTF8(string(b), "\uFFFD")
		if mt == "text/plain" && p.plain == "" {
			p.plain = s
		} else if mt == "text/html" && p.html == "" {
			p.html = s
		}
	}
	// Other types (images, message/rfc822 forwards, calendars) hold nothing the sender typed.
}

// contentType parses a Content-Type value, leniently when it must: a repeated parameter keeps
// its first value, an unquoted value with spaces ("name=Viktoria C") is taken whole. An empty or
// unreadable value is text/plain (RFC 2045 §5.2). repaired reports that the value needed help.
func contentType(v string) (mt string, params map[string]string, repaired bool) {
	if strings.TrimSpace(v) == "" {
		return "text/plain", map[string]string{"charset": "us-ascii"}, false
	}
	mt, params, err := mime.ParseMediaType(v)
	if err == nil {
		return mt, params, false
	}
	parts := strings.Split(v, ";")
	mt = strings.ToLower(strings.TrimSpace(parts[0]))
	if !strings.Contains(mt, "/") {
		mt = "text/plain"
	}
	params = map[string]string{}
	for _, kv := range parts[1:] {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		if _, dup := params[k]; !dup && k != "" {
			params[k] = val
		}
	}
	return mt, params, true
}
