package portal

import (
	"context"
	"crypto/subtle"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"mypt"
)

// The staff site on the internal listener: sign-in, the request queue with match reports and
// the MIS record beside them, approve/reject, locked accounts and unlock, the account page,
// the demo's file-sink emails, mailbox review (placeholder) and the audit export. Every staff
// action is audited as staff:<id>.

// adminRoutes lists every route of the staff site.
func (s *Server) adminRoutes(h func(method, path string, fn http.HandlerFunc)) {
	h("GET", "/admin/", s.staffPage(s.handleAdminHome))
	h("GET", "/admin/static/*file", s.handleStatic)
	h("GET", "/admin/login", s.handleAdminLoginForm)
	h("POST", "/admin/login", s.handleAdminLogin)
	h("POST", "/admin/logout", s.staffPage(s.handleAdminLogout))
	h("GET", "/admin/requests", s.staffPage(s.handleAdminRequests))
	h("GET", "/admin/requests/:id", s.staffPage(s.handleAdminRequest))
	h("POST", "/admin/requests/:id/approve", s.staffPage(s.handleAdminApprove))
	h("POST", "/admin/requests/:id/reject", s.staffPage(s.handleAdminReject))
	h("GET", "/admin/students", s.staffPage(s.handleAdminStudent))
	h("GET", "/admin/accounts", s.staffPage(s.handleAdminAccounts))
	h("GET", "/admin/accounts/:id", s.staffPage(s.handleAdminAccount))
	h("POST", "/admin/accounts/:id/unlock", s.staffPage(s.handleAdminUnlock))
	h("GET", "/admin/mail", s.staffPage(s.handleAdminMail))
	h("GET", "/admin/mail/:name", s.staffPage(s.handleAdminMailMessage))
	h("GET", "/admin/mailbox", s.staffPage(s.handleAdminMailbox))
	h("POST", "/admin/mailbox/:id/done", s.staffPage(s.handleAdminMailboxResolve))
	h("GET", "/admin/audit.csv", s.staffPage(s.handleAdminAuditCSV))
}

// staffSecure reports whether the staff site is reached over HTTPS (directly, or through a
// trusted proxy that says so). The internal listener often runs plain HTTP on a private
// network, where a Secure cookie would never be stored and staff could not sign in.
func (s *Server) staffSecure(r *http.Request) bool {
	if s.cfg.InsecureCookies {
		return false
	}
	return r.TLS != nil || (s.opts.TrustProxyHeaders && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"))
}

func (s *Server) staffCookieName(r *http.Request) string {
	if s.staffSecure(r) {
		return "__Host-mypt_staff"
	}
	return "mypt_staff"
}

// staffCookie is the staff session cookie: HttpOnly, SameSite=Strict (the staff site is never
// reached by a link from elsewhere that needs the session), Secure over HTTPS.
func (s *Server) staffCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: s.staffCookieName(r), Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: s.staffSecure(r), SameSite: http.SameSiteStrictMode}
}

// staffLoginCSRF returns the pre-session CSRF token for the staff sign-in form, kept in a
// cookie of its own with the staff cookie's rules (so it works over plain HTTP too).
func (s *Server) staffLoginCSRF(w http.ResponseWriter, r *http.Request) string {
	name := s.staffCookieName(r) + "_csrf"
	if c, err := r.Cookie(name); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	tok := randomToken()
	c := s.staffCookie(r, tok, 0)
	c.Name = name
	http.SetCookie(w, c)
	return tok
}

func (s *Server) validStaffLoginCSRF(r *http.Request) bool {
	c, err := r.Cookie(s.staffCookieName(r) + "_csrf")
	got := r.PostFormValue(csrfField)
	return err == nil && c.Value != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(c.Value)) == 1
}

type staffKey struct{}

// staffSession is a signed-in staff member.
type staffSession struct {
	mypt.StaffSession
	user mypt.StaffUser
}

func staffFrom(ctx context.Context) *staffSession {
	s, _ := ctx.Value(staffKey{}).(*staffSession)
	return s
}

func staffActor(id int64) string { return "staff:" + strconv.FormatInt(id, 10) }

