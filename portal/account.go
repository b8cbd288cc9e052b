package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"mypt"
	"mypt/config"
)

// AccountStore is what the account pages and the staff site need from the cache
// (*sqlite.Store has it).
type AccountStore interface {
	Student(ctx context.Context, id string) (mypt.Student, error)
	StudentContacts(ctx context.Context, studentID string) ([]mypt.Contact, error)

	CreateAccountRequest(ctx context.Context, r mypt.StoredAccountRequest, verifyTTL time.Duration,
		compose func(adminPathID int64, token string) (mypt.OutboxMessage, error)) (int64, error)
	AccountRequest(ctx context.Context, id int64) (mypt.StoredAccountRequest, error)
	AccountRequestByToken(ctx context.Context, purpose mypt.TokenPurpose, raw string) (mypt.StoredAccountRequest, error)
	AccountRequests(ctx context.Context, states []mypt.RequestState, limit int) ([]mypt.StoredAccountRequest, error)
	AccountRequestsByEmail(ctx context.Context, email string) ([]mypt.StoredAccountRequest, error)
	DecideAccountRequest(ctx context.Context, id int64, use *mypt.TokenUse, d mypt.RequestDecision) (mypt.StoredAccountRequest, error)

	IssueResetToken(ctx context.Context, email string, ttl time.Duration,
		compose func(a mypt.Account, token string) (mypt.OutboxMessage, error)) (bool, error)
	AccountByResetToken(ctx context.Context, raw string) (mypt.Account, error)
	ResetPassword(ctx context.Context, raw, passwordHash string, audit mypt.AuditEntry,
		compose func(a mypt.Account) (mypt.OutboxMessage, error)) (mypt.Account, error)

	Account(ctx context.Context, id int64) (mypt.Account, error)
	Accounts(ctx context.Context, q string, limit int) ([]mypt.Account, error)
	AccountLinks(ctx context.Context, accountID int64) ([]mypt.AccountLink, error)
	AccessEndedFor(ctx context.Context, accountID int64) ([]mypt.AccessEnded, error)
	AuditForAccount(ctx context.Context, accountID int64, limit int) ([]mypt.AuditEntry, error)
	AuditBetween(ctx context.Context, from, to time.Time, fn func(mypt.AuditEntry) error) error
	LockedAccounts(ctx context.Context) ([]mypt.Account, error)
	UnlockAccountNotify(ctx context.Context, accountID int64, audit mypt.AuditEntry,
		compose func(a mypt.Account) (mypt.OutboxMessage, error)) error
	CountAccounts(ctx context.Context) (mypt.AccountCounts, error)
	WriteAudit(ctx context.Context, entries ...mypt.AuditEntry) error

	StaffUserByEmail(ctx context.Context, email string) (mypt.StaffUser, error)
	StaffUser(ctx context.Context, id int64) (mypt.StaffUser, error)
	RecordStaffLoginFailure(ctx context.Context, id int64, maxAttempts int) (bool, error)
	RecordStaffLogin(ctx context.Context, id int64) error
	CreateStaffSession(ctx context.Context, staffID int64) (string, mypt.StaffSession, error)
	StaffSession(ctx context.Context, raw string) (mypt.StaffSession, error)
	TouchStaffSession(ctx context.Context, idHash []byte, at time.Time) error
	DeleteStaffSession(ctx context.Context, idHash []byte) error
}

// MailFile is one email written by the file transport, listed on the staff site.
type MailFile struct {
	Name    string // the .eml file's base name
	To      string
	Subject string
	Date    time.Time
	Text    string // the plain-text part
}

// MailFiles lists the file transport's emails, newest first (adapters/mail.FileSink.List,
// converted); the staff site shows them in the demo so the links in them can be followed.
type MailFiles interface {
	List(limit int) ([]MailFile, error)
}

// AccountsOptions configure the account pages and the staff site (Options.Accounts).
type AccountsOptions struct {
	// Store is the account state; when nil, Options.Store is used if it has these methods,
	// and otherwise the account pages and the staff site answer 404.
	Store AccountStore
	// Config is the accounts section (WithDefaults is applied).
	Config config.AccountsConfig
	// MailFiles lists the demo's file-sink emails on the staff site; nil hides the page.
	MailFiles MailFiles
	// Sleep waits d or until ctx ends (time-padding of forgot-password); a real sleep when nil.
	Sleep func(ctx context.Context, d time.Duration)
	// Mail is what the account emails say about the college (cmd/mypt gives the settings the
	// eligibility sweep uses too, so both write the same footer); when zero it is built from
	// Options.College.
	Mail mypt.MailSettings
}

