package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"mypt"
	"mypt/adapters/sqlite"
	"mypt/config"
	"mypt/internal/synth"
	"mypt/portal"
)

// demoOptions are `mypt demo`'s flags.
type demoOptions struct {
	Data            string
	Addr, AdminAddr string
	Students        int
	Seed            uint64
	InsecureCookies bool
	AsOf            mypt.Date // "today" for the college; zero = today in London
	Log             string    // log level
	// BatchRows is how many rows go in each pushed batch.
	BatchRows int
	// MIS is how the college reaches the cache: "push" (NDJSON batches to our own push API, the
	// default) or "tds" (served by an in-process SQL Server TDS server and pulled through the
	// real go-mssqldb driver, adapter and pull loop).
	MIS string
	// Public and Internal, when set, are used instead of listening on Addr and AdminAddr
	// (tests pass 127.0.0.1:0 listeners).
	Public, Internal net.Listener
	// Now is the clock (time.Now when nil); tests fix it so eligibility never depends on the
	// day they run.
	Now func() time.Time
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	var o demoOptions
	var asOf string
	fs.StringVar(&o.Data, "data", "./mypt-demo", "directory for the demo's cache and mail (replaced on each run)")
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:8080", "parents' portal address (plain http)")
	fs.StringVar(&o.AdminAddr, "admin-addr", "127.0.0.1:9090", "internal site address: staff, MIS push, metrics")
	fs.IntVar(&o.Students, "students", 1000, "number of students in the synthetic college")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the synthetic college (same seed, same college)")
	fs.BoolVar(&o.InsecureCookies, "insecure-cookies", true, "send cookies without Secure/__Host- so plain http works")
	fs.StringVar(&asOf, "as-of", "", "the college's today, YYYY-MM-DD (default: today)")
	fs.StringVar(&o.Log, "log-level", "info", "log level: debug, info, warn or error")
	fs.IntVar(&o.BatchRows, "batch-rows", 20000, "rows per pushed batch")
	fs.StringVar(&o.MIS, "mis", "push", `how the college reaches the cache: "push" (the push API) or "tds" (pulled from an in-process SQL Server TDS server)`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if asOf != "" {
		d, err := mypt.ParseDate(asOf)
		if err != nil {
			return fmt.Errorf("demo: --as-of: %w", err)
		}
		o.AsOf = d
	}
	if o.MIS != "push" && o.MIS != "tds" {
		return fmt.Errorf("demo: --mis %q: want push or tds", o.MIS)
	}
	logger, err := newLogger(stderr, "text", o.Log)
	if err != nil {
		return err
	}
	return demo(ctx, o, stdout, logger)
}

// demoConfig is the configuration the demo runs on: embedded defaults, the two synthetic
// colleges, automatic approval, plain-http cookies and every email to DIR/mail.
func demoConfig(o demoOptions, publicAddr, internalAddr string) config.Config {
	cfg := config.Default()
	cfg.Data.Dir = o.Data
	cfg.College = config.CollegeConfig{
		Name:            "Croydon and Coulsdon Colleges",
		SupportEmail:    "parentportal@croydon.example.ac.uk",
		AttendanceEmail: "attendance@croydon.example.ac.uk",
		PublicBaseURL:   "http://" + publicAddr,
	}
	for _, s := range synth.Sites {
		cfg.College.Sites = append(cfg.College.Sites, config.College{Code: s.Code, Name: s.Name})
	}
	cfg.Public.Addr, cfg.Internal.Addr = publicAddr, internalAddr
	cfg.Portal.InsecureCookies = o.InsecureCookies
	cfg.Accounts.ApprovalPolicy = config.ApprovalAuto
	cfg.Accounts.MailDir = filepath.Join(o.Data, "mail")
	setDemoMail(&cfg, filepath.Join(o.Data, "mail"))
	return cfg
}

// demo runs the whole product on a synthetic college until ctx ends.
func demo(ctx context.Context, o demoOptions, stdout io.Writer, logger *slog.Logger) error {
	started := time.Now()
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AsOf.IsZero() {
		o.AsOf = mypt.DateOf(o.Now().In(londonLocation()))
	}
	if err := freshDemoDir(o.Data); err != nil {
		return err
	}
	public, internal := o.Public, o.Internal
	var err error
	if public == nil {
		if public, err = net.Listen("tcp", o.Addr); err != nil {
			return fmt.Errorf("demo: public listener: %w", err)
		}
	}
	if internal == nil {
		if internal, err = net.Listen("tcp", o.AdminAddr); err != nil {
			public.Close()
			return fmt.Errorf("demo: internal listener: %w", err)
		}
	}
	pushToken := randomPassword(32)
	cfg := demoConfig(o, public.Addr().String(), internal.Addr().String())
	cfg.Push.Tokens = []config.Secret{config.Secret(pushToken)}
	if err := cfg.Validate(); err != nil {
		public.Close()
		internal.Close()
		return fmt.Errorf("demo: %w", err)
	}
	syncNow := &laterHandler{}
	a, err := newApp(ctx, appOptions{Config: cfg, Logger: logger, Now: o.Now, Public: public, Internal: internal, SyncNow: syncNow})
	if err != nil {
		return err // newApp closed the listeners
	}
	runErr := make(chan error, 1)
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	go func() { runErr <- a.run(runCtx) }()

	setup := func() ([]string, error) {
		college, err := synth.Generate(synth.Options{Seed: o.Seed, Students: o.Students, AsOf: o.AsOf})
		if err != nil {
			return nil, err
		}
		generated := time.Since(started)
		pushURL := "http://" + internal.Addr().String() + "/mis/v1/batches"
		var misLine string
		rows := len(college.Rows())
		if o.MIS == "tds" {
			d, err := startDemoTDS(ctx, o.Data, college.Rows(), a.store, logger, a.reg)
			if err != nil {
				return nil, err
			}
			go func() {
				defer d.Close()
				if err := d.Puller.Run(runCtx); err != nil {
					logger.Warn("demo: pull loop stopped", "err", err)
				}
			}()
			syncNow.set(a.syncTrigger(d.Puller))
			misLine = "mis " + d.Addr + " " + d.DSNFile
		} else if _, err := feedCollege(ctx, a, college, pushURL, pushToken, o); err != nil {
			return nil, err
		}
		logger.Info("demo college loaded", "students", len(college.Students), "rows", rows, "via", o.MIS,
			"generate_ms", generated.Milliseconds(), "load_ms", (time.Since(started) - generated).Milliseconds())
		if err := demoMailboxReview(ctx, a.store, a.cfg); err != nil {
			return nil, err
		}
		lines, err := demoAccounts(ctx, a, college, pushURL, pushToken)
		if err == nil && misLine != "" {
			lines = append(lines[:len(lines)-1], misLine, lines[len(lines)-1])
		}
		return lines, err
	}
	lines, err := setup()
	if err != nil {
		stopRun()
		runErr := <-runErr
		if ctx.Err() != nil {
			return runErr // interrupted while loading: not a failure
		}
		return errors.Join(fmt.Errorf("demo: %w", err), runErr)
	}
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	logger.Info("demo ready", "portal", "http://"+public.Addr().String()+"/", "internal", "http://"+internal.Addr().String()+"/",
		"mail_dir", filepath.Join(o.Data, "mail"), "startup_ms", time.Since(started).Milliseconds())
	return <-runErr
}

// freshDemoDir empties the demo's cache and mail so every run starts from the same college.
func freshDemoDir(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "mail"), 0o750); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	lock, err := sqlite.AcquireLock(filepath.Join(dir, "mypt.db"))
	if err != nil {
		return fmt.Errorf("demo: %w (is another demo running on %s?)", err, dir)
	}
	defer lock.Release()
	for _, name := range []string{"mypt.db", "mypt.db-wal", "mypt.db-shm"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("demo: remove old cache: %w", err)
		}
	}
	old, _ := filepath.Glob(filepath.Join(dir, "mail", "*.eml"))
	for _, f := range old {
		os.Remove(f)
	}
	return nil
}

