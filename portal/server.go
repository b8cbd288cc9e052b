// Package portal is mypt's HTTP side: the parents' site on the public listener and the staff,
// MIS-push and ops site on the internal listener. Templates and static files are embedded and
// parsed at start-up; every route of a listener is listed in one function (routesPublic,
// routesInternal) so the table reads at a glance and a test can build it (HR-1).
package portal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"

	"mypt"
	"mypt/config"
)

// Reader is the cache as the portal's pages read it. ErrNotFound means "no such row".
type Reader interface {
	StudentAccess(ctx context.Context, accountID int64, studentID string) (mypt.StudentAccess, error)
	StudentAccessList(ctx context.Context, accountID int64) ([]mypt.StudentAccess, error)
	StudentEnrolments(ctx context.Context, studentID string) ([]mypt.CourseEnrolment, error)
	StudentTutors(ctx context.Context, studentID string) ([]mypt.Tutor, error)
	MarkTypes(ctx context.Context) (map[string]mypt.MarkType, error)
	AttendanceMarks(ctx context.Context, studentID string, year int) ([]mypt.AttendanceMark, error)
	AttendanceWeeks(ctx context.Context, studentID string, year int) ([]mypt.AttendanceTally, error)
	AttendanceYears(ctx context.Context, studentID string, year int) ([]mypt.AttendanceTally, error)
	AttendanceYearList(ctx context.Context, studentID string) ([]int, error)
	Documents(ctx context.Context, studentID string) ([]mypt.DocumentSummary, error)
	Document(ctx context.Context, studentID, documentID string) (mypt.Document, error)
	Achievements(ctx context.Context, studentID string) ([]mypt.Achievement, error)
	TargetGrades(ctx context.Context, studentID string) ([]mypt.TargetGrade, error)
	Targets(ctx context.Context, studentID string) ([]mypt.Target, error)
	PolicyReads(ctx context.Context, studentID string) ([]mypt.PolicyRead, error)
	Meetings(ctx context.Context, studentID string) ([]mypt.Meeting, error)
	FurtherDetail(ctx context.Context, studentID string) (mypt.FurtherDetail, error)
}

// Auth is the sign-in state: accounts, the failed-attempt counter, sessions and the audit log.
type Auth interface {
	AccountByEmail(ctx context.Context, email string) (mypt.Account, error)
	Account(ctx context.Context, id int64) (mypt.Account, error)
	RecordLoginFailure(ctx context.Context, accountID int64, maxAttempts int) (mypt.LoginFailure, error)
	RecordLoginSuccess(ctx context.Context, accountID int64) error
	CreateSession(ctx context.Context, accountID int64, clientAddr string) (string, mypt.Session, error)
	SessionAccount(ctx context.Context, id string) (mypt.Session, mypt.Account, error)
	// SessionStudentAccess is SessionAccount plus StudentAccess in one query; linked is false
	// when the account has no link to the student or there is no such student.
	SessionStudentAccess(ctx context.Context, id, studentID string) (sess mypt.Session, acct mypt.Account, access mypt.StudentAccess, linked bool, err error)
	TouchSession(ctx context.Context, idHash []byte, at time.Time) error
	DeleteSession(ctx context.Context, idHash []byte) error
	DeleteExpiredSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error)
	SetPasswordHash(ctx context.Context, accountID int64, oldHash, hash string) error
	WriteAudit(ctx context.Context, entries ...mypt.AuditEntry) error
}

// Store is everything the portal needs from the cache (*sqlite.Store satisfies it).
type Store interface {
	Reader
	Auth
}

