package portal

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"mypt"
	"mypt/config"
)

// BatchApplier applies one push batch in one transaction (implemented by *sqlite.Store).
type BatchApplier interface {
	ApplyBatch(ctx context.Context, b mypt.Batch) (mypt.BatchResult, error)
}

// PushOptions configure NewPushHandler.
type PushOptions struct {
	// Applier applies parsed batches. Required.
	Applier BatchApplier
	// Tokens are the bearer tokens accepted; with none, every request answers 401.
	Tokens []config.Secret
	// MaxBodyBytes bounds the request body (default 64 MiB); larger answers 413.
	MaxBodyBytes int64
	// Limits bound the NDJSON lines and records (mypt.ParseLimits defaults when zero).
	Limits mypt.ParseLimits
	// Logger gets one line per batch (a WARN for every refused one); slog.Default() when nil.
	Logger *slog.Logger
	// Registerer gets mypt_push_batches_total and mypt_push_rows_total; none when nil.
	Registerer prometheus.Registerer
}

// DefaultPushMaxBodyBytes is the default body limit of the push API.
const DefaultPushMaxBodyBytes = 64 << 20

// NDJSONContentType is the push body's media type.
const NDJSONContentType = "application/x-ndjson"

// Push batch results, the values of mypt_push_batches_total's "result" label.
var pushResults = []string{"applied", "duplicate", "invalid", "refused", "unauthorized", "too_large"}

type pushHandler struct {
	opts    PushOptions
	tokens  *PushTokens
	log     *slog.Logger
	batches *prometheus.CounterVec
	rows    *prometheus.CounterVec
}

// NewPushHandler returns the handler of POST /mis/v1/batches (DESIGN §4): an NDJSON batch with
// "Authorization: Bearer <token>" and an optional "Idempotency-Key" equal to the batch id. It
// answers 200 with the result as JSON, 400 listing each bad line (nothing applied), 401, 409 for
// a batch id reused with other content, 413, 415, and 422 for a snapshot the guard refused.
// Building it twice on one registerer reuses the metrics rather than panicking.
func NewPushHandler(opts PushOptions) http.Handler {
	if opts.Applier == nil {
		panic("portal: NewPushHandler needs PushOptions.Applier") // a wiring mistake, found at start-up
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultPushMaxBodyBytes
	}
	h := &pushHandler{opts: opts, log: opts.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.tokens = NewPushTokens(opts.Tokens)
	h.batches = registerOrReuse(opts.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mypt_push_batches_total",
		Help: "Push batches received on POST /mis/v1/batches, by result.",
	}, []string{"result"}))
	h.rows = registerOrReuse(opts.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mypt_push_rows_total",
		Help: "Push batch records applied or rejected, by entity and op.",
	}, []string{"entity", "op", "result"}))
	// Every known series exists from the start, at 0 (PM-2).
	for _, r := range pushResults {
		h.batches.WithLabelValues(r)
	}
	for _, e := range mypt.Entities {
		for _, op := range []mypt.Op{mypt.OpUpsert, mypt.OpDelete} {
			for _, r := range []string{"applied", "rejected"} {
				h.rows.WithLabelValues(string(e), string(op), r)
			}
		}
	}
	return h
}

// pushAnswer is the JSON body of every push response.
type pushAnswer struct {
	Batch     string           `json:"batch,omitempty"`
	Result    string           `json:"result"`
	Upserted  int              `json:"upserted"`
	Unchanged int              `json:"unchanged"`
	Deleted   int              `json:"deleted"`
	Students  int              `json:"students"`
	Error     string           `json:"error,omitempty"`
	Lines     []mypt.LineError `json:"lines,omitempty"`
	More      int              `json:"more_bad_lines,omitempty"`
}

