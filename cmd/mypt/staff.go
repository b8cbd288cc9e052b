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
	"text/tabwriter"

	"mypt"
	"mypt/adapters/sqlite"
	"mypt/portal"
)

const staffUsage = `usage: mypt staff add --email E [--name N] [--password-stdin] [--reset] [--config FILE]
       mypt staff list [--config FILE]
       mypt staff disable --email E [--config FILE]
       mypt staff enable --email E [--config FILE]`

// runStaff is `mypt staff add|list|disable|enable`. add creates a staff user for the internal
// site (with --reset, sets a new password for an existing one and unlocks it); the password is
// read from stdin with --password-stdin (first line), otherwise generated and printed once.
// list shows every staff user and its state; disable stops one signing in and ends its
// sessions at once; enable lets it sign in again.
func runStaff(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runStaffIO(ctx, args, os.Stdin, stdout, stderr)
}

func runStaffIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, staffUsage)
		return exitCode(2)
	}
	switch args[0] {
	case "add":
		return runStaffAdd(ctx, args, stdin, stdout, stderr)
	case "list":
		return runStaffList(ctx, args, stdout, stderr)
	case "disable", "enable":
		return runStaffDisable(ctx, args, stdout, stderr)
	}
	fmt.Fprintln(stderr, staffUsage)
	return exitCode(2)
}

// staffEmail is the --email value lower-cased, or an error naming the subcommand.
func staffEmail(cmd, email string, stderr io.Writer) (string, error) {
	addr := strings.ToLower(strings.TrimSpace(email))
	if addr == "" || !strings.Contains(addr, "@") || strings.ContainsAny(addr, " <>\r\n") {
		fmt.Fprintf(stderr, "mypt: staff %s: --email must be an email address\n", cmd)
		return "", exitCode(2)
	}
	return addr, nil
}

func openStaffStore(ctx context.Context, cfgFile string) (*sqlite.Store, error) {
	cfg, err := loadConfig(configPath(cfgFile))
	if err != nil {
		return nil, err
	}
	return sqlite.Open(ctx, cachePath(cfg), sqlite.Options{Unmarked: cfg.Attendance.Unmarked})
}

func runStaffList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("staff list", stderr)
	cfgFile := fs.String("config", "", "configuration file (default $MYPT_CONFIG)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	store, err := openStaffStore(ctx, *cfgFile)
	if err != nil {
		return err
	}
	defer store.Close()
	users, err := store.StaffUsers(ctx)
	if err != nil {
		return fmt.Errorf("staff list: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tNAME\tSTATE\tLAST SIGN-IN (UTC)")
	for _, u := range users {
		state := "active"
		switch {
		case u.Disabled:
			state = "disabled"
		case !u.LockedAt.IsZero():
			state = "locked"
		}
		last := "never"
		if !u.LastLoginAt.IsZero() {
			last = u.LastLoginAt.UTC().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Email, u.Name, state, last)
	}
	return tw.Flush()
}

func runStaffDisable(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := args[0]
	fs := newFlags("staff "+cmd, stderr)
	email := fs.String("email", "", "the staff member's email address")
	cfgFile := fs.String("config", "", "configuration file (default $MYPT_CONFIG)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	addr, err := staffEmail(cmd, *email, stderr)
	if err != nil {
		return err
	}
	store, err := openStaffStore(ctx, *cfgFile)
	if err != nil {
		return err
	}
	defer store.Close()
	err = store.SetStaffDisabled(ctx, addr, cmd == "disable")
	if errors.Is(err, mypt.ErrNotFound) {
		return fmt.Errorf("staff %s: no staff user %s (see mypt staff list)", cmd, addr)
	}
	if err != nil {
		return fmt.Errorf("staff %s: %w", cmd, err)
	}
	if cmd == "disable" {
		fmt.Fprintf(stdout, "staff user %s disabled; their staff sessions have ended\n", addr)
	} else {
		fmt.Fprintf(stdout, "staff user %s enabled\n", addr)
	}
	return nil
}

func runStaffAdd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("staff add", stderr)
	email := fs.String("email", "", "the staff member's email address (their username)")
	name := fs.String("name", "", "the staff member's name, shown on the staff site")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	reset := fs.Bool("reset", false, "if the staff user exists, set a new password (and unlock it)")
	cfgFile := fs.String("config", "", "configuration file (default $MYPT_CONFIG)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	addr, err := staffEmail("add", *email, stderr)
	if err != nil {
		return err
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
