//go:build linux

package imap

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mypt"
	"mypt/adapters/imap/imaptest"
)

const testUser = "parentportalsupport"

// recorder is a test MailHandler that keeps what it was given.
type recorder struct {
	mu        sync.Mutex
	cp        mypt.MailCheckpoint
	msgs      []mypt.MailMessage
	connected []bool
	fail      func(m mypt.MailMessage) error
}

func (r *recorder) MailCheckpoint(ctx context.Context, folder string) (mypt.MailCheckpoint, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cp, nil
}

func (r *recorder) HandleMail(ctx context.Context, m mypt.MailMessage) (mypt.MailDisposition, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(m); err != nil {
			return 0, err
		}
	}
	r.msgs = append(r.msgs, m)
	r.cp = mypt.MailCheckpoint{UIDValidity: m.UIDValidity, LastUID: m.UID}
	if strings.Contains(m.Subject, "review") {
		return mypt.MailToReview, nil
	}
	return mypt.MailToProcessed, nil
}

func (r *recorder) MailboxConnected(c bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.connected = append(r.connected, c)
}

func (r *recorder) subjects() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, m := range r.msgs {
		s = append(s, m.Subject)
	}
	return s
}

func (r *recorder) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if s := r.subjects(); len(s) >= n {
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("handler saw %q, want %d messages", r.subjects(), n)
	return nil
}

func testMail(subject, id string) []byte {
	return []byte(fmt.Sprintf("From: Jane <jane@example.org>\r\nTo: support@college.ac.uk\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\nContent-Type: text/plain\r\n\r\nPlease unlock 12345678\r\n", subject, id))
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func startWatcher(t *testing.T, o Options, h mypt.MailHandler) (stop func()) {
	t.Helper()
	o.BackoffMin, o.BackoffMax = 50*time.Millisecond, 500*time.Millisecond
	o.CommandTimeout = 5 * time.Second
	o.Logger = testLogger(t)
	w, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Scan(ctx, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Scan: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("Scan did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestWatcherSecurityModes(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t, imaptest.Options{})
	for _, mode := range []string{SecurityTLS, SecurityStartTLS, SecurityPlain} {
		t.Run(mode, func(t *testing.T) {
			addr := srv.Addr
			if mode == SecurityTLS {
				addr = srv.TLSAddr
			}
			srv.Append(testUser, "INBOX", testMail("hello "+mode, "sec-"+mode))
			srv.Append(testUser, "INBOX", testMail("please review "+mode, "sec-review-"+mode))
			rec := &recorder{}
			stop := startWatcher(t, Options{Addr: addr, Security: mode, TLSConfig: srv.TLSConfig(),
				Username: testUser, Password: imaptest.Password}, rec)
			got := rec.waitFor(t, 2)
			stop()
			if !slices.Equal(got, []string{"hello " + mode, "please review " + mode}) {
				t.Fatalf("subjects = %q", got)
			}
			if ids := srv.MessageIDs(testUser, "INBOX"); len(ids) != 0 {
				t.Errorf("INBOX still holds %q", ids)
			}
			if ids := srv.MessageIDs(testUser, "Processed"); !slices.Contains(ids, "<sec-"+mode+"@example.org>") {
				t.Errorf("Processed = %q", ids)
			}
			if ids := srv.MessageIDs(testUser, "Needs review"); !slices.Contains(ids, "<sec-review-"+mode+"@example.org>") {
				t.Errorf("Needs review = %q", ids)
			}
			// BODY.PEEK[]: nothing was marked read.
			for _, f := range srv.Flags(testUser, "Processed") {
				if slices.Contains(f, `\Seen`) {
					t.Errorf("message marked \\Seen: %q", f)
				}
			}
		})
	}
}

func TestWatcherWrongPasswordRetries(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t, imaptest.Options{})
	w, err := New(Options{Addr: srv.Addr, Security: SecurityPlain, Username: testUser, Password: "wrong",
		BackoffMin: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.dial(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "sign in") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("dial error = %v (must name the step and never the password)", err)
	}
}

func TestWatcherStartTLSRefusesWithoutTLS(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t, imaptest.Options{})
	w, err := New(Options{Addr: srv.Addr, Security: SecurityStartTLS, Username: testUser, Password: imaptest.Password})
	if err != nil {
		t.Fatal(err)
	}
	// Self-signed certificate not trusted: STARTTLS fails and nothing falls back to plain.
	if _, err := w.dial(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "starttls") {
		t.Fatalf("dial error = %v", err)
	}
}

// IM-2: the server goes away while the watcher IDLEs; mail arrives while it is down; after the
// restart the watcher reconnects and handles it.
func TestWatcherServerRestartWhileIdle(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t, imaptest.Options{})
	rec := &recorder{}
	startWatcher(t, Options{Addr: srv.Addr, Security: SecurityPlain, Username: testUser, Password: imaptest.Password}, rec)
	srv.Append(testUser, "INBOX", testMail("first", "restart-1"))
	rec.waitFor(t, 1)
	srv.Stop()
	srv.Deliver(testUser, testMail("arrived while down", "restart-2"))
	srv.Start()
	got := rec.waitFor(t, 2)
	srv.Append(testUser, "INBOX", testMail("after restart", "restart-3"))
	got = rec.waitFor(t, 3)
	if !slices.Equal(got, []string{"first", "arrived while down", "after restart"}) {
		t.Fatalf("subjects = %q", got)
	}
}

func TestWatcherPollsWithoutIdle(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t, imaptest.Options{NoIdle: true})
	if c := srv.Dial(testUser); c != nil {
		ok, _ := c.Support("IDLE")
		c.Logout()
		if ok {
			t.Fatal("server still offers IDLE")
		}
	}
	rec := &recorder{}
	startWatcher(t, Options{Addr: srv.Addr, Security: SecurityPlain, Username: testUser, Password: imaptest.Password,
		PollInterval: 100 * time.Millisecond}, rec)
	srv.Append(testUser, "INBOX", testMail("polled", "poll-1"))
	rec.waitFor(t, 1)
}

