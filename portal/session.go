package portal

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/julienschmidt/httprouter"
	"golang.org/x/time/rate"

	"mypt"
)

// Sign-in results, the values of mypt_signins_total{result}.
const (
	signinSuccess     = "success"
	signinFailure     = "failure"
	signinLocked      = "locked"
	signinRateLimited = "rate_limited"
)

// csrfField is the hidden form field holding the CSRF token.
const csrfField = "csrf_token"

// touchEvery limits session writes: last_seen_at is refreshed at most this often, which is
// precise enough for a 20-minute idle timeout.
const touchEvery = time.Minute

func (s *Server) sessionCookieName() string {
	if s.cfg.InsecureCookies {
		return "mypt_session"
	}
	return "__Host-mypt_session"
}

func (s *Server) csrfCookieName() string {
	if s.cfg.InsecureCookies {
		return "mypt_csrf"
	}
	return "__Host-mypt_csrf"
}

func (s *Server) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: !s.cfg.InsecureCookies, SameSite: http.SameSiteLaxMode}
}

// requestSession is a valid, unexpired session with the account's display name.
type requestSession struct {
	mypt.Session
	accountName string
}

type sessionKey struct{}

func sessionFrom(ctx context.Context) *requestSession {
	s, _ := ctx.Value(sessionKey{}).(*requestSession)
	return s
}

func paramsOf(r *http.Request) httprouter.Params { return httprouter.ParamsFromContext(r.Context()) }

// loadSession returns the request's valid session, or nil. An expired session (idle or past its
// absolute lifetime) is deleted and its cookie cleared.
func (s *Server) loadSession(w http.ResponseWriter, r *http.Request) (*requestSession, error) {
	return s.loadSessionVia(w, r, s.store.SessionAccount)
}

// loadSessionVia is loadSession with the lookup given, so a student page can read the session
// and the access rule's facts in one query.
func (s *Server) loadSessionVia(w http.ResponseWriter, r *http.Request,
	lookup func(ctx context.Context, id string) (mypt.Session, mypt.Account, error)) (*requestSession, error) {
	c, err := r.Cookie(s.sessionCookieName())
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil, nil
	}
	sess, acct, err := lookup(r.Context(), c.Value)
	if errors.Is(err, mypt.ErrNotFound) {
		http.SetCookie(w, s.cookie(s.sessionCookieName(), "", -1))
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if now.Sub(sess.LastSeenAt) > s.cfg.SessionIdleTimeout || now.Sub(sess.CreatedAt) > s.cfg.SessionMaxAge {
		if err := s.store.DeleteSession(r.Context(), sess.IDHash); err != nil {
			return nil, err
		}
		http.SetCookie(w, s.cookie(s.sessionCookieName(), "", -1))
		return nil, nil
	}
	if acct.Locked() {
		// A lock ends every session at once, not at the next sign-in.
		if err := s.store.DeleteSession(r.Context(), sess.IDHash); err != nil {
			return nil, err
		}
		http.SetCookie(w, s.cookie(s.sessionCookieName(), "", -1))
		return nil, nil
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		if err := s.store.TouchSession(r.Context(), sess.IDHash, now); err != nil {
			return nil, err
		}
	}
	return &requestSession{Session: sess, accountName: strings.TrimSpace(acct.FirstName + " " + acct.LastName)}, nil
}

// withOptionalSession attaches the session, if any, so pages show the signed-in header.
func (s *Server) withOptionalSession(w http.ResponseWriter, r *http.Request) *http.Request {
	if sessionFrom(r.Context()) != nil {
		return r
	}
	sess, err := s.loadSession(w, r)
	if err != nil || sess == nil {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess))
}

// requireSession attaches the session or redirects to the sign-in page and returns nil.
func (s *Server) requireSession(w http.ResponseWriter, r *http.Request) *http.Request {
	return s.requireSessionVia(w, r, s.store.SessionAccount)
}

func (s *Server) requireSessionVia(w http.ResponseWriter, r *http.Request,
	lookup func(ctx context.Context, id string) (mypt.Session, mypt.Account, error)) *http.Request {
	sess, err := s.loadSessionVia(w, r, lookup)
	if err != nil {
		s.renderError(w, r, err)
		return nil
	}
	if sess == nil {
		next := r.URL.Path
		if r.URL.RawQuery != "" {
			next += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
		return nil
	}
	return r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess))
}

// CSRFToken returns the token forms on this response must carry in the csrf_token field: the
// session's when signed in, otherwise a pre-session token kept in its own cookie (set here).
func (s *Server) CSRFToken(w http.ResponseWriter, r *http.Request) string {
	if sess := sessionFrom(r.Context()); sess != nil {
		return sess.CSRFToken
	}
	if c, err := r.Cookie(s.csrfCookieName()); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	tok := randomToken()
	http.SetCookie(w, s.cookie(s.csrfCookieName(), tok, 0))
	return tok
}

