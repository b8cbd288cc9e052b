// Package imap reads the support mailbox over IMAP (github.com/emersion/go-imap v1): it connects
// with implicit TLS or STARTTLS (plain only when configured, for tests), signs in with a password
// or XOAUTH2, waits with IDLE (re-issued well under the 29 minutes servers allow) or polls where
// IDLE is missing, reconnects with backoff and jitter, fetches each message with BODY.PEEK[] so
// nothing is marked read before its outcome commits, hands it to a mypt.MailHandler, and then
// moves it to the Processed or Needs review folder.
package imap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/client"

	"mypt"
)

// Security modes.
const (
	SecurityTLS      = "tls"      // implicit TLS (port 993)
	SecurityStartTLS = "starttls" // STARTTLS on port 143; never falls back to plain
	SecurityPlain    = "plain"    // no TLS: only when the config says so (tests, a local relay)
)

// Authentication modes.
const (
	AuthPassword = "password"
	AuthXOAUTH2  = "xoauth2"
)

// TokenSource gives a current OAuth2 access token for XOAUTH2.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// Options configure a Watcher. Zero durations take the defaults named on each field.
type Options struct {
	Addr      string      // host:port
	Security  string      // SecurityTLS (default), SecurityStartTLS or SecurityPlain
	TLSConfig *tls.Config // optional: RootCAs for a private CA; ServerName defaults to the host
	Username  string
	Password  string      // for AuthPassword
	Auth      string      // AuthPassword (default) or AuthXOAUTH2
	Tokens    TokenSource // for AuthXOAUTH2

	Folder          string // watched folder, default "INBOX"
	ProcessedFolder string // default "Processed"
	ReviewFolder    string // default "Needs review"

	ReIdle          time.Duration // IDLE is re-issued this often, default 10m (servers drop at 29m)
	PollInterval    time.Duration // without IDLE, default 1m
	CommandTimeout  time.Duration // one command, and DONE's answer, default 1m
	BackoffMin      time.Duration // first reconnect wait, default 1s
	BackoffMax      time.Duration // longest reconnect wait, default 5m
	MaxMessageBytes int           // larger messages go to review unread, default 2 MiB
	BatchSize       int           // UIDs fetched per round, default 50

	Logger *slog.Logger
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ReIdle, 10*time.Minute)
	def(&o.PollInterval, time.Minute)
	def(&o.CommandTimeout, time.Minute)
	def(&o.BackoffMin, time.Second)
	def(&o.BackoffMax, 5*time.Minute)
	if o.Security == "" {
		o.Security = SecurityTLS
	}
	if o.Auth == "" {
		o.Auth = AuthPassword
	}
	if o.Folder == "" {
		o.Folder = "INBOX"
	}
	if o.ProcessedFolder == "" {
		o.ProcessedFolder = "Processed"
	}
	if o.ReviewFolder == "" {
		o.ReviewFolder = "Needs review"
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 50
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Watcher is the IMAP side of the mailbox loop.
type Watcher struct {
	o Options
}

// New returns a Watcher; it checks the options but does not connect.
func New(o Options) (*Watcher, error) {
	o.defaults()
	switch {
	case o.Addr == "":
		return nil, errors.New("imap: no server address")
	case o.Security != SecurityTLS && o.Security != SecurityStartTLS && o.Security != SecurityPlain:
		return nil, fmt.Errorf("imap: security %q: want tls, starttls or plain", o.Security)
	case o.Auth == AuthXOAUTH2 && o.Tokens == nil:
		return nil, errors.New("imap: xoauth2 needs a token source")
	case o.Auth != AuthPassword && o.Auth != AuthXOAUTH2:
		return nil, fmt.Errorf("imap: auth %q: want password or xoauth2", o.Auth)
	case o.ReIdle >= 29*time.Minute:
		return nil, fmt.Errorf("imap: re-IDLE interval %s must be well under 29 minutes", o.ReIdle)
	}
	return &Watcher{o: o}, nil
}

// Scan watches the folder until ctx ends, handing every message to h. Connection failures are
// retried with exponential backoff and jitter; Scan returns nil when ctx ends and an error only
// for a mistake no retry can fix (a handler error is retried, as the cache may come back).
func (w *Watcher) Scan(ctx context.Context, h mypt.MailHandler) error {
	backoff := w.o.BackoffMin
	for {
		start := time.Now()
		err := w.session(ctx, h)
		h.MailboxConnected(false)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > 2*w.o.BackoffMax || time.Since(start) > time.Minute {
			backoff = w.o.BackoffMin // it was healthy for a while: start again from the bottom
		}
		wait := backoff/2 + rand.N(backoff/2+1) // jitter: [backoff/2, backoff]
		w.o.Logger.Warn("mailbox: connection ended; reconnecting", "err", err, "wait", wait.String())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, w.o.BackoffMax)
	}
}