// staffPage requires a staff session (else redirects to /admin/login) and, for POSTs, a valid
// CSRF token.
func (s *Server) staffPage(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := s.accounts(w, r)
		if a == nil {
			return
		}
		sess, err := s.loadStaffSession(w, r, a)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		if sess == nil {
			http.Redirect(w, r, "/admin/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), staffKey{}, sess))
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				s.renderError(w, r, FormError(err))
				return
			}
			if got := r.PostFormValue(csrfField); got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRFToken)) != 1 {
				s.renderError(w, r, errForbidden)
				return
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		fn(w, r)
	}
}

func (s *Server) loadStaffSession(w http.ResponseWriter, r *http.Request, a *accountsSite) (*staffSession, error) {
	c, err := r.Cookie(s.staffCookieName(r))
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil, nil
	}
	ctx := r.Context()
	sess, err := a.store.StaffSession(ctx, c.Value)
	if errors.Is(err, mypt.ErrNotFound) {
		http.SetCookie(w, s.staffCookie(r, "", -1))
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if now.Sub(sess.LastSeenAt) > a.cfg.StaffSessionIdleTimeout || now.Sub(sess.CreatedAt) > a.cfg.StaffSessionMaxAge {
		if err := a.store.DeleteStaffSession(ctx, sess.IDHash); err != nil {
			return nil, err
		}
		http.SetCookie(w, s.staffCookie(r, "", -1))
		return nil, nil
	}
	u, err := a.store.StaffUser(ctx, sess.StaffID)
	if errors.Is(err, mypt.ErrNotFound) || (err == nil && (u.Disabled || !u.LockedAt.IsZero())) {
		a.store.DeleteStaffSession(ctx, sess.IDHash)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		if err := a.store.TouchStaffSession(ctx, sess.IDHash, now); err != nil {
			return nil, err
		}
	}
	return &staffSession{StaffSession: sess, user: u}, nil
}

// adminBase is what every staff page's layout needs.
type adminBase struct {
	Base
	StaffName string
	Nav       string
	MailPage  bool
}

func (s *Server) adminBase(r *http.Request, title, nav string) adminBase {
	b := adminBase{Nav: nav}
	b.Title = title
	if ss := staffFrom(r.Context()); ss != nil {
		b.StaffName = ss.user.Name
		if b.StaffName == "" {
			b.StaffName = ss.user.Email
		}
		b.CSRFToken = ss.CSRFToken
	}
	b.MailPage = s.acct != nil && s.acct.files != nil
	return b
}

func (s *Server) staffAudit(r *http.Request, action, studentID, page, detail string) mypt.AuditEntry {
	e := mypt.AuditEntry{At: s.now(), Action: action, StudentID: studentID, Page: page, Detail: detail, ClientAddr: s.clientAddr(r)}
	if ss := staffFrom(r.Context()); ss != nil {
		e.Actor = staffActor(ss.StaffID)
	}
	return e
}

// auditNow writes one staff audit entry before the page is answered: staff reading personal
// data is recorded even if the page then fails.
func (s *Server) auditNow(w http.ResponseWriter, r *http.Request, e mypt.AuditEntry) bool {
	if err := s.acct.store.WriteAudit(r.Context(), e); err != nil {
		s.renderError(w, r, err)
		return false
	}
	return true
}

type adminLoginView struct {
	adminBase
	Email   string
	Next    string
	Warning string
}

func (s *Server) handleAdminLoginForm(w http.ResponseWriter, r *http.Request) {
	if s.accounts(w, r) == nil {
		return
	}
	v := &adminLoginView{adminBase: s.adminBase(r, "Staff sign in", ""), Next: safeAdminNext(r.URL.Query().Get("next"))}
	v.CSRFToken = s.staffLoginCSRF(w, r)
	s.render(w, r, http.StatusOK, "admin_login", v)
}

func safeAdminNext(next string) string {
	if !strings.HasPrefix(next, "/admin/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/admin/"
	}
	return next
}