// accountPages are the account and staff templates the site cannot start without.
var accountPages = []string{"account_request", "account_message", "account_verify", "account_consent", "account_forgot",
	"account_reset", "admin_login", "admin_home", "admin_requests", "admin_request", "admin_accounts", "admin_account",
	"admin_mail", "admin_mail_message", "admin_message", "admin_mailbox", "admin_student"}

// accountsSite is the account pages' and staff site's state inside Server.
type accountsSite struct {
	store   AccountStore
	cfg     config.AccountsConfig
	policy  PasswordPolicy
	mail    mypt.MailSettings
	files   MailFiles
	sleep   func(ctx context.Context, d time.Duration)
	limiter *ipLimiter // account requests and forgot-password posts per client address
	// confirms limits verify-link confirms (each an argon2id check) per client address, and
	// verifyFails counts wrong passwords per verify link: at maxVerifyFails the link is dead.
	confirms    *ipLimiter
	verifyFails *shadowCounter
	staffDum    string // a staff hash verified for unknown staff emails
}

// maxVerifyFails is how many wrong passwords a verify link takes before it stops working.
const maxVerifyFails = 5

func newAccountsSite(s *Server, o AccountsOptions) (*accountsSite, error) {
	st := o.Store
	if st == nil {
		st, _ = s.opts.Store.(AccountStore)
	}
	if st == nil {
		return nil, nil
	}
	for _, page := range accountPages {
		if s.tmpl.pages[page] == nil {
			return nil, fmt.Errorf("portal: template %s is missing", page)
		}
	}
	cfg := o.Config.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	sleep := o.Sleep
	if sleep == nil {
		sleep = func(ctx context.Context, d time.Duration) {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}
	}
	pp := DefaultPasswordPolicy()
	pp.MinScore = cfg.PasswordMinScore
	mail := o.Mail
	if mail == (mypt.MailSettings{}) {
		mail = mypt.MailSettings{CollegeName: s.opts.College.Name,
			SupportEmail: s.opts.College.SupportEmail, AttendanceEmail: s.opts.College.AttendanceEmail,
			PublicBaseURL: s.opts.College.PublicBaseURL}
	}
	a := &accountsSite{store: st, cfg: cfg, policy: pp, files: o.MailFiles, sleep: sleep,
		limiter: newIPLimiter(20, 10, s.now), confirms: newIPLimiter(20, 10, s.now), verifyFails: newShadowCounter(s.now), staffDum: s.dummy, mail: mail}
	return a, nil
}

// accounts returns the account site, or answers 404 and returns nil when it is not configured.
func (s *Server) accounts(w http.ResponseWriter, r *http.Request) *accountsSite {
	if s.acct == nil {
		s.handleNotFound(w, r)
		return nil
	}
	return s.acct
}

// accountsPost is the start of every account form POST: the accounts site must be on, the form
// must parse and carry the session's CSRF token. It answers the request itself and returns nil
// when any of these fails.
func (s *Server) accountsPost(w http.ResponseWriter, r *http.Request) *accountsSite {
	a := s.accounts(w, r)
	if a == nil {
		return nil
	}
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, FormError(err))
		return nil
	}
	if !s.ValidCSRF(r) {
		s.renderError(w, r, errForbidden)
		return nil
	}
	return a
}

// acctNFC is the normaliser the matching rules compare names with.
func acctNFC(s string) string { return norm.NFC.String(s) }

// acctStripAccents removes diacritics, so the matching rules can tell "Renee" from "Renée" is a
// near miss for staff rather than a different name.
func acctStripAccents(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return norm.NFC.String(b.String())
}

// formView is the account request page.
type formView struct {
	Base
	Form   mypt.AccountRequestForm
	Errors []fieldError
}

// FieldError is the message for field, "" when it is fine.
func (v *formView) FieldError(field string) string { return errorFor(v.Errors, field) }

// Value is what was typed in field (never a password).
func (v *formView) Value(field string) string { return v.Form.Value(field) }

// messageView is a page of a heading and paragraphs, with an optional link.
type messageView struct {
	Base
	Heading    string
	Paragraphs []string
	LinkURL    string
	LinkText   string
}

