package portal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"mypt"
	"mypt/adapters/sqlite"
	"mypt/config"
	"mypt/portal"
)

var _ portal.BatchApplier = (*sqlite.Store)(nil)

const pushToken = "0123456789abcdef0123456789abcdef"

type pushFixture struct {
	store *sqlite.Store
	reg   *prometheus.Registry
	h     http.Handler
}

func newPushFixture(t *testing.T, storeOpts sqlite.Options, opts portal.PushOptions) *pushFixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mypt.db"), storeOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := prometheus.NewRegistry()
	opts.Applier = st
	opts.Registerer = reg
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Tokens == nil {
		opts.Tokens = []config.Secret{"another-token-not-used-here", pushToken}
	}
	return &pushFixture{store: st, reg: reg, h: portal.NewPushHandler(opts)}
}

type pushReply struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

func (f *pushFixture) post(t *testing.T, body string, hdr map[string]string) pushReply {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/mis/v1/batches", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+pushToken)
	req.Header.Set("Content-Type", "application/x-ndjson")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	if hdr["chunked"] != "" {
		req.ContentLength = -1
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	r := pushReply{code: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if err := json.Unmarshal(rec.Body.Bytes(), &r.body); err != nil {
		t.Fatalf("reply %d is not JSON: %q", rec.Code, rec.Body.String())
	}
	return r
}

func (f *pushFixture) count(t *testing.T, e mypt.Entity) int {
	t.Helper()
	n, err := f.store.CountRows(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func studentLine(id string) string {
	return fmt.Sprintf(`{"entity":"student","op":"upsert","data":{"StudentID":%q,"LegalFirstNames":"José","LegalLastName":"D'Arcy","DateOfBirth":"2008-04-05","HasEHCP":false,"College":"north","ShareInfoConsent":false,"Status":"current"}}`, id)
}

func batchOf(header string, lines ...string) string {
	return header + "\n" + strings.Join(lines, "\n") + "\n"
}

func TestPushApplied(t *testing.T) {
	t.Parallel()
	f := newPushFixture(t, sqlite.Options{}, portal.PushOptions{})
	body := batchOf(`{"batch":"b1","mode":"delta"}`, studentLine("S1"), studentLine("S2"),
		`{"entity":"attendance_mark","op":"delete","key":"M0"}`)
	r := f.post(t, body, map[string]string{"Idempotency-Key": "b1"})
	if r.code != http.StatusOK || r.body["result"] != "applied" || r.body["upserted"] != 2.0 || r.body["students"] != 2.0 || r.body["batch"] != "b1" {
		t.Fatalf("reply = %d %s", r.code, r.raw)
	}
	if n := f.count(t, mypt.EntityStudent); n != 2 {
		t.Errorf("students = %d", n)
	}
	// The same batch again changes nothing.
	r = f.post(t, body, map[string]string{"Idempotency-Key": "b1"})
	if r.code != http.StatusOK || r.body["result"] != "duplicate" {
		t.Errorf("resend = %d %s", r.code, r.raw)
	}
	// A lower-case scheme and no Idempotency-Key are accepted.
	r = f.post(t, batchOf(`{"batch":"b2"}`, studentLine("S3")), map[string]string{"Authorization": "bearer " + pushToken})
	if r.code != http.StatusOK || r.body["result"] != "applied" {
		t.Errorf("b2 = %d %s", r.code, r.raw)
	}
	for _, c := range []struct {
		result string
		want   float64
	}{{"applied", 2}, {"duplicate", 1}, {"invalid", 0}} {
		if got := testutil.ToFloat64(mustCounter(t, f.reg, "mypt_push_batches_total", map[string]string{"result": c.result})); got != c.want {
			t.Errorf("mypt_push_batches_total{result=%q} = %v, want %v", c.result, got, c.want)
		}
	}
}

// mustCounter finds one series of a gathered counter.
func mustCounter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
			c.Add(m.GetCounter().GetValue())
			return c
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return nil
}

func TestPushMetricsExistFromStart(t *testing.T) {
	t.Parallel()
	f := newPushFixture(t, sqlite.Options{}, portal.PushOptions{})
	if n := testutil.CollectAndCount(f.reg, "mypt_push_batches_total"); n != 6 {
		t.Errorf("mypt_push_batches_total has %d series at start, want 6", n)
	}
	if n := testutil.CollectAndCount(f.reg, "mypt_push_rows_total"); n != len(mypt.Entities)*4 {
		t.Errorf("mypt_push_rows_total has %d series at start, want %d", n, len(mypt.Entities)*4)
	}
	// PM-1: a second handler on the same registry shares the metrics instead of panicking.
	h2 := portal.NewPushHandler(portal.PushOptions{Applier: f.store, Registerer: f.reg, Tokens: []config.Secret{pushToken},
		Logger: slog.New(slog.DiscardHandler)})
	req := httptest.NewRequest(http.MethodPost, "/mis/v1/batches", strings.NewReader(batchOf(`{"batch":"m1"}`, studentLine("S1"))))
	req.Header.Set("Authorization", "Bearer "+pushToken)
	req.Header.Set("Content-Type", "application/x-ndjson")
	h2.ServeHTTP(httptest.NewRecorder(), req)
	if got := testutil.ToFloat64(mustCounter(t, f.reg, "mypt_push_rows_total",
		map[string]string{"entity": "student", "op": "upsert", "result": "applied"})); got != 1 {
		t.Errorf("rows applied through the second handler = %v, want 1", got)
	}
}

func TestPushUnauthorized(t *testing.T) {
	t.Parallel()
	f := newPushFixture(t, sqlite.Options{}, portal.PushOptions{})
	none := newPushFixture(t, sqlite.Options{}, portal.PushOptions{Tokens: []config.Secret{}})
	body := batchOf(`{"batch":"b1"}`, studentLine("S1"))
	for name, c := range map[string]struct {
		f    *pushFixture
		auth string
	}{
		"no header":         {f, ""},
		"wrong token":       {f, "Bearer " + strings.Repeat("x", len(pushToken))},
		"prefix of a token": {f, "Bearer " + pushToken[:10]},
		"basic scheme":      {f, "Basic " + pushToken},
		"empty bearer":      {f, "Bearer "},
		"no tokens set":     {none, "Bearer " + pushToken},
	} {
		r := c.f.post(t, body, map[string]string{"Authorization": c.auth})
		if r.code != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") || r.body["result"] != "unauthorized" {
			t.Errorf("%s: %d %q %s", name, r.code, r.header.Get("WWW-Authenticate"), r.raw)
		}
		if strings.Contains(r.raw, pushToken) {
			t.Errorf("%s: the reply shows the token", name)
		}
	}
	if n := f.count(t, mypt.EntityStudent) + none.count(t, mypt.EntityStudent); n != 0 {
		t.Errorf("unauthorized pushes stored %d students", n)
	}
	if got := testutil.ToFloat64(mustCounter(t, f.reg, "mypt_push_batches_total", map[string]string{"result": "unauthorized"})); got != 5 {
		t.Errorf("unauthorized count = %v, want 5", got)
	}
}

func TestPushBadRequests(t *testing.T) {
	t.Parallel()
	f := newPushFixture(t, sqlite.Options{MaxDocumentBytes: 4}, portal.PushOptions{MaxBodyBytes: 2048})
	good := batchOf(`{"batch":"b1"}`, studentLine("S1"))

	t.Run("content type", func(t *testing.T) {
		for _, ct := range []string{"", "application/json", "text/plain"} {
			r := f.post(t, good, map[string]string{"Content-Type": ct})
			if r.code != http.StatusUnsupportedMediaType || !strings.Contains(r.raw, "application/x-ndjson") {
				t.Errorf("Content-Type %q: %d %s", ct, r.code, r.raw)
			}
		}
		r := f.post(t, good, map[string]string{"Content-Type": "application/x-ndjson; charset=utf-8"})
		if r.code != http.StatusOK {
			t.Errorf("with a charset parameter: %d %s", r.code, r.raw)
		}
	})

	t.Run("too large", func(t *testing.T) {
		var lines []string
		for i := range 40 {
			lines = append(lines, studentLine(fmt.Sprintf("L%d", i)))
		}
		big := batchOf(`{"batch":"big"}`, lines...)
		for _, chunked := range []string{"", "yes"} {
			r := f.post(t, big, map[string]string{"chunked": chunked})
			if r.code != http.StatusRequestEntityTooLarge || r.body["result"] != "too_large" {
				t.Errorf("chunked=%q: %d %s", chunked, r.code, r.raw)
			}
		}
	})

	t.Run("bad lines", func(t *testing.T) {
		body := batchOf(`{"batch":"b3"}`, studentLine("S7"), `{"entity":"student","op":"upsert","data":{"StudentID":"S8"}}`,
			`{"entity":"pupil","op":"delete","key":"x"}`, `{oops`)
		r := f.post(t, body, nil)
		if r.code != http.StatusBadRequest || r.body["result"] != "invalid" {
			t.Fatalf("%d %s", r.code, r.raw)
		}
		lines, _ := r.body["lines"].([]any)
		if len(lines) != 3 {
			t.Fatalf("lines = %v, want 3", r.body["lines"])
		}
		for i, want := range []struct {
			line   float64
			reason string
		}{{3, "LegalFirstNames: is required"}, {4, "unknown entity"}, {5, "not a JSON object"}} {
			l := lines[i].(map[string]any)
			if l["line"] != want.line || !strings.Contains(l["reason"].(string), want.reason) {
				t.Errorf("line %d = %v, want %v %q", i, l, want.line, want.reason)
			}
		}
		if got := testutil.ToFloat64(mustCounter(t, f.reg, "mypt_push_rows_total",
			map[string]string{"entity": "student", "op": "upsert", "result": "rejected"})); got < 1 {
			t.Errorf("rejected student rows = %v", got)
		}
	})

	t.Run("rejected by the cache", func(t *testing.T) {
		doc := `{"entity":"document","op":"upsert","data":{"DocumentID":"D1","StudentID":"S1","Title":"Letter","CreatedAt":"2018-09-01T10:00:00Z","ContentType":"application/pdf","Content":"JVBERi0xLjQ="}}`
		r := f.post(t, batchOf(`{"batch":"b4"}`, studentLine("S9"), doc), nil)
		lines, _ := r.body["lines"].([]any)
		if r.code != http.StatusBadRequest || len(lines) != 1 || lines[0].(map[string]any)["line"] != 3.0 ||
			!strings.Contains(r.raw, "more than the limit of 4") {
			t.Errorf("%d %s", r.code, r.raw)
		}
	})

	t.Run("idempotency key", func(t *testing.T) {
		r := f.post(t, batchOf(`{"batch":"b5"}`, studentLine("S5")), map[string]string{"Idempotency-Key": "b6"})
		if r.code != http.StatusBadRequest || !strings.Contains(r.raw, "Idempotency-Key") {
			t.Errorf("%d %s", r.code, r.raw)
		}
	})

	t.Run("nothing applied", func(t *testing.T) {
		for _, id := range []string{"S5", "S7", "S9", "L0"} {
			var found bool
			f.store.EntityKeys(context.Background(), mypt.EntityStudent, func(k string) error {
				found = found || k == id
				return nil
			})
			if found {
				t.Errorf("student %s from a refused batch was stored", id)
			}
		}
	})
}

func TestPushConflictAndSnapshotRefusal(t *testing.T) {
	t.Parallel()
	f := newPushFixture(t, sqlite.Options{}, portal.PushOptions{})
	var lines []string
	for i := range 10 {
		lines = append(lines, studentLine(fmt.Sprintf("S%d", i)))
	}
	if r := f.post(t, batchOf(`{"batch":"load"}`, lines...), nil); r.code != http.StatusOK {
		t.Fatalf("load: %d %s", r.code, r.raw)
	}
	r := f.post(t, batchOf(`{"batch":"load"}`, lines[:3]...), nil)
	if r.code != http.StatusConflict || r.body["result"] != "refused" || !strings.Contains(r.raw, "new id") {
		t.Errorf("reused id: %d %s", r.code, r.raw)
	}
	snap := `{"batch":"snap","mode":"snapshot","entities":["student"]}`
	r = f.post(t, batchOf(snap, lines[:5]...), nil)
	if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.raw, "student") || !strings.Contains(r.raw, "5 of 10 rows") {
		t.Errorf("snapshot refused: %d %s", r.code, r.raw)
	}
	if n := f.count(t, mypt.EntityStudent); n != 10 {
		t.Errorf("students after refusals = %d, want 10", n)
	}
	r = f.post(t, batchOf(`{"batch":"snap-forced","mode":"snapshot","entities":["student"],"force":true}`, lines[:5]...), nil)
	if r.code != http.StatusOK || r.body["deleted"] != 5.0 {
		t.Errorf("forced snapshot: %d %s", r.code, r.raw)
	}
}

// A request whose body breaks off part-way stores nothing.
func TestPushBodyBreaksOff(t *testing.T) {
	t.Parallel()
	f := newPushFixture(t, sqlite.Options{}, portal.PushOptions{})
	req := httptest.NewRequest(http.MethodPost, "/mis/v1/batches",
		io.MultiReader(bytes.NewReader([]byte(batchOf(`{"batch":"cut"}`, studentLine("S1")))), errReader{}))
	req.Header.Set("Authorization", "Bearer "+pushToken)
	req.Header.Set("Content-Type", "application/x-ndjson")
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || f.count(t, mypt.EntityStudent) != 0 {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// Every refused push is logged at WARN with its status and, when known, its batch id; never
// the token, never a record's contents.
func TestPushRefusalsAreLogged(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f := newPushFixture(t, sqlite.Options{}, portal.PushOptions{MaxBodyBytes: 4096, Logger: logger})
	var ten []string
	for i := range 10 {
		ten = append(ten, studentLine(fmt.Sprintf("S%d", i)))
	}
	if r := f.post(t, batchOf(`{"batch":"load"}`, ten...), nil); r.code != http.StatusOK {
		t.Fatalf("load: %d %s", r.code, r.raw)
	}
	var big []string
	for i := range 40 {
		big = append(big, studentLine(fmt.Sprintf("L%d", i)))
	}
	for _, c := range []struct {
		name  string
		body  string
		hdr   map[string]string
		code  int
		batch string
		want  []string
	}{
		{"no token", batchOf(`{"batch":"b1"}`, studentLine("S1")), map[string]string{"Authorization": ""}, 401, "", nil},
		{"wrong token", batchOf(`{"batch":"b1"}`, studentLine("S1")), map[string]string{"Authorization": "Bearer wrong-" + pushToken}, 401, "", nil},
		{"content type", batchOf(`{"batch":"b1"}`, studentLine("S1")), map[string]string{"Content-Type": "text/plain"}, 415, "", nil},
		{"too large", batchOf(`{"batch":"big"}`, big...), nil, 413, "", nil},
		{"bad lines", batchOf(`{"batch":"b3"}`, studentLine("S7"), `{"entity":"student","op":"upsert","data":{"StudentID":"S8","LegalLastName":"Secretname"}}`,
			`{"entity":"pupil","op":"delete","key":"x"}`, `{oops`), nil, 400, "", []string{`"bad_lines":3`, `line 3`, `line 4`, `line 5`}},
		{"idempotency key", batchOf(`{"batch":"b5"}`, studentLine("S5")), map[string]string{"Idempotency-Key": "b6"}, 400, "b5", nil},
		{"reused id", batchOf(`{"batch":"load"}`, ten[:3]...), nil, 409, "load", nil},
		{"snapshot guard", batchOf(`{"batch":"snap","mode":"snapshot","entities":["student"]}`, ten[:5]...), nil, 422, "snap", nil},
	} {
		logs.Reset()
		r := f.post(t, c.body, c.hdr)
		if r.code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, r.code, r.raw, c.code)
			continue
		}
		got := logs.String()
		if !strings.Contains(got, `"level":"WARN"`) || !strings.Contains(got, fmt.Sprintf(`"status":%d`, c.code)) {
			t.Errorf("%s: no WARN with the status: %q", c.name, got)
		}
		if c.batch != "" && !strings.Contains(got, fmt.Sprintf(`"batch":%q`, c.batch)) {
			t.Errorf("%s: the log does not name batch %q: %q", c.name, c.batch, got)
		}
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: the log lacks %q: %q", c.name, w, got)
			}
		}
		for _, leak := range []string{pushToken, "Secretname", "José", "D'Arcy"} {
			if strings.Contains(got, leak) {
				t.Errorf("%s: the log shows %q: %q", c.name, leak, got)
			}
		}
	}
}