// ValidCSRF reports whether the posted csrf_token matches the session's (signed in) or the
// pre-session cookie's. Call it after the form is parsed.
func (s *Server) ValidCSRF(r *http.Request) bool {
	got := r.PostFormValue(csrfField)
	if got == "" {
		return false
	}
	want := ""
	if sess := sessionFrom(r.Context()); sess != nil {
		want = sess.CSRFToken
	} else if c, err := r.Cookie(s.csrfCookieName()); err == nil {
		want = c.Value
	}
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// FormError classifies an error from ParseForm: a body over the limit (413) or a malformed
// form (400), never a 500.
func FormError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return fmt.Errorf("%w: %w", errBadRequest, err)
}

// safeNext keeps a post-sign-in redirect on this site: a path on this host, or "/". Browsers
// drop tabs and newlines from a Location and read a backslash as a slash, so "/\t/evil" or
// "/\\evil" would leave the site as "//evil": any control character or backslash is refused,
// and what remains must parse as a path with no scheme, host or user.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' || r == utf8.RuneError }) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") ||
		strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return next
}

type fieldError struct {
	Field   string // the input's id, for the error summary's link
	Message string
}

// errorFor is the message errs has for field, "" when it has none: the pages' FieldError.
func errorFor(errs []fieldError, field string) string {
	for _, e := range errs {
		if e.Field == field {
			return e.Message
		}
	}
	return ""
}

type loginView struct {
	Base
	Email     string
	Next      string
	Errors    []fieldError
	Warning   string // the one-attempt-left or locked warning
	SignedOut bool
	Expired   bool
}

func (v *loginView) FieldError(field string) string { return errorFor(v.Errors, field) }

func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	r = s.withOptionalSession(w, r)
	if sessionFrom(r.Context()) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	v := &loginView{Next: safeNext(r.URL.Query().Get("next")), SignedOut: r.URL.Query().Has("signed_out")}
	v.Title = "Sign in"
	v.CSRFToken = s.CSRFToken(w, r)
	s.render(w, r, http.StatusOK, "login", v)
}

// Sign-in messages. They are the same for an unknown email as for a known one, so the page
// never tells anyone whether an email has an account.
const (
	msgWrong    = "The email address or password is not right. Check them and try again."
	msgLastTry  = "The email address or password is not right. You have one attempt left before the account locks. If you are not sure of your password, use “Forgot your password?” now instead."
	msgLocked   = "You cannot sign in: after %d wrong passwords the account is locked. To unlock it, email %s with your name, a contact number and your child's Student ID. If you have forgotten your password, use “Forgot your password?” first."
	msgTooMany  = "There have been too many sign-in attempts from your network. Please wait a minute and try again."
	msgExpired  = "The sign-in form had expired. Please try again."
	msgNoEmail  = "Enter your email address"
	msgNoPasswd = "Enter your password"
)