func (s *Server) message(w http.ResponseWriter, r *http.Request, status int, title string, link, linkText string, paras ...string) {
	v := &messageView{Heading: title, Paragraphs: paras, LinkURL: link, LinkText: linkText}
	v.Title = title
	s.render(w, r, status, "account_message", v)
}

// renderForm renders page, a page with a form, under title and with the CSRF token its form
// posts back (setting the pre-session cookie when there is none yet).
func (s *Server) renderForm(w http.ResponseWriter, r *http.Request, status int, page, title string, v viewModel) {
	b := v.base()
	b.Title = title
	b.CSRFToken = s.CSRFToken(w, r)
	s.render(w, r, status, page, v)
}

// emailLink is one kind of one-time link the account emails carry: its token's purpose, what its
// expired page calls it and where the parent starts again.
type emailLink struct {
	purpose     mypt.TokenPurpose
	what, again string
}

var (
	verifyLink  = emailLink{purpose: mypt.TokenVerify, what: "email confirmation", again: "/account-request"}
	consentLink = emailLink{purpose: mypt.TokenConsent, what: "consent", again: "/help"}
	resetLink   = emailLink{purpose: mypt.TokenReset, what: "password reset", again: "/forgot-password"}
)

func (s *Server) expiredLink(w http.ResponseWriter, r *http.Request, link emailLink) {
	s.message(w, r, http.StatusNotFound, "This link has expired or has already been used", link.again, "Start again",
		"The "+link.what+" link you followed is not valid any more: each link works once and only for a limited time.")
}

// linkFailed answers err from looking up or using a one-time link: the expired-link page when
// the token is unknown, used or past its time (ErrNotFound), renderError otherwise.
func (s *Server) linkFailed(w http.ResponseWriter, r *http.Request, link emailLink, err error) {
	if errors.Is(err, mypt.ErrNotFound) {
		s.expiredLink(w, r, link)
		return
	}
	s.renderError(w, r, err)
}

// requestByToken is the account request a verify or consent link's token belongs to; it
// answers the request itself (linkFailed) and returns false when there is none.
func (s *Server) requestByToken(w http.ResponseWriter, r *http.Request, a *accountsSite, link emailLink, tok string) (mypt.StoredAccountRequest, bool) {
	req, err := a.store.AccountRequestByToken(r.Context(), link.purpose, tok)
	if err != nil {
		s.linkFailed(w, r, link, err)
		return req, false
	}
	return req, true
}

func (s *Server) handleAccountRequestForm(w http.ResponseWriter, r *http.Request) {
	if s.accounts(w, r) == nil {
		return
	}
	r = s.withOptionalSession(w, r)
	s.renderForm(w, r, http.StatusOK, "account_request", "Account request", &formView{})
}

func acctFormFrom(r *http.Request) mypt.AccountRequestForm {
	f := r.PostFormValue
	return mypt.AccountRequestForm{
		ParentFirstName: f(mypt.FieldParentFirstName), ParentLastName: f(mypt.FieldParentLastName),
		Email: f(mypt.FieldEmail), EmailConfirm: f(mypt.FieldEmailConfirm),
		Password: f(mypt.FieldPassword), PasswordConfirm: f(mypt.FieldPasswordConfirm),
		StudentID: f(mypt.FieldStudentID), StudentFirstNames: f(mypt.FieldStudentFirstNames),
		StudentLastName: f(mypt.FieldStudentLastName), StudentDOB: f(mypt.FieldStudentDOB),
		Relationship: f(mypt.FieldRelationship), MobilePhone: f(mypt.FieldMobilePhone), HomePhone: f(mypt.FieldHomePhone),
	}
}

// validateRequest runs the domain's checks, then the password policy and the phone numbers.
func (a *accountsSite) validateRequest(f mypt.AccountRequestForm, today mypt.Date) (mypt.AccountRequest, []fieldError) {
	req, err := mypt.ParseAccountRequest(f, today)
	bad := map[string]string{}
	var fes mypt.FieldErrors
	if errors.As(err, &fes) {
		for _, e := range fes {
			if _, dup := bad[e.Field]; !dup {
				bad[e.Field] = e.Reason
			}
		}
	} else if err != nil {
		bad[mypt.FieldEmail] = err.Error()
	}
	if _, done := bad[mypt.FieldPassword]; !done {
		if msg := a.policy.Check(f.Password, f.ParentFirstName, f.ParentLastName, f.Email, f.StudentFirstNames, f.StudentLastName); msg != "" {
			bad[mypt.FieldPassword] = msg
		}
	}
	for _, ph := range []struct {
		field string
		dst   *string
	}{{mypt.FieldMobilePhone, &req.MobilePhone}, {mypt.FieldHomePhone, &req.HomePhone}} {
		if _, done := bad[ph.field]; done || *ph.dst == "" {
			continue
		}
		n, err := NormalizeUKPhone(*ph.dst)
		if err != nil {
			bad[ph.field] = err.Error()
			continue
		}
		*ph.dst = n
	}
	var out []fieldError
	for _, field := range mypt.AccountRequestFields {
		if msg, ok := bad[field]; ok {
			out = append(out, fieldError{Field: field, Message: msg})
		}
	}
	return req, out
}

