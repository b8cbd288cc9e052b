package browsertest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestStartCheckAxe opens a small accessible page in the browser Start starts, reads its text
// and runs axe-core and the width check on it.
func TestStartCheckAxe(t *testing.T) {
	t.Parallel()
	axe := Axe(t)
	ctx := Start(t, 60*time.Second, chromedp.WindowSize(360, 800))
	page := `<!doctype html><html lang="en"><head><title>A page</title></head>` +
		`<body><main><h1>Hello</h1><p>A short paragraph.</p></main></body></html>`
	Run(t, ctx, "open", chromedp.EmulateViewport(360, 800), chromedp.Navigate("data:text/html,"+url.PathEscape(page)), chromedp.WaitVisible(chromedp.CSS("h1")))
	if s := Text(t, ctx); !strings.Contains(s, "Hello") || !strings.Contains(s, "A short paragraph.") {
		t.Errorf("Text = %q", s)
	}
	CheckAxe(t, ctx, axe, "a page")
	CheckWidth(t, ctx, "a page", 360)

	// An image without alt text is a critical violation: CheckAxe reports it as an error.
	bad := `<!doctype html><html lang="en"><head><title>A page</title></head>` +
		`<body><main><h1>Hello</h1><img src="data:,x"></main></body></html>`
	Run(t, ctx, "open bad", chromedp.Navigate("data:text/html,"+url.PathEscape(bad)), chromedp.WaitVisible(chromedp.CSS("h1")))
	rec := &errorRecorder{TB: t}
	CheckAxe(rec, ctx, axe, "a bad page")
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "a bad page: axe image-alt (critical)") {
		t.Errorf("CheckAxe on an image without alt: errors %q", rec.errs)
	}
}

// errorRecorder is t with Errorf recorded instead of failing the test.
type errorRecorder struct {
	testing.TB
	errs []string
}

func (r *errorRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestTakeDownload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, body := range map[string]string{"a.pdf.crdownload": "%PDF- partial", "b.txt": "text", "c.pdf": "%PDF-1.4"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !TakeDownload(context.Background(), dir, "%PDF-") {
		t.Fatal("the finished PDF was not taken")
	}
	if _, err := os.Stat(filepath.Join(dir, "c.pdf")); !os.IsNotExist(err) {
		t.Errorf("c.pdf is still there (%v)", err)
	}
	for _, keep := range []string{"a.pdf.crdownload", "b.txt"} {
		if _, err := os.Stat(filepath.Join(dir, keep)); err != nil {
			t.Errorf("%s: %v", keep, err)
		}
	}
	// Nothing else starts so: with the context over, it answers at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if TakeDownload(ctx, dir, "%PDF-") {
		t.Error("a second PDF was taken")
	}
}
