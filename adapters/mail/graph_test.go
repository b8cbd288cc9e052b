package mail

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testSecret = "client-secret-NEVER-PRINT"
	testSender = "noreply@college.example.ac.uk"
)

// fakeGraph is an httptest server on 127.0.0.1 that plays the identity platform and Graph.
type fakeGraph struct {
	srv        *httptest.Server
	tokens     atomic.Int32 // token requests
	tokenLife  int
	tokenError string // "invalid_client" to refuse

	mu       sync.Mutex
	handler  http.HandlerFunc // for every non-token request
	bodies   [][]byte         // bodies of non-token requests, in order
	arrivals []time.Time
	auths    []string
}

func newFakeGraph(t *testing.T, h http.HandlerFunc) *fakeGraph {
	t.Helper()
	f := &fakeGraph{tokenLife: 3600, handler: h}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGraph) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		n := f.tokens.Add(1)
		_ = r.ParseForm()
		if f.tokenError != "" || r.PostForm.Get("client_secret") != testSecret || r.PostForm.Get("grant_type") != "client_credentials" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":%d,"access_token":"access-token-%d"}`, f.tokenLife, n)
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	f.arrivals = append(f.arrivals, time.Now())
	f.auths = append(f.auths, r.Header.Get("Authorization"))
	h := f.handler
	f.mu.Unlock()
	h(w, r)
}

func (f *fakeGraph) requests() ([][]byte, []time.Time, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.bodies...), append([]time.Time(nil), f.arrivals...), append([]string(nil), f.auths...)
}

func (f *fakeGraph) graph(t *testing.T, mod func(*GraphOptions)) *Graph {
	t.Helper()
	o := GraphOptions{
		TenantID: "tenant-1", ClientID: "client-1", ClientSecret: testSecret, Sender: testSender,
		LoginURL: f.srv.URL, GraphURL: f.srv.URL + "/v1.0",
		RetryWaitMin: 10 * time.Millisecond, RetryWaitMax: 50 * time.Millisecond, RetryAfterMax: 5 * time.Second,
		MaxRetries: 3, Timeout: 5 * time.Second,
	}
	if mod != nil {
		mod(&o)
	}
	g, err := NewGraph(o)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func graphMessage() *Message {
	return &Message{
		MessageID: MessageID(42, "abcdef0123456789", "college.example.ac.uk"),
		From:      Address{Name: "Example College", Email: testSender},
		To:        Address{Name: "Siobhán O’Neill-Smith", Email: "siobhan@example.org"},
		Subject:   "Please verify your email",
		Text:      "Follow the link.",
		HTML:      "<p>Follow the link.</p>",
		Date:      time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC),
	}
}

func TestGraphSendMailMIME(t *testing.T) {
	t.Parallel()
	f := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1.0/users/"+testSender+"/sendMail" || r.Header.Get("Content-Type") != "text/plain" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	g := f.graph(t, nil)
	for i := 0; i < 2; i++ {
		if err := g.Send(context.Background(), graphMessage()); err != nil {
			t.Fatal(err)
		}
	}
	bodies, _, auths := f.requests()
	if len(bodies) != 2 || f.tokens.Load() != 1 {
		t.Fatalf("%d sendMail calls, %d token requests; want 2 and 1 (token cached)", len(bodies), f.tokens.Load())
	}
	if auths[0] != "Bearer access-token-1" || auths[1] != auths[0] {
		t.Fatalf("authorization headers %q", auths)
	}
	raw, err := base64.StdEncoding.DecodeString(string(bodies[0]))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Message-Id") != "<"+graphMessage().MessageID+">" {
		t.Fatalf("Message-ID %q", msg.Header.Get("Message-Id"))
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || to[0].Name != "Siobhán O’Neill-Smith" {
		t.Fatalf("To %v %v", to, err)
	}
}

func TestGraphTokenRefreshedBeforeExpiry(t *testing.T) {
	t.Parallel()
	f := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	var mu sync.Mutex
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	g := f.graph(t, func(o *GraphOptions) { o.Now = clock })
	send := func() {
		t.Helper()
		if err := g.Send(context.Background(), graphMessage()); err != nil {
			t.Fatal(err)
		}
	}
	send()
	advance(58 * time.Minute) // an hour-long token is still good
	send()
	if n := f.tokens.Load(); n != 1 {
		t.Fatalf("%d token requests at 58 min", n)
	}
	advance(90 * time.Second) // within the last minute of its life: refreshed before it expires
	send()
	if n := f.tokens.Load(); n != 2 {
		t.Fatalf("%d token requests at 59.5 min", n)
	}
	_, _, auths := f.requests()
	if auths[2] != "Bearer access-token-2" {
		t.Fatalf("third call used %q", auths[2])
	}
}