// feedCollege sends the college through the push path: NDJSON batches POSTed to our own
// internal listener when a push handler is wired, else parsed and applied in-process by the
// same ParseBatch + ApplyBatch the push handler uses. It returns the number of rows sent.
func feedCollege(ctx context.Context, a *app, c *synth.College, url, token string, o demoOptions) (int, error) {
	rows := c.Rows()
	var buf bytes.Buffer
	for i, chunk := range synth.Chunks(rows, o.BatchRows) {
		buf.Reset()
		id := fmt.Sprintf("demo-%d-%d-%04d", o.Seed, len(c.Students), i+1)
		if err := synth.WriteNDJSON(&buf, id, chunk); err != nil {
			return 0, err
		}
		if a.portalPushWired() {
			if err := postBatch(ctx, url, token, id, buf.Bytes()); err != nil {
				return 0, err
			}
			continue
		}
		b, err := mypt.ParseBatch(&buf, mypt.ParseLimits{})
		if err != nil {
			return 0, fmt.Errorf("batch %s: %w", id, err)
		}
		b.Source, b.AllOrNothing = "demo", true
		res, err := a.store.ApplyBatch(ctx, b)
		if err != nil {
			return 0, fmt.Errorf("batch %s: %w", id, err)
		}
		if len(res.Rejected) > 0 {
			return 0, fmt.Errorf("batch %s: %d rows rejected, first: %+v", id, len(res.Rejected), res.Rejected[0])
		}
	}
	return len(rows), nil
}

