package mail

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"
)

// GraphOptions configure the Microsoft Graph transport (sendMail as an application, OAuth2
// client credentials). ClientSecret is never printed: String redacts it.
type GraphOptions struct {
	TenantID     string
	ClientID     string
	ClientSecret string
	Sender       string // the mailbox (user id or UPN) that sends, e.g. noreply@college.ac.uk

	LoginURL string // default https://login.microsoftonline.com
	GraphURL string // default https://graph.microsoft.com/v1.0
	Scope    string // default https://graph.microsoft.com/.default

	MaxRetries    int           // retries after the first attempt; default 4
	RetryWaitMin  time.Duration // first backoff; default 1s
	RetryWaitMax  time.Duration // backoff cap; default 30s
	RetryAfterMax time.Duration // longest Retry-After honoured (longer ones are cut to this); default 60s
	Timeout       time.Duration // per attempt; default 30s

	HTTPClient *http.Client // default: a pooled client with Timeout
	Logger     *slog.Logger // default: discard
	Now        func() time.Time
}

// String describes the options without the client secret.
func (o GraphOptions) String() string {
	s := ""
	if o.ClientSecret != "" {
		s = "<secret>"
	}
	return fmt.Sprintf("graph{tenant=%s client=%s secret=%s sender=%s}", o.TenantID, o.ClientID, s, o.Sender)
}

// GoString is String, so %#v cannot print the secret either.
func (o GraphOptions) GoString() string { return o.String() }

// Graph delivers through Microsoft Graph POST /users/{sender}/sendMail with the message in
// MIME form (so the Message-ID, the HTML alternative and the RFC 2047 headers survive).
//
// Retries (RH-1): sendMail is not idempotent and Graph offers no idempotency key, so a POST is
// retried only when the server cannot have acted on it: the connection was never made (a dial
// error), or Graph answered 429 (throttled: it refuses before doing anything). A 5xx, a reset
// or a timeout after the request was written leaves the outcome unknown: Send returns a
// temporary error and does not retry; the outbox worker tries again later with the same
// Message-ID (at-least-once: the receiving side can recognise the copy). Idempotent calls
// (token requests, GET, PUT, DELETE) are also retried on 5xx and network errors.
//
// Waits (RH-2): a 429 or 503 Retry-After (seconds or an HTTP date) is honoured up to
// RetryAfterMax; otherwise exponential backoff with jitter from RetryWaitMin to RetryWaitMax.
// Every attempt sends the same body. Cancelling ctx ends a wait at once.
type Graph struct {
	opts   GraphOptions
	client *retryablehttp.Client
	log    *slog.Logger

	mu      sync.Mutex // guards token, expires; held while fetching so one fetch serves all
	token   string
	expires time.Time
}