func TestGraphRevokedTokenIsRenewedOnce(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	f := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, `{"error":{"code":"InvalidAuthenticationToken"}}`, http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	if err := f.graph(t, nil).Send(context.Background(), graphMessage()); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 || f.tokens.Load() != 2 {
		t.Fatalf("calls=%d tokens=%d", calls.Load(), f.tokens.Load())
	}
}

// RH-1: the server performs the action, then answers 503 or resets the connection. The
// action must happen once: sendMail carries no idempotency guarantee, so it is not retried.
func TestGraphRH1SendMailNotRetriedAfterTheActionMayHaveHappened(t *testing.T) {
	t.Parallel()
	cases := map[string]func(w http.ResponseWriter){
		"503": func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error":{"code":"ServiceUnavailable"}}`, http.StatusServiceUnavailable)
		},
		"connection reset": func(w http.ResponseWriter) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				panic(err)
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST, not FIN
			}
			conn.Close()
		},
		"504": func(w http.ResponseWriter) { w.WriteHeader(http.StatusGatewayTimeout) },
	}
	for name, fail := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var performed atomic.Int32
			f := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) {
				performed.Add(1) // the mail is sent…
				fail(w)          // …and then the answer is lost
			})
			err := f.graph(t, nil).Send(context.Background(), graphMessage())
			if err == nil {
				t.Fatal("Send reported success")
			}
			if IsPermanent(err) {
				t.Fatalf("outcome unknown must be temporary: %v", err)
			}
			t.Log(err)
			if performed.Load() != 1 {
				t.Fatalf("the action happened %d times", performed.Load())
			}
		})
	}
}

// A 429 means Graph throttled the call before acting on it, so even sendMail is retried,
// after the Retry-After it asked for.
func TestGraphSendMailRetriedOn429(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	f := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	if err := f.graph(t, nil).Send(context.Background(), graphMessage()); err != nil {
		t.Fatal(err)
	}
	bodies, at, _ := f.requests()
	if len(bodies) != 2 || !bytes.Equal(bodies[0], bodies[1]) {
		t.Fatalf("%d calls", len(bodies))
	}
	if gap := at[1].Sub(at[0]); gap < time.Second {
		t.Fatalf("retried after %v, before Retry-After: 1", gap)
	}
}

// A POST is retried when the connection was never made (nothing can have been sent).
func TestGraphRetryPolicy(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, dialErr := net.Dial("tcp", addr)
	if dialErr == nil {
		t.Skip("port unexpectedly open")
	}
	resetErr := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	resp := func(code int) *http.Response { return &http.Response{StatusCode: code, Header: http.Header{}} }
	cases := []struct {
		name       string
		idempotent bool
		resp       *http.Response
		err        error
		want       bool
	}{
		{"post dial error", false, nil, dialErr, true},
		{"post reset", false, nil, resetErr, false},
		{"post 503", false, resp(503), nil, false},
		{"post 500", false, resp(500), nil, false},
		{"post 429", false, resp(429), nil, true},
		{"post 400", false, resp(400), nil, false},
		{"put 503", true, resp(503), nil, true},
		{"put reset", true, nil, resetErr, true},
		{"put 501", true, resp(501), nil, false},
		{"put 404", true, resp(404), nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, _ := checkRetry(idempotentCall(context.Background(), c.idempotent), c.resp, c.err)
			if got != c.want {
				t.Fatalf("retry = %v, want %v", got, c.want)
			}
		})
	}
}

// RH-2: a PUT with a 1 KB body; 503 with Retry-After: 2, then 503, then 200. Three identical
// non-empty bodies arrive, and at least 2 s pass before the second.
func TestGraphRH2RetryAfterAndIdenticalBodies(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	f := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	g := f.graph(t, func(o *GraphOptions) { o.RetryAfterMax = 10 * time.Second })
	body := bytes.Repeat([]byte("0123456789abcdef"), 64) // 1 KB
	if _, err := g.call(context.Background(), http.MethodPut, f.srv.URL+"/v1.0/put-target", "application/octet-stream", body, true); err != nil {
		t.Fatal(err)
	}
	bodies, at, _ := f.requests()
	if len(bodies) != 3 {
		t.Fatalf("%d requests, want 3", len(bodies))
	}
	for i, b := range bodies {
		if len(b) != 1024 || !bytes.Equal(b, body) {
			t.Fatalf("body %d: %d bytes, identical=%v", i, len(b), bytes.Equal(b, body))
		}
	}
	if gap := at[1].Sub(at[0]); gap < 2*time.Second {
		t.Fatalf("second attempt after %v, want at least the 2 s of Retry-After", gap)
	}
}

