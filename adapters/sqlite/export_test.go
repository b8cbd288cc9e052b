package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// MigrateThrough creates the cache at path with the migrations numbered up to last only, as an
// older mypt left it (for tests of a later migration on existing rows).
func MigrateThrough(ctx context.Context, path string, last int) error {
	db, err := sql.Open("sqlite", dsn(path, "immediate", false))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return err
	}
	ms, err := migrations()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.version > last {
			break
		}
		if _, err := db.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, ?, '2026-01-01T00:00:00Z')`, m.version, m.name); err != nil {
			return err
		}
	}
	return nil
}
