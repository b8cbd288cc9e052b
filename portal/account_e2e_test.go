package portal_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"mypt"
	"mypt/adapters/mail"
	"mypt/adapters/mail/mailtest"
	"mypt/adapters/sqlite"
	"mypt/config"
	"mypt/portal"
	"mypt/syncer"
)

var _ portal.AccountStore = (*sqlite.Store)(nil)

const baseURL = "https://portal.example.ac.uk"

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// env is one whole portal: a real SQLite cache, both listeners over real HTTP, and a real SMTP
// server that the outbox is delivered to.
type env struct {
	t        *testing.T
	store    *sqlite.Store
	clock    *testClock
	srv      *portal.Server
	public   *httptest.Server
	internal *httptest.Server
	smtp     *mailtest.Server
	tr       *mail.SMTP
	seen     int // SMTP messages already returned by mails()
}

func newEnv(t *testing.T, policy string) *env {
	t.Helper()
	ctx := context.Background()
	clk := &testClock{now: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mypt.db"), sqlite.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := portal.New(portal.Options{
		Store: st, Now: clk.Now,
		College: config.CollegeConfig{Name: "Croydon College", SupportEmail: "ParentPortalSupport@croydon.example.ac.uk",
			AttendanceEmail: "attendance@croydon.example.ac.uk", PublicBaseURL: baseURL},
		Portal:   config.PortalConfig{InsecureCookies: true, Argon2: config.Argon2Config{MemoryKiB: 1024, Iterations: 1, Parallelism: 1}},
		Accounts: portal.AccountsOptions{Config: config.AccountsConfig{ApprovalPolicy: policy, ForgotPasswordMinDuration: 50 * time.Millisecond}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	e := &env{t: t, store: st, clock: clk, srv: srv}
	e.public = httptest.NewServer(srv.PublicHandler())
	e.internal = httptest.NewServer(srv.InternalHandler())
	t.Cleanup(e.public.Close)
	t.Cleanup(e.internal.Close)
	e.smtp = mailtest.Start(t, mailtest.Options{})
	e.tr, err = mail.NewSMTP(mail.SMTPOptions{Host: e.smtp.Host(), Port: e.smtp.Port(), TLS: mail.TLSStartTLS,
		TLSConfig: &tls.Config{RootCAs: e.smtp.RootCAs(), ServerName: e.smtp.Host()}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.seedMIS()
	return e
}

// seedMIS writes the MIS rows the scenarios use (the cache is real; rows go in as the ingest
// path would leave them).
func (e *env) seedMIS() {
	e.t.Helper()
	students := []struct {
		id, first, last, dob, email string
		ehcp                        bool
	}{
		{"S100", "Siobhán Mary", "O’Neill-Smith", "2009-04-05", "s100@students.croydon.example.ac.uk", false},
		{"S200", "José", "D'Arcy", "2011-02-28", "s200@students.croydon.example.ac.uk", false},
		{"S300", "Old", "Enough", "2007-09-01", "s300@students.croydon.example.ac.uk", false},
		{"S400", "Kim", "Park", "2000-01-01", "s400@students.croydon.example.ac.uk", false},
	}
	for _, s := range students {
		e.exec(`INSERT INTO student (student_id, legal_first_names, legal_last_name, date_of_birth, has_ehcp, college, college_email, status, row_hash)
			VALUES (?, ?, ?, ?, ?, 'CR', ?, 'current', x'00')`, s.id, s.first, s.last, s.dob, s.ehcp, s.email)
		e.exec(`INSERT INTO student_version (student_id, version, changed_at) VALUES (?, 1, ?)`, s.id, sqlite.FormatTime(e.clock.Now()))
	}
	contacts := []struct {
		id, student, first, last, rel, email string
		nok, verified, pr, barred            bool
	}{
		{"C1", "S100", "Aoife", "O’Neill-Smith", "Mother", "aoife@example.org", true, false, true, false},
		{"C2", "S100", "Liam", "O'Neill-Smith", "Father", "liam@example.org", true, false, true, false},
		{"C3", "S200", "Aoife", "O'Neill-Smith", "Mother", "aoife@example.org", true, false, true, false},
		{"C4", "S100", "Uncle", "Bob", "Uncle", "bob@example.org", false, false, false, false},
		{"C5", "S200", "Barry", "Barred", "Father", "barry@example.org", true, true, true, true},
		{"C6", "S300", "Pat", "Enough", "Mother", "pat@example.org", true, false, true, false},
		{"C7", "S400", "Pat", "Park", "Mother", "park@example.org", true, false, true, false},
	}
	for _, c := range contacts {
		e.exec(`INSERT INTO contact (contact_id, student_id, first_name, last_name, relationship, email, is_next_of_kin,
			is_verified_contact, has_parental_responsibility, portal_access_barred, row_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, x'00')`,
			c.id, c.student, c.first, c.last, c.rel, c.email, c.nok, c.verified, c.pr, c.barred)
	}
}

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.store.WriteDB().Exec(q, args...); err != nil {
		e.t.Fatal(err)
	}
}

// deliver sends every due outbox email over SMTP, as the outbox worker does.
func (e *env) deliver() {
	e.t.Helper()
	ctx := context.Background()
	for range 10 {
		due, err := e.store.ClaimDueEmails(ctx, e.clock.Now(), 50, time.Minute)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(due) == 0 {
			return
		}
		for _, m := range due {
			msg := &mail.Message{MessageID: m.MessageID + "@croydon.example.ac.uk",
				From: mail.Address{Name: "Croydon College Parent Portal", Email: "noreply@croydon.example.ac.uk"},
				To:   mail.Address{Name: m.ToName, Email: m.ToEmail}, Subject: m.Subject, Text: m.Text, HTML: m.HTML, Date: m.CreatedAt}
			if err := e.tr.Send(ctx, msg); err != nil {
				e.t.Fatal(err)
			}
			if err := e.store.MarkEmailSent(ctx, m.ID, "smtp", e.clock.Now()); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	e.t.Fatal("outbox never drained")
}

type email struct {
	To      string
	Subject string
	Body    string // decoded text (and HTML) parts
}

// mails delivers the outbox and returns the messages the SMTP server received since the last call.
func (e *env) mails() []email {
	e.t.Helper()
	e.deliver()
	all := e.smtp.Messages()
	var out []email
	for _, r := range all[e.seen:] {
		body, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(r.Data)))
		dec := new(mime_decoder)
		out = append(out, email{To: strings.Join(r.To, ","), Subject: dec.header(r.Header.Get("Subject")), Body: string(body)})
	}
	e.seen = len(all)
	return out
}

type mime_decoder struct{}

func (mime_decoder) header(s string) string {
	d, err := new(mimeWordDecoder).DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// mailTo returns the one new email to addr, failing if there is not exactly one.
func (e *env) mailTo(addr string) email {
	e.t.Helper()
	var got []email
	for _, m := range e.mails() {
		if strings.EqualFold(m.To, addr) {
			got = append(got, m)
		}
	}
	if len(got) != 1 {
		e.t.Fatalf("%d new emails to %s, want 1: %+v", len(got), addr, got)
	}
	return got[0]
}

var linkRE = regexp.MustCompile(regexp.QuoteMeta(baseURL) + `(/[a-z-]+)\?token=([A-Za-z0-9_-]+)`)

// link returns the path and token of the first link in m, checking it is built on the public base URL.
func link(t *testing.T, m email, path string) string {
	t.Helper()
	for _, sm := range linkRE.FindAllStringSubmatch(m.Body, -1) {
		if sm[1] == path {
			return sm[2]
		}
	}
	t.Fatalf("no %s link in email %q:\n%s", path, m.Subject, m.Body)
	return ""
}

// browser is one person's browser: its own cookies.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func (e *env) browser(base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// post fetches formPage for its CSRF token, then posts fields to action.
func (b *browser) post(formPage, action string, fields url.Values) (int, string, *http.Response) {
	b.t.Helper()
	_, page := b.get(formPage)
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no CSRF token on %s:\n%s", formPage, page)
	}
	fields.Set("csrf_token", htmlUnescape(m[1]))
	resp, err := b.c.PostForm(b.base+action, fields)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&#43;", "+", "&#61;", "=", "&amp;", "&").Replace(s)
}

type parent struct {
	first, last, email, password, student, sfirst, slast, dob, rel string
}

func (p parent) form() url.Values {
	return url.Values{
		"parent_first_name": {p.first}, "parent_last_name": {p.last}, "email": {p.email}, "email_confirm": {p.email},
		"password": {p.password}, "password_confirm": {p.password}, "student_id": {p.student},
		"student_first_names": {p.sfirst}, "student_last_name": {p.slast}, "student_dob": {p.dob},
		"relationship": {p.rel}, "mobile_phone": {"07700 900123"},
	}
}

var aoife = parent{"Aoife", "O'Neill-Smith", "Aoife@Example.org", "Tangerine-Kettle-Harbour-42", "S100", "siobhán  mary", "O'Neill-Smith", "5/4/2009", "Mother"}

// request submits p's account request and confirms the email through the link, returning the
// confirmation page.
func (e *env) request(p parent) string {
	e.t.Helper()
	b := e.browser(e.public.URL)
	code, body, resp := b.post("/account-request", "/account-request", p.form())
	if code != http.StatusSeeOther || resp.Header.Get("Location") != "/account-request/sent" {
		e.t.Fatalf("request: %d (Location %q), want 303 to /account-request/sent\n%s", code, resp.Header.Get("Location"), body)
	}
	if code, body = b.get("/account-request/sent"); code != http.StatusOK || !strings.Contains(body, "Check your email") ||
		!strings.Contains(body, `href="/help/creating-an-account"`) {
		e.t.Fatalf("sent page: %d\n%s", code, body)
	}
	verify := e.mailTo(strings.ToLower(p.email))
	tok := link(e.t, verify, "/verify-email")
	// The GET (a mail scanner's pre-fetch) changes nothing.
	for range 2 {
		code, body = b.get("/verify-email?token=" + tok)
		if code != http.StatusOK || !strings.Contains(body, "Confirm my email address") {
			e.t.Fatalf("verify GET: %d\n%s", code, body)
		}
	}
	code, body, _ = b.post("/verify-email?token="+tok, "/verify-email", url.Values{"token": {tok}, "password": {p.password}})
	if code != http.StatusOK {
		e.t.Fatalf("verify POST: %d\n%s", code, body)
	}
	// Single use.
	if code, _ := b.get("/verify-email?token=" + tok); code != http.StatusNotFound {
		e.t.Fatalf("used link still shows a confirm page: %d", code)
	}
	return body
}

// signIn signs p in and returns the browser and its home page.
func (e *env) signIn(email, password string) (*browser, int, string) {
	e.t.Helper()
	b := e.browser(e.public.URL)
	code, body, resp := b.post("/login", "/login", url.Values{"email": {email}, "password": {password}})
	if code != http.StatusSeeOther {
		return b, code, body
	}
	if loc := resp.Header.Get("Location"); loc != "/" {
		e.t.Fatalf("sign-in redirects to %q", loc)
	}
	code, body = b.get("/")
	return b, code, body
}

func (e *env) lastRequest(email string) mypt.StoredAccountRequest {
	e.t.Helper()
	reqs, err := e.store.AccountRequestsByEmail(context.Background(), email)
	if err != nil || len(reqs) == 0 {
		e.t.Fatalf("requests of %s: %v %v", email, reqs, err)
	}
	return reqs[0]
}

func TestAccountRequestAutoApprovalEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	page := e.request(aoife)
	if !strings.Contains(page, "Your account is open") {
		t.Fatalf("confirmation page:\n%s", page)
	}
	approved := e.mailTo("aoife@example.org")
	if !strings.Contains(approved.Subject, "account is open") || !strings.Contains(approved.Body, baseURL+"/login") {
		t.Fatalf("approval email %+v", approved)
	}
	_, code, home := e.signIn("aoife@example.org", aoife.password)
	if code != http.StatusOK || !strings.Contains(home, "S100") || !strings.Contains(home, "O’Neill-Smith") {
		t.Fatalf("home %d:\n%s", code, home)
	}
	q := e.lastRequest("aoife@example.org")
	if q.State != mypt.RequestApproved || q.ContactID != "C1" || q.DecidedBy != "auto" || q.ParentLastName != "O'Neill-Smith" {
		t.Fatalf("request %+v", q)
	}
	if q.MobilePhone != "+447700900123" {
		t.Errorf("mobile stored as %q, want E.164", q.MobilePhone)
	}

	t.Run("second child joins the same account, whose password stays", func(t *testing.T) {
		second := aoife
		second.student, second.sfirst, second.slast, second.dob = "S200", "José", "D’Arcy", "28/02/2011"
		second.password = "Lantern-Orchid-Velvet-77"
		if page := e.request(second); !strings.Contains(page, "has been added to your account") {
			t.Fatalf("second child:\n%s", page)
		}
		if m := e.mailTo("aoife@example.org"); !strings.Contains(m.Subject, "has been added to your") {
			t.Fatalf("second approval email %q", m.Subject)
		}
		if _, code, _ := e.signIn("aoife@example.org", second.password); code == http.StatusOK {
			t.Fatal("the second request's password replaced the account's")
		}
		_, code, home := e.signIn("aoife@example.org", aoife.password)
		if code != http.StatusOK || !strings.Contains(home, "S100") || !strings.Contains(home, "S200") {
			t.Fatalf("home %d:\n%s", code, home)
		}
	})

	t.Run("second parent gets a second account", func(t *testing.T) {
		liam := parent{"Liam", "O’Neill-Smith", "liam@example.org", "Copper-Meadow-Falcon-19", "S100", "Siobhán Mary", "O'Neill-Smith", "05/04/2009", "Father"}
		if page := e.request(liam); !strings.Contains(page, "Your account is open") {
			t.Fatalf("second parent:\n%s", page)
		}
		e.mailTo("liam@example.org")
		a1, _ := e.store.AccountByEmail(context.Background(), "aoife@example.org")
		a2, _ := e.store.AccountByEmail(context.Background(), "liam@example.org")
		if a1.ID == 0 || a2.ID == 0 || a1.ID == a2.ID {
			t.Fatalf("accounts %d and %d", a1.ID, a2.ID)
		}
	})
}

func TestAccountRequestManualApprovalThroughStaffSite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalManual)
	page := e.request(aoife)
	if !strings.Contains(page, "submitted for approval") {
		t.Fatalf("confirmation page:\n%s", page)
	}
	if got := e.mails(); len(got) != 0 {
		t.Fatalf("emails before staff approval: %+v", got)
	}
	if _, code, _ := e.signIn("aoife@example.org", aoife.password); code == http.StatusOK {
		t.Fatal("signed in before approval")
	}
	staff := e.staff()
	code, queue := staff.get("/admin/")
	if code != http.StatusOK || !strings.Contains(queue, "aoife@example.org") {
		t.Fatalf("queue %d:\n%s", code, queue)
	}
	q := e.lastRequest("aoife@example.org")
	reqPath := fmt.Sprintf("/admin/requests/%d", q.ID)
	code, detail := staff.get(reqPath)
	for _, want := range []string{"Student ID exists", "passed", "Siobhán Mary", "aoife@example.org", "C1",
		"Waiting for staff to decide", "The request beside the MIS", "✓", "<th>NOK</th>", "<th>Barred</th>"} {
		if !strings.Contains(detail, want) {
			t.Errorf("request page lacks %q", want)
		}
	}
	for _, raw := range []string{"awaiting_staff", "student_first_names"} {
		if strings.Contains(detail, raw) {
			t.Errorf("request page shows the raw code %q", raw)
		}
	}
	code, _, _ = staff.post(reqPath, reqPath+"/approve", url.Values{"reason": {"checked against the enrolment form"}})
	if code != http.StatusSeeOther {
		t.Fatalf("approve: %d", code)
	}
	// After the decision the page says so, and who made it, in words.
	if _, detail = staff.get(reqPath); !strings.Contains(detail, "Account request "+fmt.Sprint(q.ID)+": Approved") ||
		!strings.Contains(detail, "Registry (registry@croydon.example.ac.uk)") || strings.Contains(detail, "staff:") {
		t.Errorf("request page after approval:\n%s", detail)
	}
	e.mailTo("aoife@example.org")
	_, code, home := e.signIn("aoife@example.org", aoife.password)
	if code != http.StatusOK || !strings.Contains(home, "S100") {
		t.Fatalf("home %d:\n%s", code, home)
	}
	q = e.lastRequest("aoife@example.org")
	if q.State != mypt.RequestApproved || !strings.HasPrefix(q.DecidedBy, "staff:") {
		t.Fatalf("request %+v", q)
	}
	entries, _ := e.store.AuditEntries(context.Background(), time.Time{}, 100)
	var actions []string
	for _, en := range entries {
		if strings.HasPrefix(en.Actor, "staff:") {
			actions = append(actions, en.Action)
		}
	}
	for _, want := range []string{"staff_login", "view_request", "approve"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("staff action %s not audited (have %v)", want, actions)
		}
	}
	// The CSV export carries the staff's actions.
	code, csv := staff.get("/admin/audit.csv?from=2026-12-01&to=2026-12-31")
	if code != http.StatusOK || !strings.Contains(csv, "approve") {
		t.Fatalf("audit export %d:\n%s", code, csv)
	}
}