func (s *Server) handleAccountRequest(w http.ResponseWriter, r *http.Request) {
	a := s.accountsPost(w, r)
	if a == nil {
		return
	}
	if !a.limiter.allow(s.clientAddr(r)) {
		w.Header().Set("Retry-After", "60")
		s.renderStatus(w, r, http.StatusTooManyRequests)
		return
	}
	form := acctFormFrom(r)
	req, errs := a.validateRequest(form, s.today())
	if len(errs) > 0 {
		s.renderForm(w, r, http.StatusBadRequest, "account_request", "Account request: there is a problem",
			&formView{Form: form, Errors: errs})
		return
	}
	hash, err := HashPassword(req.Password, s.argon)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	stored := mypt.StoredAccountRequest{AccountRequest: req, PasswordHash: hash, ClientAddr: s.clientAddr(r)}
	id, err := a.store.CreateAccountRequest(r.Context(), stored, a.cfg.VerifyTokenTTL, func(id int64, token string) (mypt.OutboxMessage, error) {
		return a.mail.Compose(mypt.EmailVerify, fmt.Sprintf("request:%d:verify:%s", id, mypt.SecretKey(token)), mypt.EmailData{
			ToEmail: req.Email, ToName: acctJoinName(req.ParentFirstName, req.ParentLastName), Token: token, ExpiresIn: a.cfg.VerifyTokenTTL,
			StudentName: acctJoinName(req.StudentFirstNames, req.StudentLastName) + " (Student ID " + req.StudentID + ")"})
	})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if err := a.store.WriteAudit(r.Context(), mypt.AuditEntry{At: s.now(), Actor: "requester", Action: "request_submitted",
		StudentID: req.StudentID, Page: fmt.Sprintf("request:%d", id), ClientAddr: s.clientAddr(r)}); err != nil {
		s.log.Error("portal: audit account request", "err", err)
	}
	// Post/Redirect/Get: refreshing the next page must not send the form (and an email) again.
	http.Redirect(w, r, "/account-request/sent", http.StatusSeeOther)
}

// handleAccountRequestSent is where a submitted request lands (see handleAccountRequest).
func (s *Server) handleAccountRequestSent(w http.ResponseWriter, r *http.Request) {
	s.message(w, r, http.StatusOK, "Check your email", "/help/"+helpCreatingAccountSlug, "Help with creating an account",
		"Thank you. We have sent an email to the address you gave. Open the link in it to confirm your email address and complete your request.",
		"If the email has not arrived within a few minutes, check your Spam or Junk folder. If you submit the form again, only the newest link will work.")
}

func acctJoinName(first, last string) string {
	return strings.TrimSpace(strings.TrimSpace(first) + " " + strings.TrimSpace(last))
}

// tokenView is a page whose form posts a one-time token back (confirm, consent, reset).
type tokenView struct {
	Base
	Token       string
	Heading     string
	Intro       []string
	Requester   string
	StudentName string
	When        string
	Errors      []fieldError
}

// FieldError is the message for field.
func (v *tokenView) FieldError(field string) string { return errorFor(v.Errors, field) }

func (s *Server) handleVerifyEmailForm(w http.ResponseWriter, r *http.Request) {
	a := s.accounts(w, r)
	if a == nil {
		return
	}
	tok := r.URL.Query().Get("token")
	req, ok := s.requestByToken(w, r, a, verifyLink, tok)
	if !ok {
		return
	}
	// A GET changes nothing: mail scanners fetch links before the parent does. The page says
	// what is being confirmed, so a parent does not confirm a request someone else made.
	v := s.verifyView(req, tok)
	s.renderForm(w, r, http.StatusOK, "account_verify", v.Heading, v)
}

