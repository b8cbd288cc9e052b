// Package browsertest is what the browser tests of portal and cmd/mypt share: Debian's
// chromium started headless with a fresh profile, axe-core run on the open page, and the
// downloads a page starts. A missing chromium or axe-core fails the test with "run
// ./scripts/test" (which installs both), never a skip.
package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// Chromium is the path of Debian's chromium; the test fails when it is not installed.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run ./scripts/test")
	return ""
}

// Axe is axe-core's source, which scripts/test installs from npm into .cache/npm at the
// module's root (the nearest folder above the test's own with a go.mod).
func Axe(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("axe-core: no go.mod above the test's folder")
		}
		dir = up
	}
	b, err := os.ReadFile(filepath.Join(dir, ".cache", "npm", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core is not installed (%v): run ./scripts/test", err)
	}
	return string(b)
}

// Start starts headless chromium with a profile of its own in t.TempDir() and returns the
// context to drive it with, which ends after timeout; the browser is closed when the test ends.
// extra adds options (a window size, say) to the common ones.
func Start(t testing.TB, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
	}, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
		cancelAlloc()
	})
	return ctx
}

// Run does actions in the browser; the test stops, naming what, when one fails.
func Run(t testing.TB, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Text is the open page's body as text.
func Text(t testing.TB, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatalf("read page: %v", err)
	}
	return s
}

// Violation is one axe-core violation as axe.run reports it.
type Violation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
	} `json:"nodes"`
}

// CheckAxe injects axe (Axe's source) into the open page, called page in messages, and runs
// it: every violation is logged, and a serious or critical one fails the test.
func CheckAxe(t testing.TB, ctx context.Context, axe, page string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](axe+";true")); err != nil {
		t.Fatalf("inject axe on %s: %v", page, err)
	}
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe on %s: %v", page, err)
	}
	var vs []Violation
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

// CheckWidth fails the test when the open page is wider than max px (a page readable on a
// phone scrolls sideways only inside its own scroll regions, which do not count).
func CheckWidth(t testing.TB, ctx context.Context, page string, max int) {
	t.Helper()
	if w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || w > max {
		t.Errorf("%s: page is %d px wide at a %d px viewport (%v)", page, w, max, err)
	}
}

// AllowDownloads makes the browser save downloads into dir under their own names.
func AllowDownloads(t testing.TB, ctx context.Context, dir string) {
	t.Helper()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir}); err != nil {
		t.Fatalf("allow downloads: %v", err)
	}
}

// TakeDownload waits, for 10 s at most or until ctx ends, for a finished download in dir whose
// content starts with prefix, and removes it; it reports whether one came.
func TakeDownload(ctx context.Context, dir, prefix string) bool {
	for i := 0; i < 100 && ctx.Err() == nil; i++ {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".crdownload") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err == nil && strings.HasPrefix(string(b), prefix) {
				os.Remove(filepath.Join(dir, e.Name()))
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}
