package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrSchemaTooNew means the cache was written by a newer mypt; this binary must not touch it.
var ErrSchemaTooNew = errors.New("sqlite: cache schema is newer than this binary")

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var ms []migration
	seen := map[int]string{}
	for _, n := range names {
		base := strings.TrimPrefix(n, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlite: migration %s: name must start with a number and '_'", base)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("sqlite: migrations %s and %s share number %d", prev, base, v)
		}
		seen[v] = base
		b, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{v, base, string(b)})
	}
	return ms, nil
}

// LatestSchema is the newest schema version this binary knows.
func LatestSchema() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// SchemaVersion returns the newest migration applied to the cache.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := s.write.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("sqlite: read schema version: %w", err)
	}
	return int(v.Int64), nil
}

// migrate applies every embedded migration not yet recorded, each in its own transaction.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations in %s: %w", s.path, err)
	}
	applied := map[int]bool{}
	rows, err := s.write.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("sqlite: read schema_migrations: %w", err)
	}
	maxApplied := 0
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		applied[v] = true
		maxApplied = max(maxApplied, v)
	}
	rows.Close()
	if latest := ms[len(ms)-1].version; maxApplied > latest {
		return fmt.Errorf("%w: cache %s is at version %d, this binary knows up to %d; upgrade mypt or restore a backup",
			ErrSchemaTooNew, s.path, maxApplied, latest)
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		err := s.WithTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, FormatTime(s.now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: apply migration %s: %w", m.name, err)
		}
	}
	return nil
}