// verifyView is the confirm page of a request: what is being confirmed, and the password field.
func (s *Server) verifyView(req mypt.StoredAccountRequest, tok string) *tokenView {
	return &tokenView{Token: tok, Heading: "Confirm your email address",
		Requester:   acctJoinName(req.ParentFirstName, req.ParentLastName) + " (" + req.Relationship + ")",
		StudentName: acctJoinName(req.StudentFirstNames, req.StudentLastName) + " (Student ID " + req.StudentID + ")",
		When:        s.londonTime(req.CreatedAt)}
}

func (s *Server) handleVerifyEmail(w http.ResponseWriter, r *http.Request) {
	a := s.accountsPost(w, r)
	if a == nil {
		return
	}
	// Every confirm costs an argon2id check: limited per client address like the other forms,
	// and a link that has taken maxVerifyFails wrong passwords works no more.
	if !a.confirms.allow(s.clientAddr(r)) {
		w.Header().Set("Retry-After", "60")
		s.renderStatus(w, r, http.StatusTooManyRequests)
		return
	}
	tok := r.PostFormValue("token")
	ctx := r.Context()
	if a.verifyFails.count("verify:"+tok) >= maxVerifyFails {
		s.expiredLink(w, r, verifyLink)
		return
	}
	req, ok := s.requestByToken(w, r, a, verifyLink, tok)
	if !ok {
		return
	}
	// The link proves the email address; the request's password proves the confirmer is who
	// asked. Without it, anyone who knew a parent's and a child's details could ask for an
	// account with a password of their own and wait for the parent to click "Confirm".
	if match, err := VerifyPassword(r.PostFormValue("password"), req.PasswordHash); !match || err != nil {
		if a.verifyFails.fail("verify:"+tok) >= maxVerifyFails {
			s.securityEvent(r, "verify_refused", "too_many_wrong_passwords")
			s.expiredLink(w, r, verifyLink)
			return
		}
		v := s.verifyView(req, tok)
		v.Errors = []fieldError{{Field: "password", Message: "Enter the password you typed on this request. " +
			"If you did not make this request, do not confirm it."}}
		s.securityEvent(r, "verify_refused", "wrong_password")
		s.renderForm(w, r, http.StatusBadRequest, "account_verify", v.Heading+": there is a problem", v)
		return
	}
	d, student, err := a.matchDecision(ctx, s, req)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d.From = []mypt.RequestState{mypt.RequestUnverified}
	d.Verified = true
	d.Audit = append(d.Audit, mypt.AuditEntry{Actor: "system", Action: "request_verified", StudentID: req.StudentID,
		Page: fmt.Sprintf("request:%d", req.ID), Detail: acctJoinName(string(d.To), d.Reason), ClientAddr: s.clientAddr(r)})
	got, err := a.store.DecideAccountRequest(ctx, req.ID, &mypt.TokenUse{Purpose: verifyLink.purpose, Raw: tok}, d)
	if err != nil {
		s.linkFailed(w, r, verifyLink, err)
		return
	}
	switch d.To {
	case mypt.RequestApproved:
		// Only the holder of the emailed link sees this page, so it may say the account existed.
		if got.AddedToExisting {
			s.message(w, r, http.StatusOK, student+" has been added to your account", "/login", "Sign in",
				"Thank you for confirming your email address. Your request has been approved and "+student+" has been added to the account you already had with this email address; we have emailed you to say so.",
				"Sign in with your existing password to see "+student+"'s records: your password has not changed; the password typed on the request only confirmed it.")
			return
		}
		s.message(w, r, http.StatusOK, "Your account is open", "/login", "Sign in",
			"Thank you for confirming your email address. Your request has been approved and we have emailed you to say so.",
			"Sign in with your email address and the password you chose to see "+student+"'s records.")
	case mypt.RequestAwaitingStaff:
		s.message(w, r, http.StatusOK, "Your request has been submitted for approval", "/help/"+helpCreatingAccountSlug, "Help with creating an account",
			"Thank you for confirming your email address. Your request will now be checked by the college; please allow 4 to 5 working days.",
			"You will receive an email when your account has been approved.")
	case mypt.RequestAwaitingConsent:
		s.message(w, r, http.StatusOK, "The student's consent is needed", "/help/"+helpCreatingAccountSlug, "Help with creating an account",
			"Thank you for confirming your email address. Your details are not recorded as the student's next of kin or a verified contact, so we have asked the student to consent before you can see their records.",
			"You will receive an email when your request has been decided.")
	default:
		s.message(w, r, http.StatusOK, "We could not approve your request", "/help/"+helpCreatingAccountSlug, "Help with creating an account",
			"Thank you for confirming your email address. We could not approve your request, and we have emailed you what to check before you try again.")
	}
}