// staff creates a staff user and signs in on the internal listener.
func (e *env) staff() *browser {
	e.t.Helper()
	hash, err := portal.HashPassword("Staff-Password-Long-1", portal.Argon2Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.store.CreateStaffUser(context.Background(), "registry@croydon.example.ac.uk", "Registry", hash); err != nil && !errors.Is(err, mypt.ErrConflict) {
		e.t.Fatal(err)
	}
	b := e.browser(e.internal.URL)
	if code, _ := b.get("/admin/"); code != http.StatusSeeOther {
		e.t.Fatalf("staff site open without sign-in: %d", code)
	}
	code, body, _ := b.post("/admin/login", "/admin/login", url.Values{"email": {"registry@croydon.example.ac.uk"}, "password": {"Staff-Password-Long-1"}})
	if code != http.StatusSeeOther {
		e.t.Fatalf("staff login %d:\n%s", code, body)
	}
	return b
}

func TestRejectionReasonsGiveGenericEmailAndPreciseReport(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	var bodies []string
	for i, tc := range []struct {
		name   string
		mod    func(*parent)
		reason string
	}{
		{"unknown student id", func(p *parent) { p.student = "S999" }, mypt.CheckStudentExists},
		{"shortened first name", func(p *parent) { p.sfirst = "Siobhán" }, mypt.CheckStudentFirstNames},
		{"wrong last name", func(p *parent) { p.slast = "O'Neill" }, mypt.CheckStudentLastName},
		{"wrong date of birth", func(p *parent) { p.dob = "04/05/2009" }, mypt.CheckStudentDateOfBirth},
		{"student over 19", func(p *parent) {
			p.first, p.last, p.student, p.sfirst, p.slast, p.dob = "Pat", "Park", "S400", "Kim", "Park", "01/01/2000"
		}, mypt.CheckStudentEligible},
		{"barred contact with every detail right", func(p *parent) {
			p.first, p.last, p.student, p.sfirst, p.slast, p.dob, p.rel = "Barry", "Barred", "S200", "José", "D'Arcy", "28/02/2011", "Father"
		}, mypt.CheckContactNotBarred},
	} {
		p := aoife
		p.email = fmt.Sprintf("reject%d@example.org", i)
		tc.mod(&p)
		if tc.reason == mypt.CheckStudentEligible {
			p.email = "park@example.org"
		}
		if tc.reason == mypt.CheckContactNotBarred {
			p.email = "barry@example.org"
		}
		page := e.request(p)
		if !strings.Contains(page, "could not approve") {
			t.Errorf("%s: page:\n%s", tc.name, page)
		}
		m := e.mailTo(p.email)
		q := e.lastRequest(p.email)
		if q.State != mypt.RequestRejected || q.Match == nil || q.Match.Reason != tc.reason {
			t.Errorf("%s: state %s reason %+v", tc.name, q.State, q.Match)
		}
		if c, ok := q.Match.Check(tc.reason); !ok || c.Passed || c.Detail == "" {
			t.Errorf("%s: check %+v", tc.name, c)
		}
		queued, err := e.store.FindEmail(context.Background(), q.EventKey("rejected"))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		bodies = append(bodies, strings.ReplaceAll(queued.Text, p.first+" "+p.last, "NAME"))
		for _, leak := range []string{"barred", "Barred contact", "date of birth is", "does not match the MIS", "S999"} {
			if strings.Contains(m.Body, leak) {
				t.Errorf("%s: rejection email says %q", tc.name, leak)
			}
		}
		if _, err := e.store.AccountByEmail(context.Background(), p.email); !errors.Is(err, mypt.ErrNotFound) {
			t.Errorf("%s: an account was opened", tc.name)
		}
	}
	for i := 1; i < len(bodies); i++ {
		if bodies[i] != bodies[0] {
			t.Errorf("rejection email %d differs from the first:\n%s\n----\n%s", i, bodies[i], bodies[0])
		}
	}
}

func TestNonNextOfKinGoesThroughStudentConsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	bob := parent{"Uncle", "Bob", "bob@example.org", "Saffron-Glacier-Tunnel-31", "S100", "Siobhán Mary", "O'Neill-Smith", "05/04/2009", "Uncle"}
	page := e.request(bob)
	if !strings.Contains(page, "consent is needed") {
		t.Fatalf("page:\n%s", page)
	}
	msgs := e.mails()
	var toStudent, toParent *email
	for i := range msgs {
		switch msgs[i].To {
		case "s100@students.croydon.example.ac.uk":
			toStudent = &msgs[i]
		case "bob@example.org":
			toParent = &msgs[i]
		}
	}
	if toStudent == nil || toParent == nil {
		t.Fatalf("emails %+v", msgs)
	}
	tok := link(t, *toStudent, "/student-consent")
	student := e.browser(e.public.URL)
	code, form := student.get("/student-consent?token=" + tok)
	if code != http.StatusOK || !strings.Contains(form, "Uncle Bob (Uncle) has asked to see your college records") ||
		strings.Contains(form, "parent or guardian") {
		t.Fatalf("consent page %d (must speak to the student and not call an uncle a parent):\n%s", code, form)
	}
	code, body, _ := student.post("/student-consent?token="+tok, "/student-consent", url.Values{"token": {tok}, "decision": {"agree"}})
	if code != http.StatusOK || !strings.Contains(body, "given your consent") {
		t.Fatalf("consent %d:\n%s", code, body)
	}
	if q := e.lastRequest("bob@example.org"); q.State != mypt.RequestAwaitingStaff {
		t.Fatalf("after consent: %s", q.State)
	}
	staff := e.staff()
	q := e.lastRequest("bob@example.org")
	path := fmt.Sprintf("/admin/requests/%d", q.ID)
	if code, _, _ := staff.post(path, path+"/approve", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("approve %d", code)
	}
	e.mailTo("bob@example.org")
	_, code, home := e.signIn("bob@example.org", bob.password)
	if code != http.StatusOK || !strings.Contains(home, "S100") {
		t.Fatalf("home %d:\n%s", code, home)
	}

	t.Run("declining rejects the request", func(t *testing.T) {
		bob2 := bob
		bob2.email = "bob2@example.org"
		e.exec(`INSERT INTO contact (contact_id, student_id, first_name, last_name, email, row_hash) VALUES ('C9', 'S100', 'Uncle', 'Bob', 'bob2@example.org', x'00')`)
		e.request(bob2)
		var tok string
		for _, m := range e.mails() {
			if m.To == "s100@students.croydon.example.ac.uk" {
				tok = link(t, m, "/student-consent")
			}
		}
		b := e.browser(e.public.URL)
		b.post("/student-consent?token="+tok, "/student-consent", url.Values{"token": {tok}, "decision": {"decline"}})
		if q := e.lastRequest("bob2@example.org"); q.State != mypt.RequestRejected {
			t.Fatalf("after decline: %s", q.State)
		}
		if m := e.mailTo("bob2@example.org"); !strings.Contains(m.Body, "could not approve") {
			t.Fatalf("decline email %+v", m)
		}
	})
}

