package portal

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// logBuffer collects a server's log records as JSON lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// events are the WARN security events logged so far.
func (b *logBuffer) events(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["level"] == "WARN" && m["msg"] == "portal: security event" {
			out = append(out, m)
		}
	}
	return out
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func withLog(b *logBuffer) harnessOpt {
	return func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

// findEvent returns the one event with the given event and reason, failing if there is none.
func findEvent(t *testing.T, b *logBuffer, event, reason string) map[string]any {
	t.Helper()
	for _, e := range b.events(t) {
		if e["event"] == event && e["reason"] == reason {
			return e
		}
	}
	t.Fatalf("no %s/%s security event in:\n%s", event, reason, b.String())
	return nil
}

// A refused student page is logged at WARN (account, route pattern, reason; the id only when
// well-formed), never with a name or an email address.
func TestRefusedStudentAccessLogged(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	h := newHarness(t, withLog(&logs))
	c := h.signedIn(parentEmail, parentPass)
	if r := h.get(c, "/students/"+otherFamilyID+"/attendance"); r.StatusCode != 404 {
		t.Fatalf("another family's student: %d", r.StatusCode)
	}
	e := findEvent(t, &logs, "student_refused", "not_linked")
	if e["route"] != "/students/:id/attendance" || e["student"] != otherFamilyID || e["account"] != float64(h.parent) {
		t.Errorf("event %v", e)
	}
	if r := h.get(c, "/students/"+barredID+"/details"); r.StatusCode != 404 {
		t.Fatalf("barred contact: %d", r.StatusCode)
	}
	findEvent(t, &logs, "student_refused", "not_visible")
	if r := h.get(c, "/students/a%20b/details"); r.StatusCode != 404 {
		t.Fatalf("malformed id: %d", r.StatusCode)
	}
	e = findEvent(t, &logs, "student_refused", "bad_id")
	if _, ok := e["student"]; ok {
		t.Errorf("a malformed id was logged: %v", e)
	}
	// Printable but not a student id (letters, digits and hyphens): bad_id, not echoed.
	for _, bad := range []string{"%3Cscript%3Ealert(1)%3C", "%3Cscript%3E", "S100%22%3E", strings.Repeat("9", 40)} {
		logs.Reset()
		if r := h.get(c, "/students/"+bad); r.StatusCode != 404 {
			t.Fatalf("%s: %d", bad, r.StatusCode)
		}
		e = findEvent(t, &logs, "student_refused", "bad_id")
		if _, ok := e["student"]; ok {
			t.Errorf("a bad id was logged: %v", e)
		}
		if strings.Contains(logs.String(), "script") || strings.Contains(logs.String(), "999999999") {
			t.Errorf("the bad id is echoed in the log: %s", logs.String())
		}
	}
	for _, bad := range []string{"@", "Siobhán", "D'Arcy", "Bob"} {
		for _, e := range logs.events(t) {
			b, _ := json.Marshal(e)
			if strings.Contains(string(b), bad) {
				t.Errorf("security event carries %q: %s", bad, b)
			}
		}
	}
}

// CSRF refusals, rate limiting and lockouts are logged at WARN, without email addresses.
func TestSignInSecurityEventsLogged(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	h := newHarness(t, withLog(&logs))
	c := h.client()
	h.get(c, "/login")
	if r := h.do(c, "POST", "/login", url.Values{"email": {parentEmail}, "password": {"x"}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("no token: %d", r.StatusCode)
	}
	if e := findEvent(t, &logs, "csrf_refused", "bad_token"); e["route"] != "/login" {
		t.Errorf("event %v", e)
	}
	req, _ := http.NewRequest("POST", h.ts.URL+"/logout", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin POST: %d", resp.StatusCode)
	}
	findEvent(t, &logs, "csrf_refused", "cross_origin")
	for range 3 {
		h.login(c, parentEmail, "wrong password")
	}
	if e := findEvent(t, &logs, "lockout", "failed_attempts"); e["account"] != float64(h.parent) {
		t.Errorf("event %v", e)
	}
	h.login(c, parentEmail, parentPass)
	if e := findEvent(t, &logs, "login_refused", "locked"); e["account"] != float64(h.parent) {
		t.Errorf("event %v", e)
	}

	var logs2 logBuffer
	h2 := newHarness(t, withLog(&logs2), func(o *Options) { o.Portal.LoginRatePerMinute, o.Portal.LoginRateBurst = 1, 1 })
	c2 := h2.client()
	h2.login(c2, otherEmail, "wrong")
	if r := h2.login(c2, otherEmail, "wrong"); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("rate limit: %d", r.StatusCode)
	}
	if e := findEvent(t, &logs2, "rate_limited", "login_rate"); e["route"] != "/login" {
		t.Errorf("event %v", e)
	}
	for _, l := range []*logBuffer{&logs, &logs2} {
		for _, e := range l.events(t) {
			b, _ := json.Marshal(e)
			if strings.Contains(string(b), "@") {
				t.Errorf("security event carries an email address: %s", b)
			}
		}
	}
}
