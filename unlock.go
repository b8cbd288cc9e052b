package mypt

import (
	"strings"
	"time"
)

// This file decides what an unlock request by email does: unlock the account (and tell the
// parent), or become a review item for staff. The decision is a pure function of facts the
// mailbox loop gathers, so every rule is a table test.

// AuthVerdict is what the college's own mail server said about a message's sender.
type AuthVerdict struct {
	Found  bool   // a header from the configured authserv-id was present
	DMARC  string // result of dmarc=, lower-case ("pass", "fail", "none", …); empty if absent
	SPF    string
	DKIM   string // "pass" if any DKIM signature aligned with From passed, else the first result
	Pass   bool   // the sender counts as authenticated
	Reason string // why not, when Pass is false
}

// CheckAuthResults reads the Authentication-Results headers (topmost first, as received) and
// trusts only the topmost one whose authserv-id equals authservID: that is the one the college's
// own server added, and anything below it could have been written by the sender. The sender
// passes when dmarc=pass (and its header.from, if given, is fromDomain), or, when allowSPFDKIM,
// when SPF and DKIM both pass with domains aligned (equal, or one a subdomain of the other) with
// fromDomain. An empty authservID trusts nothing.
//
// Exchange Online writes its header without an authserv-id; authservID AuthServIDNone trusts the
// topmost header only, and only when it has no id (a header the sender wrote is always below it).
func CheckAuthResults(headers []string, authservID, fromDomain string, allowSPFDKIM bool) AuthVerdict {
	v := AuthVerdict{Reason: "no Authentication-Results header from " + authservID}
	if authservID == "" {
		v.Reason = "no authserv-id configured"
		return v
	}
	fromDomain = strings.ToLower(strings.TrimSuffix(fromDomain, "."))
	for i, h := range headers {
		var results []authResult
		if authservID == AuthServIDNone {
			var ok bool
			if results, ok = parseAuthResultsNoID(h); i > 0 || !ok {
				break
			}
		} else {
			id, r, ok := parseAuthResults(h)
			if !ok || !strings.EqualFold(id, authservID) {
				continue
			}
			results = r
		}
		v.Found = true
		spfAligned, dkimAligned := false, false
		for _, r := range results {
			switch r.method {
			case "dmarc":
				if v.DMARC == "" {
					v.DMARC = r.result
					if hf := r.props["header.from"]; r.result == "pass" && hf != "" && !strings.EqualFold(hf, fromDomain) {
						v.DMARC = "pass-unaligned"
					}
				}
			case "spf":
				if v.SPF == "" {
					v.SPF = r.result
				}
				d := r.props["smtp.mailfrom"]
				if i := strings.LastIndexByte(d, '@'); i >= 0 {
					d = d[i+1:]
				}
				if r.result == "pass" && domainAligned(d, fromDomain) {
					spfAligned = true
				}
			case "dkim":
				if v.DKIM == "" || r.result == "pass" && domainAligned(r.props["header.d"], fromDomain) {
					v.DKIM = r.result
				}
				if r.result == "pass" && domainAligned(r.props["header.d"], fromDomain) {
					dkimAligned = true
				}
			}
		}
		switch {
		case fromDomain == "":
			v.Reason = "no From domain"
		case v.DMARC == "pass":
			v.Pass, v.Reason = true, ""
		case allowSPFDKIM && spfAligned && dkimAligned:
			v.Pass, v.Reason = true, ""
		case allowSPFDKIM:
			v.Reason = "neither dmarc=pass nor SPF and DKIM pass aligned with From"
		default:
			v.Reason = "dmarc=" + resultOrNone(v.DMARC)
		}
		return v
	}
	return v
}

func resultOrNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// domainAligned is relaxed alignment without a public-suffix list: equal, or one domain is a subdomain
// of the other.
func domainAligned(d, from string) bool {
	d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
	if d == "" || from == "" {
		return false
	}
	return d == from || strings.HasSuffix(d, "."+from) || strings.HasSuffix(from, "."+d)
}

// AuthServIDNone configures CheckAuthResults for Exchange Online, whose Authentication-Results
// header has no authserv-id.
const AuthServIDNone = "none"

// parseAuthResultsNoID parses a header that starts directly with method=result.
func parseAuthResultsNoID(h string) ([]authResult, bool) {
	head := strings.Fields(stripComments(h))
	if len(head) == 0 || !strings.Contains(head[0], "=") {
		return nil, false
	}
	_, results, ok := parseAuthResults("- ; " + h)
	return results, ok
}

type authResult struct {
	method string
	result string
	props  map[string]string
}