// Options configure New. Store is required; the rest have defaults.
type Options struct {
	Store      Store
	Logger     *slog.Logger
	Registerer prometheus.Registerer // metrics go here; nil registers nothing anywhere
	Now        func() time.Time      // the clock; time.Now when nil

	College     config.CollegeConfig
	Portal      config.PortalConfig // WithDefaults is applied
	Eligibility mypt.EligibilityPolicy
	Bands       []mypt.Band         // DefaultBands when nil
	Unmarked    mypt.UnmarkedPolicy // how unmarked sessions count; UnmarkedIgnored when ""
	Location    *time.Location      // where instants are shown; Europe/London when nil

	// HSTS sends Strict-Transport-Security even when the request reached us over plain HTTP
	// (TLS terminated by a proxy). Requests over TLS always get it.
	HSTS bool
	// TrustProxyHeaders takes the client address from the last X-Forwarded-For entry.
	TrustProxyHeaders bool

	// Internal listener parts, owned by other areas; a nil handler answers 404.
	Gatherer  prometheus.Gatherer // GET /metrics
	Readiness []ReadinessCheck    // GET /readyz
	Push      http.Handler        // POST /mis/v1/batches
	SyncNow   http.Handler        // POST /mis/v1/sync

	// Accounts configures the account pages (request, verify, consent, reset) and the staff
	// site (portal/account*.go, portal/admin*.go).
	Accounts AccountsOptions

	// AuditFlushInterval bounds how long a view's audit record may wait to be written
	// together with others (default 200ms). Close writes whatever is pending.
	AuditFlushInterval time.Duration
}

// Server serves both listeners. Build it with New; call Close when done.
type Server struct {
	opts     Options
	cfg      config.PortalConfig
	store    Store
	log      *slog.Logger
	now      func() time.Time
	loc      *time.Location
	tmpl     *templates
	metrics  *HTTPMetrics
	signins  *prometheus.CounterVec
	lockouts prometheus.Counter
	limiter  *ipLimiter
	shadow   *shadowCounter
	dummy    string // a hash verified for unknown emails, so they take as long as known ones
	argon    Argon2Params
	audit    *auditWriter
	pages    *pageCache
	sites    map[string]string
	acct     *accountsSite // nil: account pages and staff site answer 404
}

// New builds the server: parses every template (failing if one is missing), registers the
// metrics, and starts the audit writer.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("portal: Options.Store is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Bands == nil {
		opts.Bands = mypt.DefaultBands()
	}
	if opts.Unmarked == "" {
		opts.Unmarked = mypt.UnmarkedIgnored
	}
	if opts.Eligibility == (mypt.EligibilityPolicy{}) {
		opts.Eligibility = mypt.DefaultEligibility()
	}
	if err := opts.Eligibility.Validate(); err != nil {
		return nil, fmt.Errorf("portal: eligibility: %w", err)
	}
	if opts.Location == nil {
		loc, err := time.LoadLocation("Europe/London")
		if err != nil {
			return nil, fmt.Errorf("portal: load Europe/London (install tzdata or import time/tzdata): %w", err)
		}
		opts.Location = loc
	}
	if opts.AuditFlushInterval <= 0 {
		opts.AuditFlushInterval = 200 * time.Millisecond
	}
	cfg := opts.Portal.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	if opts.College.Name == "" {
		opts.College.Name = "the college"
	}
	tmpl, err := loadTemplates()
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts: opts, cfg: cfg, store: opts.Store, log: opts.Logger, now: opts.Now, loc: opts.Location, tmpl: tmpl,
		argon: Argon2Params{MemoryKiB: cfg.Argon2.MemoryKiB, Iterations: cfg.Argon2.Iterations,
			Parallelism: cfg.Argon2.Parallelism, SaltLen: 16, KeyLen: 32},
		limiter: newIPLimiter(cfg.LoginRatePerMinute, cfg.LoginRateBurst, opts.Now),
		shadow:  newShadowCounter(opts.Now),
		pages:   newPageCache(cfg.PageCacheEntries),
		sites:   map[string]string{},
	}
	for _, site := range opts.College.Sites {
		s.sites[site.Code] = site.Name
	}
	if s.dummy, err = HashPassword("not a password: unknown emails verify against this", s.argon); err != nil {
		return nil, err
	}
	if s.acct, err = newAccountsSite(s, opts.Accounts); err != nil {
		return nil, err
	}
	s.metrics = NewHTTPMetrics(opts.Registerer)
	s.signins = registerOrReuse(opts.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mypt_signins_total",
		Help: "Sign-in attempts on the parents' portal, by result.",
	}, []string{"result"}))
	for _, r := range []string{signinSuccess, signinFailure, signinLocked, signinRateLimited} {
		s.signins.WithLabelValues(r)
	}
	s.lockouts = registerOrReuse(opts.Registerer, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mypt_lockouts_total",
		Help: "Accounts locked after too many wrong passwords.",
	}))
	s.audit = newAuditWriter(opts.Store, opts.Logger, opts.AuditFlushInterval)
	return s, nil
}