func (s *Server) handleAdminLogin(w http.ResponseWriter, r *http.Request) {
	a := s.accounts(w, r)
	if a == nil {
		return
	}
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, FormError(err))
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	v := &adminLoginView{adminBase: s.adminBase(r, "Staff sign in", ""), Email: email, Next: safeAdminNext(r.PostFormValue("next"))}
	fail := func(status int, msg string) {
		v.Warning = msg
		v.CSRFToken = s.staffLoginCSRF(w, r)
		s.render(w, r, status, "admin_login", v)
	}
	if !s.validStaffLoginCSRF(r) {
		fail(http.StatusForbidden, "The sign-in form had expired. Please try again.")
		return
	}
	if !a.limiter.allow("staff:" + s.clientAddr(r)) {
		fail(http.StatusTooManyRequests, "Too many attempts. Wait a minute and try again.")
		return
	}
	ctx := r.Context()
	password := r.PostFormValue("password")
	addr := strings.ToLower(email)
	// An unknown email, and a wrong password for a staff user already locked or disabled, are
	// answered from the shadow counter (session.go) that also counts every wrong password for
	// a real staff email: the same messages in the same order, so the form does not tell a
	// stranger which emails are staff.
	shadowFail := func() {
		if s.shadow.fail(staffShadowKey(addr)) >= a.cfg.StaffLockoutAttempts {
			fail(http.StatusUnauthorized, staffLockedMessage(addr))
			return
		}
		fail(http.StatusUnauthorized, staffWrongMessage)
	}
	u, err := a.store.StaffUserByEmail(ctx, email)
	if errors.Is(err, mypt.ErrNotFound) {
		VerifyPassword(password, a.staffDum)
		// Audited like a staff user's failure (a write, as theirs has), without the email typed.
		a.store.WriteAudit(ctx, mypt.AuditEntry{At: s.now(), Actor: "unknown", Action: "staff_login_failed", ClientAddr: s.clientAddr(r),
			Detail: "no staff user has that email"})
		shadowFail()
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	ok, _ := VerifyPassword(password, u.PasswordHash)
	if u.Disabled || !u.LockedAt.IsZero() {
		why := "locked"
		if u.Disabled {
			why = "disabled"
		}
		a.store.WriteAudit(ctx, mypt.AuditEntry{At: s.now(), Actor: staffActor(u.ID), Action: "staff_login_refused", ClientAddr: s.clientAddr(r), Detail: why})
		switch {
		case !ok:
			shadowFail()
		case u.Disabled:
			// Only someone who knows the password learns the account's state.
			fail(http.StatusUnauthorized, staffDisabledMessage(addr))
		default:
			fail(http.StatusUnauthorized, staffLockedMessage(addr))
		}
		return
	}
	if !ok {
		s.shadow.fail(staffShadowKey(addr)) // for the answers once the user is locked
		locked, err := a.store.RecordStaffLoginFailure(ctx, u.ID, a.cfg.StaffLockoutAttempts)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		a.store.WriteAudit(ctx, mypt.AuditEntry{At: s.now(), Actor: staffActor(u.ID), Action: "staff_login_failed", ClientAddr: s.clientAddr(r)})
		if locked {
			fail(http.StatusUnauthorized, staffLockedMessage(addr))
			return
		}
		fail(http.StatusUnauthorized, staffWrongMessage)
		return
	}
	if err := a.store.RecordStaffLogin(ctx, u.ID); err != nil {
		if errors.Is(err, mypt.ErrLocked) {
			fail(http.StatusUnauthorized, staffLockedMessage(addr))
			return
		}
		s.renderError(w, r, err)
		return
	}
	if c, err := r.Cookie(s.staffCookieName(r)); err == nil && c.Value != "" {
		if old, err := a.store.StaffSession(ctx, c.Value); err == nil {
			a.store.DeleteStaffSession(ctx, old.IDHash)
		}
	}
	id, _, err := a.store.CreateStaffSession(ctx, u.ID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if err := a.store.WriteAudit(ctx, mypt.AuditEntry{At: s.now(), Actor: staffActor(u.ID), Action: "staff_login", ClientAddr: s.clientAddr(r)}); err != nil {
		s.renderError(w, r, err)
		return
	}
	http.SetCookie(w, s.staffCookie(r, id, 0))
	http.Redirect(w, r, v.Next, http.StatusSeeOther)
}

// The staff sign-in's answers. The commands are the real ones (cmd/mypt/staff.go).
const staffWrongMessage = "The email address or password is not right."

func staffLockedMessage(email string) string {
	return "This staff account is now locked after too many wrong passwords. Ask an administrator to reset it with: mypt staff add --email " +
		email + " --reset"
}

func staffDisabledMessage(email string) string {
	return "This staff account is disabled. Ask an administrator to enable it with: mypt staff enable --email " + email
}

// staffShadowKey keeps the staff sign-in's shadow counts apart from the parents'.
func staffShadowKey(email string) string { return "staff\x00" + email }

func (s *Server) handleAdminLogout(w http.ResponseWriter, r *http.Request) {
	ss := staffFrom(r.Context())
	if err := s.acct.store.DeleteStaffSession(r.Context(), ss.IDHash); err != nil {
		s.renderError(w, r, err)
		return
	}
	if !s.auditNow(w, r, s.staffAudit(r, "staff_logout", "", "", "")) {
		return
	}
	http.SetCookie(w, s.staffCookie(r, "", -1))
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

type adminHomeView struct {
	adminBase
	Counts mypt.AccountCounts
	Queue  []requestRow
	From   string
	To     string
}

// Pending is how many requests wait in stage.
func (v *adminHomeView) Pending(stage string) int { return v.Counts.Pending[mypt.RequestState(stage)] }

type requestRow struct {
	mypt.StoredAccountRequest
	Created   string
	StateText string
	Outcome   string
}

func (s *Server) requestRows(reqs []mypt.StoredAccountRequest) []requestRow {
	rows := make([]requestRow, len(reqs))
	for i, q := range reqs {
		rows[i] = requestRow{StoredAccountRequest: q, Created: s.showTime(q.CreatedAt), StateText: stateWords(q.State),
			Outcome: outcomeText(q.Match)}
	}
	return rows
}

func (s *Server) showTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(s.loc).Format("02/01/2006 15:04")
}

func (s *Server) handleAdminHome(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.acct.store.CountAccounts(ctx)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	q, err := s.acct.store.AccountRequests(ctx, []mypt.RequestState{mypt.RequestAwaitingStaff}, 200)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	today := s.today()
	v := &adminHomeView{adminBase: s.adminBase(r, "Staff home", "home"), Counts: c, Queue: s.requestRows(q),
		From: today.AddDays(-30).String(), To: today.String()}
	s.render(w, r, http.StatusOK, "admin_home", v)
}

type adminRequestsView struct {
	adminBase
	State    string
	States   []stateOption
	Requests []requestRow
}

// stateOption is one choice of the request filter: the state's code and its words.
type stateOption struct{ Value, Label string }

// requestFilter is the request filter's choices after "all pending" (the default, ""): each
// state in words, then "All".
func requestFilter() []stateOption {
	var opts []stateOption
	for _, st := range mypt.RequestStates {
		opts = append(opts, stateOption{string(st), stateWords(st)})
	}
	return append(opts, stateOption{"all", "All"})
}

func (s *Server) handleAdminRequests(w http.ResponseWriter, r *http.Request) {
	state := mypt.RequestState(r.URL.Query().Get("state"))
	states := mypt.PendingRequestStates
	switch state {
	case "":
	case "all":
		states = mypt.RequestStates
	default:
		valid := false
		for _, st := range mypt.RequestStates {
			valid = valid || st == state
		}
		if !valid {
			s.renderError(w, r, badRequest("There is no such request state: choose one from the list"))
			return
		}
		states = []mypt.RequestState{state}
	}
	reqs, err := s.acct.store.AccountRequests(r.Context(), states, 500)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := &adminRequestsView{adminBase: s.adminBase(r, "Account requests", "requests"), State: string(state),
		States: requestFilter(), Requests: s.requestRows(reqs)}
	s.render(w, r, http.StatusOK, "admin_requests", v)
}

type adminRequestView struct {
	adminBase
	Req        mypt.StoredAccountRequest
	Created    string
	Verified   string
	Decided    string
	Student    *mypt.Student
	Contacts   []mypt.Contact
	Checks     []checkRow
	StateText  string
	Outcome    string
	ReasonText string
	DecidedBy  string
	Compare    []compareRow
	Pending    bool
	CanApprove bool
	Error      string
	// Existing is the account the request's email already has (nil when none): approving adds
	// the child to it and never changes its password.
	Existing *mypt.Account
}

func (s *Server) loadRequestView(r *http.Request, id int64) (*adminRequestView, error) {
	ctx := r.Context()
	q, err := s.acct.store.AccountRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	v := &adminRequestView{adminBase: s.adminBase(r, fmt.Sprintf("Account request %d", id), "requests"), Req: q,
		Created: s.showTime(q.CreatedAt), Verified: s.showTime(q.VerifiedAt), Decided: s.showTime(q.DecidedAt),
		Pending:    q.State == mypt.RequestAwaitingStaff || q.State == mypt.RequestAwaitingConsent,
		CanApprove: q.State == mypt.RequestAwaitingStaff}
	v.StateText, v.Outcome, v.ReasonText = stateWords(q.State), outcomeText(q.Match), reasonText(q.Reason)
	v.DecidedBy = s.deciderText(ctx, q.DecidedBy)
	if q.Match != nil {
		for _, c := range q.Match.Checks {
			v.Checks = append(v.Checks, checkRow{MatchCheck: c, Label: checkText(c.Name)})
		}
	}
	st, err := s.acct.store.Student(ctx, q.StudentID)
	switch {
	case err == nil:
		v.Student = &st
		if v.Contacts, err = s.acct.store.StudentContacts(ctx, q.StudentID); err != nil {
			return nil, err
		}
	case !errors.Is(err, mypt.ErrNotFound):
		return nil, err
	}
	v.Compare = compareRequest(q, v.Student, v.Contacts)
	if v.Pending {
		accts, err := s.acct.store.Accounts(ctx, q.Email, 100)
		if err != nil {
			return nil, err
		}
		for i := range accts {
			if strings.EqualFold(accts[i].Email, q.Email) {
				v.Existing = &accts[i]
			}
		}
	}
	return v, nil
}

func adminPathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(paramsOf(r).ByName("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("portal: request id: %w", mypt.ErrNotFound)
	}
	return id, nil
}

// renderRequestProblem shows request id's staff page again, under status, with problem above
// its forms.
func (s *Server) renderRequestProblem(w http.ResponseWriter, r *http.Request, id int64, status int, problem string) {
	v, err := s.loadRequestView(r, id)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v.Error = problem
	s.render(w, r, status, "admin_request", v)
}

func (s *Server) handleAdminRequest(w http.ResponseWriter, r *http.Request) {
	id, err := adminPathID(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v, err := s.loadRequestView(r, id)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if !s.auditNow(w, r, s.staffAudit(r, "view_request", v.Req.StudentID, fmt.Sprintf("request:%d", id), "")) {
		return
	}
	s.render(w, r, http.StatusOK, "admin_request", v)
}

func (s *Server) handleAdminApprove(w http.ResponseWriter, r *http.Request) {
	s.adminDecide(w, r, true)
}

func (s *Server) handleAdminReject(w http.ResponseWriter, r *http.Request) {
	s.adminDecide(w, r, false)
}

func (s *Server) adminDecide(w http.ResponseWriter, r *http.Request, approve bool) {
	id, err := adminPathID(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	a := s.acct
	ctx := r.Context()
	q, err := a.store.AccountRequest(ctx, id)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	ss := staffFrom(ctx)
	var st *mypt.Student
	if student, err := a.store.Student(ctx, q.StudentID); err == nil {
		st = &student
	}
	name := studentDisplayName(st, q)
	d := mypt.RequestDecision{DecidedBy: staffActor(ss.StaffID), Reason: reason}
	audit := s.staffAudit(r, "", q.StudentID, fmt.Sprintf("request:%d", id), reason)
	if approve {
		d.From = []mypt.RequestState{mypt.RequestAwaitingStaff}
		d.To, audit.Action = mypt.RequestApproved, "approve"
		if d.Reason == "" {
			d.Reason = "approved by staff"
		}
		// Which approval email goes out (new account, or child added to the account the email
		// already has, whose password does not change) is decided in the approval's transaction.
		d.ApprovalEmail = a.approvalEmail(q, name)
	} else {
		if reason == "" {
			s.renderRequestProblem(w, r, id, http.StatusBadRequest,
				"Give a reason for the rejection (staff only: the parent's email never says it).")
			return
		}
		d.From = []mypt.RequestState{mypt.RequestAwaitingStaff, mypt.RequestAwaitingConsent}
		d.To, audit.Action = mypt.RequestRejected, "reject"
		m, err := a.mail.Compose(mypt.EmailRejected, q.EventKey(string(mypt.EmailRejected)), mypt.EmailData{ToEmail: q.Email,
			ToName: acctJoinName(q.ParentFirstName, q.ParentLastName), StudentName: name})
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		d.Emails = []mypt.OutboxMessage{m}
	}
	d.Audit = []mypt.AuditEntry{audit}
	got, err := a.store.DecideAccountRequest(ctx, id, nil, d)
	if errors.Is(err, mypt.ErrConflict) {
		s.renderRequestProblem(w, r, id, http.StatusConflict, "This request has already been decided or is not waiting for staff.")
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if approve && got.AccountID != 0 {
		http.Redirect(w, r, fmt.Sprintf("/admin/accounts/%d", got.AccountID), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/admin/requests/%d", id), http.StatusSeeOther)
}

type accountRow struct {
	mypt.Account
	Locked    string
	LockText  string
	LastLogin string
}

type adminAccountsView struct {
	adminBase
	Query    string
	Accounts []accountRow
	Locked   []accountRow
}

func (s *Server) accountRows(accts []mypt.Account) []accountRow {
	rows := make([]accountRow, len(accts))
	for i, a := range accts {
		rows[i] = accountRow{Account: a, Locked: s.showTime(a.LockedAt), LastLogin: s.showTime(a.LastLoginAt), LockText: reasonText(a.LockReason)}
	}
	return rows
}

func (s *Server) handleAdminAccounts(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	v := &adminAccountsView{adminBase: s.adminBase(r, "Accounts", "accounts"), Query: q}
	locked, err := s.acct.store.LockedAccounts(ctx)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v.Locked = s.accountRows(locked)
	if q != "" || r.URL.Query().Has("all") {
		accts, err := s.acct.store.Accounts(ctx, q, 200)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		v.Accounts = s.accountRows(accts)
		if !s.auditNow(w, r, s.staffAudit(r, "search_accounts", "", "", q)) {
			return
		}
	}
	s.render(w, r, http.StatusOK, "admin_accounts", v)
}

type linkRow struct {
	mypt.AccountLink
	Approved   string
	Ended      string
	StatusText string
	ByText     string
	EndText    string
}

type endedRow struct {
	mypt.AccessEnded
	When       string
	ReasonText string
}

type auditRow struct {
	mypt.AuditEntry
	When                  string
	Who, What, DetailText string
}

type adminAccountView struct {
	adminBase
	Acct     accountRow
	Links    []linkRow
	Ended    []endedRow
	Requests []requestRow
	History  []auditRow
	Notice   string
}

func (s *Server) handleAdminAccount(w http.ResponseWriter, r *http.Request) {
	id, err := adminPathID(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	ctx := r.Context()
	st := s.acct.store
	acct, err := st.Account(ctx, id)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := &adminAccountView{adminBase: s.adminBase(r, "Account "+acct.Email, "accounts"), Acct: s.accountRows([]mypt.Account{acct})[0]}
	if r.URL.Query().Has("not_locked") {
		v.Notice = "The account was not locked, so nothing was changed and no email was sent."
	}
	if r.URL.Query().Has("unlocked") {
		v.Notice = "The account is unlocked and the parent has been emailed."
	}
	links, err := st.AccountLinks(ctx, id)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	for _, l := range links {
		v.Links = append(v.Links, linkRow{AccountLink: l, Approved: s.showTime(l.ApprovedAt), Ended: s.showTime(l.EndedAt),
			StatusText: linkStatusText(l.Status), ByText: s.deciderText(ctx, l.ApprovedBy), EndText: endReasonText(l.EndReason)})
	}
	ended, err := st.AccessEndedFor(ctx, id)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	for _, e := range ended {
		v.Ended = append(v.Ended, endedRow{AccessEnded: e, When: s.showTime(e.At), ReasonText: endReasonText(string(e.Reason))})
	}
	reqs, err := st.AccountRequestsByEmail(ctx, acct.Email)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v.Requests = s.requestRows(reqs)
	hist, err := st.AuditForAccount(ctx, id, 200)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	who := map[string]string{} // each staff user is looked up once
	for _, e := range hist {
		if _, ok := who[e.Actor]; !ok {
			who[e.Actor] = s.actorText(ctx, e.Actor)
		}
		v.History = append(v.History, auditRow{AuditEntry: e, When: s.showTime(e.At), Who: who[e.Actor],
			What: actionText(e.Action), DetailText: auditDetailText(e.Detail)})
	}
	if !s.auditNow(w, r, s.staffAudit(r, "view_account", "", fmt.Sprintf("account:%d", id), "")) {
		return
	}
	s.render(w, r, http.StatusOK, "admin_account", v)
}

func (s *Server) handleAdminUnlock(w http.ResponseWriter, r *http.Request) {
	id, err := adminPathID(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	a := s.acct
	audit := s.staffAudit(r, "unlock", "", fmt.Sprintf("account:%d", id), strings.TrimSpace(r.PostFormValue("reason")))
	err = a.store.UnlockAccountNotify(r.Context(), id, audit, func(acct mypt.Account) (mypt.OutboxMessage, error) {
		return a.mail.Compose(mypt.EmailUnlocked, "unlocked", mypt.EmailData{ToEmail: acct.Email, ToName: acctJoinName(acct.FirstName, acct.LastName)})
	})
	if errors.Is(err, mypt.ErrConflict) {
		// Not locked (any more): say so rather than claim an unlock and an email.
		http.Redirect(w, r, fmt.Sprintf("/admin/accounts/%d?not_locked=1", id), http.StatusSeeOther)
		return
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/admin/accounts/%d?unlocked=1", id), http.StatusSeeOther)
}

type mailRow struct {
	MailFile
	When string
}

type adminMailView struct {
	adminBase
	Files []mailRow
	Mail  mailRow
	Paras []mailPara
}

// mailPara is one paragraph of an email's text; a paragraph that is a single link to the
// portal is shown as a link, so a demo user can follow it.
type mailPara struct {
	Lines []string
	Link  string
}

func (s *Server) mailParas(text string) []mailPara {
	base := strings.TrimRight(s.opts.College.PublicBaseURL, "/")
	var out []mailPara
	for _, p := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if base != "" && strings.HasPrefix(p, base+"/") && !strings.ContainsAny(p, " \n\t") {
			out = append(out, mailPara{Link: p})
			continue
		}
		out = append(out, mailPara{Lines: strings.Split(p, "\n")})
	}
	return out
}

func (s *Server) handleAdminMail(w http.ResponseWriter, r *http.Request) {
	if s.acct.files == nil {
		s.handleNotFound(w, r)
		return
	}
	files, err := s.acct.files.List(500)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := &adminMailView{adminBase: s.adminBase(r, "Emails sent (file transport)", "mail")}
	for _, f := range files {
		v.Files = append(v.Files, mailRow{MailFile: f, When: s.showTime(f.Date)})
	}
	s.render(w, r, http.StatusOK, "admin_mail", v)
}

func (s *Server) handleAdminMailMessage(w http.ResponseWriter, r *http.Request) {
	if s.acct.files == nil {
		s.handleNotFound(w, r)
		return
	}
	name := paramsOf(r).ByName("name")
	files, err := s.acct.files.List(0)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	for _, f := range files {
		if f.Name != name {
			continue
		}
		if !s.auditNow(w, r, s.staffAudit(r, "view_email", "", "mail", name)) {
			return
		}
		v := &adminMailView{adminBase: s.adminBase(r, "Email: "+f.Subject, "mail"), Mail: mailRow{MailFile: f, When: s.showTime(f.Date)},
			Paras: s.mailParas(f.Text)}
		s.render(w, r, http.StatusOK, "admin_mail_message", v)
		return
	}
	s.handleNotFound(w, r)
}

// MailboxReview is the support mailbox's review queue (*sqlite.Store has it). When the account
// store lacks it, /admin/mailbox says the watcher is not enabled.
type MailboxReview interface {
	MailReviewItems(ctx context.Context, status string, limit int) ([]mypt.MailReviewItem, error)
	ResolveMailReviewItem(ctx context.Context, id int64, staff string) error
}

type reviewRow struct {
	mypt.MailReviewItem
	Received string
	Resolved string
	By       string // who resolved it, in words
}

type adminMailboxView struct {
	adminBase
	Status string
	Items  []reviewRow
}

func (s *Server) mailboxReview() MailboxReview {
	mr, _ := s.acct.store.(MailboxReview)
	return mr
}

func (s *Server) handleAdminMailbox(w http.ResponseWriter, r *http.Request) {
	mr := s.mailboxReview()
	if mr == nil {
		av := &adminMessageView{adminBase: s.adminBase(r, "Mailbox review", "mailbox"), Heading: "Mailbox review",
			Paragraphs: []string{"Unlock requests from the support mailbox that could not be handled automatically are listed here once the mailbox watcher is enabled."}}
		s.render(w, r, http.StatusOK, "admin_message", av)
		return
	}
	status := r.URL.Query().Get("status")
	switch status {
	case "":
		status = "open"
	case "open", "done", "all":
	default:
		s.renderError(w, r, badRequest("The status to show is open, done or all"))
		return
	}
	q := status
	if q == "all" {
		q = ""
	}
	items, err := mr.MailReviewItems(r.Context(), q, 200)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := &adminMailboxView{adminBase: s.adminBase(r, "Mailbox review", "mailbox"), Status: status}
	for _, it := range items {
		v.Items = append(v.Items, reviewRow{MailReviewItem: it, Received: s.showTime(it.ReceivedAt), Resolved: s.showTime(it.ResolvedAt),
			By: s.deciderText(r.Context(), it.ResolvedBy)})
	}
	if !s.auditNow(w, r, s.staffAudit(r, "view_mailbox_review", "", "mailbox", status)) {
		return
	}
	s.render(w, r, http.StatusOK, "admin_mailbox", v)
}

func (s *Server) handleAdminMailboxResolve(w http.ResponseWriter, r *http.Request) {
	mr := s.mailboxReview()
	if mr == nil {
		s.handleNotFound(w, r)
		return
	}
	id, err := adminPathID(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	ss := staffFrom(r.Context())
	if err := mr.ResolveMailReviewItem(r.Context(), id, staffActor(ss.StaffID)); err != nil && !errors.Is(err, mypt.ErrNotFound) {
		s.renderError(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/mailbox", http.StatusSeeOther)
}

type adminMessageView struct {
	adminBase
	Heading    string
	Paragraphs []string
}

// handleAdminAuditCSV exports the audit log between from and to (dates, Europe/London,
// inclusive) as CSV. The export itself is audited.
func (s *Server) handleAdminAuditCSV(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	today := s.today()
	from, to := today.AddDays(-30), today
	var err error
	if v := q.Get("from"); v != "" {
		if from, err = mypt.ParseDate(v); err != nil {
			s.renderError(w, r, badRequest("From must be a date (YYYY-MM-DD)"))
			return
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = mypt.ParseDate(v); err != nil {
			s.renderError(w, r, badRequest("To must be a date (YYYY-MM-DD)"))
			return
		}
	}
	if to.Before(from) {
		s.renderError(w, r, badRequest("From must be on or before To"))
		return
	}
	if !s.auditNow(w, r, s.staffAudit(r, "export_audit", "", "audit", from.String()+".."+to.String())) {
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="mypt-audit-%s-%s.csv"`, from, to))
	cw := csv.NewWriter(w)
	cw.Write([]string{"at", "actor", "action", "student_id", "page", "detail", "client_addr"})
	err = s.acct.store.AuditBetween(r.Context(), from.Time(s.loc), to.AddDays(1).Time(s.loc), func(e mypt.AuditEntry) error {
		return cw.Write(auditCSVRecord(e))
	})
	cw.Flush()
	if err != nil {
		s.log.ErrorContext(r.Context(), "portal: audit export failed", "err", err)
	}
}

// auditCSVRecord is one line of the audit export. Every cell but the time is made safe: a
// student id, page or address typed by anyone (an account request's Student ID) reaches it.
func auditCSVRecord(e mypt.AuditEntry) []string {
	rec := []string{e.At.UTC().Format(time.RFC3339), e.Actor, e.Action, e.StudentID, e.Page, e.Detail, e.ClientAddr}
	for i := 1; i < len(rec); i++ {
		rec[i] = adminCSVSafe(rec[i])
	}
	return rec
}

// adminCSVSafe stops a spreadsheet from reading a cell as a formula.
func adminCSVSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
