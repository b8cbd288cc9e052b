package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"mypt/adapters/sqlite"
)

// runRestore implements `mypt restore FILE [--config FILE]`: it replaces the cache in the
// configured data directory with the backup FILE (written by `mypt backup`). It refuses while
// `mypt serve` runs on that directory (the daemon holds sqlite.AcquireLock), and refuses a FILE
// that is not an intact mypt cache or comes from a newer mypt. The replaced cache is kept
// beside it with sqlite.PreviousSuffix.
func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("restore", stderr)
	cfgFile := fs.String("config", "", "configuration file (default $MYPT_CONFIG)")
	if err := parseFlags(fs, interleaved(fs, args)); err != nil {
		return err
	}
	if fs.NArg() != 1 || fs.Arg(0) == "" {
		fmt.Fprintln(stderr, "usage: mypt restore FILE [--config FILE]   (stop mypt first)")
		return exitCode(2)
	}
	cfg, err := loadConfig(configPath(*cfgFile))
	if err != nil {
		return err
	}
	return restoreCache(ctx, fs.Arg(0), cachePath(cfg), stdout)
}

// restoreCache puts the backup src in place of the cache at dbPath and says what it did.
func restoreCache(ctx context.Context, src, dbPath string, stdout io.Writer) error {
	kept, err := sqlite.Restore(ctx, src, dbPath)
	if err != nil {
		if errors.Is(err, sqlite.ErrCacheInUse) {
			return fmt.Errorf("restore: %w: systemctl stop mypt, or mypt service stop on Windows", err)
		}
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s into %s\n", src, dbPath)
	if kept != "" {
		fmt.Fprintf(stdout, "the replaced cache is kept as %s\n", kept)
	}
	return nil
}
