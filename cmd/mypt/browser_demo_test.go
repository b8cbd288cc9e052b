package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"mypt/internal/synth"
)

// demoAxeViolation is one axe-core violation as axe.run reports it.
type demoAxeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// TestDemoInBrowser drives `mypt demo` (run in-process, small college) in Debian's headless
// Chromium as the seed-table parent: sign in through the form, home, the 2018/19 attendance
// report, its PDF, a letter, sign out and the back button (no personal data may show), with
// axe-core run on every page type (no serious or critical violation).
func TestDemoInBrowser(t *testing.T) {
	const exe = "/usr/bin/chromium"
	if _, err := os.Stat(exe); err != nil {
		t.Fatalf("chromium is not installed (%v): run ./scripts/test", err)
	}
	axeJS, err := os.ReadFile(filepath.Join("..", "..", ".cache", "npm", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core is not installed (%v): run ./scripts/test", err)
	}
	axe := string(axeJS)

	lines, base, _ := startDemo(t, 40)
	loginRE := regexp.MustCompile(`^login (\S+@\S+) (\S{12,}) (\S+(,\S+)*)$`)
	var email, password string
	for _, l := range lines {
		if m := loginRE.FindStringSubmatch(l); m != nil && m[3] == synth.SeedStudentID {
			email, password = m[1], m[2]
			break
		}
	}
	if email == "" {
		t.Fatalf("no login line for the seed-table student %s in %q", synth.SeedStudentID, lines)
	}
	const (
		student    = synth.SeedStudentID
		name       = "Siobhán O’Neill-Smith"
		letterPath = "/students/" + synth.SeedStudentID + "/documents/" + synth.SeedStudentID + "-D1"
	)
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
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	// Every response's content type and disposition, by path, for the downloads.
	type resp struct{ mime, disposition string }
	var mu sync.Mutex
	responses := map[string]resp{}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventResponseReceived); ok {
			u, err := url.Parse(e.Response.URL)
			if err != nil {
				return
			}
			var disp string
			for k, v := range e.Response.Headers {
				if strings.EqualFold(k, "Content-Disposition") {
					disp = fmt.Sprint(v)
				}
			}
			mu.Lock()
			responses[u.Path] = resp{e.Response.MimeType, disp}
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("listen: %v", err)
	}

	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
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
	checkAxe := func(page string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](axe+";true")); err != nil {
			t.Fatalf("inject axe on %s: %v", page, err)
		}
		out, err := chromedp.Run(ctx, chromedp.Evaluate[string](
			`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("axe on %s: %v", page, err)
		}
		var vs []demoAxeViolation
		if err := json.Unmarshal([]byte(out), &vs); err != nil {
			t.Fatalf("axe result on %s: %v", page, err)
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
	// waitDownload waits (at most 10 s) for a finished download starting with prefix, removes
	// it, and checks the response's content type and that it came as an attachment.
	waitDownload := func(what, path, query, prefix, mime string) {
		t.Helper()
		waitFile := func(what string) {
			found := false
			for i := 0; i < 100 && !found && ctx.Err() == nil; i++ {
				entries, _ := os.ReadDir(downloads)
				for _, e := range entries {
					if strings.HasSuffix(e.Name(), ".crdownload") {
						continue
					}
					b, err := os.ReadFile(filepath.Join(downloads, e.Name()))
					if err == nil && strings.HasPrefix(string(b), prefix) {
						os.Remove(filepath.Join(downloads, e.Name()))
						found = true
						break
					}
				}
				if !found {
					time.Sleep(100 * time.Millisecond)
				}
			}
			if !found {
				t.Errorf("%s was not downloaded (no file starting %q)", what, prefix)
			}
		}
		waitFile(what)
		mu.Lock()
		r, ok := responses[path]
		mu.Unlock()
		if !ok {
			// An <a download> goes through the download manager, not the page's network (and
			// the CSP forbids fetch): open the same URL as a navigation, which downloads it
			// again, to see the response's headers.
			run(what+" again", chromedp.Evaluate[chromedp.Void](`location.assign(`+strconv.Quote(path+query)+`)`))
			for i := 0; i < 100 && !ok && ctx.Err() == nil; i++ {
				time.Sleep(100 * time.Millisecond)
				mu.Lock()
				r, ok = responses[path]
				mu.Unlock()
			}
			waitFile(what + " (again)")
		}
		t.Logf("%s: %s, %s", what, r.mime, r.disposition)
		if r.mime != mime || !strings.Contains(r.disposition, "attachment") {
			t.Errorf("%s: response %s = %+v, want %s as an attachment", what, path, r, mime)
		}
	}

	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads}); err != nil {
		t.Fatalf("allow downloads: %v", err)
	}

	// Sign in through the form.
	run("open sign-in", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.ID("email")))
	checkAxe("sign-in")
	run("sign in", chromedp.SendKeys(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(".cards")))
	if s := text(); !strings.Contains(s, name) || !strings.Contains(s, student) {
		t.Errorf("home page does not list %s (%s):\n%s", name, student, s)
	}
	checkAxe("home")

	// The attendance report for 2018/19: the guide's table.
	run("attendance 2018", chromedp.Navigate(base+"/students/"+student+"/attendance?year=2018"),
		chromedp.WaitVisible(chromedp.CSS("table.attendance")))
	s := text()
	if !regexp.MustCompile(`Total Marks\s*63\b`).MatchString(s) {
		t.Errorf("attendance report lacks Total Marks 63:\n%s", s)
	}
	for _, want := range []string{"95.2%", "98.3%"} {
		if !strings.Contains(s, want) {
			t.Errorf("attendance report lacks %s", want)
		}
	}
	checkAxe("attendance")
	run("download the PDF", chromedp.Click(chromedp.CSS(`a[href$="attendance.pdf?year=2018"]`)))
	waitDownload("the attendance PDF", "/students/"+student+"/attendance.pdf", "?year=2018", "%PDF", "application/pdf")

	// The other page types.
	for _, p := range []struct{ name, path string }{
		{"details", "/students/" + student + "/details"},
		{"documents", "/students/" + student + "/documents"},
		{"ILP targets", "/students/" + student + "/ilp/targets"},
		{"meetings", "/students/" + student + "/meetings"},
		{"help", "/help"},
	} {
		run("open "+p.name, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS("h1")))
		checkAxe(p.name)
	}

	// A letter from the documents page.
	run("documents", chromedp.Navigate(base+"/students/"+student+"/documents"), chromedp.WaitVisible(chromedp.CSS(".documents")))
	run("open a letter", chromedp.Click(chromedp.CSS(`a[href="`+letterPath+`"]`)))
	waitDownload("the letter", letterPath, "", "%PDF", "application/pdf")

	// Sign out, then press back: nothing personal may be shown.
	run("attendance before sign-out", chromedp.Navigate(base+"/students/"+student+"/attendance?year=2018"),
		chromedp.WaitVisible(chromedp.CSS("table.attendance")))
	run("sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if s := text(); !strings.Contains(s, "You have signed out") {
		t.Errorf("after sign-out:\n%s", s)
	}
	run("back", chromedp.NavigateBack(), chromedp.WaitVisible(chromedp.CSS("h1")))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	s = text()
	for _, personal := range []string{"Siobhán", "O’Neill-Smith", student, "95.2%", "98.3%"} {
		if strings.Contains(s, personal) {
			t.Errorf("after sign-out and back (%s) the page shows %q:\n%s", loc, personal, s)
		}
	}
	if !strings.Contains(loc, "/login") {
		t.Errorf("back after sign-out lands on %s, want the sign-in page", loc)
	}
}