// postBatch POSTs one NDJSON batch as the MIS's nightly job would.
func postBatch(ctx context.Context, url, token, id string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("push %s: %w", id, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("push %s: %s: %s", id, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// demoAccounts creates the approved parent accounts and the staff user, and returns the
// lines the demo prints.
func demoAccounts(ctx context.Context, a *app, c *synth.College, pushURL, pushToken string) ([]string, error) {
	argon := argonParams(a.cfg.Portal)
	var lines []string
	for _, p := range c.Parents {
		password := randomPassword(16)
		hash, err := portal.HashPassword(password, argon)
		if err != nil {
			return nil, err
		}
		id, err := a.store.CreateAccount(ctx, mypt.Account{Email: p.Email, FirstName: p.FirstName, LastName: p.LastName, PasswordHash: hash})
		if err != nil {
			return nil, fmt.Errorf("demo account %s: %w", p.Email, err)
		}
		for i, sid := range p.StudentIDs {
			if err := a.store.LinkStudent(ctx, mypt.StudentLink{AccountID: id, StudentID: sid, ContactID: p.ContactIDs[i],
				Relationship: p.Relationship, ApprovedBy: "auto"}); err != nil {
				return nil, fmt.Errorf("demo account %s: %w", p.Email, err)
			}
		}
		lines = append(lines, fmt.Sprintf("login %s %s %s", sqlite.NormalizeEmail(p.Email), password, strings.Join(p.StudentIDs, ",")))
	}
	staffEmail, staffPassword := "staff@croydon.example.ac.uk", randomPassword(16)
	hash, err := portal.HashPassword(staffPassword, argon)
	if err != nil {
		return nil, err
	}
	if _, err := a.store.CreateStaffUser(ctx, staffEmail, "Demo Staff", hash); err != nil {
		return nil, fmt.Errorf("demo staff user: %w", err)
	}
	lines = append(lines, "staff "+staffEmail+" "+staffPassword, "push "+pushURL+" "+pushToken)
	return lines, nil
}

// argonParams is the configured password hash cost.
func argonParams(p config.PortalConfig) portal.Argon2Params {
	a := portal.DefaultArgon2Params()
	p = p.WithDefaults()
	a.MemoryKiB, a.Iterations, a.Parallelism = p.Argon2.MemoryKiB, p.Argon2.Iterations, p.Argon2.Parallelism
	return a
}

// randomPassword is n characters from an alphabet without look-alikes.
func randomPassword(n int) string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func londonLocation() *time.Location {
	if l, err := time.LoadLocation("Europe/London"); err == nil {
		return l
	}
	return time.UTC
}

// laterHandler forwards to a handler set after the server started (the demo's TDS pull loop
// exists only once the college is loaded); until then it answers noPullSyncer's JSON 404.
type laterHandler struct {
	mu sync.Mutex
	h  http.Handler
}

func (l *laterHandler) set(h http.Handler) {
	l.mu.Lock()
	l.h = h
	l.mu.Unlock()
}

func (l *laterHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	h := l.h
	l.mu.Unlock()
	if h == nil {
		h = noPullSyncer
	}
	h.ServeHTTP(w, r)
}