// Without MOVE, go-imap copies, flags \Deleted and expunges.
func TestWatcherWithoutMove(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t, imaptest.Options{NoMove: true})
	if c := srv.Dial(testUser); c != nil {
		ok, _ := c.Support("MOVE")
		c.Logout()
		if ok {
			t.Fatal("server still offers MOVE")
		}
	}
	rec := &recorder{}
	stop := startWatcher(t, Options{Addr: srv.Addr, Security: SecurityPlain, Username: testUser, Password: imaptest.Password}, rec)
	srv.Append(testUser, "INBOX", testMail("no move", "nomove-1"))
	rec.waitFor(t, 1)
	deadline := time.Now().Add(30 * time.Second)
	for len(srv.MessageIDs(testUser, "Processed")) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if ids := srv.MessageIDs(testUser, "Processed"); !slices.Equal(ids, []string{"<nomove-1@example.org>"}) {
		t.Fatalf("Processed = %q", ids)
	}
	if ids := srv.MessageIDs(testUser, "INBOX"); len(ids) != 0 {
		t.Fatalf("INBOX = %q, want it expunged", ids)
	}
}

// IM-3: stored checkpoint {100, 57}; the server says 200: the checkpoint is discarded and the
// folder rescanned from the start.
func TestWatcherUIDValidityChange(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t, imaptest.Options{})
	srv.Append(testUser, "INBOX", testMail("old one", "uidv-1"))
	srv.SetUIDValidity(testUser, "INBOX", 200)
	rec := &recorder{cp: mypt.MailCheckpoint{UIDValidity: 100, LastUID: 57}}
	startWatcher(t, Options{Addr: srv.Addr, Security: SecurityPlain, Username: testUser, Password: imaptest.Password}, rec)
	rec.waitFor(t, 1)
	rec.mu.Lock()
	m := rec.msgs[0]
	rec.mu.Unlock()
	if m.UIDValidity != 200 || m.UID != 1 {
		t.Fatalf("message at uidvalidity %d uid %d, want 200/1", m.UIDValidity, m.UID)
	}
}

