package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"mypt"
	"mypt/internal/synth"
)

// startDemo runs the demo in-process on 127.0.0.1:0 with a small college and returns the
// printed lines and the two base URLs. The demo stops when the test ends.
func startDemo(t *testing.T, students int) (lines []string, publicURL, internalURL string) {
	return startDemoVia(t, students, "push")
}

func startDemoVia(t *testing.T, students int, mis string) (lines []string, publicURL, internalURL string) {
	t.Helper()
	pub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := demo(ctx, demoOptions{
			Data: t.TempDir(), Students: students, Seed: 1, InsecureCookies: true,
			AsOf: mypt.NewDate(2026, time.December, 3), BatchRows: 500, Public: pub, Internal: in, MIS: mis,
			Now: func() time.Time { return time.Date(2026, time.December, 3, 16, 0, 0, 0, time.UTC) },
		}, pw, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo returned %v after shutdown", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("demo did not shut down within 30s")
		}
	})
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.HasPrefix(sc.Text(), "push ") {
			go io.Copy(io.Discard, pr)
			break
		}
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], "push ") {
		err := <-done
		done <- nil // the cleanup has been answered
		t.Fatalf("demo printed %q and stopped: %v", lines, err)
	}
	return lines, "http://" + pub.Addr().String(), "http://" + in.Addr().String()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestDemo(t *testing.T) {
	lines, publicURL, internalURL := startDemo(t, 50)

	loginRE := regexp.MustCompile(`^login (\S+@\S+) (\S{12,}) (\S+(,\S+)*)$`)
	var logins [][]string
	for _, l := range lines {
		if m := loginRE.FindStringSubmatch(l); m != nil {
			logins = append(logins, m)
		}
	}
	if len(logins) < 2 {
		t.Fatalf("want at least two login lines, got %q", lines)
	}
	if logins[0][3] != synth.SeedStudentID {
		t.Errorf("first parent is linked to %s, want the seed-table student %s", logins[0][3], synth.SeedStudentID)
	}
	if !strings.Contains(logins[1][3], ",") {
		t.Errorf("second parent has one child (%s), want two", logins[1][3])
	}
	if !regexp.MustCompile(`^staff \S+@\S+ \S{12,}$`).MatchString(lines[len(lines)-2]) {
		t.Errorf("staff line %q", lines[len(lines)-2])
	}
	push := strings.Fields(lines[len(lines)-1])
	if len(push) != 3 || push[1] != internalURL+"/mis/v1/batches" || len(push[2]) < 24 {
		t.Errorf("push line %q", lines[len(lines)-1])
	}

	resp, err := http.Get(internalURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz = %s", resp.Status)
	}

	t.Run("sync trigger needs the token and answers JSON in push mode", func(t *testing.T) {
		if code, _, body := postSync(t, internalURL, ""); code != http.StatusUnauthorized || !strings.Contains(body, `"unauthorized"`) {
			t.Errorf("without a token: %d %s", code, body)
		}
		code, hdr, body := postSync(t, internalURL, push[2])
		if code != http.StatusNotFound || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || !strings.Contains(body, "pull syncer") {
			t.Errorf("with the token in push mode: %d %q %s", code, hdr.Get("Content-Type"), body)
		}
	})
	t.Run("push endpoint takes the printed token", func(t *testing.T) {
		batch := `{"batch":"test-1","mode":"delta"}` + "\n" +
			`{"entity":"meeting","op":"upsert","data":{"MeetingID":"test-m1","StudentID":"` + synth.SeedStudentID + `","Type":"Progress Review","HeldOn":"2026-12-01"}}` + "\n"
		for _, tc := range []struct {
			token string
			want  int
		}{{push[2], http.StatusOK}, {"wrong-token-wrong-token", http.StatusUnauthorized}} {
			if err := postBatch(context.Background(), push[1], tc.token, "test-1", []byte(batch)); (err == nil) != (tc.want == http.StatusOK) {
				t.Errorf("push with token %q: %v, want %d", tc.token[:5], err, tc.want)
			}
		}
	})
	t.Run("seed-table parent sees the child", func(t *testing.T) {
		client := newClient(t)
		home := login(t, client, publicURL, logins[0][1], logins[0][2])
		if !strings.Contains(home, "Siobhán O’Neill-Smith") || !strings.Contains(home, synth.SeedStudentID) {
			t.Errorf("home page does not list the child:\n%s", home)
		}
		report := get(t, client, publicURL+"/students/"+synth.SeedStudentID+"/attendance?year=2018")
		for _, want := range []string{"63", "95.2%", "98.3%", "07/01/2019", "66.7%"} {
			if !strings.Contains(report, want) {
				t.Errorf("2018/19 attendance report lacks %q", want)
			}
		}
	})
	t.Run("parent of two sees both", func(t *testing.T) {
		client := newClient(t)
		home := login(t, client, publicURL, logins[1][1], logins[1][2])
		for _, id := range strings.Split(logins[1][3], ",") {
			if !strings.Contains(home, id) {
				t.Errorf("home page lacks child %s", id)
			}
		}
	})
	t.Run("staff signs in to the internal site", func(t *testing.T) {
		staff := strings.Fields(lines[len(lines)-2])
		c := newClient(t)
		page := signIn(t, c, internalURL, "/admin/login", "/admin/", staff[1], staff[2])
		if !strings.Contains(page, "Sign out") && !strings.Contains(page, "sign out") {
			t.Errorf("staff home does not look signed in:\n%.2000s", page)
		}
		// The demo's two sample unlock emails wait in Mailbox review, through the real loop.
		review := get(t, c, internalURL+"/admin/mailbox")
		for _, want := range []string{"Locked out of the parent portal", "can&#39;t log in", "18100000"} {
			if !strings.Contains(review, want) {
				t.Errorf("mailbox review lacks %q:\n%.3000s", want, review)
			}
		}
	})
	t.Run("public listener never serves the internal site", func(t *testing.T) {
		for _, path := range []string{"/metrics", "/mis/v1/batches", "/admin/"} {
			resp, err := http.Get(publicURL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("public %s = %s", path, resp.Status)
			}
		}
	})
}

