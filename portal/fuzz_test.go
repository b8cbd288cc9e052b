package portal

import (
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzSafeNext: whatever a client puts in next=, the redirect stays on this site.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "//evil", "/students/1?year=2018", "https://x", "/\\x", "\r\n/", "/\t/evil.example", "/%09/x", "/\x00/x"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://portal.example/login")
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		// What a browser does with the Location: drop tabs and newlines, read \ as /.
		browser := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(got)
		u, err := url.Parse(browser)
		if err != nil || !strings.HasPrefix(got, "/") || base.ResolveReference(u).Host != "portal.example" {
			t.Fatalf("safeNext(%q) = %q leaves the site", next, got)
		}
		if got != "/" && got != next {
			t.Fatalf("safeNext(%q) = %q: a safe path is kept as it is", next, got)
		}
	})
}

// FuzzYearParam: the year parameter never panics and accepts only plausible years.
func FuzzYearParam(f *testing.F) {
	for _, s := range []string{"2018", "", "-1", "99999999999999999999", "2018;drop"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		r := httptest.NewRequest("GET", "/x", nil)
		v := r.URL.Query()
		v.Set("year", q)
		r.URL.RawQuery = v.Encode()
		y, ok := yearParam(r)
		if ok && y != 0 && (y < 1900 || y > 2999) {
			t.Fatalf("year %d accepted from %q", y, q)
		}
	})
}

// FuzzParsePHC: a stored hash of any shape is refused or verified without panicking, and
// never asks for more than the limits.
func FuzzParsePHC(f *testing.F) {
	h, _ := HashPassword("x", cheapArgon)
	f.Add(h)
	f.Add("$argon2id$v=19$m=1,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, phc string) {
		p, _, _, err := parsePHC(phc)
		if err == nil && (p.MemoryKiB > 1<<20 || p.Iterations > 20 || p.Parallelism > 16) {
			t.Fatalf("accepted cost %+v", p)
		}
	})
}

// FuzzAttachment: any document title gives a header with no line breaks or quotes to escape.
func FuzzAttachment(f *testing.F) {
	f.Add("Parents' evening letter", "application/pdf")
	f.Add("a\"b\r\nSet-Cookie: x", "text/plain")
	f.Fuzz(func(t *testing.T, title, ct string) {
		h := attachment(title, ct)
		if strings.ContainsAny(h, "\r\n") || strings.Count(h, `"`) != 2 {
			t.Fatalf("header %q", h)
		}
	})
}

// TestPDFPrintsAnyName: names outside Latin-1 print as written (the font is embedded).
func TestPDFPrintsAnyName(t *testing.T) {
	t.Parallel()
	pdftotext, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Fatal("pdftotext (poppler-utils) is not installed: run ./scripts/test")
	}
	h := newHarness(t)
	c := h.signedIn(parentEmail, parentPass)
	r := h.get(c, "/students/"+siblingID+"/attendance.pdf")
	if r.StatusCode != 200 {
		t.Fatalf("status %d", r.StatusCode)
	}
	path := filepath.Join(t.TempDir(), "r.pdf")
	os.WriteFile(path, []byte(r.body), 0o644)
	out, err := exec.Command(pdftotext, "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"José Łukasz D'Arcy-O’Neill", "Coulsdon College", "2018/19"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("PDF lacks %q:\n%s", want, out)
		}
	}
}
