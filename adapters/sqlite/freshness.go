package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// LastAppliedAt returns when the cache last applied data from any source (a push batch or a
// pull pass), from entity_freshness; the zero time when it never has.
func (s *Store) LastAppliedAt(ctx context.Context) (time.Time, error) {
	var last sql.NullString
	if err := s.ReadDB().QueryRowContext(ctx, `SELECT MAX(applied_at) FROM entity_freshness`).Scan(&last); err != nil {
		return time.Time{}, fmt.Errorf("sqlite: last applied batch: %w", err)
	}
	if !last.Valid || last.String == "" {
		return time.Time{}, nil
	}
	t, err := ParseTime(last.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("sqlite: last applied batch: %w", err)
	}
	return t, nil
}