// TestDemoTDS runs the demo with the college pulled from the in-process SQL Server TDS server.
func TestDemoTDS(t *testing.T) {
	lines, publicURL, internalURL := startDemoVia(t, 10, "tds")
	if !strings.HasPrefix(lines[len(lines)-2], "mis 127.0.0.1:") {
		t.Errorf("no mis line before the push line: %q", lines)
	}
	// The DSN file beside it is private and names the demo's server, for `mypt sync --once`.
	if mf := strings.Fields(lines[len(lines)-2]); len(mf) != 3 {
		t.Errorf("mis line %q: want mis <addr> <dsn file>", lines[len(lines)-2])
	} else if fi, err := os.Stat(mf[2]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("DSN file %s: %v %v", mf[2], fi, err)
	} else if dsn, _ := os.ReadFile(mf[2]); !strings.HasPrefix(string(dsn), "sqlserver://") || !strings.Contains(string(dsn), mf[1]) {
		t.Errorf("DSN file does not name the server %s", mf[1])
	}
	f := strings.Fields(lines[0])
	home := login(t, newClient(t), publicURL, f[1], f[2])
	if !strings.Contains(home, "Siobhán O’Neill-Smith") {
		t.Errorf("home page does not list the seed-table student")
	}
	token := strings.Fields(lines[len(lines)-1])[2]
	if code, hdr, body := postSync(t, internalURL, ""); code != http.StatusUnauthorized ||
		!strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") || !strings.Contains(body, `"unauthorized"`) {
		t.Errorf("POST /mis/v1/sync without a token = %d %q %s", code, hdr.Get("WWW-Authenticate"), body)
	}
	if code, _, body := postSync(t, internalURL, "wrong-"+token); code != http.StatusUnauthorized {
		t.Errorf("POST /mis/v1/sync with a wrong token = %d %s", code, body)
	}
	if code, _, body := postSync(t, internalURL, token); code != http.StatusAccepted {
		t.Errorf("POST /mis/v1/sync with the push token = %d %s", code, body)
	}
}

// postSync posts to /mis/v1/sync with the bearer token (none when empty).
func postSync(t *testing.T, internalURL, token string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, internalURL+"/mis/v1/sync", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func newClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

func get(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %s", u, resp.Status)
	}
	return string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// login signs in through the parents' form and returns the home page it lands on.
func login(t *testing.T, c *http.Client, base, email, password string) string {
	t.Helper()
	return signIn(t, c, base, "/login", "/", email, password)
}

// signIn posts the sign-in form at base+path and checks it lands on base+landing.
func signIn(t *testing.T, c *http.Client, base, path, landing, email, password string) string {
	t.Helper()
	form := get(t, c, base+path)
	m := csrfRE.FindStringSubmatch(form)
	if m == nil {
		t.Fatalf("no csrf_token on the login page:\n%s", form)
	}
	vals := url.Values{"email": {email}, "password": {password}, "csrf_token": {m[1]}, "next": {landing}}
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != landing {
		t.Fatalf("sign-in ended at %s with %s:\n%s", resp.Request.URL, resp.Status, b)
	}
	return string(b)
}

// BenchmarkDemoStartup measures how long `mypt demo` takes, for the default 1,000 students,
// from start to printing the login lines (the goal is under 30 s).
func BenchmarkDemoStartup(b *testing.B) {
	for b.Loop() {
		pub, _ := net.Listen("tcp", "127.0.0.1:0")
		in, _ := net.Listen("tcp", "127.0.0.1:0")
		ctx, cancel := context.WithCancel(context.Background())
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			done <- demo(ctx, demoOptions{Data: b.TempDir(), Students: 1000, Seed: 1, InsecureCookies: true,
				AsOf: mypt.NewDate(2026, time.December, 3), BatchRows: 20000, Public: pub, Internal: in},
				pw, slog.New(slog.DiscardHandler))
			pw.Close()
		}()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "push ") {
				break
			}
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/startup")
		go io.Copy(io.Discard, pr)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}
