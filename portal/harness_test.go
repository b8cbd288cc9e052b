package portal

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mypt/adapters/sqlite"
	"mypt/config"
)

var _ Store = (*sqlite.Store)(nil)

type harness struct {
	t      testing.TB
	store  *sqlite.Store
	srv    *Server
	ts     *httptest.Server
	clock  *testClock
	reg    *prometheus.Registry
	parent int64
	other  int64
}

type harnessOpt func(*Options)

func testCollege() config.CollegeConfig {
	return config.CollegeConfig{
		Name:            "Croydon and Coulsdon Colleges",
		Sites:           []config.College{{Code: "CRO", Name: "Croydon College"}, {Code: "COU", Name: "Coulsdon College"}},
		SupportEmail:    "ParentPortalSupport@example.ac.uk",
		AttendanceEmail: "attendance@example.ac.uk",
		PublicBaseURL:   "https://portal.example.ac.uk",
	}
}

// newHarness starts the public site over TLS on a fresh cache holding the test college.
func newHarness(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	clock := &testClock{t: testNow}
	st := openStore(t, clock.Now)
	loadRows(t, st, seedRows(t))
	h := &harness{t: t, store: st, clock: clock, reg: prometheus.NewRegistry()}
	h.parent = addParent(t, st, parentEmail, parentPass, "Anne", "D'Arcy", map[string]string{
		seedStudent: "K1", siblingID: "K2", barredID: "K4", tooOldID: "K5"})
	h.other = addParent(t, st, otherEmail, otherPass, "Bob", "Family", map[string]string{otherFamilyID: "K3"})
	o := Options{
		Store: st, Registerer: h.reg, Now: clock.Now, College: testCollege(),
		Portal: config.PortalConfig{LoginRatePerMinute: 6000, LoginRateBurst: 1000,
			Argon2: config.Argon2Config{MemoryKiB: cheapArgon.MemoryKiB, Iterations: cheapArgon.Iterations, Parallelism: 1}},
		AuditFlushInterval: 10 * time.Millisecond,
	}
	for _, f := range opts {
		f(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	h.ts = httptest.NewTLSServer(srv.PublicHandler())
	t.Cleanup(func() {
		h.ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close(ctx)
	})
	return h
}

// client is a browser-like client: its own cookie jar, no redirect following.
func (h *harness) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:       jar,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Timeout: 30 * time.Second,
	}
}

type response struct {
	*http.Response
	body string
}

func (h *harness) do(c *http.Client, method, path string, form url.Values) response {
	h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, h.ts.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{resp, string(b)}
}

func (h *harness) get(c *http.Client, path string) response { return h.do(c, "GET", path, nil) }

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrfOf(t testing.TB, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf_token in page:\n%s", body)
	}
	return m[1]
}

// login signs c in (GET the form, POST it) and returns the POST's response.
func (h *harness) login(c *http.Client, email, password string) response {
	h.t.Helper()
	form := h.get(c, "/login")
	return h.do(c, "POST", "/login", url.Values{"email": {email}, "password": {password},
		"csrf_token": {csrfOf(h.t, form.body)}, "next": {"/"}})
}

func (h *harness) signedIn(email, password string) *http.Client {
	h.t.Helper()
	c := h.client()
	r := h.login(c, email, password)
	if r.StatusCode != http.StatusSeeOther {
		h.t.Fatalf("sign in: status %d\n%s", r.StatusCode, r.body)
	}
	return c
}

func (h *harness) sessionCookie(c *http.Client) string {
	u, _ := url.Parse(h.ts.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "__Host-mypt_session" || ck.Name == "mypt_session" {
			return ck.Value
		}
	}
	return ""
}

func (h *harness) flushAudit() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.FlushAudit(ctx); err != nil {
		h.t.Fatal(err)
	}
}
