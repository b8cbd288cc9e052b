package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's chromium; a missing browser is a failure, not a skip.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run ./scripts/test")
	return ""
}

// axeSource is axe-core from npm, installed by scripts/test into .cache/npm.
func axeSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", ".cache", "npm", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core is not installed (%v): run ./scripts/test", err)
	}
	return string(b)
}

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

// TestBrowser drives headless Chromium through a parent's visit: sign in, home, attendance,
// the PDF, a letter, sign out and the back button; axe-core checks every page type.
func TestBrowser(t *testing.T) {
	t.Parallel()
	exe := chromiumPath(t)
	axe := axeSource(t)
	h := newHarness(t, func(o *Options) { o.Portal.InsecureCookies = true })
	ts := httptest.NewServer(h.srv.PublicHandler()) // plain http, as the demo serves
	defer ts.Close()
	base := ts.URL
	downloads := t.TempDir()

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(360, 800),
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	shots := os.Getenv("MYPT_SCREENSHOTS") // a directory: save a full-page PNG of each page checked
	checkAxe := func(page string) {
		t.Helper()
		if shots != "" {
			if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
				name := strings.NewReplacer("/", "_", " ", "_", "?", "_").Replace(page)
				os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
			}
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](axe+";true")); err != nil {
			t.Fatalf("inject axe on %s: %v", page, err)
		}
		out, err := chromedp.Run(ctx, chromedp.Evaluate[string](
			`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("axe on %s: %v", page, err)
		}
		// Readable on a 360 px phone: nothing but the tables' own scroll regions may be wider.
		if w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || w > 360 {
			t.Errorf("%s: page is %d px wide at a 360 px viewport (%v)", page, w, err)
		}
		var vs []axeViolation
		if err := json.Unmarshal([]byte(out), &vs); err != nil {
			t.Fatalf("axe result: %v", err)
		}
		for _, v := range vs {
			t.Logf("%s: axe %s (%s) on %d nodes", page, v.ID, v.Impact, len(v.Nodes))
			if v.Impact == "serious" || v.Impact == "critical" {
				var where []string
				for _, n := range v.Nodes {
					where = append(where, fmt.Sprint(n.Target))
				}
				t.Errorf("%s: axe %s (%s): %s at %s", page, v.ID, v.Impact, v.Help, strings.Join(where, ", "))
			}
		}
	}
	text := func() string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		if err != nil {
			t.Fatalf("read page: %v", err)
		}
		return s
	}

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(360, 800)); err != nil {
		t.Fatalf("phone viewport: %v", err)
	}
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads}); err != nil {
		t.Fatalf("allow downloads: %v", err)
	}

	// The sign-in page, then a form with errors (the error summary).
	run("open sign-in", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.ID("email")))
	checkAxe("sign-in")
	run("submit empty", chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(".error-summary")))
	checkAxe("sign-in with errors")
	run("wrong password", chromedp.SendKeys(chromedp.ID("email"), parentEmail), chromedp.SendKeys(chromedp.ID("password"), "nope"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(".warning")))
	checkAxe("sign-in after a wrong password")

	// Sign in.
	run("sign in (the form kept the email)",
		chromedp.SendKeys(chromedp.ID("password"), parentPass),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(".cards")))
	if s := text(); !strings.Contains(s, "Siobhán D'Arcy-O’Neill") || !strings.Contains(s, "José") {
		t.Fatalf("home page:\n%s", s)
	}
	checkAxe("home")

	// Every student page type.
	for _, p := range studentRoutes {
		if p == "/attendance.pdf" || strings.HasPrefix(p, "/documents/") {
			continue
		}
		run("open "+p, chromedp.Navigate(base+"/students/"+seedStudent+p), chromedp.WaitVisible(chromedp.CSS("h1")))
		checkAxe("student" + p)
	}
	run("attendance", chromedp.Navigate(base+"/students/"+seedStudent+"/attendance?year=2018"), chromedp.WaitVisible(chromedp.CSS("table.attendance")))
	if s := text(); !strings.Contains(s, "95.2%") || !strings.Contains(s, "98.3%") {
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
	run("details", chromedp.Navigate(base+"/students/"+seedStudent+"/details"), chromedp.WaitVisible(chromedp.CSS("dl.details")))
	if over, err := chromedp.Run(ctx, chromedp.Evaluate[int](`Array.from(document.querySelectorAll("dl.details dd")).filter(e => e.getBoundingClientRect().right > 360 || e.scrollWidth > e.clientWidth + 1).length`)); err != nil || over > 0 {
		t.Errorf("details at 360 px: %d definitions overflow (%v)", over, err)
	}
	for _, p := range []string{"/help", "/help/attendance", "/students/99999999"} {
		run("open "+p, chromedp.Navigate(base+p), chromedp.WaitVisible(chromedp.CSS("h1")))
		checkAxe(p)
	}

	// Download the PDF and open a letter (both arrive as downloads).
	waitFile := func(what, prefix string) {
		t.Helper()
		for i := 0; i < 100; i++ {
			entries, _ := os.ReadDir(downloads)
			for _, e := range entries {
				if strings.HasSuffix(e.Name(), ".crdownload") {
					continue
				}
				b, err := os.ReadFile(filepath.Join(downloads, e.Name()))
				if err == nil && strings.HasPrefix(string(b), prefix) {
					os.Remove(filepath.Join(downloads, e.Name()))
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("%s was not downloaded", what)
	}
	run("attendance again", chromedp.Navigate(base+"/students/"+seedStudent+"/attendance?year=2018"), chromedp.WaitVisible(chromedp.CSS("table.attendance")))
	run("download PDF", chromedp.Click(chromedp.CSS(`a[href$="attendance.pdf?year=2018"]`)))
	waitFile("the attendance PDF", "%PDF-")
	run("documents", chromedp.Navigate(base+"/students/"+seedStudent+"/documents"), chromedp.WaitVisible(chromedp.CSS(".documents")))
	run("open letter", chromedp.Click(chromedp.CSS(`a[href$="/documents/D1"]`)))
	waitFile("the letter", "%PDF-1.4\n% test letter")

	// Sign out, then press back: nothing personal may be shown.
	run("attendance before sign-out", chromedp.Navigate(base+"/students/"+seedStudent+"/attendance?year=2018"),
		chromedp.WaitVisible(chromedp.CSS("table.attendance")))
	run("sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if s := text(); !strings.Contains(s, "You have signed out") {
		t.Errorf("after sign-out:\n%s", s)
	}
	run("back", chromedp.NavigateBack(), chromedp.WaitVisible(chromedp.CSS("h1")))
	url, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	s := text()
	for _, personal := range []string{"Siobhán", "10012345", "95.2%", "D'Arcy"} {
		if strings.Contains(s, personal) {
			t.Errorf("after sign-out and back (%s) the page shows %q:\n%s", url, personal, s)
		}
	}
	if !strings.Contains(url, "/login") {
		t.Errorf("back after sign-out lands on %s", url)
	}
}
