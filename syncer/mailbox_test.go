//go:build linux

package syncer_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"mypt"
	"mypt/adapters/imap"
	"mypt/adapters/imap/imaptest"
	"mypt/adapters/sqlite"
	"mypt/syncer"
)

var (
	_ syncer.MailboxStore   = (*sqlite.Store)(nil)
	_ syncer.MailboxScanner = (*imap.Watcher)(nil)
)

const (
	mailUser   = "parentportalsupport"
	authservID = "mx.college.ac.uk"
)

type mailEnv struct {
	t     *testing.T
	srv   *imaptest.Server
	store *sqlite.Store
	reg   *prometheus.Registry

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
}

func newMailEnv(t *testing.T) *mailEnv {
	t.Helper()
	srv := imaptest.Start(t, imaptest.Options{})
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mypt.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &mailEnv{t: t, srv: srv, store: st}
	t.Cleanup(e.stop)
	return e
}

func mailboxLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// start runs a watcher and mailbox loop like `mypt serve` does, on store (the real one unless a
// test wraps it to simulate a crash).
func (e *mailEnv) start(store syncer.MailboxStore) {
	e.t.Helper()
	w, err := imap.New(imap.Options{Addr: e.srv.Addr, Security: imap.SecurityPlain, Username: mailUser,
		Password: imaptest.Password, BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
		CommandTimeout: 5 * time.Second, Logger: mailboxLogger()})
	if err != nil {
		e.t.Fatal(err)
	}
	e.reg = prometheus.NewRegistry()
	mb, err := syncer.NewMailbox(syncer.MailboxOptions{Scanner: w, Store: store,
		StudentID: regexp.MustCompile(`[0-9]{8}`), AuthServID: authservID,
		ResetURL: "https://parentportal.example/forgot-password", Logger: mailboxLogger(), Registerer: e.reg})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mb.Run(ctx) }()
	e.mu.Lock()
	e.cancel, e.done = cancel, done
	e.mu.Unlock()
}

func (e *mailEnv) stop() {
	e.mu.Lock()
	cancel, done := e.cancel, e.done
	e.cancel, e.done = nil, nil
	e.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			e.t.Errorf("mailbox Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		e.t.Error("mailbox Run did not stop")
	}
}

func (e *mailEnv) account(email string, locked bool, students ...string) int64 {
	e.t.Helper()
	var id int64
	now := sqlite.FormatTime(time.Now())
	err := e.store.WithTx(context.Background(), func(tx *sql.Tx) error {
		var lockedAt any
		if locked {
			lockedAt = now
		}
		if err := tx.QueryRow(`INSERT INTO account (email, first_name, last_name, password_hash, failed_attempts,
			locked_at, lock_reason, created_at, password_changed_at) VALUES (?, 'A', 'B', 'x', 3, ?, 'failed_attempts', ?, ?)
			RETURNING account_id`, email, lockedAt, now, now).Scan(&id); err != nil {
			return err
		}
		for _, s := range students {
			if _, err := tx.Exec(`INSERT INTO account_student (account_id, student_id, status, approved_at, approved_by)
				VALUES (?, ?, 'approved', ?, 'auto')`, id, s, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *mailEnv) locked(email string) bool {
	e.t.Helper()
	var locked bool
	if err := e.store.ReadDB().QueryRow(`SELECT locked_at IS NOT NULL FROM account WHERE email = ?`, email).Scan(&locked); err != nil {
		e.t.Fatal(err)
	}
	return locked
}

func (e *mailEnv) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.store.ReadDB().QueryRow(q, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *mailEnv) outbox(to, subject string) int {
	return e.count(`SELECT COUNT(*) FROM outbox WHERE recipient = ? AND subject = ?`, to, subject)
}

// waitMoved waits until the message is in folder (moved there after its outcome committed).
func (e *mailEnv) waitMoved(messageID, folder string) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if slices.Contains(e.srv.MessageIDs(mailUser, folder), messageID) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("%s never reached %q; INBOX %q, Processed %q, review %q", messageID, folder,
		e.srv.MessageIDs(mailUser, "INBOX"), e.srv.MessageIDs(mailUser, "Processed"), e.srv.MessageIDs(mailUser, "Needs review"))
}

func (e *mailEnv) metric(outcome mypt.MailOutcome) int {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "mypt_mailbox_messages_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == string(outcome) {
					return int(m.GetCounter().GetValue())
				}
			}
		}
	}
	e.t.Fatalf("no series for outcome %s", outcome)
	return 0
}