// A handler error leaves the message in place; it is offered again after the reconnect.
func TestWatcherHandlerErrorRetries(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t, imaptest.Options{})
	failures := 2
	rec := &recorder{}
	rec.fail = func(m mypt.MailMessage) error {
		if failures > 0 {
			failures--
			return fmt.Errorf("cache unavailable")
		}
		return nil
	}
	srv.Append(testUser, "INBOX", testMail("retry me", "retry-1"))
	startWatcher(t, Options{Addr: srv.Addr, Security: SecurityPlain, Username: testUser, Password: imaptest.Password}, rec)
	if got := rec.waitFor(t, 1); !slices.Equal(got, []string{"retry me"}) {
		t.Fatalf("subjects = %q", got)
	}
}

// freezer is a loopback TCP proxy whose open connections can be frozen: bytes stop flowing but
// nothing is closed, like a server (or a NAT box) that went quiet.
type freezer struct {
	addr   string
	mu     sync.Mutex
	frozen []chan struct{}
	conns  int
}

func startFreezer(t *testing.T, target string) *freezer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &freezer{addr: l.Addr().String()}
	end := make(chan struct{})
	t.Cleanup(func() { close(end) })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			gate := make(chan struct{})
			f.mu.Lock()
			f.frozen = append(f.frozen, gate)
			f.conns++
			f.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				defer dst.Close()
				defer src.Close()
				buf := make([]byte, 4096)
				for {
					n, err := src.Read(buf)
					if err != nil {
						return
					}
					select {
					case <-gate:
						<-end // frozen until the test ends
						return
					default:
					}
					if _, err := dst.Write(buf[:n]); err != nil {
						return
					}
				}
			}
			go pipe(u, c)
			go pipe(c, u)
		}
	}()
	return f
}

func (f *freezer) freezeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range f.frozen {
		close(g)
	}
	f.frozen = nil
}

func (f *freezer) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

// IM-2: the server stops answering during IDLE (no BYE, no close): the re-IDLE's DONE gets no
// answer, the watcher drops the connection, reconnects and goes on.
func TestWatcherSilentServer(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t, imaptest.Options{})
	fr := startFreezer(t, srv.Addr)
	rec := &recorder{}
	o := Options{Addr: fr.addr, Security: SecurityPlain, Username: testUser, Password: imaptest.Password,
		ReIdle: 300 * time.Millisecond}
	o.BackoffMin, o.BackoffMax = 50*time.Millisecond, 500*time.Millisecond
	o.CommandTimeout = time.Second
	o.Logger = testLogger(t)
	w, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Scan(ctx, rec) }()
	defer func() { cancel(); <-done }()
	srv.Append(testUser, "INBOX", testMail("before", "silent-1"))
	rec.waitFor(t, 1)
	fr.freezeAll()
	deadline := time.Now().Add(30 * time.Second)
	for fr.connections() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if fr.connections() < 2 {
		t.Fatal("watcher did not reconnect after the server went silent")
	}
	srv.Append(testUser, "INBOX", testMail("after", "silent-2"))
	if got := rec.waitFor(t, 2); !slices.Equal(got, []string{"before", "after"}) {
		t.Fatalf("subjects = %q", got)
	}
}

// A message over the size limit is not downloaded: only its header, and it goes to review.
func TestWatcherTooLargeMessage(t *testing.T) {
	t.Parallel()
	srv := imaptest.Start(t, imaptest.Options{})
	rec := &recorder{}
	startWatcher(t, Options{Addr: srv.Addr, Security: SecurityPlain, Username: testUser, Password: imaptest.Password,
		MaxMessageBytes: 1000}, rec)
	big := append(testMail("big one", "big-1"), []byte(strings.Repeat("x", 5000)+"\r\n")...)
	srv.Append(testUser, "INBOX", big)
	rec.waitFor(t, 1)
	rec.mu.Lock()
	m := rec.msgs[0]
	rec.mu.Unlock()
	if m.Problem == "" || m.Text != "" || m.Subject != "big one" || m.From != "jane@example.org" || m.Size < 5000 {
		t.Fatalf("got %+v", m)
	}
}