func TestGraphRetryAfterCappedByMaximum(t *testing.T) {
	t.Parallel()
	g, err := NewGraph(GraphOptions{TenantID: "t", ClientID: "c", ClientSecret: "s", Sender: "x@y", RetryAfterMax: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		header string
		want   time.Duration
	}{
		{"2", 2 * time.Second},
		{"120", 3 * time.Second},
		{time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), 3 * time.Second},
		{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0},
	} {
		resp := &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {c.header}}}
		if got := g.backoff(time.Millisecond, 2*time.Millisecond, 0, resp); got != c.want {
			t.Errorf("Retry-After %q: waited %v, want %v", c.header, got, c.want)
		}
	}
	for attempt := 0; attempt < 10; attempt++ {
		d := Backoff(100*time.Millisecond, time.Second, attempt)
		if d <= 0 || d > time.Second {
			t.Fatalf("attempt %d: %v", attempt, d)
		}
	}
}

// RH-2: SIGTERM (ctx cancelled) during a Retry-After wait ends the call within 1 s.
func TestGraphRH2CancelEndsTheWait(t *testing.T) {
	t.Parallel()
	first := make(chan struct{}, 1)
	f := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
		select {
		case first <- struct{}{}:
		default:
		}
	})
	g := f.graph(t, func(o *GraphOptions) { o.RetryAfterMax = time.Minute })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var cancelled time.Time
	go func() {
		_, err := g.call(ctx, http.MethodPut, f.srv.URL+"/v1.0/put-target", "application/octet-stream", []byte("x"), true)
		done <- err
	}()
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("no request arrived")
	}
	time.Sleep(100 * time.Millisecond) // now inside the 30 s wait
	cancelled = time.Now()
	cancel()
	select {
	case err := <-done:
		if took := time.Since(cancelled); took > time.Second {
			t.Fatalf("call ended %v after cancel", took)
		}
		if !errors.Is(err, context.Canceled) || IsPermanent(err) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("call still waiting 5 s after cancel")
	}
	if bodies, _, _ := f.requests(); len(bodies) != 1 {
		t.Fatalf("%d requests", len(bodies))
	}
}

func TestGraphErrorsClassifiedAndSecretsNeverShown(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))

	t.Run("bad recipient is permanent", func(t *testing.T) {
		f := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"code":"ErrorInvalidRecipients","message":"At least one recipient is not valid."}}`)
		})
		err := f.graph(t, func(o *GraphOptions) { o.Logger = logger }).Send(context.Background(), graphMessage())
		if !IsPermanent(err) || !strings.Contains(err.Error(), "ErrorInvalidRecipients") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("forbidden is temporary", func(t *testing.T) {
		f := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error":{"code":"ErrorAccessDenied","message":"Access is denied."}}`)
		})
		err := f.graph(t, func(o *GraphOptions) { o.Logger = logger }).Send(context.Background(), graphMessage())
		if err == nil || IsPermanent(err) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		f := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
		f.tokenError = "invalid_client"
		err := f.graph(t, func(o *GraphOptions) { o.Logger = logger }).Send(context.Background(), graphMessage())
		if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), testSecret) {
			t.Fatalf("secret in error: %v", err)
		}
	})
	t.Run("retried 503s are logged without the token", func(t *testing.T) {
		f := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
		g := f.graph(t, func(o *GraphOptions) { o.Logger = logger; o.MaxRetries = 2 })
		_, err := g.call(context.Background(), http.MethodPut, f.srv.URL+"/v1.0/x", "", []byte("x"), true)
		if err == nil || strings.Contains(err.Error(), "access-token") {
			t.Fatalf("err = %v", err)
		}
	})
	out := logs.String()
	if !strings.Contains(out, "retrying request") {
		t.Fatalf("expected retry logs, got:\n%s", out)
	}
	for _, secret := range []string{testSecret, "access-token-"} {
		if strings.Contains(out, secret) {
			t.Fatalf("log contains %q:\n%s", secret, out)
		}
	}
	o := GraphOptions{ClientSecret: testSecret}
	if s := fmt.Sprintf("%v %+v %#v %s", o, o, o, o); strings.Contains(s, testSecret) {
		t.Fatalf("options print the secret: %s", s)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestGraphThrottledToTheEndReportsRetryAfter(t *testing.T) {
	t.Parallel()
	f := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "600")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	g := f.graph(t, func(o *GraphOptions) { o.MaxRetries = -1 }) // no retries within the call
	err := g.Send(context.Background(), graphMessage())
	var me *Error
	if !errors.As(err, &me) || me.Permanent() || me.RetryAfter() != 600*time.Second {
		t.Fatalf("err = %v (retry after %v)", err, me.RetryAfter())
	}
}