// matchDecision runs the matching rules for a verified request and turns the outcome into the
// workflow step under the approval policy, with the emails that go with it.
func (a *accountsSite) matchDecision(ctx context.Context, s *Server, req mypt.StoredAccountRequest) (mypt.RequestDecision, string, error) {
	var st *mypt.Student
	var contacts []mypt.Contact
	student, err := a.store.Student(ctx, req.StudentID)
	switch {
	case err == nil:
		st = &student
		if contacts, err = a.store.StudentContacts(ctx, req.StudentID); err != nil {
			return mypt.RequestDecision{}, "", err
		}
	case !errors.Is(err, mypt.ErrNotFound):
		return mypt.RequestDecision{}, "", err
	}
	rep := mypt.Match(mypt.MatchInput{Request: req.AccountRequest, Student: st, Contacts: contacts, Today: s.today(),
		Policy: s.opts.Eligibility, NFC: acctNFC, StripAccents: acctStripAccents})
	d := mypt.RequestDecision{Match: &rep, ContactID: rep.ContactID, Reason: rep.Reason, DecidedBy: "auto"}
	parent := acctJoinName(req.ParentFirstName, req.ParentLastName)
	name := studentDisplayName(st, req)
	compose := func(kind mypt.EmailKind) error {
		m, err := a.mail.Compose(kind, req.EventKey(string(kind)), mypt.EmailData{ToEmail: req.Email, ToName: parent, StudentName: name})
		if err == nil {
			d.Emails = append(d.Emails, m)
		}
		return err
	}
	switch rep.Outcome {
	case mypt.MatchApproved:
		if a.cfg.ApprovalPolicy == config.ApprovalAuto {
			d.To = mypt.RequestApproved
			d.ApprovalEmail = a.approvalEmail(req, name)
		} else {
			d.To, d.DecidedBy = mypt.RequestAwaitingStaff, ""
		}
	case mypt.MatchNeedsStaff:
		d.To, d.DecidedBy = mypt.RequestAwaitingStaff, ""
	case mypt.MatchNeedsConsent:
		if st == nil || st.CollegeEmail == "" {
			d.To, d.DecidedBy = mypt.RequestAwaitingStaff, ""
			d.Reason = "needs consent, but the MIS has no college email for the student"
			break
		}
		d.To, d.DecidedBy = mypt.RequestAwaitingConsent, ""
		d.ConsentTTL = a.cfg.ConsentTokenTTL
		d.ConsentEmail = func(token string) (mypt.OutboxMessage, error) {
			return a.mail.Compose(mypt.EmailConsentRequest, req.EventKey("consent_request"), mypt.EmailData{
				ToEmail: st.CollegeEmail, ToName: name, StudentName: name, ParentName: parent, Relation: req.Relationship,
				Token: token, ExpiresIn: a.cfg.ConsentTokenTTL})
		}
		err = compose(mypt.EmailConsentNeeded)
	default:
		d.To = mypt.RequestRejected
		err = compose(mypt.EmailRejected)
	}
	return d, name, err
}

// approvalEmail builds the email that tells the parent request q was approved: "your account
// is open" when the approval opened a new account, or, when the email already had one (existing),
// "<student> has been added to your account; sign in with your existing password": an approval
// never changes an existing account's password.
func (a *accountsSite) approvalEmail(q mypt.StoredAccountRequest, student string) func(existing bool) (mypt.OutboxMessage, error) {
	return func(existing bool) (mypt.OutboxMessage, error) {
		kind := mypt.EmailApproved
		if existing {
			kind = mypt.EmailChildAdded
		}
		return a.mail.Compose(kind, q.EventKey(string(kind)), mypt.EmailData{ToEmail: q.Email,
			ToName: acctJoinName(q.ParentFirstName, q.ParentLastName), StudentName: student})
	}
}

// studentDisplayName is how emails and pages name the student: the MIS's preferred or legal
// first name and last name, else what the parent typed.
func studentDisplayName(st *mypt.Student, req mypt.StoredAccountRequest) string {
	if st != nil {
		first := st.PreferredName
		if first == "" {
			first = st.LegalFirstNames
		}
		if n := acctJoinName(first, st.LegalLastName); n != "" {
			return n
		}
	}
	return acctJoinName(req.StudentFirstNames, req.StudentLastName)
}

