package mypt

import (
	"context"
	"html"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file holds the pure text rules for unlock requests sent by email: removing quoted earlier
// messages, turning HTML into text, and finding the Student ID, the sender's name and phone
// number where people really write them. MIME and charset decoding happen in adapters/imap; what
// arrives here is already UTF-8 text.

// MaxMailTextBytes bounds the decoded text the rules look at; longer text is cut (not refused), so
// a huge body costs no more than this.
const MaxMailTextBytes = 64 << 10

// MailMessage is one inbound email as the mailbox adapter decoded it.
type MailMessage struct {
	Mailbox     string // folder it was read from
	UIDValidity uint32
	UID         uint32
	// Key identifies the message for at-most-once handling: "mid:" and the Message-ID, or
	// "sha256:" and the hash of the raw message when it has none.
	Key       string
	MessageID string
	From      string // the From address, lower-cased; empty if missing or unparseable
	FromName  string // display name of From, decoded
	FromCount int    // number of addresses in From
	Subject   string // decoded
	Text      string // decoded text of the body (text/plain, or HTML turned into text)
	// AuthResults holds every Authentication-Results header value, topmost first.
	AuthResults []string
	// AutoSubmitted is set for bounces, auto-replies and list mail: they never get an answer.
	AutoSubmitted bool
	Size          int
	// Problem is non-empty when the message could not be read (unknown charset, broken MIME,
	// too large); such a message always goes to review.
	Problem string
}

// UnlockRequest is what the rules found in a message.
type UnlockRequest struct {
	StudentIDs []string // distinct, in order of appearance
	Name       string   // as typed, or the From display name
	Phone      string   // as typed
	NewText    string   // the sender's own words: body without quoted earlier messages
}

// ParseUnlockRequest applies the text rules to a decoded message. idPattern matches one Student
// ID (from config); a match counts only when it is not part of a longer word or number. Phone
// numbers are found first and removed, so a phone number is never taken for an ID.
func ParseUnlockRequest(m MailMessage, idPattern *regexp.Regexp) UnlockRequest {
	text := m.Text
	if len(text) > MaxMailTextBytes {
		text = truncateUTF8(text, MaxMailTextBytes)
	}
	body := StripQuoted(text)
	both := m.Subject + "\n" + body
	phone, rest := FindPhone(both)
	r := UnlockRequest{
		NewText: body,
		Phone:   phone,
		Name:    FindName(body),
	}
	if r.Name == "" {
		r.Name = cleanDisplayName(m.FromName)
	}
	if idPattern != nil {
		r.StudentIDs = FindStudentIDs(rest, idPattern)
	}
	return r
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

var (
	reOriginalMessage = regexp.MustCompile(`(?i)^-{2,}\s*(original message|forwarded message|mensaje original|message d'origine|ursprüngliche nachricht)\s*-{2,}`)
	reUnderscores     = regexp.MustCompile(`^_{8,}\s*$`)
	reOutlookFrom     = regexp.MustCompile(`(?i)^\*?(from|de|von|van|da|od)\s*:\*?\s*\S`)
	reOutlookSent     = regexp.MustCompile(`(?i)^\*?(sent|date|envoyé|gesendet|enviado|verzonden|inviato|datum)\s*:`)
	reOnWrote         = regexp.MustCompile(`(?i)^(on|le|am|el|op|il)\s.{0,300}(wrote|a écrit|schrieb|escribió|schreef|ha scritto)(\s.{0,200})?:\s*$`)
	reWroteEnd        = regexp.MustCompile(`(?i)(wrote|a écrit|schrieb|escribió|schreef|ha scritto)\s*:\s*$`)
	reOnStart         = regexp.MustCompile(`(?i)^(on|le|am|el|op|il)\s`)
)

// StripQuoted returns only what the sender wrote: everything from the first marker of a quoted
// earlier message on is dropped (an Outlook "From:/Sent:" block, "-----Original Message-----",
// "On … wrote:", possibly wrapped over two lines), and so is every line starting with ">".
// Line endings become "\n"; the result is trimmed.
func StripQuoted(text string) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	lines := strings.Split(text, "\n")
	cut := len(lines)
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		if reOriginalMessage.MatchString(l) {
			cut = i
			break
		}
		if reOnWrote.MatchString(l) {
			cut = i
			break
		}
		if reOnStart.MatchString(l) && i+1 < len(lines) && reWroteEnd.MatchString(strings.TrimSpace(lines[i+1])) && len(l) < 300 {
			cut = i
			break
		}
		if reUnderscores.MatchString(l) && outlookBlockAt(lines, i+1) {
			cut = i
			break
		}
		if outlookBlockAt(lines, i) {
			cut = i
			break
		}
	}
	out := dropQuoteLines(lines[:cut])
	if out == "" && cut < len(lines) && reOnStart.MatchString(strings.TrimSpace(lines[cut])) {
		// Bottom-posting: "On … wrote:" and the ">" quote first, the reply below it.
		rest := lines[cut+1:]
		if len(rest) > 0 && reWroteEnd.MatchString(strings.TrimSpace(rest[0])) {
			rest = rest[1:]
		}
		out = dropQuoteLines(rest)
	}
	return out
}