// NewGraph checks the options and returns the transport.
func NewGraph(o GraphOptions) (*Graph, error) {
	switch {
	case o.TenantID == "":
		return nil, errors.New("mail: graph: no tenant id configured")
	case o.ClientID == "":
		return nil, errors.New("mail: graph: no client id configured")
	case o.ClientSecret == "":
		return nil, errors.New("mail: graph: no client secret configured")
	case o.Sender == "":
		return nil, errors.New("mail: graph: no sender mailbox configured")
	}
	if o.LoginURL == "" {
		o.LoginURL = "https://login.microsoftonline.com"
	}
	if o.GraphURL == "" {
		o.GraphURL = "https://graph.microsoft.com/v1.0"
	}
	o.LoginURL = strings.TrimRight(o.LoginURL, "/")
	o.GraphURL = strings.TrimRight(o.GraphURL, "/")
	if o.Scope == "" {
		o.Scope = "https://graph.microsoft.com/.default"
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 4
	}
	if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.RetryWaitMin <= 0 {
		o.RetryWaitMin = time.Second
	}
	if o.RetryWaitMax <= 0 {
		o.RetryWaitMax = 30 * time.Second
	}
	if o.RetryAfterMax <= 0 {
		o.RetryAfterMax = time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = cleanhttp.DefaultPooledClient()
		hc.Timeout = o.Timeout
	}
	g := &Graph{opts: o, log: o.Logger}
	g.client = &retryablehttp.Client{
		HTTPClient:   hc,
		Logger:       retryLogger{o.Logger},
		RetryWaitMin: o.RetryWaitMin,
		RetryWaitMax: o.RetryWaitMax,
		RetryMax:     o.MaxRetries,
		CheckRetry:   checkRetry,
		Backoff:      g.backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	return g, nil
}

// Name is the transport label "graph".
func (g *Graph) Name() string { return TransportGraph }

// Send delivers m with sendMail. Graph answers 202 Accepted.
func (g *Graph) Send(ctx context.Context, m *Message) error {
	raw, err := m.Bytes()
	if err != nil {
		return err
	}
	body := make([]byte, base64.StdEncoding.EncodedLen(len(raw)))
	base64.StdEncoding.Encode(body, raw)
	u := g.opts.GraphURL + "/users/" + url.PathEscape(g.opts.Sender) + "/sendMail"
	_, err = g.call(ctx, http.MethodPost, u, "text/plain", body, false)
	if err != nil {
		return err
	}
	return nil
}

type retryKey struct{}

// idempotentCall marks a request as safe to repeat after any failure.
func idempotentCall(ctx context.Context, ok bool) context.Context {
	return context.WithValue(ctx, retryKey{}, ok)
}

func isIdempotent(ctx context.Context) bool {
	ok, _ := ctx.Value(retryKey{}).(bool)
	return ok
}

// call sends one Graph request with a bearer token and returns the response body of a 2xx
// answer. A 401 (an expired or revoked token) is tried once more with a fresh token: Graph
// rejects an unauthorised call before acting on it.
func (g *Graph) call(ctx context.Context, method, u, contentType string, body []byte, idempotent bool) ([]byte, error) {
	op := "graph: " + opName(method, u)
	for try := 0; ; try++ {
		tok, err := g.accessToken(ctx, try > 0)
		if err != nil {
			return nil, err
		}
		req, err := retryablehttp.NewRequestWithContext(idempotentCall(ctx, idempotent), method, u, body)
		if err != nil {
			return nil, permanent(op, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := g.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, temporary(op, ctx.Err())
			}
			if !idempotent && !neverSent(err) {
				return nil, temporary(op, fmt.Errorf("outcome unknown, not retried: %w", redactErr(err)))
			}
			return nil, temporary(op, redactErr(err))
		}
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized && try == 0 {
			g.forgetToken(tok)
			continue
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			// The status says it was done; a lost body must not make a sendMail look failed
			// (it would be sent again). Only a call that can be repeated reports it.
			if rerr != nil && idempotent {
				return nil, temporary(op, rerr)
			}
			return data, nil
		}
		err = graphStatusError(op, resp.StatusCode, data, idempotent)
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), g.opts.Now()); ok {
			var me *Error
			if errors.As(err, &me) {
				me.retryAfter = d
			}
		}
		return nil, err
	}
}

func opName(method, u string) string {
	if i := strings.LastIndexByte(u, '/'); i >= 0 {
		return method + " " + u[i+1:]
	}
	return method
}

// graphStatusError classifies a non-2xx answer. Only answers that blame this message are
// permanent; 401/403/404 mean configuration (permissions, the sender mailbox) and are
// temporary so that mail waits while an administrator fixes it.
func graphStatusError(op string, status int, body []byte, idempotent bool) error {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	msg := fmt.Sprintf("status %d", status)
	if e.Error.Code != "" {
		msg += " " + e.Error.Code
		if e.Error.Message != "" {
			msg += ": " + truncate(e.Error.Message, 200)
		}
	}
	err := errors.New(msg)
	switch {
	case status == http.StatusBadRequest, status == http.StatusRequestEntityTooLarge,
		status == http.StatusUnsupportedMediaType, status == http.StatusUnprocessableEntity:
		return permanent(op, err)
	case status >= 500 && !idempotent:
		return temporary(op, fmt.Errorf("outcome unknown, not retried: %w", err))
	}
	return temporary(op, err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// neverSent reports whether err happened before any byte of the request could reach the
// server: a failure to resolve or connect.
func neverSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// redactErr drops the query string from a *url.Error so no token or code in a URL can reach a
// log (we put none there, but a redirect could).
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if p, perr := url.Parse(ue.URL); perr == nil {
			p.RawQuery = ""
			p.User = nil
			return &url.Error{Op: ue.Op, URL: p.String(), Err: ue.Err}
		}
	}
	return err
}

// checkRetry is the RH-1 policy: see the Graph type.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	idem := isIdempotent(ctx)
	if err != nil {
		if idem || neverSent(err) {
			return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
		}
		return false, nil
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return true, nil
	case idem && resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		return true, nil
	}
	return false, nil
}