func mailboxSeed(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "adapters", "imap", "testdata", "mail", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const unlockedSubject = "Your Parent Portal account has been unlocked"
const ackSubject = "We have received your message"

// A valid unlock (DMARC pass) unlocks once and queues the email; the same message delivered
// again does nothing.
func TestMailboxValidUnlockOnceAndRedelivery(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.account("jane.parent@example.org", true, "12345678")
	e.start(e.store)
	e.srv.Append(mailUser, "INBOX", mailboxSeed(t, "valid_unlock.eml"))
	e.waitMoved("<valid-unlock-1@example.org>", "Processed")
	if e.locked("jane.parent@example.org") {
		t.Fatal("account still locked")
	}
	if n := e.outbox("jane.parent@example.org", unlockedSubject); n != 1 {
		t.Fatalf("unlocked emails = %d, want 1", n)
	}
	var text string
	_ = e.store.ReadDB().QueryRow(`SELECT text FROM outbox WHERE recipient = ?`, "jane.parent@example.org").Scan(&text)
	if !strings.Contains(text, "https://parentportal.example/forgot-password") {
		t.Errorf("email has no reset link: %q", text)
	}
	// Locked again later (3 more bad passwords), then the same message is re-delivered.
	if _, err := e.store.WriteDB().Exec(`UPDATE account SET locked_at = ? WHERE email = ?`,
		sqlite.FormatTime(time.Now()), "jane.parent@example.org"); err != nil {
		t.Fatal(err)
	}
	e.srv.Append(mailUser, "INBOX", mailboxSeed(t, "valid_unlock.eml"))
	deadline := time.Now().Add(30 * time.Second)
	for len(e.srv.MessageIDs(mailUser, "Processed")) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !e.locked("jane.parent@example.org") {
		t.Fatal("re-delivered message unlocked again")
	}
	if n := e.outbox("jane.parent@example.org", unlockedSubject); n != 1 {
		t.Fatalf("unlocked emails = %d after re-delivery, want 1", n)
	}
	if e.metric(mypt.MailUnlocked) != 1 || e.metric(mypt.MailDuplicate) != 1 || e.metric(mypt.MailError) != 0 {
		t.Fatalf("metrics unlocked=%d duplicate=%d", e.metric(mypt.MailUnlocked), e.metric(mypt.MailDuplicate))
	}
}

// Messages that must not unlock go to review, and the sender gets one neutral acknowledgement.
func TestMailboxReviewCases(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.account("jane.parent@example.org", true, "87654321") // linked to another student than 12345678
	e.account("viktoria@example.org", true, "12345678")
	e.account("p@example.org", true, "12345678")
	e.start(e.store)

	// Locked by staff (not by failed sign-ins): an email never lifts it.
	e.account("staff.locked@example.org", true, "12345678")
	if _, err := e.store.WriteDB().Exec(`UPDATE account SET lock_reason = 'safeguarding' WHERE email = ?`,
		"staff.locked@example.org"); err != nil {
		t.Fatal(err)
	}
	e.srv.Append(mailUser, "INBOX", []byte("Authentication-Results: "+authservID+"; dmarc=pass header.from=example.org\r\n"+
		"From: <staff.locked@example.org>\r\nSubject: unlock 12345678\r\nMessage-ID: <staff-locked@example.org>\r\n\r\nPlease unlock 12345678\r\n"))
	cases := []struct {
		file, messageID, reason string
	}{
		{"", "<staff-locked@example.org>", mypt.ReasonLockedByStaff},
		{"forged.eml", "<forged@evil.example>", mypt.ReasonNotAuthentic},
		{"forged_inner_header.eml", "<forged-inner@evil.example>", mypt.ReasonNotAuthentic},
		{"valid_unlock.eml", "<valid-unlock-1@example.org>", mypt.ReasonIDNotLinked},
		{"outlook_reply.eml", "<outlook-reply@example.org>", mypt.ReasonNoStudentID},
		{"unknown_charset.eml", "<unknown-charset@example.org>", mypt.ReasonUnparseable},
		{"broken_multipart.eml", "<broken-multipart@example.org>", mypt.ReasonUnparseable},
	}
	for _, c := range cases {
		if c.file != "" {
			e.srv.Append(mailUser, "INBOX", mailboxSeed(t, c.file))
		}
	}
	for _, c := range cases {
		e.waitMoved(c.messageID, "Needs review")
	}
	if !e.locked("jane.parent@example.org") || !e.locked("staff.locked@example.org") {
		t.Fatal("an account was unlocked by a message that must go to review")
	}
	items, err := e.store.MailReviewItems(context.Background(), "open", 0)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, it := range items {
		reasons["<"+strings.TrimPrefix(it.MessageKey, "mid:")+">"] = it.Reason
	}
	for _, c := range cases {
		if !strings.HasPrefix(reasons[c.messageID], c.reason) {
			t.Errorf("%s: reason %q, want %q", c.file, reasons[c.messageID], c.reason)
		}
	}
	if n := e.outbox("jane.parent@example.org", ackSubject); n != 1 {
		t.Errorf("acknowledgements = %d, want 1 a day", n)
	}
	if n := e.count(`SELECT COUNT(*) FROM outbox WHERE subject = ?`, unlockedSubject); n != 0 {
		t.Errorf("unlock emails = %d", n)
	}

	// IM-1 and DM-1: charsets and broken MIME that can still be read do unlock; so does an
	// Outlook reply whose new text holds the right ID while its quoted part holds another.
	e.account("sam.parent@example.org", true, "12345678")
	e.srv.Append(mailUser, "INBOX", mailboxSeed(t, "outlook_reply_with_id.eml"))
	e.waitMoved("<outlook-reply-id@example.org>", "Processed")
	if e.locked("sam.parent@example.org") {
		t.Fatal("Outlook reply with the ID in its new text did not unlock")
	}
	e.srv.Append(mailUser, "INBOX", mailboxSeed(t, "im1_charsets.eml"))
	e.srv.Append(mailUser, "INBOX", mailboxSeed(t, "dm1_dup_boundary.eml"))
	e.waitMoved("<im1@example.org>", "Processed")
	e.waitMoved("<dm1-dup@example.org>", "Processed")
	if e.locked("p@example.org") || e.locked("viktoria@example.org") {
		t.Fatal("IM-1 / DM-1 message did not unlock")
	}
}

// IM-2: dovecot restarted while the watcher IDLEs; mail that arrived meanwhile is handled.
func TestMailboxServerRestart(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.account("jane.parent@example.org", true, "12345678")
	e.start(e.store)
	deadline := time.Now().Add(30 * time.Second)
	for testutil.ToFloat64(mailboxConnectedGauge(t, e.reg)) != 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	e.srv.Stop()
	e.srv.Deliver(mailUser, mailboxSeed(t, "valid_unlock.eml"))
	e.srv.Start()
	e.waitMoved("<valid-unlock-1@example.org>", "Processed")
	if e.locked("jane.parent@example.org") {
		t.Fatal("not unlocked after restart")
	}
}

func mailboxConnectedGauge(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	return mailboxGauge{reg, "mypt_mailbox_connected"}
}

// mailboxGauge exposes one gathered metric family as a collector for testutil.
type mailboxGauge struct {
	reg  *prometheus.Registry
	name string
}

func (g mailboxGauge) Describe(ch chan<- *prometheus.Desc) {}
func (g mailboxGauge) Collect(ch chan<- prometheus.Metric) {
	mfs, _ := g.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == g.name && len(mf.GetMetric()) > 0 {
			ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(g.name, "", nil, nil), prometheus.GaugeValue,
				mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
}

// IM-3: checkpoint {100, 57}; the server now says UIDVALIDITY 200. The folder is rescanned and a
// message that already acted does not act twice.
func TestMailboxUIDValidityChange(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.account("jane.parent@example.org", true, "12345678")
	e.start(e.store)
	e.srv.Append(mailUser, "INBOX", mailboxSeed(t, "valid_unlock.eml"))
	e.waitMoved("<valid-unlock-1@example.org>", "Processed")
	e.stop()

	// The mailbox is rebuilt on the server: new UIDVALIDITY, the old message back in INBOX.
	if _, err := e.store.WriteDB().Exec(`UPDATE account SET locked_at = ? WHERE email = ?`,
		sqlite.FormatTime(time.Now()), "jane.parent@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetMailCheckpoint(context.Background(), "INBOX", mypt.MailCheckpoint{UIDValidity: 100, LastUID: 57}); err != nil {
		t.Fatal(err)
	}
	e.srv.Append(mailUser, "INBOX", mailboxSeed(t, "valid_unlock.eml"))
	e.srv.Append(mailUser, "INBOX", mailboxSeed(t, "im1_charsets.eml"))
	e.srv.SetUIDValidity(mailUser, "INBOX", 200)
	e.account("p@example.org", true, "12345678")
	e.start(e.store)
	e.waitMoved("<im1@example.org>", "Processed")
	if !e.locked("jane.parent@example.org") {
		t.Fatal("the old message acted twice after the UIDVALIDITY change")
	}
	if e.locked("p@example.org") {
		t.Fatal("the new message was not handled after the UIDVALIDITY change")
	}
	if n := e.outbox("jane.parent@example.org", unlockedSubject); n != 1 {
		t.Fatalf("unlocked emails = %d, want 1", n)
	}
	cp, _ := e.store.MailCheckpoint(context.Background(), "INBOX")
	if cp.UIDValidity != 200 {
		t.Fatalf("checkpoint = %+v, want uidvalidity 200", cp)
	}
}

// The daemon killed while handling a message: a child process runs the watcher on the same
// dovecot and cache file and is killed with SIGKILL at its first CommitMail, before or after the
// outcome committed. After the restart (in this process) the message is handled exactly once.

const mailboxChildEnv = "MYPT_TEST_MAILBOX_CHILD" // dovecot address|cache path|after commit

// stallingStore commits (if after) and then says so on stdout and waits to be killed.
type stallingStore struct {
	*sqlite.Store
	after bool
}

func (c stallingStore) CommitMail(ctx context.Context, rec mypt.MailRecord) (mypt.MailOutcome, error) {
	if c.after {
		if _, err := c.Store.CommitMail(ctx, rec); err != nil {
			fmt.Fprintln(os.Stderr, "mailbox child: commit:", err)
			os.Exit(2)
		}
	}
	fmt.Println("at commit")
	time.Sleep(time.Minute) // the parent kills the process here
	os.Exit(3)
	return mypt.MailError, nil
}

func mailboxChild(t *testing.T, spec string) {
	parts := strings.Split(spec, "|")
	st, err := sqlite.Open(context.Background(), parts[1], sqlite.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "mailbox child:", err)
		os.Exit(2)
	}
	e := &mailEnv{t: t, srv: &imaptest.Server{Addr: parts[0]}}
	e.start(stallingStore{Store: st, after: parts[2] == "true"})
	time.Sleep(time.Minute)
	fmt.Fprintln(os.Stderr, "mailbox child: never reached CommitMail")
	os.Exit(4)
}

func TestMailboxKilledMidMessage(t *testing.T) {
	if spec := os.Getenv(mailboxChildEnv); spec != "" {
		mailboxChild(t, spec)
		return
	}
	t.Parallel()
	for _, after := range []bool{false, true} {
		t.Run(fmt.Sprintf("after commit %v", after), func(t *testing.T) {
			t.Parallel()
			e := newMailEnv(t)
			e.account("jane.parent@example.org", true, "12345678")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestMailboxKilledMidMessage$", "-test.count=1")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%s|%v", mailboxChildEnv, e.srv.Addr, e.store.Path(), after))
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			e.srv.Append(mailUser, "INBOX", mailboxSeed(t, "valid_unlock.eml"))
			sc := bufio.NewScanner(out)
			reached := false
			for !reached && sc.Scan() {
				reached = sc.Text() == "at commit"
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			if !reached {
				t.Fatal("the child never reached CommitMail")
			}
			if ids := e.srv.MessageIDs(mailUser, "INBOX"); !slices.Contains(ids, "<valid-unlock-1@example.org>") {
				t.Fatalf("message left INBOX before its outcome was handled: %q", ids)
			}
			if got := e.locked("jane.parent@example.org"); got == after {
				t.Fatalf("after the kill locked = %v; the killed process's commit (made: %v) is all that counts", got, after)
			}
			e.start(e.store)
			e.waitMoved("<valid-unlock-1@example.org>", "Processed")
			if e.locked("jane.parent@example.org") {
				t.Fatal("not unlocked")
			}
			if n := e.outbox("jane.parent@example.org", unlockedSubject); n != 1 {
				t.Fatalf("unlocked emails = %d, want 1", n)
			}
			if n := e.count(`SELECT COUNT(*) FROM mailbox_action WHERE kind = 'unlock'`); n != 1 {
				t.Fatalf("unlocks = %d, want 1", n)
			}
		})
	}
}

// poisonStore fails every normal commit, as if this one message broke a constraint.
type poisonStore struct{ *sqlite.Store }

func (p poisonStore) CommitMail(ctx context.Context, rec mypt.MailRecord) (mypt.MailOutcome, error) {
	if !strings.Contains(rec.Decision.Reason, "could not be handled") {
		return mypt.MailError, errors.New("constraint failed")
	}
	return p.Store.CommitMail(ctx, rec)
}

// A message that keeps failing goes to review after a few tries instead of blocking the mailbox.
func TestMailboxPoisonMessageGoesToReview(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t)
	e.start(poisonStore{e.store})
	e.srv.Append(mailUser, "INBOX", mailboxSeed(t, "valid_unlock.eml"))
	e.waitMoved("<valid-unlock-1@example.org>", "Needs review")
	if e.metric(mypt.MailError) < 2 || e.metric(mypt.MailReviewed) != 1 {
		t.Fatalf("metrics error=%d review=%d", e.metric(mypt.MailError), e.metric(mypt.MailReviewed))
	}
}