// answer counts and writes a; a refusal (4xx) is logged at WARN with its status, the batch id
// when known and, for bad lines, how many and the first few — never the token or a record.
func (h *pushHandler) answer(w http.ResponseWriter, r *http.Request, code int, a pushAnswer) {
	h.batches.WithLabelValues(a.Result).Inc()
	if code >= 400 && code < 500 {
		attrs := []any{"status", code, "result", a.Result}
		if a.Batch != "" {
			attrs = append(attrs, "batch", a.Batch)
		}
		attrs = append(attrs, "reason", a.Error)
		if len(a.Lines) > 0 {
			attrs = append(attrs, "bad_lines", len(a.Lines)+a.More, "first_bad_lines", loggedLines(a.Lines))
		}
		attrs = append(attrs, "remote", r.RemoteAddr)
		h.log.Warn("push batch refused", attrs...)
	}
	writeJSONAnswer(w, code, a)
}

func (h *pushHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.tokens.Authorized(r) {
		reason := h.tokens.challenge(w, r)
		h.answer(w, r, http.StatusUnauthorized, pushAnswer{Result: "unauthorized", Error: reason})
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != NDJSONContentType {
		h.answer(w, r, http.StatusUnsupportedMediaType, pushAnswer{Result: "invalid",
			Error: "Content-Type must be " + NDJSONContentType})
		return
	}
	tooLarge := pushAnswer{Result: "too_large",
		Error: fmt.Sprintf("the batch is larger than %d bytes; split it into several batches", h.opts.MaxBodyBytes)}
	if r.ContentLength > h.opts.MaxBodyBytes {
		h.answer(w, r, http.StatusRequestEntityTooLarge, tooLarge)
		return
	}
	body := http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)
	b, err := mypt.ParseBatch(body, h.opts.Limits)
	var mbe *http.MaxBytesError
	var be *mypt.BatchError
	switch {
	case errors.As(err, &mbe):
		h.answer(w, r, http.StatusRequestEntityTooLarge, tooLarge)
		return
	case errors.As(err, &be):
		for _, l := range be.Lines {
			if l.Entity.Valid() && l.Op != "" {
				h.rows.WithLabelValues(string(l.Entity), string(l.Op), "rejected").Inc()
			}
		}
		h.answer(w, r, http.StatusBadRequest, pushAnswer{Result: "invalid", Error: "the batch has bad lines; nothing was applied",
			Lines: be.Lines, More: be.More})
		return
	case err != nil:
		// The client went away or the body broke off: nothing to apply, and no one to tell
		// beyond a 400.
		h.answer(w, r, http.StatusBadRequest, pushAnswer{Result: "invalid", Error: "the batch could not be read to its end"})
		return
	}
	if key := r.Header.Get("Idempotency-Key"); key != "" && key != b.ID {
		h.answer(w, r, http.StatusBadRequest, pushAnswer{Batch: b.ID, Result: "invalid",
			Error: fmt.Sprintf("the Idempotency-Key header %q is not the batch id %q of the header line", key, b.ID)})
		return
	}
	b.Source = "push"
	b.AllOrNothing = true
	res, err := h.opts.Applier.ApplyBatch(r.Context(), b)
	switch {
	case err == nil:
	case errors.Is(err, mypt.ErrInvalid) && len(res.Rejected) > 0:
		ops := map[int]mypt.Op{}
		for _, rec := range b.Records {
			ops[rec.Line] = rec.Op
		}
		lines := make([]mypt.LineError, len(res.Rejected))
		for i, rej := range res.Rejected {
			lines[i] = mypt.LineError{Line: rej.Line, Entity: rej.Entity, Op: ops[rej.Line], Key: rej.Key, Reason: rej.Reason}
			if rej.Entity.Valid() && ops[rej.Line] != "" {
				h.rows.WithLabelValues(string(rej.Entity), string(ops[rej.Line]), "rejected").Inc()
			}
		}
		h.answer(w, r, http.StatusBadRequest, pushAnswer{Batch: b.ID, Result: "invalid",
			Error: "the batch has bad records; nothing was applied", Lines: lines})
		return
	case errors.Is(err, mypt.ErrInvalid):
		h.answer(w, r, http.StatusBadRequest, pushAnswer{Batch: b.ID, Result: "invalid", Error: cleanError(err)})
		return
	case errors.Is(err, mypt.ErrConflict):
		h.answer(w, r, http.StatusConflict, pushAnswer{Batch: b.ID, Result: "refused", Error: cleanError(err)})
		return
	case errors.Is(err, mypt.ErrRefused):
		h.answer(w, r, http.StatusUnprocessableEntity, pushAnswer{Batch: b.ID, Result: "refused", Error: cleanError(err)})
		return
	default:
		if r.Context().Err() != nil {
			return // the client went away; the transaction rolled back and a resend is safe
		}
		h.log.Error("push batch failed", "batch", b.ID, "err", err)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"result":"error","error":"internal error; the batch was not applied, resend it"}`+"\n")
		return
	}
	a := pushAnswer{Batch: b.ID, Result: "applied", Upserted: res.Upserted, Unchanged: res.Unchanged,
		Deleted: res.Deleted, Students: len(res.Students)}
	if res.Duplicate {
		a.Result = "duplicate"
	} else {
		for _, rec := range b.Records {
			h.rows.WithLabelValues(string(rec.Entity), string(rec.Op), "applied").Inc()
		}
	}
	h.log.Info("push batch", "batch", b.ID, "result", a.Result, "records", len(b.Records), "upserted", res.Upserted,
		"unchanged", res.Unchanged, "deleted", res.Deleted, "students", len(res.Students))
	h.answer(w, r, http.StatusOK, a)
}

// PushTokens are the push API's bearer tokens, kept as digests. POST /mis/v1/batches and
// POST /mis/v1/sync both check requests with it, so the two cannot drift apart.
type PushTokens struct {
	digests [][sha256.Size]byte
}

// NewPushTokens keeps the set tokens of ts; with none, no request is authorized.
func NewPushTokens(ts []config.Secret) *PushTokens {
	p := &PushTokens{}
	for _, t := range ts {
		if t.IsSet() {
			p.digests = append(p.digests, sha256.Sum256([]byte(t.Reveal())))
		}
	}
	return p
}

// Authorized compares the bearer token with every configured token in constant time. Digests
// are compared, so neither the tokens' lengths nor which one matched leaks through timing.
func (p *PushTokens) Authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		token = ""
	}
	token = strings.TrimSpace(token)
	got := sha256.Sum256([]byte(token))
	match := 0
	for i := range p.digests {
		match |= subtle.ConstantTimeCompare(got[:], p.digests[i][:])
	}
	return match == 1 && token != ""
}

// challenge sets the 401's WWW-Authenticate header and returns the reason to show.
func (p *PushTokens) challenge(w http.ResponseWriter, r *http.Request) string {
	reason := "a bearer token is required"
	challenge := `Bearer realm="mypt push"`
	if r.Header.Get("Authorization") != "" {
		reason = "the bearer token is not valid"
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	return reason
}

// RequirePushToken wraps next so that only a request bearing one of the push tokens reaches it;
// any other answers 401 with WWW-Authenticate and a JSON body, logged at WARN (without the
// token). A nil logger is slog.Default().
func RequirePushToken(tokens []config.Secret, logger *slog.Logger, next http.Handler) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	p := NewPushTokens(tokens)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.Authorized(r) {
			next.ServeHTTP(w, r)
			return
		}
		reason := p.challenge(w, r)
		logger.Warn("mis request refused", "path", r.URL.Path, "status", http.StatusUnauthorized, "reason", reason,
			"remote", r.RemoteAddr)
		writeJSONAnswer(w, http.StatusUnauthorized, map[string]string{"result": "unauthorized", "error": reason})
	})
}

// writeJSONAnswer writes v as the indented JSON body of a MIS endpoint's answer.
func writeJSONAnswer(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// maxLoggedLines is how many bad lines a refused push's log line names.
const maxLoggedLines = 5

// loggedLines names the first few bad lines as "line N: reason", with quoted values masked: a
// reason may quote what the MIS sent, which can be personal data.
func loggedLines(lines []mypt.LineError) []string {
	var out []string
	for i, l := range lines {
		if i == maxLoggedLines {
			break
		}
		out = append(out, fmt.Sprintf("line %d: %s", l.Line, quotedValue.ReplaceAllString(l.Reason, `"…"`)))
	}
	return out
}

// quotedValue matches a double-quoted value in a reason.
var quotedValue = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// cleanError drops the adapter's "sqlite: " prefix from messages meant for the MIS's operators.
func cleanError(err error) string {
	return strings.TrimPrefix(err.Error(), "sqlite: ")
}