type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(format string, v ...any) {
	p.l.Debug("imap: " + strings.TrimSpace(fmt.Sprintf(format, v...)))
}
func (p slogPrinter) Println(v ...any) { p.l.Debug("imap: " + strings.TrimSpace(fmt.Sprintln(v...))) }

func (w *Watcher) tlsConfig() *tls.Config {
	var c *tls.Config
	if w.o.TLSConfig != nil {
		c = w.o.TLSConfig.Clone()
	} else {
		c = &tls.Config{}
	}
	if c.ServerName == "" {
		host, _, err := net.SplitHostPort(w.o.Addr)
		if err == nil {
			c.ServerName = host
		}
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// dial connects and signs in.
func (w *Watcher) dial(ctx context.Context, updates chan client.Update) (*client.Client, error) {
	d := &net.Dialer{Timeout: w.o.CommandTimeout}
	var c *client.Client
	var err error
	switch w.o.Security {
	case SecurityTLS:
		c, err = client.DialWithDialerTLS(d, w.o.Addr, w.tlsConfig())
	default:
		c, err = client.DialWithDialer(d, w.o.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("imap: connect to %s (%s): %w", w.o.Addr, w.o.Security, err)
	}
	c.Updates = updates // set at once: the reader goroutine is already running
	c.ErrorLog = slogPrinter{w.o.Logger}
	c.Timeout = w.o.CommandTimeout
	if w.o.Security == SecurityStartTLS {
		ok, err := c.SupportStartTLS()
		if err == nil && !ok {
			err = errors.New("server does not offer STARTTLS (set security: tls, or plain only for a trusted local server)")
		}
		if err == nil {
			err = c.StartTLS(w.tlsConfig())
		}
		if err != nil {
			c.Terminate()
			return nil, fmt.Errorf("imap: starttls with %s: %w", w.o.Addr, err)
		}
	}
	switch w.o.Auth {
	case AuthXOAUTH2:
		tok, terr := w.o.Tokens.Token(ctx)
		if terr != nil {
			c.Terminate()
			return nil, fmt.Errorf("imap: get oauth2 token: %w", terr)
		}
		err = c.Authenticate(xoauth2{user: w.o.Username, token: tok})
	default:
		err = c.Login(w.o.Username, w.o.Password)
	}
	if err != nil {
		c.Terminate()
		return nil, fmt.Errorf("imap: sign in as %s (%s): %w", w.o.Username, w.o.Auth, err)
	}
	return c, nil
}

// session is one connection: select, scan, wait, scan … until the connection or ctx ends.
func (w *Watcher) session(ctx context.Context, h mypt.MailHandler) error {
	// The client blocks its reader when Updates is full, so it is always drained; a wake-up is
	// all the loop needs from it.
	updates := make(chan client.Update, 64)
	wake := make(chan struct{}, 1)
	c, err := w.dial(ctx, updates)
	if err != nil {
		return err
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			select {
			case u := <-updates:
				if _, ok := u.(*client.MailboxUpdate); ok {
					select {
					case wake <- struct{}{}:
					default:
					}
				}
			case <-c.LoggedOut():
				for {
					select {
					case <-updates:
					default:
						return
					}
				}
			}
		}
	}()
	finished := make(chan struct{})
	stopAfter := context.AfterFunc(ctx, func() {
		// A blocked command is cut off if a clean stop does not happen promptly.
		select {
		case <-finished:
		case <-time.After(w.o.CommandTimeout):
			_ = c.Terminate()
		}
	})
	defer func() {
		close(finished)
		stopAfter()
		if c.State() != imap.LogoutState {
			if err := c.Logout(); err != nil {
				_ = c.Terminate()
			}
		}
		<-drained
	}()

	if err := w.ensureFolders(c); err != nil {
		return err
	}
	mb, err := c.Select(w.o.Folder, false)
	if err != nil {
		return fmt.Errorf("imap: select %s: %w", w.o.Folder, err)
	}
	cp, err := h.MailCheckpoint(ctx, w.o.Folder)
	if err != nil {
		return fmt.Errorf("imap: read checkpoint: %w", err)
	}
	if cp.UIDValidity != mb.UidValidity {
		if cp.UIDValidity != 0 {
			w.o.Logger.Warn("mailbox: UIDVALIDITY changed; discarding checkpoint and rescanning",
				"folder", w.o.Folder, "old", cp.UIDValidity, "new", mb.UidValidity, "last_uid", cp.LastUID)
		}
		cp = mypt.MailCheckpoint{UIDValidity: mb.UidValidity}
	}
	h.MailboxConnected(true)
	w.o.Logger.Info("mailbox: watching", "folder", w.o.Folder, "uidvalidity", mb.UidValidity, "messages", mb.Messages)
	idle, err := c.Support("IDLE")
	if err != nil {
		return fmt.Errorf("imap: capability: %w", err)
	}
	for {
		// Every round searches the whole folder: what arrived while we were away, and anything
		// handled but not yet moved (the move is after the commit), is found again.
		if err := w.scanFolder(ctx, c, h, &cp); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if cur := c.Mailbox(); cur != nil && cur.UidValidity != cp.UIDValidity {
			return fmt.Errorf("imap: UIDVALIDITY of %s changed from %d to %d", w.o.Folder, cp.UIDValidity, cur.UidValidity)
		}
		if idle {
			err = w.idle(ctx, c, wake)
		} else {
			err = w.poll(ctx, c, wake)
		}
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		h.MailboxConnected(true) // proof of life at least every ReIdle / PollInterval
	}
}

var errIdleStuck = errors.New("imap: server did not answer DONE")

// idle waits in IDLE until the server reports a change, the re-IDLE interval passes, or ctx
// ends. A server that went silent is caught when DONE gets no answer within CommandTimeout.
func (w *Watcher) idle(ctx context.Context, c *client.Client, wake <-chan struct{}) error {
	stop := make(chan struct{})
	done := make(chan error, 1)
	c.Timeout = 0 // IDLE lasts longer than one command's timeout; DONE is watched below
	go func() { done <- c.Idle(stop, &client.IdleOptions{LogoutTimeout: -1}) }()
	t := time.NewTimer(w.o.ReIdle)
	defer t.Stop()
	var err error
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	case <-c.LoggedOut():
	case err = <-done:
		c.Timeout = w.o.CommandTimeout
		if err == nil {
			err = errors.New("imap: IDLE ended by the server")
		}
		return err
	}
	close(stop)
	select {
	case err = <-done:
	case <-time.After(w.o.CommandTimeout):
		_ = c.Terminate()
		<-done
		err = errIdleStuck
	}
	c.Timeout = w.o.CommandTimeout
	select {
	case <-c.LoggedOut():
		if err == nil {
			err = errors.New("imap: server closed the connection")
		}
	default:
	}
	return err
}

// poll is the fall-back for servers without IDLE: wait, then NOOP so the server reports news.
func (w *Watcher) poll(ctx context.Context, c *client.Client, wake <-chan struct{}) error {
	t := time.NewTimer(w.o.PollInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil
	case <-wake:
	case <-t.C:
	case <-c.LoggedOut():
		return errors.New("imap: server closed the connection")
	}
	if err := c.Noop(); err != nil {
		return fmt.Errorf("imap: noop: %w", err)
	}
	return nil
}

func (w *Watcher) ensureFolders(c *client.Client) error {
	ch := make(chan *imap.MailboxInfo, 32)
	done := make(chan error, 1)
	go func() { done <- c.List("", "*", ch) }()
	have := map[string]bool{}
	for mb := range ch {
		have[mb.Name] = true
	}
	if err := <-done; err != nil {
		return fmt.Errorf("imap: list folders: %w", err)
	}
	for _, f := range []string{w.o.ProcessedFolder, w.o.ReviewFolder} {
		if have[f] {
			continue
		}
		if err := c.Create(f); err != nil && !strings.Contains(strings.ToUpper(err.Error()), "ALREADYEXISTS") {
			return fmt.Errorf("imap: create folder %q: %w", f, err)
		}
		w.o.Logger.Info("mailbox: created folder", "folder", f)
	}
	return nil
}

// scanFolder handles every message in the folder, oldest UID first, in batches.
func (w *Watcher) scanFolder(ctx context.Context, c *client.Client, h mypt.MailHandler, cp *mypt.MailCheckpoint) error {
	crit := imap.NewSearchCriteria()
	crit.WithoutFlags = []string{imap.DeletedFlag}
	uids, err := c.UidSearch(crit)
	if err != nil {
		return fmt.Errorf("imap: search %s: %w", w.o.Folder, err)
	}
	slices.Sort(uids)
	for len(uids) > 0 && ctx.Err() == nil {
		n := min(len(uids), w.o.BatchSize)
		batch := uids[:n]
		uids = uids[n:]
		sizes, err := w.sizes(c, batch)
		if err != nil {
			return err
		}
		for _, uid := range batch {
			if ctx.Err() != nil {
				return nil
			}
			size, ok := sizes[uid]
			if !ok {
				continue // expunged meanwhile
			}
			if err := w.handleOne(ctx, c, h, cp, uid, size); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *Watcher) sizes(c *client.Client, uids []uint32) (map[uint32]uint32, error) {
	set := new(imap.SeqSet)
	set.AddNum(uids...)
	ch := make(chan *imap.Message, 16)
	done := make(chan error, 1)
	go func() { done <- c.UidFetch(set, []imap.FetchItem{imap.FetchUid, imap.FetchRFC822Size}, ch) }()
	out := make(map[uint32]uint32, len(uids))
	for m := range ch {
		out[m.Uid] = m.Size
	}
	if err := <-done; err != nil {
		return nil, fmt.Errorf("imap: fetch sizes: %w", err)
	}
	return out, nil
}

func (w *Watcher) handleOne(ctx context.Context, c *client.Client, h mypt.MailHandler, cp *mypt.MailCheckpoint, uid, size uint32) error {
	section := &imap.BodySectionName{Peek: true}
	if int(size) > w.o.MaxMessageBytes {
		section = &imap.BodySectionName{Peek: true, BodyPartName: imap.BodyPartName{Specifier: imap.HeaderSpecifier}}
	}
	set := new(imap.SeqSet)
	set.AddNum(uid)
	ch := make(chan *imap.Message, 4)
	done := make(chan error, 1)
	go func() { done <- c.UidFetch(set, []imap.FetchItem{imap.FetchUid, section.FetchItem()}, ch) }()
	var raw []byte
	var readErr error
	for msg := range ch {
		if r := msg.GetBody(section); r != nil && msg.Uid == uid {
			raw, readErr = io.ReadAll(io.LimitReader(r, int64(w.o.MaxMessageBytes)+1))
		}
	}
	if err := <-done; err != nil {
		return fmt.Errorf("imap: fetch uid %d: %w", uid, err)
	}
	if readErr != nil {
		return fmt.Errorf("imap: read uid %d: %w", uid, readErr)
	}
	if raw == nil {
		return nil // gone meanwhile
	}
	m := ParseMessage(raw, w.o.MaxMessageBytes)
	if int(size) > w.o.MaxMessageBytes {
		m.Size = int(size)
		m.Problem = fmt.Sprintf("message of %d bytes is larger than the limit of %d", size, w.o.MaxMessageBytes)
		m.Text = ""
	}
	m.Mailbox, m.UIDValidity, m.UID = w.o.Folder, cp.UIDValidity, uid
	disp, err := h.HandleMail(ctx, m)
	if err != nil {
		return fmt.Errorf("imap: handle uid %d: %w", uid, err)
	}
	if uid > cp.LastUID {
		cp.LastUID = uid
	}
	dest := w.o.ProcessedFolder
	if disp == mypt.MailToReview {
		dest = w.o.ReviewFolder
	}
	// MOVE, or go-imap's COPY + \Deleted + EXPUNGE where the server lacks MOVE.
	if err := c.UidMove(set, dest); err != nil {
		return fmt.Errorf("imap: move uid %d to %q: %w", uid, dest, err)
	}
	return nil
}

// xoauth2 is the SASL XOAUTH2 mechanism (Google, Microsoft 365).
type xoauth2 struct{ user, token string }

func (x xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

// Next answers the server's error challenge (a JSON status) with an empty response, after which
// the server fails the exchange with a tagged NO.
func (x xoauth2) Next([]byte) ([]byte, error) { return []byte{}, nil }