// Run removes expired sessions every few minutes until ctx ends (expiry is also checked on
// every request; this keeps the table small). It returns nil when ctx ends.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		s.sweepSessions(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Server) sweepSessions(ctx context.Context) {
	now := s.now()
	n, err := s.store.DeleteExpiredSessions(ctx, now.Add(-s.cfg.SessionIdleTimeout), now.Add(-s.cfg.SessionMaxAge))
	if err != nil && ctx.Err() == nil {
		s.log.Error("portal: delete expired sessions", "err", err)
		return
	}
	if n > 0 {
		s.log.Info("portal: deleted expired sessions", "count", n)
	}
}

// Close writes pending audit records and stops the audit writer. It waits at most until ctx ends.
func (s *Server) Close(ctx context.Context) error { return s.audit.close(ctx) }

// FlushAudit waits until every audit record queued so far is written.
func (s *Server) FlushAudit(ctx context.Context) error { return s.audit.flush(ctx) }

// PublicHandler is the parents' site, with its security headers, body limit and cross-origin
// protection around every route.
func (s *Server) PublicHandler() http.Handler { return s.publicHandler(s.routesPublic()) }

// publicHandler wraps the public router (a benchmark adds a page of its own to it).
func (s *Server) publicHandler(router *httprouter.Router) http.Handler {
	cop := http.NewCrossOriginProtection()
	if u, err := url.Parse(s.opts.College.PublicBaseURL); err == nil && u.Scheme != "" && u.Host != "" {
		// Behind a proxy that rewrites Host, the public address is still our own origin.
		if err := cop.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			s.log.Warn("portal: college.public_base_url is not a usable origin", "err", err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, errCrossOrigin)
	}))
	return s.securityHeaders(cop.Handler(router))
}

// InternalHandler is the staff, MIS-push and ops site. It must never be exposed to the internet.
func (s *Server) InternalHandler() http.Handler {
	return s.securityHeaders(s.routesInternal())
}

// routesPublic lists every route of the public listener.
func (s *Server) routesPublic() *httprouter.Router {
	r := s.newRouter(ListenerPublic)
	h := func(method, path string, fn http.HandlerFunc) { s.handle(r, ListenerPublic, method, path, fn) }

	h("GET", "/", s.handleHome)
	h("GET", "/login", s.handleLoginForm)
	h("POST", "/login", s.handleLogin)
	h("POST", "/logout", s.handleLogout)

	h("GET", "/students/:id", s.studentPage("student", s.handleStudent))
	h("GET", "/students/:id/attendance", s.studentPage("attendance", s.handleAttendance))
	h("GET", "/students/:id/attendance.pdf", s.studentPage("attendance.pdf", s.handleAttendancePDF))
	h("GET", "/students/:id/details", s.studentPage("details", s.handleDetails))
	h("GET", "/students/:id/further-details", s.studentPage("further-details", s.handleFurtherDetails))
	h("GET", "/students/:id/achievements", s.studentPage("achievements", s.handleAchievements))
	h("GET", "/students/:id/documents", s.studentPage("documents", s.handleDocuments))
	h("GET", "/students/:id/documents/:doc", s.studentPage("document", s.handleDocument))
	h("GET", "/students/:id/ilp/policies", s.studentPage("ilp/policies", s.handlePolicies))
	h("GET", "/students/:id/ilp/target-grades", s.studentPage("ilp/target-grades", s.handleTargetGrades))
	h("GET", "/students/:id/ilp/targets", s.studentPage("ilp/targets", s.handleTargets))
	h("GET", "/students/:id/meetings", s.studentPage("meetings", s.handleMeetings))

	// Account requests, email verification, password reset and student consent: portal/account*.go.
	h("GET", "/account-request", s.handleAccountRequestForm)
	h("POST", "/account-request", s.handleAccountRequest)
	h("GET", "/account-request/sent", s.handleAccountRequestSent)
	h("GET", "/verify-email", s.handleVerifyEmailForm)
	h("POST", "/verify-email", s.handleVerifyEmail)
	h("GET", "/forgot-password", s.handleForgotPasswordForm)
	h("POST", "/forgot-password", s.handleForgotPassword)
	h("GET", "/reset-password", s.handleResetPasswordForm)
	h("POST", "/reset-password", s.handleResetPassword)
	h("GET", "/student-consent", s.handleStudentConsentForm)
	h("POST", "/student-consent", s.handleStudentConsent)

	h("GET", "/help", s.handleHelp)
	h("GET", "/help/:topic", s.handleHelpTopic)
	h("GET", "/static/*file", s.handleStatic)
	h("GET", "/favicon.ico", s.handleFavicon)
	return r
}

