package mypt

import (
	"testing"
	"time"
)

func TestCheckAuthResults(t *testing.T) {
	t.Parallel()
	const id = "mx.college.ac.uk"
	tests := []struct {
		name     string
		headers  []string
		from     string
		spfdkim  bool
		wantPass bool
	}{
		{"dmarc pass", []string{"mx.college.ac.uk; spf=pass smtp.mailfrom=example.org; dkim=pass header.d=example.org; dmarc=pass (p=reject dis=none) header.from=example.org"}, "example.org", false, true},
		{"dmarc pass with version and comments", []string{"mx.college.ac.uk 1; dmarc=pass (policy (nested) ok) header.from=\"example.org\""}, "example.org", false, true},
		{"dmarc fail", []string{"mx.college.ac.uk; dmarc=fail header.from=example.org"}, "example.org", false, false},
		{"dmarc pass for another domain", []string{"mx.college.ac.uk; dmarc=pass header.from=evil.example"}, "example.org", false, false},
		{"other authserv-id ignored", []string{"evil.example; dmarc=pass header.from=example.org"}, "example.org", false, false},
		{"forged header below ours ignored", []string{"mx.college.ac.uk; dmarc=fail header.from=example.org", "mx.college.ac.uk; dmarc=pass header.from=example.org"}, "example.org", false, false},
		{"spf+dkim aligned when allowed", []string{"mx.college.ac.uk; spf=pass smtp.mailfrom=bounce@mail.example.org; dkim=pass header.d=example.org; dmarc=none"}, "example.org", true, true},
		{"spf+dkim not allowed", []string{"mx.college.ac.uk; spf=pass smtp.mailfrom=example.org; dkim=pass header.d=example.org; dmarc=none"}, "example.org", false, false},
		{"spf pass dkim unaligned", []string{"mx.college.ac.uk; spf=pass smtp.mailfrom=example.org; dkim=pass header.d=other.example; dkim=fail header.d=example.org"}, "example.org", true, false},
		{"no header", nil, "example.org", true, false},
		{"none", []string{"mx.college.ac.uk; none"}, "example.org", true, false},
		{"microsoft style without id", []string{"spf=pass smtp.mailfrom=example.org; dmarc=pass header.from=example.org"}, "example.org", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := CheckAuthResults(tc.headers, id, tc.from, tc.spfdkim)
			if v.Pass != tc.wantPass {
				t.Errorf("Pass = %v, want %v (%+v)", v.Pass, tc.wantPass, v)
			}
			if !v.Pass && v.Reason == "" {
				t.Error("no reason given")
			}
		})
	}
	ms := "spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=example.org; dkim=pass (signature was verified) header.d=example.org;dmarc=pass action=none header.from=example.org;compauth=pass reason=100"
	if v := CheckAuthResults([]string{ms, "x; dmarc=fail"}, AuthServIDNone, "example.org", false); !v.Pass {
		t.Errorf("Exchange Online header with authserv_id none: %+v", v)
	}
	if v := CheckAuthResults([]string{"mx.evil; dmarc=fail", ms}, AuthServIDNone, "example.org", false); v.Pass {
		t.Error("authserv_id none trusted a header below the topmost")
	}
	if v := CheckAuthResults([]string{"x; dmarc=pass"}, "", "example.org", false); v.Pass {
		t.Error("empty authserv-id must trust nothing")
	}
}

func TestDecideUnlock(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	good := func() UnlockFacts {
		return UnlockFacts{
			Message: MailMessage{From: "p@example.org", FromCount: 1},
			Request: UnlockRequest{StudentIDs: []string{"12345678"}},
			Auth:    AuthVerdict{Pass: true},
			Account: UnlockAccount{Found: true, ID: "a1", Locked: true, LockReason: LockReasonFailedAttempts, LinkedStudentIDs: []string{"12345678", "22223333"}},
			Now:     now,
		}
	}
	tests := []struct {
		name    string
		change  func(*UnlockFacts)
		action  MailAction
		reason  string
		wantAck bool
	}{
		{"all rules hold", func(*UnlockFacts) {}, MailUnlock, "", false},
		{"unlocked 25h ago is fine", func(f *UnlockFacts) { f.Account.LastAutoUnlock = now.Add(-25 * time.Hour) }, MailUnlock, "", false},
		{"unparseable", func(f *UnlockFacts) { f.Message.Problem = "unknown charset x-foo" }, MailReview, ReasonUnparseable + ": unknown charset x-foo", true},
		{"auto-submitted never acked", func(f *UnlockFacts) { f.Message.AutoSubmitted = true }, MailReview, ReasonAutoSubmitted, false},
		{"two From addresses", func(f *UnlockFacts) { f.Message.FromCount = 2 }, MailReview, ReasonBadFrom, false},
		{"not authenticated", func(f *UnlockFacts) { f.Auth = AuthVerdict{Reason: "dmarc=fail"} }, MailReview, ReasonNotAuthentic + ": dmarc=fail", true},
		{"no account", func(f *UnlockFacts) { f.Account = UnlockAccount{} }, MailReview, ReasonNoAccount, true},
		{"not locked", func(f *UnlockFacts) { f.Account.Locked = false }, MailReview, ReasonNotLocked, true},
		{"locked by staff", func(f *UnlockFacts) { f.Account.LockReason = "safeguarding" }, MailReview, ReasonLockedByStaff, true},
		{"no id", func(f *UnlockFacts) { f.Request.StudentIDs = nil }, MailReview, ReasonNoStudentID, true},
		{"id not linked", func(f *UnlockFacts) { f.Request.StudentIDs = []string{"99999999"} }, MailReview, ReasonIDNotLinked, true},
		{"one of two ids not linked", func(f *UnlockFacts) { f.Request.StudentIDs = []string{"12345678", "99999999"} }, MailReview, ReasonIDNotLinked, true},
		{"unlocked by mail 23h ago", func(f *UnlockFacts) { f.Account.LastAutoUnlock = now.Add(-23 * time.Hour) }, MailReview, ReasonRecentUnlock, true},
		{"acked 2h ago: no second ack", func(f *UnlockFacts) { f.Account.Locked = false; f.LastAck = now.Add(-2 * time.Hour) }, MailReview, ReasonNotLocked, false},
		{"acked 2 days ago: ack again", func(f *UnlockFacts) { f.Account.Locked = false; f.LastAck = now.Add(-48 * time.Hour) }, MailReview, ReasonNotLocked, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := good()
			tc.change(&f)
			d := DecideUnlock(f)
			if d.Action != tc.action || d.Reason != tc.reason || d.Acknowledge != tc.wantAck {
				t.Errorf("DecideUnlock = %+v, want action %s reason %q ack %v", d, tc.action, tc.reason, tc.wantAck)
			}
		})
	}
}
