package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"mypt"
	"mypt/adapters/sqlite"
	"mypt/config"
	"mypt/portal"
)

const testToken = "fedcba9876543210fedcba9876543210"

// pushServer is the real push handler over a real cache, behind an optional wrapper.
func pushServer(t *testing.T, wrap func(http.Handler) http.Handler) (*httptest.Server, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mypt.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var h http.Handler = portal.NewPushHandler(portal.PushOptions{Applier: st, Tokens: []config.Secret{testToken},
		Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	if wrap != nil {
		h = wrap(h)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /mis/v1/batches", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, st
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const pushStudent = `{"entity":"student","op":"upsert","data":{"StudentID":"%s","LegalFirstNames":"Seán","LegalLastName":"Murphy","DateOfBirth":"2008-04-05","HasEHCP":false,"College":"north","ShareInfoConsent":false,"Status":"current"}}`

func push(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = runPush(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

func TestRunPush(t *testing.T) {
	t.Parallel()
	srv, st := pushServer(t, nil)
	tokenFile := writeFile(t, "token", testToken+"\n")
	batch := writeFile(t, "batch.ndjson", `{"batch":"nightly-1","mode":"delta"}`+"\n"+fmt.Sprintf(pushStudent, "S1")+"\n"+fmt.Sprintf(pushStudent, "S2")+"\n")

	out, _, err := push(t, batch, "--url", srv.URL, "--token-file", tokenFile)
	if err != nil || !strings.Contains(out, "batch nightly-1 applied: 2 upserted") {
		t.Fatalf("push: %q, %v", out, err)
	}
	if n, _ := st.CountRows(context.Background(), mypt.EntityStudent); n != 2 {
		t.Errorf("students = %d", n)
	}
	// Flags before the file, and the full endpoint URL, work too; a resend changes nothing.
	out, _, err = push(t, "--url", srv.URL+"/mis/v1/batches", "--token-file", tokenFile, batch)
	if err != nil || !strings.Contains(out, "already applied") {
		t.Errorf("resend: %q, %v", out, err)
	}
}

func TestRunPushFailures(t *testing.T) {
	t.Parallel()
	srv, st := pushServer(t, nil)
	tokenFile := writeFile(t, "token", testToken)
	good := writeFile(t, "good.ndjson", `{"batch":"b1"}`+"\n"+fmt.Sprintf(pushStudent, "S1")+"\n")

	bad := writeFile(t, "bad.ndjson", `{"batch":"b2"}`+"\n"+fmt.Sprintf(pushStudent, "S2")+"\n"+
		`{"entity":"student","op":"upsert","data":{"StudentID":"S3","LegalFirstNames":"A","LegalLastName":"B","DateOfBirth":"31/02/2008","Status":"current"}}`+"\n"+
		`{"entity":"pupil","op":"delete","key":"x"}`+"\n")
	_, stderr, err := push(t, bad, "--url", srv.URL, "--token-file", tokenFile)
	if err == nil || !strings.Contains(err.Error(), "2 bad line(s)") {
		t.Errorf("bad batch: err = %v", err)
	}
	if !strings.Contains(stderr, "line 3 (student S3): DateOfBirth") || !strings.Contains(stderr, "line 4: unknown entity") {
		t.Errorf("bad batch: stderr = %q", stderr)
	}
	if n, _ := st.CountRows(context.Background(), mypt.EntityStudent); n != 0 {
		t.Errorf("a bad batch stored %d students", n)
	}

	wrong := writeFile(t, "wrong", "not-the-token-at-all-0000")
	_, _, err = push(t, good, "--url", srv.URL, "--token-file", wrong)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: err = %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "not-the-token") {
		t.Errorf("the error shows the token: %v", err)
	}

	for name, args := range map[string][]string{
		"no file":        {"--url", srv.URL, "--token-file", tokenFile},
		"two files":      {good, good, "--url", srv.URL, "--token-file", tokenFile},
		"no url":         {good, "--token-file", tokenFile},
		"no token":       {good, "--url", srv.URL},
		"bad url":        {good, "--url", "127.0.0.1:9090", "--token-file", tokenFile},
		"missing file":   {filepath.Join(t.TempDir(), "nope.ndjson"), "--url", srv.URL, "--token-file", tokenFile},
		"missing token":  {good, "--url", srv.URL, "--token-file", filepath.Join(t.TempDir(), "nope")},
		"unknown flag":   {good, "--url", srv.URL, "--token-file", tokenFile, "--dry-run"},
		"refused server": {good, "--url", "http://127.0.0.1:1", "--token-file", tokenFile, "--retries", "0"},
	} {
		if _, _, err := push(t, args...); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// A lost answer (503 from a proxy, say) is retried; the batch is applied once.
func TestRunPushRetries(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv, st := pushServer(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				io.Copy(io.Discard, r.Body)
				http.Error(w, "upstream restarting", http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	tokenFile := writeFile(t, "token", testToken)
	batch := writeFile(t, "b.ndjson", `{"batch":"retry-1"}`+"\n"+fmt.Sprintf(pushStudent, "S1")+"\n")
	out, stderr, err := push(t, batch, "--url", srv.URL, "--token-file", tokenFile)
	if err != nil || !strings.Contains(out, "applied: 1 upserted") || !strings.Contains(stderr, "503") {
		t.Fatalf("push: %q %q %v", out, stderr, err)
	}
	if calls.Load() != 2 {
		t.Errorf("%d requests, want 2", calls.Load())
	}
	if n, _ := st.CountRows(context.Background(), mypt.EntityStudent); n != 1 {
		t.Errorf("students = %d", n)
	}
}

// A retry's note says "push:" once.
func TestRunPushRetryNoteHasOnePrefix(t *testing.T) {
	t.Parallel()
	tokenFile := writeFile(t, "token", testToken)
	batch := writeFile(t, "b.ndjson", `{"batch":"r-2"}`+"\n")
	_, stderr, err := push(t, batch, "--url", "http://127.0.0.1:1", "--token-file", tokenFile, "--retries", "1")
	if err == nil || !strings.Contains(stderr, "trying again") || strings.Contains(stderr, "push: push:") || strings.Contains(err.Error(), "push: push:") {
		t.Errorf("stderr %q, err %v", stderr, err)
	}
}

// Pointed at the public listener, push explains the 404 rather than dumping its HTML page.
func TestRunPushAtPublicListener(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "<!doctype html><html><head><title>Page not found</title></head><body>…</body></html>")
	}))
	t.Cleanup(srv.Close)
	tokenFile := writeFile(t, "token", testToken)
	batch := writeFile(t, "b.ndjson", `{"batch":"p-1"}`+"\n")
	_, _, err := push(t, batch, "--url", srv.URL, "--token-file", tokenFile)
	want := "the server answered 404: is --url the internal listener's /mis/v1/batches?"
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "<") {
		t.Errorf("err = %v, want it to say %q", err, want)
	}
}