// routesInternal lists every route of the internal listener.
func (s *Server) routesInternal() *httprouter.Router {
	r := s.newRouter(ListenerInternal)
	h := func(method, path string, fn http.Handler) { s.handle(r, ListenerInternal, method, path, fn) }

	h("GET", "/metrics", s.optional(gathererHandler(s.opts.Gatherer)))
	h("GET", "/healthz", HealthzHandler())
	h("GET", "/readyz", ReadyzHandler(s.opts.Readiness))
	h("POST", "/mis/v1/batches", s.optional(s.opts.Push))
	h("POST", "/mis/v1/sync", s.optional(s.opts.SyncNow))

	// Staff site: portal/admin*.go.
	s.adminRoutes(func(method, path string, fn http.HandlerFunc) { h(method, path, fn) })
	return r
}

func gathererHandler(g prometheus.Gatherer) http.Handler {
	if g == nil {
		return nil
	}
	return MetricsHandler(g)
}

// optional answers 404 for a part another area has not supplied.
func (s *Server) optional(h http.Handler) http.Handler {
	if h == nil {
		return http.HandlerFunc(s.handleNotFound)
	}
	return h
}

func (s *Server) newRouter(listener string) *httprouter.Router {
	r := httprouter.New()
	r.NotFound = s.instrument(listener, RouteNotFound, http.HandlerFunc(s.handleNotFound))
	r.MethodNotAllowed = s.instrument(listener, RouteMethodNotAllowed, http.HandlerFunc(s.handleMethodNotAllowed))
	r.PanicHandler = func(w http.ResponseWriter, req *http.Request, v any) {
		s.renderError(w, req, fmt.Errorf("portal: panic serving %s: %v", req.URL.Path, v))
	}
	return r
}

// handle registers one route, instrumented under its pattern. A GET route answers HEAD too
// (net/http drops the body; the status and headers are the GET's).
func (s *Server) handle(r *httprouter.Router, listener, method, path string, h http.Handler) {
	ih := s.instrument(listener, path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, withRoute(r, path))
	}))
	r.Handler(method, path, ih)
	if method == http.MethodGet {
		r.Handler(http.MethodHead, path, ih)
	}
}

// instrument is the one place HTTP metrics wrap a handler.
func (s *Server) instrument(listener, route string, h http.Handler) http.Handler {
	return s.metrics.InstrumentHandler(listener, route, h)
}

// securityHeaders sets the headers every response carries and bounds request bodies.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if r.TLS != nil || s.opts.HSTS {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		// The push API (/mis/) bounds its own, much larger, NDJSON bodies (push.max_body_bytes).
		if r.Body != nil && r.Method != http.MethodGet && r.Method != http.MethodHead && !strings.HasPrefix(r.URL.Path, "/mis/") {
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxFormBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// clientAddr is the request's client address (the last X-Forwarded-For hop when configured).
func (s *Server) clientAddr(r *http.Request) string {
	if s.opts.TrustProxyHeaders {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			parts := strings.Split(xff, ",")
			if a := strings.TrimSpace(parts[len(parts)-1]); a != "" {
				return a
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// siteName is the name of the student's own college, falling back to the organisation's.
func (s *Server) siteName(code string) string {
	if n, ok := s.sites[code]; ok && n != "" {
		return n
	}
	return s.opts.College.Name
}

func (s *Server) today() mypt.Date { return mypt.DateOf(s.now().In(s.loc)) }
