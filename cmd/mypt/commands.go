package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

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
	store, err := sqlite.Open(ctx, cachePath(cfg), storeOptions(cfg, nil))
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
	if path == "" && !config.HasEnv(os.Environ()) {
		fmt.Fprintln(stderr, errNoConfig)
		return exitCode(1)
	}
	cfg, err := config.LoadChecked(path, os.Environ())
	var problems []string
	var le *config.LoadError
	switch {
	case errors.As(err, &le):
		problems = le.Problems
	case err != nil:
		problems = []string{err.Error()}
	}
	// Problems, warnings and the verdict all go to stderr, stdout only carries --print.
	for _, p := range problems {
		fmt.Fprintln(stderr, p)
	}
	if err == nil {
		for _, w := range cfg.Warnings() {
			fmt.Fprintln(stderr, "warning: "+w)
		}
	}
	if *print && err == nil {
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

// runBackupCmd is `mypt backup FILE [--config FILE]`: a consistent copy of the configured
// cache (VACUUM INTO, through the ops area's sqlite.BackupFile) while mypt keeps serving; it
// refuses to overwrite FILE.
func runBackupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return withCachePath(ctx, "backup", args, stdout, stderr, func(ctx context.Context, dbPath string, args []string, stdout io.Writer) error {
		dest := args[0]
		if err := sqlite.BackupFile(ctx, dbPath, dest); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		fi, err := os.Stat(dest)
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		fmt.Fprintf(stdout, "backup of %s written to %s (%d bytes)\n", dbPath, dest, fi.Size())
		return nil
	})
}

func withCachePath(ctx context.Context, name string, args []string, stdout, stderr io.Writer,
	fn func(ctx context.Context, dbPath string, args []string, stdout io.Writer) error) error {
	fs := newFlags(name, stderr)
	cfgFile := fs.String("config", "", "configuration file (default $MYPT_CONFIG)")
	if err := parseFlags(fs, interleaved(fs, args)); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "usage: mypt %s FILE [--config FILE]\n", name)
		return exitCode(2)
	}
	cfg, err := loadConfig(configPath(*cfgFile))
	if err != nil {
		return err
	}
	return fn(ctx, cachePath(cfg), fs.Args(), stdout)
}
