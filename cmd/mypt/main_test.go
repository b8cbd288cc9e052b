package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mypt/config"
)

func runCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mypt.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVersionAndUsage(t *testing.T) {
	out, _, err := runCmd(t, "version")
	if err != nil || !strings.HasPrefix(out, "mypt ") {
		t.Errorf("version = %q, %v", out, err)
	}
	_, errOut, err := runCmd(t, "frobnicate")
	var ec exitCode
	if !errors.As(err, &ec) || ec != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %v %q", err, errOut)
	}
}

func TestConfigCheck(t *testing.T) {
	good := writeConfig(t, "data: {dir: "+t.TempDir()+"}\ncollege: {name: Croydon College, public_base_url: \"https://parents.example.ac.uk\"}\n")
	if out, errOut, err := runCmd(t, "config", "check", "--config", good); err != nil {
		t.Errorf("good config: %v %s", err, errOut)
	} else {
		// Runs, but leaves things undone: warnings (on stderr, with the verdict), not problems.
		for _, want := range []string{"warning: mail.transport: " + config.WarnNoMailTransport, "warning: mis, push: " + config.WarnNoDataSource,
			"warning: college.support_email: " + config.WarnNoSupportEmail, "is valid"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("config check stderr lacks %q:\n%s", want, errOut)
			}
		}
		if out != "" {
			t.Errorf("config check without --print wrote to stdout: %q", out)
		}
	}
	bad := writeConfig(t, "public:\n  pubic: 1\nlog:\n  level: loud\n")
	out, errOut, err := runCmd(t, "config", "check", "--config", bad)
	var ec exitCode
	if !errors.As(err, &ec) || ec != 1 || !strings.Contains(errOut, `mypt.yaml:2: public.pubic: unknown key`) || out != "" {
		t.Errorf("bad config: %v\nstdout %q\nstderr %s", err, out, errOut)
	}
	// The problems and their count are on the same stream, each "file:line: key: message".
	if !strings.Contains(errOut, "mypt.yaml:4: log.level: \"loud\" must be") || !strings.Contains(errOut, "4 problem(s) in the configuration") {
		t.Errorf("bad config stderr:\n%s", errOut)
	}
	invalid := writeConfig(t, "log:\n  level: loud\npublic: {addr: nonsense}\n")
	_, out, err = runCmd(t, "config", "check", "--config", invalid)
	if !errors.As(err, &ec) || ec != 1 {
		t.Fatalf("invalid config passed: %s", out)
	}
	for _, want := range []string{"log.level:", "public.addr:", "college.name:", "college.public_base_url:"} {
		if !strings.Contains(out, want) {
			t.Errorf("config check output lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCmd(t, "config", "check", "--config", good, "--print")
	if err != nil || !strings.Contains(out, "name: Croydon College") {
		t.Errorf("--print: %v\n%s", err, out)
	}
}

// Typos do not hide the other problems: config check prints them all in one run.
func TestConfigCheckPrintsEveryProblemAtOnce(t *testing.T) {
	cfg := writeConfig(t, `data: {dir: `+t.TempDir()+`}
college: {name: Croydon College, public_base_ulr: "https://parents.example.ac.uk"}
mis: {dsn: "sqlserver://mypt_reader@mis.example.ac.uk?database=ProSolution", pasword_file: /etc/mypt/mis-password}
public: {addr: notaport}
`)
	errOut, out, err := runCmd(t, "config", "check", "--config", cfg)
	var ec exitCode
	if !errors.As(err, &ec) || ec != 1 {
		t.Fatalf("config check passed: %v %s", err, out)
	}
	for _, want := range []string{`college.public_base_ulr: unknown key`, `mis.pasword_file: unknown key`, `public.addr: "notaport" is not host:port`} {
		if !strings.Contains(out, want) {
			t.Errorf("config check output lacks %q:\n%s%s", want, out, errOut)
		}
	}
}

func TestConfigCheckPrintRedactsSecrets(t *testing.T) {
	var secret *config.Key
	for _, k := range config.Keys() {
		if k.Type == "secret" {
			secret = &k
			break
		}
	}
	if secret == nil {
		t.Skip("no secret key in the configuration yet")
	}
	t.Setenv(secret.Env, "hunter2-do-not-print")
	good := writeConfig(t, "data: {dir: "+t.TempDir()+"}\ncollege: {name: X, public_base_url: \"https://x.example\"}\n")
	out, errOut, _ := runCmd(t, "config", "check", "--config", good, "--print")
	if strings.Contains(out+errOut, "hunter2") {
		t.Errorf("secret printed:\n%s", out)
	}
}

// serve warns at start-up about what its configuration leaves undone.
func TestServeWarnsAboutMissingSourceAndMail(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte("data: {dir: "+t.TempDir()+"}\ncollege: {name: Croydon College, public_base_url: \"https://parents.example.ac.uk\"}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	a, err := newApp(context.Background(), appOptions{Public: loopback(t), Internal: loopback(t), Config: cfg, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	a.shutdown(context.Background())
	for _, want := range []string{config.WarnNoDataSource, config.WarnNoMailTransport, config.WarnNoSupportEmail} {
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), want) {
			t.Errorf("start-up log lacks a WARN %q:\n%s", want, logs.String())
		}
	}
}

func TestServeNeedsConfig(t *testing.T) {
	t.Setenv("MYPT_CONFIG", "")
	for _, k := range os.Environ() {
		if name, _, _ := strings.Cut(k, "="); strings.HasPrefix(name, "MYPT_") && !strings.HasPrefix(name, "MYPT_TEST_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	for _, args := range [][]string{{"serve"}, {"migrate"}, {"sync", "--once"}, {"backup", filepath.Join(t.TempDir(), "b.db")}, {"config", "check"}} {
		_, errOut, err := runCmd(t, args...)
		if msg := fmt.Sprint(err) + errOut; err == nil || !strings.Contains(msg, "no configuration file given (--config FILE or MYPT_CONFIG)") || strings.Contains(msg, "college.name") {
			t.Errorf("%s without config: %v %s", args[0], err, errOut)
		}
	}
	// The environment alone may configure a command.
	t.Setenv("MYPT_COLLEGE_NAME", "Croydon College")
	if _, errOut, _ := runCmd(t, "config", "check"); strings.Contains(errOut, "no configuration file given") || !strings.Contains(errOut, "college.public_base_url: is required") {
		t.Errorf("config check on the environment alone: %s", errOut)
	}
}

// TestServeShutsDownGracefully starts serve on a three-line config, holds a request open
// across the shutdown, and checks the request completes and the cache is closed.
func TestServeShutsDownGracefully(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse("test.yaml", []byte("data: {dir: "+dir+"}\ncollege: {name: Croydon College, public_base_url: \"https://parents.example.ac.uk\"}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	pub, _ := net.Listen("tcp", "127.0.0.1:0")
	in, _ := net.Listen("tcp", "127.0.0.1:0")
	release := make(chan struct{})
	entered := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := newApp(ctx, appOptions{Config: cfg, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)), Public: pub, Internal: in, Push: slow})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.run(ctx) }()

	resp, err := http.Get("http://" + in.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	got := make(chan string, 1)
	go func() {
		resp, err := http.Post("http://"+in.Addr().String()+"/mis/v1/batches", "application/x-ndjson", strings.NewReader("{}"))
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-entered
	cancel()
	// New connections are refused once shutdown has begun.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", pub.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	if body := <-got; body != "finished" {
		t.Errorf("in-flight request got %q", body)
	}
	if err := <-done; err != nil {
		t.Errorf("run = %v", err)
	}
	if err := a.store.ReadDB().Ping(); err == nil {
		t.Error("cache still open after shutdown")
	}
}

func TestBackupAndMigrate(t *testing.T) {
	dir := t.TempDir()
	cfgFile := writeConfig(t, "data: {dir: "+dir+"}\ncollege: {name: X, public_base_url: \"https://x.example\"}\n")
	out, errOut, err := runCmd(t, "migrate", "--config", cfgFile)
	if err != nil || !strings.Contains(out, "schema version") {
		t.Fatalf("migrate: %v %s %s", err, out, errOut)
	}
	dest := filepath.Join(t.TempDir(), "backup.db")
	out, errOut, err = runCmd(t, "backup", dest, "--config", cfgFile)
	if err != nil || !strings.Contains(out, "written to") {
		t.Fatalf("backup: %v %s %s", err, out, errOut)
	}
	if _, _, err := runCmd(t, "backup", dest, "--config", cfgFile); err == nil {
		t.Error("backup overwrote an existing file")
	}
}

// TestShutdownIsBoundedByAStuckWorker: a worker that ignores its context cannot hold the
// process past the shutdown bound.
func TestShutdownIsBoundedByAStuckWorker(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse("test.yaml", []byte("data: {dir: "+dir+"}\ncollege: {name: X, public_base_url: \"https://x.example\"}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := net.Listen("tcp", "127.0.0.1:0")
	in, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, appOptions{Config: cfg, Public: pub, Internal: in})
	if err != nil {
		t.Fatal(err)
	}
	a.shutdownTimeout = 300 * time.Millisecond
	release := make(chan struct{})
	defer close(release)
	a.workers = append(a.workers, worker{name: "stuck", run: func(context.Context) error { <-release; return nil }})
	done := make(chan error, 1)
	go func() { done <- a.run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "workers still running") {
			t.Errorf("run = %v, want the stuck worker reported", err)
		}
	case <-time.After(ShutdownTimeout + 10*time.Second):
		t.Fatal("run did not return within the shutdown bound")
	}
}

func TestTakeFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		v    string
		rest string
	}{
		{[]string{"--once", "--config", "a.yaml", "--full"}, "a.yaml", "--once --full"},
		{[]string{"-config=b.yaml", "--entity", "student"}, "b.yaml", "--entity student"},
		{[]string{"--once"}, "", "--once"},
	} {
		v, rest := takeFlag(tc.args, "config")
		if v != tc.v || strings.Join(rest, " ") != tc.rest {
			t.Errorf("takeFlag(%q) = %q, %q", tc.args, v, rest)
		}
	}
}