func TestApprovedLinkEndsWhenStudentTurns19(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	pat := parent{"Pat", "Enough", "pat@example.org", "Harvest-Pebble-Quartz-58", "S300", "Old", "Enough", "01/09/2007", "Mother"}
	if page := e.request(pat); !strings.Contains(page, "Your account is open") {
		t.Fatalf("page:\n%s", page)
	}
	e.mailTo("pat@example.org")
	sweep, err := syncer.NewEligibility(syncer.EligibilityOptions{Store: e.store, Now: e.clock.Now,
		Mail: mypt.MailSettings{CollegeName: "Croydon College", SupportEmail: "ParentPortalSupport@croydon.example.ac.uk", PublicBaseURL: baseURL}})
	if err != nil {
		t.Fatal(err)
	}
	b, _, home := e.signIn("pat@example.org", pat.password)
	if !strings.Contains(home, "S300") {
		t.Fatalf("home before:\n%s", home)
	}
	e.clock.Advance(240 * 24 * time.Hour) // to 31 July 2027: still 18 on 31/08/2026, the reference date of 2026/27
	if res, _ := sweep.Sweep(context.Background()); res.Ended != 0 {
		t.Fatalf("ended early: %+v", res)
	}
	e.clock.Advance(24 * time.Hour) // 1 August 2027: 2027/28 measures age on 31/08/2027, when the student is 19
	if res, err := sweep.Sweep(context.Background()); err != nil || res.Ended != 1 {
		t.Fatalf("sweep %+v %v", res, err)
	}
	m := e.mailTo("pat@example.org")
	if !strings.Contains(m.Subject, "has ended") || !strings.Contains(m.Body, "age limit") {
		t.Fatalf("access ended email %+v", m)
	}
	// The session is still valid (20-minute idle timeout aside): sign in again and look.
	_ = b
	_, _, home = e.signIn("pat@example.org", pat.password)
	if strings.Contains(home, "S300") {
		t.Fatalf("home still shows the student:\n%s", home)
	}
	a, _ := e.store.AccountByEmail(context.Background(), "pat@example.org")
	recs, _ := e.store.AccessEndedFor(context.Background(), a.ID)
	if len(recs) != 1 || recs[0].Reason != mypt.TooOld {
		t.Fatalf("records %+v", recs)
	}
}

