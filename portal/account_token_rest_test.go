package portal_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mypt/adapters/mail"
	"mypt/adapters/sqlite"
	"mypt/config"
	"mypt/syncer"
)

// sha16 is the event keys' name for a token: the first 16 hex digits of its SHA-256.
func sha16(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])[:16]
}

// TestSentTokenEmailsLeaveNoTokenAtRest: the verify, consent and reset emails go through the
// outbox worker to the real SMTP server with working links, and afterwards neither the cache's
// outbox rows nor a backup of the cache holds any of those tokens (DESIGN: tokens hashed at rest).
func TestSentTokenEmailsLeaveNoTokenAtRest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	ctx := context.Background()
	sender, err := mail.NewSender(mail.SenderOptions{Transport: e.tr, Name: "smtp",
		From: mail.Address{Name: "Croydon College Parent Portal", Email: "noreply@croydon.example.ac.uk"}})
	if err != nil {
		t.Fatal(err)
	}
	worker, err := syncer.NewOutbox(syncer.OutboxOptions{Store: e.store, Mailer: sender, Transport: "smtp", Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	// send runs the outbox worker, then returns the one new email to addr.
	send := func(addr string) email {
		t.Helper()
		if _, err := worker.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		return e.mailTo(addr)
	}
	submit := func(b *browser, p parent) {
		t.Helper()
		if code, body, _ := b.post("/account-request", "/account-request", p.form()); code != http.StatusSeeOther {
			t.Fatalf("request: %d\n%s", code, body)
		}
	}
	confirm := func(b *browser, p parent, tok, want string) {
		t.Helper()
		code, body, _ := b.post("/verify-email?token="+tok, "/verify-email", url.Values{"token": {tok}, "password": {p.password}})
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("verify with the delivered link: %d\n%s", code, body)
		}
	}
	tokens := map[string]string{} // what -> raw token, as delivered

	// Uncle Bob is not next of kin: verify, then the student's consent link.
	bob := parent{"Uncle", "Bob", "bob@example.org", "Saffron-Glacier-Tunnel-31", "S100", "Siobhán Mary", "O'Neill-Smith", "05/04/2009", "Uncle"}
	bb := e.browser(e.public.URL)
	submit(bb, bob)
	tokens["bob verify"] = link(t, send("bob@example.org"), "/verify-email")
	confirm(bb, bob, tokens["bob verify"], "consent is needed")
	tokens["consent"] = link(t, send("s100@students.croydon.example.ac.uk"), "/student-consent")
	if code, form := e.browser(e.public.URL).get("/student-consent?token=" + tokens["consent"]); code != http.StatusOK ||
		!strings.Contains(form, "Uncle Bob (Uncle) has asked to see your college records") {
		t.Fatalf("consent link as delivered: %d\n%s", code, form)
	}
	// Aoife is auto-approved, then asks for a password reset.
	ab := e.browser(e.public.URL)
	submit(ab, aoife)
	tokens["aoife verify"] = link(t, send("aoife@example.org"), "/verify-email")
	confirm(ab, aoife, tokens["aoife verify"], "")
	send("aoife@example.org") // approved
	if code, body, _ := ab.post("/forgot-password", "/forgot-password", url.Values{"email": {"aoife@example.org"}}); code != http.StatusOK {
		t.Fatalf("forgot %d:\n%s", code, body)
	}
	tokens["reset"] = link(t, send("aoife@example.org"), "/reset-password")
	if code, body := ab.get("/reset-password?token=" + tokens["reset"]); code != http.StatusOK || !strings.Contains(body, `name="password_confirm"`) {
		t.Fatalf("reset link as delivered: %d\n%s", code, body)
	}

	// The outbox rows, read straight from the file: every one sent, none holding a token.
	bobReq, aoifeReq := e.lastRequest("bob@example.org"), e.lastRequest("aoife@example.org")
	wantKeys := map[string]bool{
		fmt.Sprintf("request:%d:verify:%s", bobReq.ID, sha16(tokens["bob verify"])):     false,
		fmt.Sprintf("request:%d:verify:%s", aoifeReq.ID, sha16(tokens["aoife verify"])): false,
		"reset:" + sha16(tokens["reset"]):                                               false,
	}
	rows, err := e.store.WriteDB().Query(`SELECT event_key, text, html, coalesce(secret, ''), coalesce(sent_at, '') FROM outbox`)
	if err != nil {
		t.Fatal(err)
	}
	n, placeholders := 0, 0
	for rows.Next() {
		var key, text, html, secret, sent string
		if err := rows.Scan(&key, &text, &html, &secret, &sent); err != nil {
			t.Fatal(err)
		}
		n++
		if sent == "" || secret != "" {
			t.Errorf("row %s: sent %q, secret kept %q", key, sent, secret)
		}
		if _, ok := wantKeys[key]; ok {
			wantKeys[key] = true
		}
		for what, tok := range tokens {
			if strings.Contains(text+html, tok) || strings.Contains(key, tok[:10]) || strings.Contains(text+html, "token=") {
				t.Errorf("outbox row %s holds the %s token:\n%s\n%s", key, what, text, html)
			}
		}
		if strings.Contains(text, "\n[link removed after sending]\n") && strings.Contains(html, `<a href="[link removed after sending]">`) {
			placeholders++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if n != 6 || placeholders != 4 {
		t.Errorf("%d outbox rows (want 6: 2 verify, consent request, consent needed, approved, reset), %d with the link removed (want 4)", n, placeholders)
	}
	for key, seen := range wantKeys {
		if !seen {
			t.Errorf("no outbox row keyed %s", key)
		}
	}

	// A backup (what `mypt backup` writes) holds none of the tokens, byte for byte.
	var path string
	if err := e.store.WriteDB().QueryRow(`SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "backup.db")
	if err := sqlite.BackupFile(ctx, path, dest); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("[link removed after sending]")) {
		t.Fatal("backup has no scrubbed email in it")
	}
	for what, tok := range tokens {
		if bytes.Contains(raw, []byte(tok)) || bytes.Contains(raw, []byte(tok[:12])) {
			t.Errorf("backup holds the %s token", what)
		}
	}
}