// parseAuthResults parses one Authentication-Results value (RFC 8601):
// authserv-id [version] ; method=result [reason=…] [ptype.prop=value …] ; …
// Comments in parentheses (nested) are dropped and quoted strings kept whole. ok is false when
// there is no authserv-id.
func parseAuthResults(h string) (id string, results []authResult, ok bool) {
	h = stripComments(h)
	parts := splitOutsideQuotes(h, ';')
	if len(parts) == 0 {
		return "", nil, false
	}
	head := strings.Fields(parts[0])
	if len(head) == 0 || strings.Contains(head[0], "=") {
		return "", nil, false
	}
	id = head[0]
	for _, p := range parts[1:] {
		toks := fieldsOutsideQuotes(p)
		if len(toks) == 0 {
			continue
		}
		m, res, found := strings.Cut(toks[0], "=")
		if !found {
			continue // "none"
		}
		m = strings.ToLower(m)
		if i := strings.IndexByte(m, '/'); i >= 0 {
			m = m[:i] // method version
		}
		r := authResult{method: m, result: strings.ToLower(arUnquote(res)), props: map[string]string{}}
		for _, t := range toks[1:] {
			k, val, found := strings.Cut(t, "=")
			if found {
				r.props[strings.ToLower(k)] = arUnquote(val)
			}
		}
		results = append(results, r)
	}
	return id, results, true
}

func arUnquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return strings.ReplaceAll(s[1:len(s)-1], `\"`, `"`)
	}
	return s
}

func stripComments(s string) string {
	var b strings.Builder
	depth, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote:
			if c == '\\' && i+1 < len(s) {
				b.WriteByte(c)
				i++
				c = s[i]
			} else if c == '"' {
				inQuote = false
			}
		case depth > 0:
			if c == '\\' {
				i++
			} else if c == '(' {
				depth++
			} else if c == ')' {
				depth--
			}
			continue
		case c == '(':
			depth++
			b.WriteByte(' ')
			continue
		case c == '"':
			inQuote = true
		}
		b.WriteByte(c)
	}
	return b.String()
}