func TestResetEndsSessionsAndClearsLockout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	e.request(aoife)
	e.mailTo("aoife@example.org")
	signedIn, code, _ := e.signIn("aoife@example.org", aoife.password)
	if code != http.StatusOK {
		t.Fatal("first sign-in failed")
	}
	for range 3 {
		e.signIn("aoife@example.org", "Wrong-Password-1")
	}
	a, _ := e.store.AccountByEmail(context.Background(), "aoife@example.org")
	if !a.Locked() {
		t.Fatal("not locked after 3 wrong passwords")
	}
	b := e.browser(e.public.URL)
	code, body, _ := b.post("/forgot-password", "/forgot-password", url.Values{"email": {"AOIFE@example.org"}})
	if code != http.StatusOK || !strings.Contains(body, "we have sent it a link") {
		t.Fatalf("forgot %d:\n%s", code, body)
	}
	tok := link(t, e.mailTo("aoife@example.org"), "/reset-password")
	if code, _ := b.get("/reset-password?token=" + tok); code != http.StatusOK {
		t.Fatalf("reset form %d", code)
	}
	// A weak password is refused with a message beside the field; the token survives.
	code, body, _ = b.post("/reset-password?token="+tok, "/reset-password", url.Values{"token": {tok}, "password": {"Password1"}, "password_confirm": {"Password1"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "too common") {
		t.Fatalf("weak password %d:\n%s", code, body)
	}
	newPW := "Bramble-Horizon-Signal-64"
	code, body, _ = b.post("/reset-password?token="+tok, "/reset-password", url.Values{"token": {tok}, "password": {newPW}, "password_confirm": {newPW}})
	if code != http.StatusOK || !strings.Contains(body, "password has been changed") {
		t.Fatalf("reset %d:\n%s", code, body)
	}
	if m := e.mailTo("aoife@example.org"); !strings.Contains(m.Subject, "password has been changed") {
		t.Fatalf("notice %+v", m)
	}
	if code, _ := signedIn.get("/"); code != http.StatusSeeOther {
		t.Fatalf("old session still works after reset: %d", code)
	}
	if _, code, home := e.signIn("aoife@example.org", newPW); code != http.StatusOK || !strings.Contains(home, "S100") {
		t.Fatalf("sign in with the new password: %d", code)
	}
	if code, _ := b.get("/reset-password?token=" + tok); code != http.StatusNotFound {
		t.Fatalf("reset link reusable: %d", code)
	}
}

func TestForgotPasswordSameAnswerForUnknownEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	e.request(aoife)
	e.mailTo("aoife@example.org")
	answer := func(addr string) (int, string) {
		b := e.browser(e.public.URL)
		code, body, _ := b.post("/forgot-password", "/forgot-password", url.Values{"email": {addr}})
		body = csrfRE.ReplaceAllString(body, "CSRF")
		return code, strings.ReplaceAll(body, addr, "EMAIL")
	}
	c1, known := answer("aoife@example.org")
	c2, unknown := answer("nobody@example.org")
	if c1 != c2 || known != unknown {
		t.Fatalf("answers differ: %d vs %d\n%s\n----\n%s", c1, c2, known, unknown)
	}
	if got := e.mails(); len(got) != 1 || got[0].To != "aoife@example.org" {
		t.Fatalf("emails %+v", got)
	}
}

