package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"mypt"
	"mypt/adapters/sqlite"
	"mypt/portal"
)

// runStaff is `mypt staff add --email E [--name N] [--password-stdin] [--reset] [--config FILE]`:
// it creates a staff user for the internal site. The password is read from stdin with
// --password-stdin (first line), otherwise generated and printed once.
func runStaff(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runStaffIO(ctx, args, os.Stdin, stdout, stderr)
}

func runStaffIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		fmt.Fprintln(stderr, "usage: mypt staff add --email E [--name N] [--password-stdin] [--reset] [--config FILE]")
		return exitCode(2)
	}
	fs := newFlags("staff add", stderr)
	email := fs.String("email", "", "the staff member's email address (their username)")
	name := fs.String("name", "", "the staff member's name, shown on the staff site")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	reset := fs.Bool("reset", false, "if the staff user exists, set a new password (and unlock it)")
	cfgFile := fs.String("config", "", "configuration file (default $MYPT_CONFIG)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	addr := strings.ToLower(strings.TrimSpace(*email))
	if addr == "" || !strings.Contains(addr, "@") || strings.ContainsAny(addr, " <>\r\n") {
		fmt.Fprintln(stderr, "mypt: staff add: --email must be an email address")
		return exitCode(2)
	}
	cfg, err := loadConfig(configPath(*cfgFile))
	if err != nil {
		return err
	}
	password, generated := "", false
	if *fromStdin {
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("staff add: read password: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
		policy := portal.DefaultPasswordPolicy()
		policy.MinScore = cfg.Accounts.WithDefaults().PasswordMinScore
		if msg := policy.Check(password, *name, addr); msg != "" {
			return fmt.Errorf("staff add: %s", msg)
		}
	} else {
		password, generated = generatedPassword(), true
	}
	a2 := cfg.Portal.WithDefaults().Argon2
	hash, err := portal.HashPassword(password, portal.Argon2Params{MemoryKiB: a2.MemoryKiB, Iterations: a2.Iterations,
		Parallelism: a2.Parallelism, SaltLen: 16, KeyLen: 32})
	if err != nil {
		return fmt.Errorf("staff add: %w", err)
	}
	store, err := sqlite.Open(ctx, cachePath(cfg), sqlite.Options{Unmarked: cfg.Attendance.Unmarked})
	if err != nil {
		return err
	}
	defer store.Close()
	_, err = store.CreateStaffUser(ctx, addr, strings.TrimSpace(*name), hash)
	switch {
	case errors.Is(err, mypt.ErrConflict) && *reset:
		if err := store.SetStaffPassword(ctx, addr, hash); err != nil {
			return fmt.Errorf("staff add: %w", err)
		}
		fmt.Fprintf(stdout, "staff user %s: password reset\n", addr)
	case errors.Is(err, mypt.ErrConflict):
		return fmt.Errorf("staff add: %s already exists (use --reset to set a new password)", addr)
	case err != nil:
		return fmt.Errorf("staff add: %w", err)
	default:
		fmt.Fprintf(stdout, "staff user %s added\n", addr)
	}
	if generated {
		fmt.Fprintf(stdout, "password %s\n", password)
	}
	return nil
}

// generatedPassword is 24 random characters that meet the seed's rule.
func generatedPassword() string {
	b := make([]byte, 18)
	rand.Read(b)
	return "Aa1" + base64.RawURLEncoding.EncodeToString(b)[:21]
}
