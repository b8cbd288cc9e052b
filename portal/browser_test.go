package portal

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"mypt/internal/browsertest"
)

// checkPhonePage runs axe-core (browsertest.CheckAxe) on the open page, called page, and checks
// it is readable on a 360 px phone: nothing but the tables' own scroll regions may be wider.
// With MYPT_SCREENSHOTS set to a directory it first saves a full-page PNG of the page there.
func checkPhonePage(t *testing.T, ctx context.Context, axe, page string) {
	t.Helper()
	if shots := os.Getenv("MYPT_SCREENSHOTS"); shots != "" {
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			name := strings.NewReplacer("/", "_", " ", "_", "?", "_").Replace(page)
			os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		}
	}
	browsertest.CheckAxe(t, ctx, axe, page)
	browsertest.CheckWidth(t, ctx, page, 360)
}

// TestBrowser drives headless Chromium through a parent's visit: sign in, home, attendance,
// the PDF, a letter, sign out and the back button; axe-core checks every page type.
func TestBrowser(t *testing.T) {
	t.Parallel()
	axe := browsertest.Axe(t)
	h := newHarness(t, func(o *Options) { o.Portal.InsecureCookies = true })
	ts := httptest.NewServer(h.srv.PublicHandler()) // plain http, as the demo serves
	defer ts.Close()
	base := ts.URL
	downloads := t.TempDir()

	ctx := browsertest.Start(t, 90*time.Second, chromedp.WindowSize(360, 800))

	checkAxe := func(page string) { t.Helper(); checkPhonePage(t, ctx, axe, page) }

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(360, 800)); err != nil {
		t.Fatalf("phone viewport: %v", err)
	}
	browsertest.AllowDownloads(t, ctx, downloads)

	// The sign-in page, then a form with errors (the error summary).
	browsertest.Run(t, ctx, "open sign-in", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.ID("email")))
	checkAxe("sign-in")
	browsertest.Run(t, ctx, "submit empty", chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(".error-summary")))
	checkAxe("sign-in with errors")
	browsertest.Run(t, ctx, "wrong password", chromedp.SendKeys(chromedp.ID("email"), parentEmail), chromedp.SendKeys(chromedp.ID("password"), "nope"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(".warning")))
	checkAxe("sign-in after a wrong password")

	// Sign in.
	browsertest.Run(t, ctx, "sign in (the form kept the email)",
		chromedp.SendKeys(chromedp.ID("password"), parentPass),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(".cards")))
	if s := browsertest.Text(t, ctx); !strings.Contains(s, "Siobhán D'Arcy-O’Neill") || !strings.Contains(s, "José") {
		t.Fatalf("home page:\n%s", s)
	}
	checkAxe("home")

	// Every student page type.
	for _, p := range studentRoutes {
		if p == "/attendance.pdf" || strings.HasPrefix(p, "/documents/") {
			continue
		}
		browsertest.Run(t, ctx, "open "+p, chromedp.Navigate(base+"/students/"+seedStudent+p), chromedp.WaitVisible(chromedp.CSS("h1")))
		checkAxe("student" + p)
	}
	browsertest.Run(t, ctx, "attendance", chromedp.Navigate(base+"/students/"+seedStudent+"/attendance?year=2018"), chromedp.WaitVisible(chromedp.CSS("table.attendance")))
	if s := browsertest.Text(t, ctx); !strings.Contains(s, "95.2%") || !strings.Contains(s, "98.3%") {
		t.Errorf("attendance page lacks the seed's totals")
	}
	// On a 360 px phone the whole week grid fits: Att % and Punct % are on screen without scrolling.
	for _, q := range []string{`table.attendance thead th:last-child`, `table.attendance tbody tr:first-child td:last-child`} {
		right, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector("`+q+`").getBoundingClientRect().right`))
		if err != nil || right > 360 {
			t.Errorf("attendance at 360 px: %s ends at %.0f px (%v)", q, right, err)
		}
	}
	// On a 1280 px screen each figure of the annual summary sits beside its label, not under it.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("desktop viewport: %v", err)
	}
	under, err := chromedp.Run(ctx, chromedp.Evaluate[int](`Array.from(document.querySelectorAll(".summary-grid div")).filter(d => d.querySelector("dd").getBoundingClientRect().top > d.querySelector("dt").getBoundingClientRect().top + 2).length`))
	if err != nil || under > 0 {
		t.Errorf("summary at 1280 px: %d values under their labels (%v)", under, err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(360, 800)); err != nil {
		t.Fatalf("phone viewport: %v", err)
	}
	// Every definition in the details list stays inside the page, however long the email.
	browsertest.Run(t, ctx, "details", chromedp.Navigate(base+"/students/"+seedStudent+"/details"), chromedp.WaitVisible(chromedp.CSS("dl.details")))
	if over, err := chromedp.Run(ctx, chromedp.Evaluate[int](`Array.from(document.querySelectorAll("dl.details dd")).filter(e => e.getBoundingClientRect().right > 360 || e.scrollWidth > e.clientWidth + 1).length`)); err != nil || over > 0 {
		t.Errorf("details at 360 px: %d definitions overflow (%v)", over, err)
	}
	for _, p := range []string{"/help", "/help/attendance", "/students/99999999"} {
		browsertest.Run(t, ctx, "open "+p, chromedp.Navigate(base+p), chromedp.WaitVisible(chromedp.CSS("h1")))
		checkAxe(p)
	}

	// Download the PDF and open a letter (both arrive as downloads).
	waitFile := func(what, prefix string) {
		t.Helper()
		if !browsertest.TakeDownload(ctx, downloads, prefix) {
			t.Errorf("%s was not downloaded", what)
		}
	}
	browsertest.Run(t, ctx, "attendance again", chromedp.Navigate(base+"/students/"+seedStudent+"/attendance?year=2018"), chromedp.WaitVisible(chromedp.CSS("table.attendance")))
	browsertest.Run(t, ctx, "download PDF", chromedp.Click(chromedp.CSS(`a[href$="attendance.pdf?year=2018"]`)))
	waitFile("the attendance PDF", "%PDF-")
	browsertest.Run(t, ctx, "documents", chromedp.Navigate(base+"/students/"+seedStudent+"/documents"), chromedp.WaitVisible(chromedp.CSS(".documents")))
	browsertest.Run(t, ctx, "open letter", chromedp.Click(chromedp.CSS(`a[href$="/documents/D1"]`)))
	waitFile("the letter", "%PDF-1.4\n% test letter")

	// Sign out, then press back: nothing personal may be shown.
	browsertest.Run(t, ctx, "attendance before sign-out", chromedp.Navigate(base+"/students/"+seedStudent+"/attendance?year=2018"),
		chromedp.WaitVisible(chromedp.CSS("table.attendance")))
	browsertest.Run(t, ctx, "sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if s := browsertest.Text(t, ctx); !strings.Contains(s, "You have signed out") {
		t.Errorf("after sign-out:\n%s", s)
	}
	browsertest.Run(t, ctx, "back", chromedp.NavigateBack(), chromedp.WaitVisible(chromedp.CSS("h1")))
	url, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	s := browsertest.Text(t, ctx)
	for _, personal := range []string{"Siobhán", "10012345", "95.2%", "D'Arcy"} {
		if strings.Contains(s, personal) {
			t.Errorf("after sign-out and back (%s) the page shows %q:\n%s", url, personal, s)
		}
	}
	if !strings.Contains(url, "/login") {
		t.Errorf("back after sign-out lands on %s", url)
	}
}