func TestSyncNeedsValidConfig(t *testing.T) {
	bad := writeConfig(t, "mis: {enabld: true}\n")
	_, _, err := runCmd(t, "sync", "--once", "--config", bad)
	if err == nil || !strings.Contains(err.Error(), `mis.enabld: unknown key`) {
		t.Errorf("sync with a bad config: %v", err)
	}
}

// The README's three-line config is true: it validates, turns the pull syncer on, and the
// password from password_file reaches the connection.
func TestREADMEConfigMirrorsTheMIS(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "A three-line config runs")
	_, rest, ok2 := strings.Cut(rest, "```yaml\n")
	block, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README has no three-line config example")
	}
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "mis-password")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	block = strings.ReplaceAll(block, "/var/lib/mypt", filepath.Join(dir, "data"))
	block = strings.ReplaceAll(block, "/etc/mypt/mis-password", pwFile)
	cfg, err := config.LoadChecked(writeConfig(t, block), nil)
	if err != nil {
		t.Fatalf("README config: %v\n%s", err, block)
	}
	if !cfg.MIS.Enabled {
		t.Error("README config does not turn the pull syncer on")
	}
	dsn, err := misConfiguredDSN(cfg.MIS)
	if err != nil || !strings.Contains(dsn, ":s3cret@") {
		t.Errorf("README config's connection lacks the password file's password (%v)", err)
	}
}
