package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"mypt/adapters/sqlite"
)

// runBackup implements `mypt backup FILE`: a consistent copy of the cache at
// dbPath written to FILE while the daemon keeps serving (SQLite VACUUM
// INTO). It refuses to overwrite FILE. args are the arguments after the
// global flags (--config has already picked dbPath).
func runBackup(ctx context.Context, dbPath string, args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] == "" {
		return errors.New("mypt backup: want exactly one argument, the file to write (e.g. mypt backup /var/lib/mypt/backups/mypt-20261203.db)")
	}
	dest := args[0]
	if err := sqlite.BackupFile(ctx, dbPath, dest); err != nil {
		return fmt.Errorf("mypt backup: %w", err)
	}
	fi, err := os.Stat(dest)
	if err != nil {
		return fmt.Errorf("mypt backup: %w", err)
	}
	fmt.Fprintf(stdout, "backup of %s written to %s (%d bytes)\n", dbPath, dest, fi.Size())
	return nil
}

// runRestore implements `mypt restore FILE`: replaces the cache at dbPath
// with the backup FILE. It refuses while mypt serve runs on dbPath, and
// refuses a FILE that is not an intact mypt cache or is from a newer mypt.
// The replaced cache is kept as dbPath + sqlite.PreviousSuffix.
func runRestore(ctx context.Context, dbPath string, args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] == "" {
		return errors.New("mypt restore: want exactly one argument, the backup file to restore")
	}
	src := args[0]
	_, statErr := os.Stat(dbPath)
	if err := sqlite.Restore(ctx, src, dbPath); err != nil {
		if errors.Is(err, sqlite.ErrCacheInUse) {
			return fmt.Errorf("mypt restore: %w; stop the service first (systemctl stop mypt, or mypt service stop)", err)
		}
		return fmt.Errorf("mypt restore: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s into %s\n", src, dbPath)
	if statErr == nil {
		fmt.Fprintf(stdout, "the replaced cache is kept as %s\n", dbPath+sqlite.PreviousSuffix)
	}
	return nil
}