func dropQuoteLines(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimLeft(l, " \t"), ">") {
			continue
		}
		b.WriteString(strings.TrimRight(l, " \t"))
		b.WriteByte('\n')
	}
	return strings.TrimSpace(b.String())
}

// outlookBlockAt reports whether lines[i] starts an Outlook header block: a "From:" line
// followed within the next few lines by a "Sent:" (or "Date:") line.
func outlookBlockAt(lines []string, i int) bool {
	for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
		i++
	}
	if i >= len(lines) || !reOutlookFrom.MatchString(strings.TrimSpace(lines[i])) {
		return false
	}
	for j := i + 1; j < len(lines) && j <= i+4; j++ {
		if reOutlookSent.MatchString(strings.TrimSpace(lines[j])) {
			return true
		}
	}
	return false
}

// FindStudentIDs returns the distinct matches of pattern in text, in order, that are whole
// tokens: a match directly touching another letter or digit is not an ID. An ID written in
// groups ("1234 5678", "1234-5678") is found too.
func FindStudentIDs(text string, pattern *regexp.Regexp) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	scan := func(t string) {
		for _, loc := range pattern.FindAllStringIndex(t, -1) {
			if loc[0] == loc[1] {
				continue
			}
			if isWordBefore(t, loc[0]) || isWordAfter(t, loc[1]) {
				continue
			}
			add(t[loc[0]:loc[1]])
		}
	}
	scan(text)
	// Grouped digits: join "1234 5678" and "1234-5678" and try again.
	for _, loc := range reDigitGroups.FindAllStringIndex(text, -1) {
		if isWordBefore(text, loc[0]) || isWordAfter(text, loc[1]) {
			continue
		}
		joined := strings.Map(func(r rune) rune {
			if r == ' ' || r == '-' || r == '\u00a0' {
				return -1
			}
			return r
		}, text[loc[0]:loc[1]])
		if m := pattern.FindString(joined); m == joined {
			add(joined)
		}
	}
	return out
}

var reDigitGroups = regexp.MustCompile(`[A-Za-z]{0,3}\d{2,}(?:[ \-\x{00a0}]\d{2,}){1,3}`)