func (s *Server) lockedMessage() string {
	support := s.opts.College.SupportEmail
	if support == "" {
		support = "Parent Portal Support"
	}
	return strings.NewReplacer("%d", itoa(s.cfg.LockoutAttempts), "%s", support).Replace(msgLocked)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, FormError(err))
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	v := &loginView{Email: email, Next: safeNext(r.PostFormValue("next"))}
	v.Title = "Sign in"
	show := func(status int) {
		if status != http.StatusOK {
			v.Title = "Sign in: there is a problem"
		}
		v.CSRFToken = s.CSRFToken(w, r)
		s.render(w, r, status, "login", v)
	}
	if !s.ValidCSRF(r) {
		s.securityEvent(r, "csrf_refused", "bad_token")
		v.Warning = msgExpired
		show(http.StatusForbidden)
		return
	}
	addr := s.clientAddr(r)
	if !s.limiter.allow(addr) {
		s.signins.WithLabelValues(signinRateLimited).Inc()
		s.securityEvent(r, "rate_limited", "login_rate")
		v.Warning = msgTooMany
		w.Header().Set("Retry-After", "60")
		show(http.StatusTooManyRequests)
		return
	}
	if email == "" {
		v.Errors = append(v.Errors, fieldError{"email", msgNoEmail})
	}
	if password == "" {
		v.Errors = append(v.Errors, fieldError{"password", msgNoPasswd})
	}
	if len(v.Errors) > 0 {
		show(http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	acct, err := s.store.AccountByEmail(ctx, email)
	if errors.Is(err, mypt.ErrNotFound) {
		VerifyPassword(password, s.dummy) // the same work as for a real account
		s.signins.WithLabelValues(signinFailure).Inc()
		// Recorded without the address typed: the audit log must not collect strangers' emails.
		s.audit.add(mypt.AuditEntry{At: s.now(), Actor: "unknown", Action: "login_failed", ClientAddr: addr,
			Detail: "no account has that email"})
		n := s.shadow.fail(email)
		s.failureMessage(v, n, n >= s.cfg.LockoutAttempts)
		show(http.StatusUnauthorized)
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	ok, err := VerifyPassword(password, acct.PasswordHash)
	if err != nil && !errors.Is(err, ErrBadHash) {
		s.renderError(w, r, err)
		return
	}
	if acct.Locked() {
		s.signins.WithLabelValues(signinLocked).Inc()
		s.audit.add(mypt.AuditEntry{At: s.now(), Actor: actor(acct.ID), Action: "login_refused_locked", ClientAddr: addr})
		s.securityEvent(r, "login_refused", "locked", "account", acct.ID)
		if ok {
			// Only someone who knows the password learns that the account is locked.
			v.Warning = s.lockedMessage()
		} else {
			// A wrong password on a locked account is answered as for an email with no account
			// (the same counter, the same messages), so "locked" at the first try does not tell
			// a stranger that the email has an account.
			n := s.shadow.fail(email)
			s.failureMessage(v, n, n >= s.cfg.LockoutAttempts)
		}
		show(http.StatusUnauthorized)
		return
	}
	if !ok {
		s.shadow.fail(email) // counted as for any email, for the answer once the account is locked
		f, err := s.store.RecordLoginFailure(ctx, acct.ID, s.cfg.LockoutAttempts)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		s.audit.add(mypt.AuditEntry{At: s.now(), Actor: actor(acct.ID), Action: "login_failed", ClientAddr: addr,
			Detail: fmt.Sprintf("wrong password (attempt %d)", f.Attempts)})
		if f.NewlyLocked {
			s.lockouts.Inc()
			s.securityEvent(r, "lockout", "failed_attempts", "account", acct.ID, "attempts", f.Attempts)
			s.audit.add(mypt.AuditEntry{At: s.now(), Actor: actor(acct.ID), Action: "lockout", ClientAddr: addr,
				Detail: "failed_attempts"})
		}
		if f.Locked && !f.NewlyLocked {
			s.signins.WithLabelValues(signinLocked).Inc()
		} else {
			s.signins.WithLabelValues(signinFailure).Inc()
		}
		s.failureMessage(v, f.Attempts, f.Locked)
		show(http.StatusUnauthorized)
		return
	}
	if err := s.store.RecordLoginSuccess(ctx, acct.ID); errors.Is(err, mypt.ErrLocked) {
		s.signins.WithLabelValues(signinLocked).Inc()
		v.Warning = s.lockedMessage()
		show(http.StatusUnauthorized)
		return
	} else if err != nil {
		s.renderError(w, r, err)
		return
	}
	if NeedsRehash(acct.PasswordHash, s.argon) {
		// The configured cost changed: store the same password at the new cost.
		if h, err := HashPassword(password, s.argon); err == nil {
			// Only over the hash just verified: a reset meanwhile keeps its new password.
			if err := s.store.SetPasswordHash(ctx, acct.ID, acct.PasswordHash, h); err != nil && !errors.Is(err, mypt.ErrConflict) {
				s.log.Error("portal: re-hash password", "err", err)
			}
		}
	}
	// A new session id at every sign-in: any session the browser had (or was given) ends.
	if c, err := r.Cookie(s.sessionCookieName()); err == nil && c.Value != "" {
		sum := sha256.Sum256([]byte(c.Value))
		if err := s.store.DeleteSession(ctx, sum[:]); err != nil {
			s.renderError(w, r, err)
			return
		}
	}
	id, _, err := s.store.CreateSession(ctx, acct.ID, addr)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.signins.WithLabelValues(signinSuccess).Inc()
	s.audit.add(mypt.AuditEntry{At: s.now(), Actor: actor(acct.ID), Action: "login", ClientAddr: addr})
	http.SetCookie(w, s.cookie(s.sessionCookieName(), id, 0))
	http.SetCookie(w, s.cookie(s.csrfCookieName(), "", -1))
	http.Redirect(w, r, v.Next, http.StatusSeeOther)
}

// failureMessage sets the message for the n-th failure in a row.
func (s *Server) failureMessage(v *loginView, n int, locked bool) {
	switch {
	case locked:
		v.Warning = s.lockedMessage()
	case n == s.cfg.LockoutAttempts-1:
		v.Warning = msgLastTry
	default:
		v.Warning = msgWrong
	}
}

func actor(accountID int64) string { return "account:" + itoa(int(accountID)) }

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	r = s.withOptionalSession(w, r)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, FormError(err))
		return
	}
	sess := sessionFrom(r.Context())
	if sess == nil {
		http.SetCookie(w, s.cookie(s.sessionCookieName(), "", -1))
		http.Redirect(w, r, "/login?signed_out=1", http.StatusSeeOther)
		return
	}
	if !s.ValidCSRF(r) {
		s.renderError(w, r, errForbidden)
		return
	}
	if err := s.store.DeleteSession(r.Context(), sess.IDHash); err != nil {
		s.renderError(w, r, err)
		return
	}
	s.audit.add(mypt.AuditEntry{At: s.now(), Actor: actor(sess.AccountID), Action: "logout", ClientAddr: s.clientAddr(r)})
	http.SetCookie(w, s.cookie(s.sessionCookieName(), "", -1))
	w.Header().Set("Clear-Site-Data", `"cache"`)
	http.Redirect(w, r, "/login?signed_out=1", http.StatusSeeOther)
}