// backoff honours Retry-After on 429 and 503 up to RetryAfterMax, otherwise doubles from
// min to max with jitter (half to all of the step) so that many clients do not retry in step.
func (g *Graph) backoff(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), g.opts.Now()); ok {
			return min(d, g.opts.RetryAfterMax)
		}
	}
	return Backoff(minWait, maxWait, attempt)
}

// Backoff is exponential backoff with jitter: attempt 0 waits between min/2 and min, each
// later attempt up to twice as long, never more than max.
func Backoff(minWait, maxWait time.Duration, attempt int) time.Duration {
	d := minWait
	for i := 0; i < attempt && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// parseRetryAfter reads delay-seconds or an HTTP date; a date in the past means no wait, and
// no answer means more than a day.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), 24*time.Hour), true
	}
	return 0, false
}

// accessToken returns a cached token, or fetches one when there is none, it expires within a
// minute (or within a tenth of its lifetime), or fresh is set.
func (g *Graph) accessToken(ctx context.Context, fresh bool) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.opts.Now()
	if !fresh && g.token != "" && now.Before(g.expires) {
		return g.token, nil
	}
	tok, life, err := g.fetchToken(ctx)
	if err != nil {
		return "", err
	}
	margin := min(time.Minute, life/10)
	g.token, g.expires = tok, now.Add(life-margin)
	return tok, nil
}

// forgetToken drops tok from the cache if it is still the cached one.
func (g *Graph) forgetToken(tok string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.token == tok {
		g.token, g.expires = "", time.Time{}
	}
}

// fetchToken asks the identity platform for an app token (client credentials). The secret
// travels only in the form body; errors carry the platform's error code, never the body sent.
func (g *Graph) fetchToken(ctx context.Context) (string, time.Duration, error) {
	const op = "graph: token"
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {g.opts.ClientID},
		"client_secret": {g.opts.ClientSecret},
		"scope":         {g.opts.Scope},
	}
	u := g.opts.LoginURL + "/" + url.PathEscape(g.opts.TenantID) + "/oauth2/v2.0/token"
	// Issuing a token changes nothing, so the request may be repeated freely.
	req, err := retryablehttp.NewRequestWithContext(idempotentCall(ctx, true), http.MethodPost, u, []byte(form.Encode()))
	if err != nil {
		return "", 0, temporary(op, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := g.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", 0, temporary(op, ctx.Err())
		}
		return "", 0, temporary(op, redactErr(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, temporary(op, err)
	}
	var t struct {
		AccessToken string  `json:"access_token"`
		ExpiresIn   float64 `json:"expires_in"`
		Error       string  `json:"error"`
		ErrorCodes  []int   `json:"error_codes"`
	}
	if err := json.Unmarshal(data, &t); err != nil && resp.StatusCode == http.StatusOK {
		return "", 0, temporary(op, fmt.Errorf("status %d: unreadable answer", resp.StatusCode))
	}
	if resp.StatusCode != http.StatusOK || t.AccessToken == "" {
		msg := fmt.Sprintf("status %d", resp.StatusCode)
		if t.Error != "" {
			msg += " " + t.Error
		}
		if len(t.ErrorCodes) > 0 {
			msg += fmt.Sprintf(" (AADSTS%d)", t.ErrorCodes[0])
		}
		if t.Error == "invalid_client" || t.Error == "unauthorized_client" {
			msg += ": check graph client_id and client_secret"
		}
		return "", 0, temporary(op, errors.New(msg))
	}
	life := time.Duration(t.ExpiresIn * float64(time.Second))
	if life <= 0 {
		life = 5 * time.Minute
	}
	return t.AccessToken, life, nil
}

// retryLogger sends go-retryablehttp's messages to slog at debug level (it logs the method
// and URL only; headers and bodies, which carry the token and secret, are never passed).
type retryLogger struct{ l *slog.Logger }

func (r retryLogger) Error(msg string, kv ...any) { r.l.Debug("graph http: "+msg, scrub(kv)...) }
func (r retryLogger) Info(msg string, kv ...any)  { r.l.Debug("graph http: "+msg, scrub(kv)...) }
func (r retryLogger) Debug(msg string, kv ...any) { r.l.Debug("graph http: "+msg, scrub(kv)...) }
func (r retryLogger) Warn(msg string, kv ...any)  { r.l.Debug("graph http: "+msg, scrub(kv)...) }

func scrub(kv []any) []any {
	out := make([]any, len(kv))
	for i, v := range kv {
		if err, ok := v.(error); ok {
			v = redactErr(err).Error()
		}
		out[i] = v
	}
	return out
}
