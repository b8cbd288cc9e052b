package main

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"mypt/internal/browsertest"
	"mypt/internal/synth"
)

// TestDemoInBrowser drives `mypt demo` (run in-process, small college) in Debian's headless
// Chromium as the seed-table parent: sign in through the form, home, the 2018/19 attendance
// report, its PDF, a letter, sign out and the back button (no personal data may show), with
// axe-core run on every page type (no serious or critical violation).
func TestDemoInBrowser(t *testing.T) {
	axe := browsertest.Axe(t)

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

	ctx := browsertest.Start(t, 60*time.Second)

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

	// waitDownload waits (at most 10 s) for a finished download starting with prefix, removes
	// it, and checks the response's content type and that it came as an attachment.
	waitDownload := func(what, path, query, prefix, mime string) {
		t.Helper()
		waitFile := func(what string) {
			if !browsertest.TakeDownload(ctx, downloads, prefix) {
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
			browsertest.Run(t, ctx, what+" again", chromedp.Evaluate[chromedp.Void](`location.assign(`+strconv.Quote(path+query)+`)`))
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

	browsertest.AllowDownloads(t, ctx, downloads)

	// Sign in through the form.
	browsertest.Run(t, ctx, "open sign-in", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.ID("email")))
	browsertest.CheckAxe(t, ctx, axe, "sign-in")
	browsertest.Run(t, ctx, "sign in", chromedp.SendKeys(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(".cards")))
	if s := browsertest.Text(t, ctx); !strings.Contains(s, name) || !strings.Contains(s, student) {
		t.Errorf("home page does not list %s (%s):\n%s", name, student, s)
	}
	browsertest.CheckAxe(t, ctx, axe, "home")

	// The attendance report for 2018/19: the guide's table.
	browsertest.Run(t, ctx, "attendance 2018", chromedp.Navigate(base+"/students/"+student+"/attendance?year=2018"),
		chromedp.WaitVisible(chromedp.CSS("table.attendance")))
	s := browsertest.Text(t, ctx)
	if !regexp.MustCompile(`Total Marks\s*63\b`).MatchString(s) {
		t.Errorf("attendance report lacks Total Marks 63:\n%s", s)
	}
	for _, want := range []string{"95.2%", "98.3%"} {
		if !strings.Contains(s, want) {
			t.Errorf("attendance report lacks %s", want)
		}
	}
	browsertest.CheckAxe(t, ctx, axe, "attendance")
	browsertest.Run(t, ctx, "download the PDF", chromedp.Click(chromedp.CSS(`a[href$="attendance.pdf?year=2018"]`)))
	waitDownload("the attendance PDF", "/students/"+student+"/attendance.pdf", "?year=2018", "%PDF", "application/pdf")

	// The other page types.
	for _, p := range []struct{ name, path string }{
		{"details", "/students/" + student + "/details"},
		{"documents", "/students/" + student + "/documents"},
		{"ILP targets", "/students/" + student + "/ilp/targets"},
		{"meetings", "/students/" + student + "/meetings"},
		{"help", "/help"},
	} {
		browsertest.Run(t, ctx, "open "+p.name, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS("h1")))
		browsertest.CheckAxe(t, ctx, axe, p.name)
	}

	// A letter from the documents page.
	browsertest.Run(t, ctx, "documents", chromedp.Navigate(base+"/students/"+student+"/documents"), chromedp.WaitVisible(chromedp.CSS(".documents")))
	browsertest.Run(t, ctx, "open a letter", chromedp.Click(chromedp.CSS(`a[href="`+letterPath+`"]`)))
	waitDownload("the letter", letterPath, "", "%PDF", "application/pdf")

	// Sign out, then press back: nothing personal may be shown.
	browsertest.Run(t, ctx, "attendance before sign-out", chromedp.Navigate(base+"/students/"+student+"/attendance?year=2018"),
		chromedp.WaitVisible(chromedp.CSS("table.attendance")))
	browsertest.Run(t, ctx, "sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if s := browsertest.Text(t, ctx); !strings.Contains(s, "You have signed out") {
		t.Errorf("after sign-out:\n%s", s)
	}
	browsertest.Run(t, ctx, "back", chromedp.NavigateBack(), chromedp.WaitVisible(chromedp.CSS("h1")))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	s = browsertest.Text(t, ctx)
	for _, personal := range []string{"Siobhán", "O’Neill-Smith", student, "95.2%", "98.3%"} {
		if strings.Contains(s, personal) {
			t.Errorf("after sign-out and back (%s) the page shows %q:\n%s", loc, personal, s)
		}
	}
	if !strings.Contains(loc, "/login") {
		t.Errorf("back after sign-out lands on %s, want the sign-in page", loc)
	}
}
