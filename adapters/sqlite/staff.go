package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"mypt"
)

// StaffUsers lists every staff user in email order (for `mypt staff list`).
func (s *Store) StaffUsers(ctx context.Context) ([]mypt.StaffUser, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+staffColumns+` FROM staff_user ORDER BY email`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: staff users: %w", err)
	}
	defer rows.Close()
	var out []mypt.StaffUser
	for rows.Next() {
		u, err := scanStaff(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: staff users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: staff users: %w", err)
	}
	return out, nil
}

// SetStaffDisabled disables (or enables again) the staff user with email. Disabling ends
// every staff session of theirs in the same transaction, so they are signed out at once.
// Both are audited as system actions. ErrNotFound if there is no such staff user.
func (s *Store) SetStaffDisabled(ctx context.Context, email string, disabled bool) error {
	addr := NormalizeEmail(email)
	action := "staff_enable"
	if disabled {
		action = "staff_disable"
	}
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `UPDATE staff_user SET disabled = ? WHERE email = ? RETURNING staff_id`,
			disabled, addr).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("staff user %s: %w", addr, mypt.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if disabled {
			if _, err := tx.ExecContext(ctx, `DELETE FROM staff_session WHERE staff_id = ?`, id); err != nil {
				return err
			}
		}
		return writeAuditTx(ctx, tx, s.now(), mypt.AuditEntry{Actor: "system", Action: action, Page: fmt.Sprintf("staff:%d", id), Detail: addr})
	})
	if err != nil {
		return fmt.Errorf("sqlite: set staff disabled: %w", err)
	}
	return nil
}