func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	inQuote, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && inQuote:
			i++
		case s[i] == '"':
			inQuote = !inQuote
		case s[i] == sep && !inQuote:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func fieldsOutsideQuotes(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && inQuote && i+1 < len(s):
			cur.WriteByte(c)
			i++
			cur.WriteByte(s[i])
			continue
		case c == '"':
			inQuote = !inQuote
		case !inQuote && (c == ' ' || c == '\t' || c == '\r' || c == '\n'):
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteByte(c)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// UnlockAccount holds the facts about the sender's portal account that the decision needs.
type UnlockAccount struct {
	Found  bool
	ID     string
	Locked bool
	// LockReason is why it is locked: only a lock from failed sign-ins ("failed_attempts") is
	// lifted by email; a lock staff set (with their reason) never is.
	LockReason       string
	LockedAt         time.Time
	LinkedStudentIDs []string
	LastAutoUnlock   time.Time // zero if never unlocked by mail
}

// UnlockFacts is everything DecideUnlock looks at.
type UnlockFacts struct {
	Message MailMessage
	Request UnlockRequest
	Auth    AuthVerdict
	Account UnlockAccount
	LastAck time.Time // last acknowledgement sent to this sender; zero if never
	Now     time.Time
}

// LockReasonFailedAttempts is the lock reason the sign-in path writes when the attempts run out
// (the only lock an email may lift).
const LockReasonFailedAttempts = "failed_attempts"

// MailAction is what a message leads to.
type MailAction string

// The actions.
const (
	MailUnlock MailAction = "unlock"
	MailReview MailAction = "review"
)

// Review reasons, shown to staff. They never go to the sender.
const (
	ReasonUnparseable    = "message could not be read"
	ReasonAutoSubmitted  = "automatic message (bounce or auto-reply)"
	ReasonBadFrom        = "From is missing or has more than one address"
	ReasonNotAuthentic   = "sender not authenticated"
	ReasonNoAccount      = "sender is not a portal account"
	ReasonNotLocked      = "account is not locked"
	ReasonLockedByStaff  = "account was locked by staff, not by failed sign-ins"
	ReasonNoStudentID    = "no Student ID found"
	ReasonIDNotLinked    = "Student ID not linked to the sender's account"
	ReasonRecentUnlock   = "account was unlocked by email in the last 24 hours"
	AutoUnlockInterval   = 24 * time.Hour
	AcknowledgeInterval  = 24 * time.Hour
	maxReasonDetailBytes = 200
)

// MailDecision is the outcome of DecideUnlock.
type MailDecision struct {
	Action MailAction
	Reason string // for review: why, in staff's words (with detail after ": ")
	// Acknowledge is set when the sender of a review item should get the neutral
	// acknowledgement (not an automatic message, and none sent in the last 24 hours).
	Acknowledge bool
}

// DecideUnlock auto-unlocks only when every rule holds: the message was readable and not
// automatic, From is one address that is an account locked by failed sign-ins, the college's mail server
// authenticated the sender, at least one Student ID was found and every ID found is linked to
// that account, and the account was not unlocked by email in the last 24 hours. Anything else is
// a review item with the first rule that failed as its reason.
func DecideUnlock(f UnlockFacts) MailDecision {
	d := MailDecision{Action: MailReview}
	switch {
	case f.Message.Problem != "":
		d.Reason = ReasonUnparseable + ": " + truncateUTF8(f.Message.Problem, maxReasonDetailBytes)
	case f.Message.AutoSubmitted:
		d.Reason = ReasonAutoSubmitted
	case f.Message.From == "" || f.Message.FromCount != 1:
		d.Reason = ReasonBadFrom
	case !f.Auth.Pass:
		d.Reason = ReasonNotAuthentic + ": " + f.Auth.Reason
	case !f.Account.Found:
		d.Reason = ReasonNoAccount
	case !f.Account.Locked:
		d.Reason = ReasonNotLocked
	case f.Account.LockReason != LockReasonFailedAttempts:
		d.Reason = ReasonLockedByStaff
	case len(f.Request.StudentIDs) == 0:
		d.Reason = ReasonNoStudentID
	case !allLinked(f.Request.StudentIDs, f.Account.LinkedStudentIDs):
		d.Reason = ReasonIDNotLinked
	case !f.Account.LastAutoUnlock.IsZero() && f.Now.Sub(f.Account.LastAutoUnlock) < AutoUnlockInterval:
		d.Reason = ReasonRecentUnlock
	default:
		return MailDecision{Action: MailUnlock}
	}
	d.Acknowledge = !f.Message.AutoSubmitted && f.Message.From != "" && f.Message.FromCount == 1 &&
		(f.LastAck.IsZero() || f.Now.Sub(f.LastAck) >= AcknowledgeInterval)
	return d
}

func allLinked(ids, linked []string) bool {
	for _, id := range ids {
		found := false
		for _, l := range linked {
			if strings.EqualFold(strings.TrimSpace(l), id) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// MailReply is an email the mailbox loop asks the outbox to send.
type MailReply struct {
	Key     string // idempotency key for the outbox (derived from the message key)
	To      string
	Subject string
	Text    string
}

// UnlockedReply is the email telling a parent their account is unlocked, with the link to set a
// new password (the seed: "you will receive an email informing you when your account has been
// unlocked").
func UnlockedReply(msgKey, to, resetURL string) MailReply {
	return MailReply{
		Key:     "mailbox-unlocked:" + msgKey,
		To:      to,
		Subject: "Your Parent Portal account has been unlocked",
		Text: "Hello,\n\nYour Parent Portal account has been unlocked. You can sign in again now.\n\n" +
			"If you locked your account because you forgot your password, please set a new one first:\n" +
			resetURL + "\n\nIf you did not ask for this, please contact the college.\n",
	}
}

// AcknowledgeReply is the neutral answer to a message that staff will look at. It says nothing
// about the account or why the message was not acted on automatically.
func AcknowledgeReply(msgKey, to string) MailReply {
	return MailReply{
		Key:     "mailbox-ack:" + msgKey,
		To:      to,
		Subject: "We have received your message",
		Text: "Hello,\n\nThank you for your message to Parent Portal Support. A member of the team " +
			"will look at it and reply if needed. Please allow up to 4-5 working days.\n",
	}
}

// MailOutcome is what happened to one message, as counted in mypt_mailbox_messages_total.
type MailOutcome string

// Outcomes.
const (
	MailUnlocked  MailOutcome = "unlocked"
	MailReviewed  MailOutcome = "review"
	MailDuplicate MailOutcome = "duplicate"
	MailError     MailOutcome = "error"
)

// MailOutcomes lists every outcome (metrics start each at 0).
var MailOutcomes = []MailOutcome{MailUnlocked, MailReviewed, MailDuplicate, MailError}

// MailRecord is everything the store commits for one message, in one transaction: the message
// marked processed, the folder's checkpoint, and either the unlock (with its email) or the
// review item (with the acknowledgement, if due).
type MailRecord struct {
	Message  MailMessage
	Request  UnlockRequest
	Auth     AuthVerdict
	Decision MailDecision
	Account  UnlockAccount
	// Unlocked is the email sent when the unlock commits; Ack the one sent with a review item
	// when Decision.Acknowledge is set.
	Unlocked MailReply
	Ack      MailReply
	At       time.Time
}

// MailReviewItem is a message staff must look at, as listed on the staff site.
type MailReviewItem struct {
	ID          int64
	MessageKey  string
	ReceivedAt  time.Time
	FromAddress string
	FromName    string
	Subject     string
	StudentIDs  []string
	Name        string
	Phone       string
	AccountID   string // "" when the sender is not an account
	Reason      string
	Auth        string // e.g. "dmarc=pass spf=pass dkim=pass"
	Excerpt     string // the sender's own words, cut to a few KB
	Status      string // open | done
	ResolvedAt  time.Time
	ResolvedBy  string
}
