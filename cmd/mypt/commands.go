package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"mypt/adapters/sqlite"
	"mypt/config"
)

// runMigrate brings the cache's schema up to date and reports the version.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", stderr)
	cfgFile := fs.String("config", "", "configuration file (default $MYPT_CONFIG)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(configPath(*cfgFile))
	if err != nil {
		return err
	}
	store, err := sqlite.Open(ctx, cachePath(cfg), sqlite.Options{Unmarked: cfg.Attendance.Unmarked})
	if err != nil {
		return err
	}
	defer store.Close()
	v, err := store.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cache %s is at schema version %d\n", store.Path(), v)
	return nil
}

// runConfigCheck loads and validates the configuration and prints every problem (exit 1 if
// any); --print writes the effective configuration with secrets redacted.
func runConfigCheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("config check", stderr)
	cfgFile := fs.String("config", "", "configuration file (default $MYPT_CONFIG)")
	print := fs.Bool("print", false, "print the effective configuration (secrets shown as <secret>)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	path := configPath(*cfgFile)
	cfg, err := config.Load(path, os.Environ())
	var problems []string
	var le *config.LoadError
	switch {
	case errors.As(err, &le):
		problems = le.Problems
	case err != nil:
		problems = []string{err.Error()}
	default:
		var ve *config.ValidationError
		if err := cfg.Validate(); errors.As(err, &ve) {
			problems = ve.Problems
		} else if err != nil {
			problems = []string{err.Error()}
		}
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	if *print && le == nil && err == nil {
		b, err := yaml.Marshal(cfg)
		if err != nil {
			return fmt.Errorf("config check: print: %w", err)
		}
		stdout.Write(b)
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "%d problem(s) in the configuration\n", len(problems))
		return exitCode(1)
	}
	name := path
	if name == "" {
		name = "(no file: defaults and environment)"
	}
	fmt.Fprintf(stderr, "configuration %s is valid\n", name)
	return nil
}

// runBackup writes a consistent copy of the cache to FILE while mypt may be running.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("backup", stderr)
	cfgFile := fs.String("config", "", "configuration file (default $MYPT_CONFIG)")
	if err := parseFlags(fs, interleaved(fs, args)); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: mypt backup FILE [--config FILE]")
		return exitCode(2)
	}
	dest := fs.Arg(0)
	cfg, err := loadConfig(configPath(*cfgFile))
	if err != nil {
		return err
	}
	store, err := sqlite.Open(ctx, cachePath(cfg), sqlite.Options{Unmarked: cfg.Attendance.Unmarked})
	if err != nil {
		return err
	}
	defer store.Close()
	if err := backupCache(ctx, store, dest); err != nil {
		return err
	}
	st, err := os.Stat(dest)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backed up %s to %s (%d bytes)\n", store.Path(), dest, st.Size())
	return nil
}

// backupCache is VACUUM INTO a new file: a consistent snapshot taken inside one read
// transaction, so a running mypt keeps serving. It refuses to overwrite an existing file.
// (The ops area's sqlite.BackupFile replaces this when merged.)
func backupCache(ctx context.Context, store *sqlite.Store, dest string) error {
	abs, err := filepath.Abs(dest)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Stat(abs); err == nil {
		return fmt.Errorf("backup: %s already exists; choose a new file name", abs)
	}
	if _, err := store.WriteDB().ExecContext(ctx, `VACUUM INTO ?`, abs); err != nil {
		return fmt.Errorf("backup: vacuum into %s: %w", abs, err)
	}
	return nil
}
