package portal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// HR-1: building both listeners' complete route tables does not panic.
func TestRouteTablesBuild(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.srv.routesPublic()
	h.srv.routesInternal()
	h.srv.InternalHandler()
}

// The public listener never serves the internal routes.
func TestPublicListenerHidesInternalRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.client()
	for _, p := range []string{"/metrics", "/healthz", "/readyz", "/admin/", "/mis/v1/batches"} {
		if r := h.get(c, p); r.StatusCode != http.StatusNotFound {
			t.Errorf("public %s: %d", p, r.StatusCode)
		}
	}
	in := httptest.NewServer(h.srv.InternalHandler())
	defer in.Close()
	resp, err := http.Get(in.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("internal /healthz: %d", resp.StatusCode)
	}
	resp, err = http.Get(in.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("internal /login: %d", resp.StatusCode)
	}
}

// HR-2: a method a route does not allow gets 405, an Allow header and our own page.
func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.do(h.client(), "PUT", "/login", nil)
	if r.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("PUT /login: %d", r.StatusCode)
	}
	allow := r.Header.Get("Allow")
	if !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Errorf("Allow %q", allow)
	}
	if !strings.Contains(r.body, "<h1>Not allowed</h1>") || !strings.Contains(r.body, "/static/app.css") {
		t.Errorf("not our page:\n%s", r.body)
	}
	if r := h.do(h.client(), "DELETE", "/students/"+seedStudent+"/attendance", nil); r.StatusCode != 405 ||
		r.Header.Get("Allow") == "" || strings.Contains(r.body, "Siobhán") {
		t.Errorf("DELETE a student page: %d", r.StatusCode)
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.signedIn(parentEmail, parentPass)
	r := h.get(c, "/students/"+seedStudent+"/attendance")
	want := map[string]string{
		"Content-Security-Policy":   "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"Referrer-Policy":           "no-referrer",
		"X-Content-Type-Options":    "nosniff",
		"Cache-Control":             "no-store",
		"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
		"Content-Type":              "text/html; charset=utf-8",
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if strings.Contains(r.body, "<script") || strings.Contains(r.body, "style=") {
		t.Error("inline script or style on the page")
	}
	css := h.get(c, "/static/app.css")
	if css.StatusCode != 200 || !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %s", css.StatusCode, css.Header.Get("Content-Type"))
	}
	// Plain HTTP (the demo) gets no HSTS.
	plain := httptest.NewServer(h.srv.PublicHandler())
	defer plain.Close()
	resp, err := http.Get(plain.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS over plain http")
	}
}

func TestDocumentDownload(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.signedIn(parentEmail, parentPass)
	list := h.get(c, "/students/"+seedStudent+"/documents")
	if !strings.Contains(list.body, "Trip &lt;consent&gt; form") || !strings.Contains(list.body, "Parents&#39; evening letter") {
		t.Errorf("document list:\n%s", list.body)
	}
	r := h.get(c, "/students/"+seedStudent+"/documents/D2")
	if r.StatusCode != 200 {
		t.Fatal(r.StatusCode)
	}
	for k, v := range map[string]string{
		"Content-Type":            "text/html",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "sandbox; default-src 'none'",
		"Cache-Control":           "no-store",
	} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment; ") {
		t.Errorf("Content-Disposition %q", cd)
	}
	if r.body != "<script>alert(1)</script>" {
		t.Errorf("content changed: %q", r.body)
	}
	pdf := h.get(c, "/students/"+seedStudent+"/documents/D1")
	if cd := pdf.Header.Get("Content-Disposition"); cd != `attachment; filename="Parents' evening letter.pdf"; filename*=UTF-8''Parents%27%20evening%20letter.pdf` {
		t.Errorf("Content-Disposition %q", cd)
	}
}