func TestAccountRequestFormShowsErrorsBesideFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	b := e.browser(e.public.URL)
	p := aoife
	p.dob = "31/02/2011"
	p.password = "Password1"
	f := p.form()
	f.Set("email_confirm", "other@example.org")
	code, body, _ := b.post("/account-request", "/account-request", f)
	if code != http.StatusBadRequest {
		t.Fatalf("code %d", code)
	}
	for _, want := range []string{"There is a problem", `href="#student_dob"`, "dd/mm/yyyy", "too common", "do not match",
		`id="student_dob-error"`, `value="O&#39;Neill-Smith"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "Password1") {
		t.Error("the password is echoed back")
	}
	if got := e.mails(); len(got) != 0 {
		t.Fatalf("an email went out for an invalid form: %+v", got)
	}
}

func TestStaffUnlocksLockedAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	e.request(aoife)
	e.mailTo("aoife@example.org")
	for range 3 {
		e.signIn("aoife@example.org", "Wrong-Password-1")
	}
	sweep, err := syncer.NewEligibility(syncer.EligibilityOptions{Store: e.store, Now: e.clock.Now,
		Mail: mypt.MailSettings{CollegeName: "Croydon College", SupportEmail: "ParentPortalSupport@croydon.example.ac.uk", PublicBaseURL: baseURL}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second sweep must not mail again
		if _, err := sweep.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	locked := e.mailTo("aoife@example.org")
	if !strings.Contains(locked.Subject, "locked") || !strings.Contains(locked.Body, baseURL+"/forgot-password") {
		t.Fatalf("locked email %+v", locked)
	}
	staff := e.staff()
	code, list := staff.get("/admin/accounts")
	if code != http.StatusOK || !strings.Contains(list, "aoife@example.org") || !strings.Contains(list, "too many wrong passwords") || strings.Contains(list, "failed_attempts") {
		t.Fatalf("locked list %d:\n%s", code, list)
	}
	a, _ := e.store.AccountByEmail(context.Background(), "aoife@example.org")
	page := fmt.Sprintf("/admin/accounts/%d", a.ID)
	if err := e.srv.FlushAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
	code, acct := staff.get(page)
	for _, want := range []string{"S100", "Siobhán Mary", "<td>Approved</td>", "locked after too many wrong passwords", "Unlock and email the parent"} {
		if !strings.Contains(acct, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	// A POST without the staff CSRF token is refused.
	resp, err := staff.c.PostForm(e.internal.URL+page+"/unlock", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("unlock without CSRF: %d", resp.StatusCode)
	}
	if code, _, _ := staff.post(page, page+"/unlock", url.Values{"reason": {"phoned the parent"}}); code != http.StatusSeeOther {
		t.Fatalf("unlock %d", code)
	}
	if m := e.mailTo("aoife@example.org"); !strings.Contains(m.Subject, "unlocked") {
		t.Fatalf("unlocked email %+v", m)
	}
	if _, code, _ := e.signIn("aoife@example.org", aoife.password); code != http.StatusOK {
		t.Fatalf("sign in after unlock: %d", code)
	}
	_, acct = staff.get(page)
	if !strings.Contains(acct, "unlock") || !strings.Contains(acct, "phoned the parent") {
		t.Errorf("history lacks the unlock:\n%s", acct)
	}
	// Unlocking an account that is not locked says so, and sends nothing.
	e.mails() // the ones so far
	_, _, resp = staff.post(page, page+"/unlock", url.Values{})
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "not_locked") {
		t.Errorf("unlock of an unlocked account went to %q", loc)
	}
	if _, acct = staff.get(resp.Header.Get("Location")); !strings.Contains(acct, "was not locked") || strings.Contains(acct, "has been emailed") {
		t.Errorf("the page after a needless unlock:\n%s", acct)
	}
	if m := e.mails(); len(m) != 0 {
		t.Errorf("emails after a needless unlock: %+v", m)
	}
}

func TestReRequestVoidsTheOldLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	b := e.browser(e.public.URL)
	b.post("/account-request", "/account-request", aoife.form())
	old := link(t, e.mailTo("aoife@example.org"), "/verify-email")
	b.post("/account-request", "/account-request", aoife.form())
	fresh := link(t, e.mailTo("aoife@example.org"), "/verify-email")
	if old == fresh {
		t.Fatal("the same link twice")
	}
	if code, _ := b.get("/verify-email?token=" + old); code != http.StatusNotFound {
		t.Fatalf("old link: %d", code)
	}
	if code, _, _ := b.post("/verify-email?token="+fresh, "/verify-email", url.Values{"token": {old}}); code != http.StatusNotFound {
		t.Fatalf("posting the old token: %d", code)
	}
	if code, _ := b.get("/verify-email?token=" + fresh); code != http.StatusOK {
		t.Fatalf("new link: %d", code)
	}
	// Expiry is on instants: 48 hours later the link is dead.
	e.clock.Advance(48 * time.Hour)
	if code, _ := b.get("/verify-email?token=" + fresh); code != http.StatusNotFound {
		t.Fatalf("expired link: %d", code)
	}
}

type mailFilesFunc func(limit int) ([]portal.MailFile, error)

func (f mailFilesFunc) List(limit int) ([]portal.MailFile, error) { return f(limit) }

func TestStaffSiteListsFileSinkEmails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	srv, err := portal.New(portal.Options{Store: e.store, Now: e.clock.Now,
		College: config.CollegeConfig{Name: "Croydon College", PublicBaseURL: baseURL},
		Portal:  config.PortalConfig{InsecureCookies: true, Argon2: config.Argon2Config{MemoryKiB: 1024, Iterations: 1, Parallelism: 1}},
		Accounts: portal.AccountsOptions{MailFiles: mailFilesFunc(func(int) ([]portal.MailFile, error) {
			return []portal.MailFile{{Name: "mypt.1.ab_example.eml", To: "Siobhán <s@example.org>", Subject: "Confirm your email address",
				Date: e.clock.Now(), Text: "Open the link:\n\n" + baseURL + "/verify-email?token=abc\n\nThanks"}}, nil
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	internal := httptest.NewServer(srv.InternalHandler())
	defer internal.Close()
	e.internal = internal
	staff := e.staff()
	code, list := staff.get("/admin/mail")
	if code != http.StatusOK || !strings.Contains(list, "Confirm your email address") || !strings.Contains(list, "Siobhán") {
		t.Fatalf("mail list %d:\n%s", code, list)
	}
	code, msg := staff.get("/admin/mail/mypt.1.ab_example.eml")
	if code != http.StatusOK || !strings.Contains(msg, `<a href="`+baseURL+`/verify-email?token=abc">`) {
		t.Fatalf("mail %d:\n%s", code, msg)
	}
	if code, _ := staff.get("/admin/mail/nope.eml"); code != http.StatusNotFound {
		t.Fatalf("unknown mail: %d", code)
	}
}

// The internal listener often runs plain HTTP on a private network: staff must still be able to
// sign in when the public site's cookies are Secure.
func TestStaffSignInOverPlainHTTPWithSecureCookies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	srv, err := portal.New(portal.Options{Store: e.store, Now: e.clock.Now,
		College: config.CollegeConfig{Name: "Croydon College", PublicBaseURL: baseURL},
		Portal:  config.PortalConfig{Argon2: config.Argon2Config{MemoryKiB: 1024, Iterations: 1, Parallelism: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	internal := httptest.NewServer(srv.InternalHandler())
	defer internal.Close()
	e.internal = internal
	staff := e.staff()
	if code, body := staff.get("/admin/"); code != http.StatusOK || !strings.Contains(body, "Requests waiting for staff") {
		t.Fatalf("staff home %d:\n%s", code, body)
	}
}

func TestStaffMailboxReview(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	now := sqlite.FormatTime(e.clock.Now())
	e.exec(`INSERT INTO mailbox_processed (message_key, folder, uidvalidity, uid, outcome, processed_at) VALUES ('mid:1@x', 'INBOX', 1, 1, 'review', ?)`, now)
	e.exec(`INSERT INTO mailbox_review_item (message_key, received_at, from_address, from_name, subject, student_ids, reason, excerpt)
		VALUES ('mid:1@x', ?, 'bjorn@example.org', 'Björn', 'Unlock my account – Seán', 'S100', 'no account for the sender', 'Please unlock <b>me</b>')`, now)
	staff := e.staff()
	code, page := staff.get("/admin/mailbox")
	if code != http.StatusOK || !strings.Contains(page, "Unlock my account – Seán") || !strings.Contains(page, "Please unlock &lt;b&gt;me&lt;/b&gt;") {
		t.Fatalf("review page %d:\n%s", code, page)
	}
	var id int64
	e.store.ReadDB().QueryRow(`SELECT review_id FROM mailbox_review_item`).Scan(&id)
	if code, _, _ := staff.post("/admin/mailbox", fmt.Sprintf("/admin/mailbox/%d/done", id), url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("done %d", code)
	}
	if _, page = staff.get("/admin/mailbox"); !strings.Contains(page, "Nothing to review") {
		t.Fatalf("item still open:\n%s", page)
	}
	if _, page = staff.get("/admin/mailbox?status=done"); !strings.Contains(page, "by Registry (registry@croydon.example.ac.uk)") || strings.Contains(page, "staff:") {
		t.Fatalf("done list:\n%s", page)
	}
}

func TestUnansweredConsentExpiresIntoRejection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	bob := parent{"Uncle", "Bob", "bob@example.org", "Saffron-Glacier-Tunnel-31", "S100", "Siobhán Mary", "O'Neill-Smith", "05/04/2009", "Uncle"}
	e.request(bob)
	var tok string
	for _, m := range e.mails() {
		if m.To == "s100@students.croydon.example.ac.uk" {
			tok = link(t, m, "/student-consent")
		}
	}
	sweep, err := syncer.NewEligibility(syncer.EligibilityOptions{Store: e.store, Now: e.clock.Now,
		Mail: mypt.MailSettings{CollegeName: "Croydon College", SupportEmail: "ParentPortalSupport@croydon.example.ac.uk", PublicBaseURL: baseURL}})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(13 * 24 * time.Hour)
	if res, _ := sweep.Sweep(context.Background()); res.ConsentExpired != 0 {
		t.Fatalf("expired early: %+v", res)
	}
	e.clock.Advance(24 * time.Hour) // 14 days: the consent link's default lifetime
	if res, err := sweep.Sweep(context.Background()); err != nil || res.ConsentExpired != 1 {
		t.Fatalf("sweep %+v %v", res, err)
	}
	if q := e.lastRequest("bob@example.org"); q.State != mypt.RequestRejected || q.DecidedBy != "system" {
		t.Fatalf("request %+v", q)
	}
	if m := e.mailTo("bob@example.org"); !strings.Contains(m.Body, "could not approve") {
		t.Fatalf("email %+v", m)
	}
	if code, _ := e.browser(e.public.URL).get("/student-consent?token=" + tok); code != http.StatusNotFound {
		t.Fatalf("consent link after expiry: %d", code)
	}
}

func TestNearMissesGoToStaffNotAutoDecided(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	staff := e.staff()
	for _, tc := range []struct {
		name   string
		p      parent
		reason string
		report string
	}{
		{"next of kin with an email the MIS does not hold",
			parent{"Liam", "O'Neill-Smith", "liam.new@example.org", "Copper-Meadow-Falcon-19", "S100", "Siobhán Mary", "O'Neill-Smith", "05/04/2009", "Father"},
			mypt.CheckRequesterEmail, "liam@example.org"},
		{"student name differing only by accents",
			parent{"Aoife", "O'Neill-Smith", "aoife@example.org", "Tangerine-Kettle-Harbour-42", "S100", "Siobhan Mary", "O'Neill-Smith", "05/04/2009", "Mother"},
			mypt.CheckNamesExact, "only by accents"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := e.request(tc.p)
			if !strings.Contains(page, "submitted for approval") {
				t.Fatalf("confirmation page:\n%s", page)
			}
			if got := e.mails(); len(got) != 0 {
				t.Fatalf("emails before staff looked: %+v", got)
			}
			q := e.lastRequest(strings.ToLower(tc.p.email))
			if q.State != mypt.RequestAwaitingStaff || q.Reason != tc.reason || q.DecidedBy != "" {
				t.Fatalf("request %+v, want awaiting_staff for %s", q, tc.reason)
			}
			code, detail := staff.get(fmt.Sprintf("/admin/requests/%d", q.ID))
			if code != http.StatusOK || !strings.Contains(detail, tc.report) {
				t.Fatalf("match report %d lacks %q:\n%s", code, tc.report, detail)
			}
		})
	}
}

func TestAuditRecordsSubmissionAndEveryFailedSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	e.request(aoife)
	e.mailTo("aoife@example.org")
	acct, err := e.store.AccountByEmail(context.Background(), "aoife@example.org")
	if err != nil {
		t.Fatal(err)
	}
	e.signIn("aoife@example.org", "Wrong-Password-Entirely-1")
	e.signIn("stranger@example.org", "Some-Password-Here-2")
	// Sign-in records are written by the audit writer behind the request: wait for them.
	var entries []mypt.AuditEntry
	for i := 0; ; i++ {
		entries, err = e.store.AuditEntries(context.Background(), time.Time{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, en := range entries {
			if en.Action == "login_failed" {
				n++
			}
		}
		if n >= 2 || i == 200 {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	var got []string
	for _, en := range entries {
		got = append(got, en.Actor+" "+en.Action+" ["+en.Detail+"]")
		for _, secret := range []string{"stranger@example.org", "Wrong-Password", "Some-Password"} {
			if strings.Contains(fmt.Sprintf("%+v", en), secret) {
				t.Errorf("audit entry %+v holds %q", en, secret)
			}
		}
		if en.Detail != strings.TrimSpace(en.Detail) {
			t.Errorf("audit detail %q has stray spaces", en.Detail)
		}
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"requester request_submitted", "system request_verified [approved]",
		fmt.Sprintf("account:%d login_failed", acct.ID), "unknown login_failed"} {
		if !strings.Contains(all, want) {
			t.Errorf("audit lacks %q; have\n%s", want, all)
		}
	}
}

func TestSecondRequestReplacesTheOneAwaitingStaff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalManual)
	e.request(aoife)
	first := e.lastRequest("aoife@example.org")
	again := aoife
	again.password = "Lantern-Orchid-Velvet-77"
	e.request(again)
	second := e.lastRequest("aoife@example.org")
	if second.ID == first.ID {
		t.Fatal("no second request")
	}
	queue, err := e.store.AccountRequests(context.Background(), []mypt.RequestState{mypt.RequestAwaitingStaff}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(queue) != 1 || queue[0].ID != second.ID {
		t.Fatalf("queue %+v, want only request %d", queue, second.ID)
	}
	old, err := e.store.AccountRequest(context.Background(), first.ID)
	if err != nil || old.State != mypt.RequestRejected || old.Reason != fmt.Sprintf("replaced by request %d", second.ID) || old.PasswordHash != "" {
		t.Fatalf("older request %+v %v", old, err)
	}
	if got := e.mails(); len(got) != 0 {
		t.Fatalf("the replaced request sent email: %+v", got)
	}
}

func TestStaffFindsAStudent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	staff := e.staff()
	code, page := staff.get("/admin/students?id=S100")
	for _, want := range []string{"Siobhán Mary", "05/04/2009", "aoife@example.org", "C4", "<th>PR</th>"} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("student page %d lacks %q", code, want)
		}
	}
	if code, page = staff.get("/admin/students?id=S999"); code != http.StatusOK || !strings.Contains(page, "no student with ID S999") {
		t.Errorf("unknown student %d:\n%s", code, page)
	}
	if code, _ := e.browser(e.internal.URL).get("/admin/students?id=S100"); code != http.StatusSeeOther {
		t.Errorf("find a student without signing in: %d", code)
	}
	entries, _ := e.store.AuditEntries(context.Background(), time.Time{}, 100)
	var seen int
	for _, en := range entries {
		if en.Action == "view_student" && strings.HasPrefix(en.Actor, "staff:") {
			seen++
		}
	}
	if seen != 2 {
		t.Errorf("%d view_student audit records, want 2", seen)
	}
}

// A body over the form limit answers 413 on every account page, as on /login.
func TestAccountFormsRefuseOversizedBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	b := e.browser(e.public.URL)
	for _, page := range []string{"/account-request", "/forgot-password"} {
		code, _, _ := b.post(page, page, url.Values{"email": {strings.Repeat("a", 200<<10)}})
		if code != http.StatusRequestEntityTooLarge {
			t.Errorf("POST %s with a 200 KiB body: %d, want 413", page, code)
		}
	}
}

// Confirming needs the password typed on the request: a wrong one confirms nothing and says so
// beside the field; after maxVerifyFails wrong ones the link is dead, even with the right one.
func TestConfirmNeedsTheRequestPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, config.ApprovalAuto)
	b := e.browser(e.public.URL)
	if code, body, _ := b.post("/account-request", "/account-request", aoife.form()); code != http.StatusSeeOther {
		t.Fatalf("request: %d\n%s", code, body)
	}
	tok := link(t, e.mailTo("aoife@example.org"), "/verify-email")
	for i := 1; i <= 5; i++ {
		code, body, _ := b.post("/verify-email?token="+tok, "/verify-email", url.Values{"token": {tok}, "password": {"Not-The-One-" + fmt.Sprint(i)}})
		switch {
		case i < 5 && (code != http.StatusBadRequest || !strings.Contains(body, "Enter the password you typed on this request")):
			t.Fatalf("wrong password %d: %d\n%s", i, code, body)
		case i == 5 && code != http.StatusNotFound:
			t.Fatalf("the 5th wrong password: %d, want the link dead (404)", code)
		}
		if q := e.lastRequest("aoife@example.org"); q.State != mypt.RequestUnverified {
			t.Fatalf("a wrong password moved the request to %s", q.State)
		}
	}
	if code, _, _ := b.post("/verify-email?token="+tok, "/verify-email", url.Values{"token": {tok}, "password": {aoife.password}}); code != http.StatusNotFound {
		t.Errorf("the right password after 5 wrong ones: %d, want the link dead", code)
	}
	if m := e.mails(); len(m) != 0 {
		t.Errorf("emails after refused confirms: %+v", m)
	}
}