// ipLimiter is a token bucket per client address for sign-in attempts.
type ipLimiter struct {
	mu      sync.Mutex
	perMin  float64
	burst   int
	now     func() time.Time
	buckets map[string]*limiterEntry
}

type limiterEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

const (
	maxLimiterEntries = 10000
	maxShadowEntries  = 100000 // about 6 MB
)

// limiterKey is the address a limit counts by: an IPv4 address as it is, an IPv6 address by
// its /64, the block one subscriber is given, so a host cannot step round its limit by
// changing the low bits of its address.
func limiterKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Is4() || ip.Is4In6() {
		return addr
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}

// evictOldest deletes the n least recently seen entries of m.
func evictOldest[K comparable, V any](m map[K]V, n int, seen func(V) time.Time) {
	type kt struct {
		k K
		t time.Time
	}
	all := make([]kt, 0, len(m))
	for k, v := range m {
		all = append(all, kt{k, seen(v)})
	}
	slices.SortFunc(all, func(a, b kt) int { return a.t.Compare(b.t) })
	for _, e := range all[:min(n, len(all))] {
		delete(m, e.k)
	}
}

func newIPLimiter(perMinute float64, burst int, now func() time.Time) *ipLimiter {
	return &ipLimiter{perMin: perMinute, burst: burst, now: now, buckets: map[string]*limiterEntry{}}
}

func (l *ipLimiter) allow(addr string) bool {
	addr = limiterKey(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	e := l.buckets[addr]
	if e == nil {
		if len(l.buckets) >= maxLimiterEntries {
			for k, v := range l.buckets {
				if now.Sub(v.seen) > 10*time.Minute {
					delete(l.buckets, k)
				}
			}
			if len(l.buckets) >= maxLimiterEntries {
				// Under a flood of addresses, forget the least recently seen tenth rather than
				// grow — never every bucket at once, which would reset the flooder's own.
				evictOldest(l.buckets, maxLimiterEntries/10, func(v *limiterEntry) time.Time { return v.seen })
			}
		}
		e = &limiterEntry{lim: rate.NewLimiter(rate.Limit(l.perMin/60), l.burst)}
		l.buckets[addr] = e
	}
	e.seen = now
	return e.lim.AllowN(now, 1)
}

// shadowCounter counts wrong passwords per email typed, whether or not it has an account: it
// answers for emails with no account and for locked accounts, so the second failure warns
// and the third says "locked" exactly as for a real account. It is in memory and bounded.
type shadowCounter struct {
	mu     sync.Mutex
	now    func() time.Time
	counts map[[32]byte]shadowEntry
}

type shadowEntry struct {
	n    int
	seen time.Time
}

func newShadowCounter(now func() time.Time) *shadowCounter {
	return &shadowCounter{now: now, counts: map[[32]byte]shadowEntry{}}
}

// count is how many failures key has had, without adding one.
func (c *shadowCounter) count(key string) int {
	k := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(key))))
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[k].n
}

func (c *shadowCounter) fail(email string) int {
	key := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	e, known := c.counts[key]
	if !known && len(c.counts) >= maxShadowEntries {
		// Full: forget the day-old entries, else the least recently seen tenth — never all at
		// once, which would let a flood of made-up emails reset the count of the one watched.
		for k, v := range c.counts {
			if now.Sub(v.seen) > 24*time.Hour {
				delete(c.counts, k)
			}
		}
		if len(c.counts) >= maxShadowEntries {
			evictOldest(c.counts, maxShadowEntries/10, func(v shadowEntry) time.Time { return v.seen })
		}
	}
	e.n++
	e.seen = now
	c.counts[key] = e
	return e.n
}