func isWordBefore(s string, i int) bool {
	if i == 0 {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

func isWordAfter(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// rePhone finds UK-style numbers as people type them: 07700 900123, 07700-900-123,
// +44 7700 900123, +44 (0)7700 900123, (020) 7946 0000, 0044 20 7946 0000.
var rePhone = regexp.MustCompile(`(?:\+|00)44[\s\-.]?(?:\(0\)[\s\-.]?)?\d(?:[\s\-.]?\d){8,9}|\(?0\d{2,4}\)?(?:[\s\-.]?\d){6,8}`)

// FindPhone returns the first phone number in text as typed (trimmed), and text with every
// phone number blanked out. A candidate counts only when it has the digits of a UK number (10 or
// 11 digits nationally) and does not touch other digits or letters.
func FindPhone(text string) (phone, rest string) {
	var b strings.Builder
	last := 0
	for _, loc := range rePhone.FindAllStringIndex(text, -1) {
		cand := text[loc[0]:loc[1]]
		if isWordBefore(text, loc[0]) || isWordAfter(text, loc[1]) {
			continue
		}
		if !plausibleUKPhone(cand) {
			continue
		}
		if phone == "" {
			phone = strings.TrimSpace(cand)
		}
		b.WriteString(text[last:loc[0]])
		b.WriteString(" ")
		last = loc[1]
	}
	b.WriteString(text[last:])
	return phone, b.String()
}

func plausibleUKPhone(s string) bool {
	var d []byte
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			d = append(d, s[i])
		}
	}
	n := string(d)
	switch {
	case strings.HasPrefix(s, "+44") || strings.HasPrefix(s, "0044"):
		n = strings.TrimPrefix(strings.TrimPrefix(n, "00"), "44")
		n = strings.TrimPrefix(n, "0") // the "(0)"
		return len(n) == 9 || len(n) == 10
	default:
		return strings.HasPrefix(n, "0") && (len(n) == 10 || len(n) == 11)
	}
}

// nameWord is one word of a person's name: letters (any script), with apostrophes (' and ’)
// and hyphens inside, as in "O’Neill-Smith" and "D'Arcy"; or an initial ("M.").
const nameWord = `(?:\p{Lu}[\p{L}\p{M}]*(?:['’\-][\p{L}\p{M}]+)*|\p{Lu}\.)`

const (
	nameTitle   = `(?:(?i:mrs|mr|ms|miss|dr)\.?\s+)?`
	nameFull    = `(` + nameWord + `(?:[ \t]+` + nameWord + `){0,3})`
	nameSignOff = `(?:many thanks|thanks|thank you|kind regards|best regards|warm regards|regards|best wishes|best|cheers|yours sincerely|yours faithfully|sincerely|thx)`
)

var (
	reNameIntro   = regexp.MustCompile(`(?i:my name is|name\s*:|i am|i'm|this is)\s+` + nameTitle + nameFull)
	reSignOff     = regexp.MustCompile(`(?i)^` + nameSignOff + `[\s,.!]*$`)
	reSignOffLine = regexp.MustCompile(`(?i:` + nameSignOff + `)[,.!]*[ \t]+` + nameTitle + nameFull + `(?:[\s,.]|$)`)
	reNameLine    = regexp.MustCompile(`^` + nameTitle + nameFull + `\s*$`)
	reNotName     = regexp.MustCompile(`(?i)^(student|id|phone|tel|mobile|please|unlock|account|sent|from|hi|hello|dear|support|parent|portal|the|for|team)\b`)
)

// FindName returns the sender's name as typed: after "My name is", "Name:", "I am", after a
// sign-off on the same line ("Thanks, Mary Jones"), or on the line after a sign-off ("Kind
// regards,"). Empty if none is found.
func FindName(text string) string {
	if m := reNameIntro.FindStringSubmatch(text); m != nil && !reNotName.MatchString(m[1]) {
		return strings.TrimSpace(m[1])
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if m := reSignOffLine.FindStringSubmatch(l); m != nil && !reNotName.MatchString(m[1]) {
			return strings.TrimSpace(m[1])
		}
		if !reSignOff.MatchString(l) {
			continue
		}
		for j := i + 1; j < len(lines) && j <= i+2; j++ {
			c := strings.TrimSpace(lines[j])
			if c == "" {
				continue
			}
			if m := reNameLine.FindStringSubmatch(c); m != nil && !reNotName.MatchString(m[1]) {
				return strings.TrimSpace(m[1])
			}
			break
		}
	}
	return ""
}

func cleanDisplayName(s string) string {
	s = strings.TrimSpace(strings.Trim(s, `"'`))
	if strings.Contains(s, "@") {
		return ""
	}
	return s
}

// HTMLToText turns an HTML body into plain text: script, style and head are dropped, block
// elements and <br> end lines, entities are decoded, runs of spaces collapse, and text inside
// <blockquote> (how mail clients quote earlier messages) gets a "> " prefix so StripQuoted
// removes it. It never fails; malformed markup yields whatever text it holds.
func HTMLToText(s string) string {
	if len(s) > 4*MaxMailTextBytes {
		s = truncateUTF8(s, 4*MaxMailTextBytes)
	}
	var out strings.Builder
	var line strings.Builder
	quote := 0
	skip := ""
	flush := func() {
		t := strings.TrimSpace(line.String())
		line.Reset()
		if quote > 0 {
			out.WriteString(strings.Repeat("> ", quote))
		}
		out.WriteString(t)
		out.WriteByte('\n')
	}
	text := func(t string) {
		if skip != "" {
			return
		}
		t = html.UnescapeString(t)
		for _, r := range t {
			if unicode.IsSpace(r) {
				if line.Len() > 0 && !strings.HasSuffix(line.String(), " ") {
					line.WriteByte(' ')
				}
				continue
			}
			line.WriteRune(r)
		}
	}
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			text(s)
			break
		}
		text(s[:i])
		s = s[i:]
		if strings.HasPrefix(s, "<!--") {
			j := strings.Index(s, "-->")
			if j < 0 {
				break
			}
			s = s[j+3:]
			continue
		}
		j := strings.IndexByte(s, '>')
		if j < 0 {
			break
		}
		tag := s[1:j]
		s = s[j+1:]
		closing := strings.HasPrefix(tag, "/")
		tag = strings.TrimPrefix(tag, "/")
		name := tagName(tag)
		if skip != "" {
			if closing && name == skip {
				skip = ""
			}
			continue
		}
		switch name {
		case "script", "style", "head", "title":
			if !closing && !strings.HasSuffix(tag, "/") {
				skip = name
			}
		case "br":
			flush()
		case "blockquote":
			if line.Len() > 0 {
				flush()
			}
			if closing {
				if quote > 0 {
					quote--
				}
			} else if quote < 8 {
				quote++
			}
		case "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "hr", "pre", "address":
			if line.Len() > 0 {
				flush()
			}
		case "td", "th":
			if line.Len() > 0 && !strings.HasSuffix(line.String(), " ") {
				line.WriteByte(' ')
			}
		}
	}
	if line.Len() > 0 {
		flush()
	}
	// Collapse runs of blank lines.
	var b strings.Builder
	blank := 0
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.TrimSpace(strings.Trim(l, "> ")) == "" {
			blank++
			if blank > 1 {
				continue
			}
			l = ""
		} else {
			blank = 0
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return strings.TrimSpace(b.String())
}

