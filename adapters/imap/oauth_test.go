//go:build linux

package imap

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"mypt/adapters/imap/imaptest"
)

type tokenServer struct {
	mu       sync.Mutex
	calls    int
	failures int // answer 503 this many times first
	issued   []string
}

func (ts *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.calls++
	if ts.failures > 0 {
		ts.failures--
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" ||
		r.PostForm.Get("client_secret") != "s3cret-value" {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_client","error_description":"bad secret s3cret-value"}`)
		return
	}
	tok := fmt.Sprintf("token-%d", ts.calls)
	ts.issued = append(ts.issued, tok)
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
}

func TestClientCredentialsCachesAndRefreshes(t *testing.T) {
	t.Parallel()
	ts := &tokenServer{failures: 2}
	hs := httptest.NewServer(ts)
	defer hs.Close()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	cc := &ClientCredentials{TokenURL: hs.URL, ClientID: "app", ClientSecret: "s3cret-value", Scope: "imap",
		Now: func() time.Time { return now }, RetryWaitMax: 10 * time.Millisecond}
	ctx := context.Background()
	tok, err := cc.Token(ctx)
	if err != nil || tok != "token-3" {
		t.Fatalf("Token = %q, %v (want the third call after two 503s)", tok, err)
	}
	now = now.Add(50 * time.Minute)
	if tok, _ := cc.Token(ctx); tok != "token-3" {
		t.Fatalf("within lifetime: Token = %q, want cached", tok)
	}
	now = now.Add(6 * time.Minute) // 56 min: within 5 min of expiry
	if tok, _ := cc.Token(ctx); tok != "token-4" {
		t.Fatalf("near expiry: Token = %q, want a fresh one", tok)
	}
}

func TestClientCredentialsErrorHidesSecret(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(&tokenServer{})
	defer hs.Close()
	cc := &ClientCredentials{TokenURL: hs.URL, ClientID: "app", ClientSecret: "wrong-s3cret-value"}
	_, err := cc.Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), "invalid_client") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error = %v", err)
	}
}

// XOAUTH2 against dovecot, whose oauth2 passdb checks the token with an introspection call.
func TestWatcherXOAUTH2(t *testing.T) {
	t.Parallel()
	ts := &tokenServer{}
	introspect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		tok := r.Form.Get("token")
		ts.mu.Lock()
		ok := false
		for _, i := range ts.issued {
			ok = ok || i == tok
		}
		ts.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"active": fmt.Sprint(ok), "username": testUser})
	})
	mux := http.NewServeMux()
	mux.Handle("/token", ts)
	mux.Handle("/introspect", introspect)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	srv := imaptest.Start(t, imaptest.Options{OAuth2IntrospectionURL: hs.URL + "/introspect"})
	cc := &ClientCredentials{TokenURL: hs.URL + "/token", ClientID: "app", ClientSecret: "s3cret-value"}
	w, err := New(Options{Addr: srv.Addr, Security: SecurityPlain, Username: testUser, Auth: AuthXOAUTH2, Tokens: cc})
	if err != nil {
		t.Fatal(err)
	}
	c, err := w.dial(context.Background(), nil)
	if err != nil {
		t.Fatalf("dial with XOAUTH2: %v\n%s", err, srv.Log())
	}
	c.Logout()

	bad, _ := New(Options{Addr: srv.Addr, Security: SecurityPlain, Username: testUser, Auth: AuthXOAUTH2,
		Tokens: staticToken("forged")})
	if _, err := bad.dial(context.Background(), nil); err == nil {
		t.Fatal("a token the provider did not issue signed in")
	}
}

type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }
