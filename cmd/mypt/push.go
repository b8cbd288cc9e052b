package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// pushUsage is shown for `mypt push -h` and after a usage error.
const pushUsage = `usage: mypt push FILE --url URL --token-file FILE [--timeout 10m] [--retries 3]

Sends an NDJSON batch (a header line, then one record per line) to a running mypt's push API,
POST /mis/v1/batches on its internal listener, and prints the result. FILE "-" reads stdin.
A batch is applied whole or not at all, and re-sending the same batch changes nothing, so a
failed or interrupted push is simply run again.
`

// runPush implements `mypt push FILE --url U --token-file F`: it streams FILE to the push API,
// prints the server's result (or each bad line, to stderr) and returns an error when the batch
// was not applied, so main exits non-zero.
func runPush(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, pushUsage)
		fs.PrintDefaults()
	}
	rawURL := fs.String("url", "", "the instance's internal address, e.g. http://127.0.0.1:9090 (or the full …/mis/v1/batches URL)")
	tokenFile := fs.String("token-file", "", "file holding the bearer token (one of push.tokens)")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up on one attempt after this long")
	retries := fs.Int("retries", 3, "attempts after a network error or a 500/502/503/504 answer")
	// Go's flag package stops at the first argument that is not a flag; FILE may come first.
	var files []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return fmt.Errorf("push: %w", err)
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		files, rest = append(files, rest[0]), rest[1:]
	}
	if len(files) != 1 {
		fs.Usage()
		return fmt.Errorf("push: give exactly one batch FILE, not %d", len(files))
	}
	if *rawURL == "" || *tokenFile == "" {
		fs.Usage()
		return errors.New("push: --url and --token-file are required")
	}
	endpoint, err := pushEndpoint(*rawURL)
	if err != nil {
		return err
	}
	token, err := readPushToken(*tokenFile)
	if err != nil {
		return err
	}
	file := files[0]
	attempts := max(1, *retries+1)
	if file == "-" {
		attempts = 1 // stdin cannot be read twice
	}
	client := &http.Client{Timeout: *timeout}
	var lastErr error
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			wait := time.Duration(1<<(attempt-2)) * time.Second
			// lastErr already starts "push: ".
			fmt.Fprintf(stderr, "%v; trying again in %s (attempt %d of %d)\n", lastErr, wait, attempt, attempts)
			select {
			case <-ctx.Done():
				return fmt.Errorf("push: %w", ctx.Err())
			case <-time.After(wait):
			}
		}
		var retry bool
		retry, lastErr = pushOnce(ctx, client, endpoint, token, file, stdout, stderr)
		if !retry {
			return lastErr
		}
	}
	return lastErr
}

// pushEndpoint accepts the instance's base URL or the full endpoint.
func pushEndpoint(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("push: --url %q is not an http(s) URL such as http://127.0.0.1:9090", raw)
	}
	if u.User != nil {
		return "", errors.New("push: --url must not carry a user or password; the token goes in --token-file")
	}
	if p := strings.TrimSuffix(u.Path, "/"); p == "" {
		u.Path = "/mis/v1/batches"
	}
	return u.String(), nil
}

// readPushToken reads the bearer token; the error names the file, never its contents.
func readPushToken(name string) (string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("push: read token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("push: token file %s is empty", name)
	}
	if strings.ContainsAny(t, "\r\n") {
		return "", fmt.Errorf("push: token file %s holds more than one line", name)
	}
	return t, nil
}

// pushReply is the server's JSON answer.
type pushReply struct {
	Batch     string `json:"batch"`
	Result    string `json:"result"`
	Upserted  int    `json:"upserted"`
	Unchanged int    `json:"unchanged"`
	Deleted   int    `json:"deleted"`
	Students  int    `json:"students"`
	Error     string `json:"error"`
	Lines     []struct {
		Line   int    `json:"line"`
		Entity string `json:"entity"`
		Key    string `json:"key"`
		Reason string `json:"reason"`
	} `json:"lines"`
	More int `json:"more_bad_lines"`
}

// pushOnce sends the file once. retry reports whether another attempt may succeed.
func pushOnce(ctx context.Context, client *http.Client, endpoint, token, file string, stdout, stderr io.Writer) (retry bool, err error) {
	var body io.Reader
	size := int64(-1)
	if file == "-" {
		body = os.Stdin
	} else {
		f, err := os.Open(file)
		if err != nil {
			return false, fmt.Errorf("push: %w", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
		body = f
	}
	// The header line gives the batch id for the Idempotency-Key header; the file is streamed
	// from there, not read into memory.
	br := bufio.NewReaderSize(body, 64<<10)
	first, _ := br.Peek(64 << 10)
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	var header struct {
		Batch string `json:"batch"`
	}
	json.Unmarshal(bytes.TrimPrefix(first, []byte("\xef\xbb\xbf")), &header)

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, br)
	if err != nil {
		return false, fmt.Errorf("push: %w", err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+token)
	if header.Batch != "" {
		req.Header.Set("Idempotency-Key", header.Batch)
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("push: %w", ctx.Err())
		}
		// Applying is idempotent, so a batch whose answer was lost is safe to send again.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return true, fmt.Errorf("push: send to %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	var r pushReply
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if jerr := json.Unmarshal(raw, &r); jerr != nil {
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			// Not the push API at all: most likely the public listener's page.
			return false, fmt.Errorf("push: the server answered %d: is --url the internal listener's /mis/v1/batches? (sent to %s)", resp.StatusCode, endpoint)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			r.Error = strings.TrimSpace(string(raw))
			if len(r.Error) > 300 {
				r.Error = r.Error[:300] + "…"
			}
		}
	}
	switch {
	case resp.StatusCode == http.StatusOK && r.Result == "duplicate":
		fmt.Fprintf(stdout, "batch %s was already applied: nothing changed\n", r.Batch)
		return false, nil
	case resp.StatusCode == http.StatusOK:
		fmt.Fprintf(stdout, "batch %s applied: %d upserted, %d unchanged, %d deleted; %d student(s) changed\n",
			r.Batch, r.Upserted, r.Unchanged, r.Deleted, r.Students)
		return false, nil
	case resp.StatusCode == http.StatusBadRequest && len(r.Lines) > 0:
		for _, l := range r.Lines {
			where := fmt.Sprintf("line %d", l.Line)
			if l.Entity != "" && l.Key != "" {
				where += fmt.Sprintf(" (%s %s)", l.Entity, l.Key)
			}
			fmt.Fprintf(stderr, "%s: %s: %s\n", file, where, l.Reason)
		}
		if r.More > 0 {
			fmt.Fprintf(stderr, "%s: and %d more bad line(s)\n", file, r.More)
		}
		return false, fmt.Errorf("push: batch not applied: %d bad line(s) in %s", len(r.Lines)+r.More, file)
	}
	msg := r.Error
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	err = fmt.Errorf("push: batch not applied: %s: %s", resp.Status, msg)
	switch resp.StatusCode {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true, err
	}
	return false, err
}