func TestHelpPagesUseConfiguredAddresses(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.client()
	for _, topic := range helpTopics {
		r := h.get(c, "/help/"+topic.Slug)
		if r.StatusCode != 200 {
			t.Errorf("%s: %d", topic.Slug, r.StatusCode)
		}
	}
	if r := h.get(c, "/help/attendance"); !strings.Contains(r.body, "mailto:attendance@example.ac.uk") {
		t.Error("attendance help lacks the attendance address")
	}
	if r := h.get(c, "/help/logging-in"); !strings.Contains(r.body, "mailto:ParentPortalSupport@example.ac.uk") {
		t.Error("sign-in help lacks the support address")
	}
	if r := h.get(c, "/help/nope"); r.StatusCode != 404 {
		t.Errorf("unknown topic: %d", r.StatusCode)
	}
}

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	p := cheapArgon
	hash, err := HashPassword("Siobhán’s pass 1", p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Errorf("hash %q", hash)
	}
	if ok, err := VerifyPassword("Siobhán’s pass 1", hash); !ok || err != nil {
		t.Errorf("right password: %v %v", ok, err)
	}
	if ok, _ := VerifyPassword("siobhán’s pass 1", hash); ok {
		t.Error("wrong password verifies")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$a2V5", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5"} {
		if ok, err := VerifyPassword("x", bad); ok || err == nil {
			t.Errorf("bad hash %q accepted", bad)
		}
	}
	if !NeedsRehash(hash, DefaultArgon2Params()) || NeedsRehash(hash, p) {
		t.Error("NeedsRehash")
	}
}

func TestNewFailsWithoutStore(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{}); err == nil {
		t.Error("New without a store succeeded")
	}
}

func TestTemplatesParse(t *testing.T) {
	t.Parallel()
	tm, err := loadTemplates()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range requiredPages {
		if tm.pages[p] == nil {
			t.Errorf("page %s missing", p)
		}
	}
}

// Every GET route also answers HEAD, with the GET's status and headers and no body.
func TestHeadWhereverGet(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.signedIn(parentEmail, parentPass)
	for _, p := range []string{"/", "/login", "/help", "/static/app.css", "/students/" + seedStudent + "/attendance"} {
		get := h.get(c, p)
		head := h.do(c, "HEAD", p, nil)
		if head.StatusCode != get.StatusCode || head.body != "" ||
			head.Header.Get("Content-Type") != get.Header.Get("Content-Type") {
			t.Errorf("HEAD %s: %d %q %q (GET %d %q)", p, head.StatusCode, head.body, head.Header.Get("Content-Type"), get.StatusCode, get.Header.Get("Content-Type"))
		}
	}
	// A HEAD of a student page shows nothing, so it is not audited as a view.
	h.flushAudit()
	before, err := h.store.AuditEntries(context.Background(), time.Time{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	h.do(c, "HEAD", "/students/"+seedStudent+"/details", nil)
	h.flushAudit()
	after, err := h.store.AuditEntries(context.Background(), time.Time{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("HEAD audited: %+v", after[len(before):])
	}
	if r := h.do(h.client(), "HEAD", "/nope", nil); r.StatusCode != 404 {
		t.Errorf("HEAD unknown path: %d", r.StatusCode)
	}
	if r := h.do(h.client(), "PUT", "/", nil); r.StatusCode != 405 || !strings.Contains(r.Header.Get("Allow"), "HEAD") {
		t.Errorf("PUT /: %d Allow %q", r.StatusCode, r.Header.Get("Allow"))
	}
	in := httptest.NewServer(h.srv.InternalHandler())
	defer in.Close()
	req, _ := http.NewRequest("HEAD", in.URL+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("internal HEAD /healthz: %d", resp.StatusCode)
	}
}

// An unknown path under /mis/ on the internal listener answers JSON, as the MIS API does, not
// the staff site's HTML page; the public listener's 404 stays the parents' page.
func TestUnknownMISPathAnswersJSON(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, m := range []string{"GET", "POST"} {
		rec := httptest.NewRecorder()
		h.srv.InternalHandler().ServeHTTP(rec, httptest.NewRequest(m, "/mis/v1/nope", nil))
		if rec.Code != http.StatusNotFound || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") ||
			!strings.Contains(rec.Body.String(), `"result":"not_found"`) {
			t.Errorf("%s /mis/v1/nope: %d %q %s", m, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
	if r := h.get(h.client(), "/mis/v1/nope"); r.StatusCode != http.StatusNotFound || strings.Contains(r.body, `"result"`) {
		t.Errorf("public /mis/v1/nope: %d", r.StatusCode)
	}
}
