package imap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// ClientCredentials gets OAuth2 access tokens with the client-credentials grant (Microsoft 365
// and Google service principals; both disabled basic auth for IMAP) and caches each until shortly
// before it expires. Asking for a token has no side effect at the server, so the POST is safe to
// retry (RH-1); retries honour Retry-After and stop when ctx ends (RH-2).
type ClientCredentials struct {
	TokenURL     string
	ClientID     string
	ClientSecret string // never logged nor put in an error
	Scope        string // e.g. "https://outlook.office365.com/.default"
	// RefreshBefore is how long before expiry a token is replaced, default 5m (or a tenth of
	// the token's lifetime when that is shorter).
	RefreshBefore time.Duration
	HTTPClient    *http.Client // optional base client (timeouts, proxies)
	RetryMax      int          // default 3
	RetryWaitMax  time.Duration
	Now           func() time.Time
	Logger        *slog.Logger

	mu     sync.Mutex
	token  string
	expiry time.Time
	rc     *retryablehttp.Client
}

func (c *ClientCredentials) client() *retryablehttp.Client {
	if c.rc != nil {
		return c.rc
	}
	rc := retryablehttp.NewClient()
	rc.Logger = nil // it would log URLs and retries at its own level; we log ourselves
	if c.HTTPClient != nil {
		rc.HTTPClient = c.HTTPClient
	} else {
		rc.HTTPClient.Timeout = 30 * time.Second
	}
	rc.RetryMax = 3
	if c.RetryMax > 0 {
		rc.RetryMax = c.RetryMax
	}
	rc.RetryWaitMin = 500 * time.Millisecond
	rc.RetryWaitMax = 10 * time.Second
	if c.RetryWaitMax > 0 {
		rc.RetryWaitMax = c.RetryWaitMax
	}
	// Hand back the last response instead of a generic "giving up" error, so the OAuth error
	// code can be reported.
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	c.rc = rc
	return rc
}

func (c *ClientCredentials) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Token returns a cached token, or fetches a new one when none is cached or the cached one is
// within RefreshBefore of its expiry.
func (c *ClientCredentials) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.token != "" && now.Before(c.expiry) {
		return c.token, nil
	}
	tok, lifetime, err := c.fetch(ctx)
	if err != nil {
		return "", err
	}
	margin := c.RefreshBefore
	if margin <= 0 {
		margin = 5 * time.Minute
	}
	margin = min(margin, lifetime/10)
	c.token, c.expiry = tok, now.Add(lifetime-margin)
	if c.Logger != nil {
		c.Logger.Debug("mailbox: oauth2 token fetched", "lifetime", lifetime.String(), "refresh_at", c.expiry.UTC().Format(time.RFC3339))
	}
	return tok, nil
}

func (c *ClientCredentials) fetch(ctx context.Context) (string, time.Duration, error) {
	if c.TokenURL == "" || c.ClientID == "" {
		return "", 0, errors.New("oauth2: token_url and client_id are required")
	}
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.ClientID},
		"client_secret": {c.ClientSecret},
	}
	if c.Scope != "" {
		form.Set("scope", c.Scope)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, c.TokenURL, []byte(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("oauth2: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.client().Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("oauth2: token request to %s: %w", redactURL(c.TokenURL), scrub(err, c.ClientSecret))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, fmt.Errorf("oauth2: read token response: %w", err)
	}
	var tr struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"` // a number, or a string at some providers
		Error       string          `json:"error"`
	}
	_ = json.Unmarshal(body, &tr)
	if resp.StatusCode != http.StatusOK {
		code := tr.Error
		if code == "" {
			code = "no error code"
		}
		return "", 0, fmt.Errorf("oauth2: token endpoint %s answered %d (%s)", redactURL(c.TokenURL), resp.StatusCode, code)
	}
	if tr.AccessToken == "" {
		return "", 0, errors.New("oauth2: token response without access_token")
	}
	secs := 3600.0
	if s := strings.Trim(string(tr.ExpiresIn), `"`); s != "" {
		var v float64
		if _, err := fmt.Sscan(s, &v); err == nil && v > 0 {
			secs = v
		}
	}
	return tr.AccessToken, time.Duration(secs * float64(time.Second)), nil
}

func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(token url)"
	}
	p.User, p.RawQuery = nil, ""
	return p.String()
}

type scrubbed struct {
	msg string
	err error
}

func (s scrubbed) Error() string { return s.msg }
func (s scrubbed) Unwrap() error { return s.err }

// scrub removes the secret from an error's text (a URL-encoded body could be quoted in one).
func scrub(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) && !strings.Contains(err.Error(), url.QueryEscape(secret)) {
		return err
	}
	m := strings.ReplaceAll(err.Error(), secret, "<secret>")
	m = strings.ReplaceAll(m, url.QueryEscape(secret), "<secret>")
	return scrubbed{msg: m, err: err}
}
