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
			AsOf: mypt.NewDate(2026, time.December, 3), BatchRows: 500, Public: pub, Internal: in,
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
		t.Fatalf("demo printed %q and stopped: %v", lines, <-done)
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

// login signs in through the form and returns the home page it lands on.
func login(t *testing.T, c *http.Client, base, email, password string) string {
	t.Helper()
	form := get(t, c, base+"/login")
	m := csrfRE.FindStringSubmatch(form)
	if m == nil {
		t.Fatalf("no csrf_token on the login page:\n%s", form)
	}
	vals := url.Values{"email": {email}, "password": {password}, "csrf_token": {m[1]}, "next": {"/"}}
	req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" {
		t.Fatalf("sign-in ended at %s with %s:\n%s", resp.Request.URL, resp.Status, b)
	}
	return string(b)
}