func (s *Server) handleStudentConsentForm(w http.ResponseWriter, r *http.Request) {
	a := s.accounts(w, r)
	if a == nil {
		return
	}
	tok := r.URL.Query().Get("token")
	req, ok := s.requestByToken(w, r, a, consentLink, tok)
	if !ok {
		return
	}
	v := &tokenView{Token: tok, Heading: "Consent to share your records",
		Requester: acctJoinName(req.ParentFirstName, req.ParentLastName), StudentName: acctJoinName(req.StudentFirstNames, req.StudentLastName)}
	if req.Relationship != "" {
		v.Requester += " (" + req.Relationship + ")"
	}
	s.renderForm(w, r, http.StatusOK, "account_consent", v.Heading, v)
}

func (s *Server) handleStudentConsent(w http.ResponseWriter, r *http.Request) {
	a := s.accountsPost(w, r)
	if a == nil {
		return
	}
	tok := r.PostFormValue("token")
	decision := r.PostFormValue("decision")
	if decision != "agree" && decision != "decline" {
		s.renderError(w, r, errBadRequest)
		return
	}
	ctx := r.Context()
	req, ok := s.requestByToken(w, r, a, consentLink, tok)
	if !ok {
		return
	}
	d := mypt.RequestDecision{From: []mypt.RequestState{mypt.RequestAwaitingConsent}}
	audit := mypt.AuditEntry{Actor: "student:" + req.StudentID, StudentID: req.StudentID, Page: fmt.Sprintf("request:%d", req.ID), ClientAddr: s.clientAddr(r)}
	if decision == "agree" {
		d.To, d.Reason = mypt.RequestAwaitingStaff, "the student consented"
		audit.Action = "consent_given"
	} else {
		d.To, d.Reason, d.DecidedBy = mypt.RequestRejected, "the student declined consent", "consent"
		audit.Action = "consent_declined"
		m, err := a.mail.Compose(mypt.EmailRejected, req.EventKey("rejected"), mypt.EmailData{
			ToEmail: req.Email, ToName: acctJoinName(req.ParentFirstName, req.ParentLastName)})
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		d.Emails = append(d.Emails, m)
	}
	d.Audit = []mypt.AuditEntry{audit}
	if _, err := a.store.DecideAccountRequest(ctx, req.ID, &mypt.TokenUse{Purpose: consentLink.purpose, Raw: tok}, d); err != nil {
		if errors.Is(err, mypt.ErrConflict) {
			s.expiredLink(w, r, consentLink) // the request was decided some other way meanwhile
			return
		}
		s.linkFailed(w, r, consentLink, err)
		return
	}
	if decision == "agree" {
		s.message(w, r, http.StatusOK, "Thank you: you have given your consent", "", "",
			"The request now goes to the college for a final check.")
		return
	}
	s.message(w, r, http.StatusOK, "Thank you: you have declined", "", "",
		"The request has been refused; the person who asked will not see your records.")
}

// forgotTitle and resetHeading name the forgot-password and choose-a-new-password pages.
const (
	forgotTitle  = "Forgot your password?"
	resetHeading = "Choose a new password"
)

// forgotView is the forgot-password page.
type forgotView struct {
	Base
	Email  string
	Sent   bool
	Errors []fieldError
}

// FieldError is the message for field.
func (v *forgotView) FieldError(field string) string { return errorFor(v.Errors, field) }

func (s *Server) handleForgotPasswordForm(w http.ResponseWriter, r *http.Request) {
	if s.accounts(w, r) == nil {
		return
	}
	r = s.withOptionalSession(w, r)
	s.renderForm(w, r, http.StatusOK, "account_forgot", forgotTitle, &forgotView{})
}