func tagName(tag string) string {
	f := strings.FieldsFunc(tag, func(r rune) bool { return unicode.IsSpace(r) || r == '/' })
	if len(f) == 0 {
		return ""
	}
	return strings.ToLower(f[0])
}

// MailCheckpoint is where the watcher got to in a folder: UIDs are only meaningful within one
// UIDVALIDITY, so a different UIDVALIDITY on the server discards the checkpoint.
type MailCheckpoint struct {
	UIDValidity uint32 `json:"uidvalidity"`
	LastUID     uint32 `json:"last_uid"`
}

// MailDisposition says which folder a handled message is moved to.
type MailDisposition int

// Dispositions.
const (
	MailToProcessed MailDisposition = iota + 1
	MailToReview
)

// MailHandler is the callback a mailbox scanner calls; the scanner knows IMAP, the handler knows
// the cache, so neither imports the other.
type MailHandler interface {
	// MailCheckpoint returns the stored checkpoint of folder (zero if none).
	MailCheckpoint(ctx context.Context, folder string) (MailCheckpoint, error)
	// HandleMail acts on one message and returns where to move it. It returns only after the
	// outcome (and the message's UID as the new checkpoint) has committed; on error the message
	// stays where it is and is offered again later.
	HandleMail(ctx context.Context, m MailMessage) (MailDisposition, error)
	// MailboxConnected reports that the scanner has (true) or lost (false) a selected folder.
	MailboxConnected(connected bool)
}