// handleForgotPassword answers the same page, in at least the same time, whether or not the
// email has an account: nobody can learn from it who has one.
func (s *Server) handleForgotPassword(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	a := s.accountsPost(w, r)
	if a == nil {
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	v := &forgotView{Email: email}
	if email == "" || len(email) > mypt.MaxEmailLen || !strings.Contains(email, "@") {
		v.Errors = []fieldError{{Field: "email", Message: "Enter the email address you use to sign in"}}
		s.renderForm(w, r, http.StatusBadRequest, "account_forgot", forgotTitle, v)
		return
	}
	if !a.limiter.allow(s.clientAddr(r)) {
		w.Header().Set("Retry-After", "60")
		s.renderStatus(w, r, http.StatusTooManyRequests)
		return
	}
	ctx := r.Context()
	_, err := a.store.IssueResetToken(ctx, email, a.cfg.ResetTokenTTL, func(acct mypt.Account, token string) (mypt.OutboxMessage, error) {
		return a.mail.Compose(mypt.EmailPasswordReset, "reset:"+mypt.SecretKey(token), mypt.EmailData{ToEmail: acct.Email,
			ToName: acctJoinName(acct.FirstName, acct.LastName), Token: token, ExpiresIn: a.cfg.ResetTokenTTL})
	})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	a.sleep(ctx, a.cfg.ForgotPasswordMinDuration-time.Since(start))
	v.Sent = true
	s.renderForm(w, r, http.StatusOK, "account_forgot", forgotTitle, v)
}

func (s *Server) handleResetPasswordForm(w http.ResponseWriter, r *http.Request) {
	a := s.accounts(w, r)
	if a == nil {
		return
	}
	tok := r.URL.Query().Get("token")
	if _, err := a.store.AccountByResetToken(r.Context(), tok); err != nil {
		s.linkFailed(w, r, resetLink, err)
		return
	}
	s.renderForm(w, r, http.StatusOK, "account_reset", resetHeading, &tokenView{Token: tok, Heading: resetHeading})
}

func (s *Server) handleResetPassword(w http.ResponseWriter, r *http.Request) {
	a := s.accountsPost(w, r)
	if a == nil {
		return
	}
	ctx := r.Context()
	tok := r.PostFormValue("token")
	acct, err := a.store.AccountByResetToken(ctx, tok)
	if err != nil {
		s.linkFailed(w, r, resetLink, err)
		return
	}
	pw, confirm := r.PostFormValue("password"), r.PostFormValue("password_confirm")
	v := &tokenView{Token: tok, Heading: resetHeading}
	if msg := a.policy.Check(pw, acct.FirstName, acct.LastName, acct.Email); pw == "" || msg != "" {
		if pw == "" {
			msg = "Enter a new password"
		}
		v.Errors = append(v.Errors, fieldError{Field: "password", Message: msg})
	} else if confirm != pw {
		v.Errors = append(v.Errors, fieldError{Field: "password_confirm", Message: "The passwords do not match"})
	}
	if len(v.Errors) > 0 {
		s.renderForm(w, r, http.StatusBadRequest, "account_reset", resetHeading+": there is a problem", v)
		return
	}
	hash, err := HashPassword(pw, s.argon)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	_, err = a.store.ResetPassword(ctx, tok, hash, mypt.AuditEntry{Action: "password_reset", ClientAddr: s.clientAddr(r)},
		func(acct mypt.Account) (mypt.OutboxMessage, error) {
			return a.mail.Compose(mypt.EmailPasswordChanged, fmt.Sprintf("password_changed:%d:%d", acct.ID, s.now().UnixNano()),
				mypt.EmailData{ToEmail: acct.Email, ToName: acctJoinName(acct.FirstName, acct.LastName)})
		})
	if err != nil {
		s.linkFailed(w, r, resetLink, err)
		return
	}
	// The browser's own session (if any) ended with the others.
	http.SetCookie(w, s.cookie(s.sessionCookieName(), "", -1))
	s.message(w, r, http.StatusOK, "Your password has been changed", "/login", "Sign in",
		"Your new password works now. Every device that was signed in to your account has been signed out, and if your account was locked after wrong passwords it is unlocked.")
}

// fieldArgs is one input of the account request form, for the account_field template.
type fieldArgs struct {
	Name, Label, Type, Autocomplete, Hint, Value, Error string
	Required                                            bool
}

// F describes the form input name for the template: its label, type, autocomplete, hint, what
// was typed and its error.
func (v *formView) F(name, label, typ, autocomplete, hint string) fieldArgs {
	return fieldArgs{Name: name, Label: label, Type: typ, Autocomplete: autocomplete, Hint: hint,
		Value: v.Value(name), Error: v.FieldError(name), Required: name != mypt.FieldHomePhone}
}

// helpCreatingAccountSlug is the help topic (portal/help.go) the account pages link to.
const helpCreatingAccountSlug = "creating-an-account"
