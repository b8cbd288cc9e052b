package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"mypt"
)

// EnqueueEmailTx queues m inside the caller's write transaction, so the email commits (or rolls
// back) with the change that causes it. It returns the row id. If an email with the same
// EventKey is already queued (or sent) nothing is inserted and that row's id is returned: one
// event never mails twice. It returns an error wrapping mypt.ErrInvalid for a bad message.
//
// m.Secret (the raw one-time token in the email's link) is kept only until the email is sent,
// given up or its SecretExpiresAt passes: the transaction recording that scrubs it from the row.
func (s *Store) EnqueueEmailTx(ctx context.Context, tx *sql.Tx, m mypt.OutboxMessage) (int64, error) {
	if err := m.Validate(); err != nil {
		key := m.EventKey
		if m.Secret != "" && strings.Contains(key, m.Secret[:min(len(m.Secret), 8)]) {
			key = "(a key holding the one-time token)" // errors are logged: never the token
		}
		return 0, fmt.Errorf("sqlite: enqueue email %q: %w", key, err)
	}
	var tok [8]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return 0, fmt.Errorf("sqlite: enqueue email %q: %w", m.EventKey, err)
	}
	token := hex.EncodeToString(tok[:])
	now := FormatTime(s.now())
	var id int64
	err := tx.QueryRowContext(ctx, `
		INSERT INTO outbox (message_id, event_key, recipient, recipient_name, subject, text, html,
		                    created_at, next_attempt_at, secret, secret_expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_key) DO NOTHING
		RETURNING id`,
		"pending."+token, m.EventKey, m.ToEmail, m.ToName, m.Subject, m.Text, m.HTML, now, now,
		nullString(m.Secret), nullTime(m.SecretExpiresAt)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRowContext(ctx, `SELECT id FROM outbox WHERE event_key = ?`, m.EventKey).Scan(&id)
		if err != nil {
			return 0, fmt.Errorf("sqlite: enqueue email %q: find queued copy: %w", m.EventKey, err)
		}
		return id, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: enqueue email %q: %w", m.EventKey, err)
	}
	// The Message-ID carries the row id (readable in logs) and the random token (unique even if
	// the cache is rebuilt and ids start again).
	if _, err := tx.ExecContext(ctx, `UPDATE outbox SET message_id = ? WHERE id = ?`,
		fmt.Sprintf("mypt.%d.%s", id, token), id); err != nil {
		return 0, fmt.Errorf("sqlite: enqueue email %q: set message id: %w", m.EventKey, err)
	}
	return id, nil
}

// EnqueueEmail queues m in a transaction of its own (for emails no state change goes with).
func (s *Store) EnqueueEmail(ctx context.Context, m mypt.OutboxMessage) (int64, error) {
	var id int64
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		var err error
		id, err = s.EnqueueEmailTx(ctx, tx, m)
		return err
	})
	return id, err
}

const outboxColumns = `id, message_id, event_key, recipient, recipient_name, subject, text, html,
	created_at, attempts, next_attempt_at, sent_at, failed_at, last_error, transport, secret, secret_expires_at`

func scanOutbox(sc interface{ Scan(...any) error }) (mypt.OutboxMessage, error) {
	var m mypt.OutboxMessage
	var created string
	var next, sent, failed, secret, secretExp sql.NullString
	if err := sc.Scan(&m.ID, &m.MessageID, &m.EventKey, &m.ToEmail, &m.ToName, &m.Subject, &m.Text, &m.HTML,
		&created, &m.Attempts, &next, &sent, &failed, &m.LastError, &m.Transport, &secret, &secretExp); err != nil {
		return m, err
	}
	m.Secret = secret.String
	var err error
	if m.CreatedAt, err = ParseTime(created); err != nil {
		return m, err
	}
	for _, f := range []struct {
		src sql.NullString
		dst *time.Time
	}{{next, &m.NextAttemptAt}, {sent, &m.SentAt}, {failed, &m.FailedAt}, {secretExp, &m.SecretExpiresAt}} {
		if f.src.Valid {
			if *f.dst, err = ParseTime(f.src.String); err != nil {
				return m, err
			}
		}
	}
	return m, nil
}

// hideSecret is m as the staff-facing reads return it: the links of a pending email's one-time
// token hidden (a sent email's are already gone from the row), and the token itself left out.
func hideSecret(m mypt.OutboxMessage) mypt.OutboxMessage {
	m.Text = mypt.ScrubSecret(m.Text, m.Secret, mypt.SecretHiddenPlaceholder)
	m.HTML = mypt.ScrubSecret(m.HTML, m.Secret, mypt.SecretHiddenPlaceholder)
	m.Secret = ""
	return m
}

// scrubSecretTx replaces the one-time links of email id with mypt.SecretPlaceholder and forgets
// its token, inside the transaction that records the email done with (sent, given up, expired).
func scrubSecretTx(ctx context.Context, tx *sql.Tx, id int64) error {
	var text, html string
	var secret sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT text, html, secret FROM outbox WHERE id = ?`, id).Scan(&text, &html, &secret)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("scrub one-time link: %w", err)
	}
	if !secret.Valid {
		return nil
	}
	// secure_delete zeroes the old bytes of the row (in its page and in freed overflow pages)
	// instead of leaving them in the file; only for this statement, on this connection.
	var was int
	if err := tx.QueryRowContext(ctx, `PRAGMA secure_delete`).Scan(&was); err != nil {
		return fmt.Errorf("scrub one-time link: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `PRAGMA secure_delete = 1`); err != nil {
		return fmt.Errorf("scrub one-time link: %w", err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE outbox SET text = ?, html = ?, secret = NULL, secret_expires_at = NULL WHERE id = ?`,
		mypt.ScrubSecret(text, secret.String, mypt.SecretPlaceholder), mypt.ScrubSecret(html, secret.String, mypt.SecretPlaceholder), id)
	if _, perr := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA secure_delete = %d`, was)); err == nil && perr != nil {
		err = perr
	}
	if err != nil {
		return fmt.Errorf("scrub one-time link: %w", err)
	}
	return nil
}

// expireSecretsTx gives up every pending email whose one-time link has expired (sending it
// would deliver a dead link) and scrubs it.
func expireSecretsTx(ctx context.Context, tx *sql.Tx, now time.Time) error {
	rows, err := tx.QueryContext(ctx, `
		UPDATE outbox SET failed_at = ?, next_attempt_at = NULL, last_error = 'the one-time link expired before the email could be sent'
		WHERE sent_at IS NULL AND failed_at IS NULL AND secret_expires_at IS NOT NULL AND secret_expires_at <= ?
		RETURNING id`, FormatTime(now), FormatTime(now))
	if err != nil {
		return fmt.Errorf("expire one-time links: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("expire one-time links: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("expire one-time links: %w", err)
	}
	for _, id := range ids {
		if err := scrubSecretTx(ctx, tx, id); err != nil {
			return err
		}
	}
	return nil
}

// ClaimDueEmails returns up to limit pending emails due at now, oldest due first, and pushes
// their next attempt to now+lease and counts the attempt, in one transaction. An email whose
// sender dies before marking it is therefore due again after the lease (at-least-once).
// These are the only reads that return a pending email's one-time links (delivery needs
// them); an email whose link has expired is given up and scrubbed instead of claimed.
func (s *Store) ClaimDueEmails(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]mypt.OutboxMessage, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []mypt.OutboxMessage
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		if err := expireSecretsTx(ctx, tx, now); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `
			UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?
			WHERE id IN (
				SELECT id FROM outbox
				WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?
				ORDER BY next_attempt_at, id LIMIT ?)
			RETURNING `+outboxColumns,
			FormatTime(now.Add(lease)), FormatTime(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanOutbox(rows)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim due emails: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// MarkEmailSent records delivery (even of an email given up on: a late success wins) and, in
// the same transaction, scrubs the email's one-time links. Marking an email that is already
// sent changes nothing. It returns mypt.ErrNotFound if there is no such email.
func (s *Store) MarkEmailSent(ctx context.Context, id int64, transport string, at time.Time) error {
	return s.updateEmail(ctx, "mark email sent", id, true, `
		UPDATE outbox SET sent_at = ?, failed_at = NULL, next_attempt_at = NULL, last_error = '', transport = ?
		WHERE id = ? AND sent_at IS NULL`, FormatTime(at), transport, id)
}

// MarkEmailRetry records a failed attempt and when to try again. An email already sent or
// abandoned is left alone (a late failure report must not undo a delivery).
func (s *Store) MarkEmailRetry(ctx context.Context, id int64, transport, lastError string, next time.Time) error {
	return s.updateEmail(ctx, "mark email retry", id, false, `
		UPDATE outbox SET next_attempt_at = ?, last_error = ?, transport = ?
		WHERE id = ? AND sent_at IS NULL AND failed_at IS NULL`, FormatTime(next), truncateError(lastError), transport, id)
}

// MarkEmailAbandoned gives up on an email (a permanent failure, or too many attempts): it is no
// longer pending and is kept, with its last error, for staff to see, its one-time links scrubbed
// in the same transaction. A sent email is left alone.
func (s *Store) MarkEmailAbandoned(ctx context.Context, id int64, transport, lastError string, at time.Time) error {
	return s.updateEmail(ctx, "mark email abandoned", id, true, `
		UPDATE outbox SET failed_at = ?, next_attempt_at = NULL, last_error = ?, transport = ?
		WHERE id = ? AND sent_at IS NULL AND failed_at IS NULL`, FormatTime(at), truncateError(lastError), transport, id)
}

// updateEmail runs a guarded update of one row, then (scrub) removes its one-time links in
// the same transaction. A guard that does not match is not an error; a row that does not exist
// is mypt.ErrNotFound.
func (s *Store) updateEmail(ctx context.Context, op string, id int64, scrub bool, query string, args ...any) error {
	return s.WithTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("sqlite: %s %d: %w", op, id, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			if scrub {
				if err := scrubSecretTx(ctx, tx, id); err != nil {
					return fmt.Errorf("sqlite: %s %d: %w", op, id, err)
				}
			}
			return nil
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM outbox WHERE id = ?`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: %s %d: %w", op, id, mypt.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("sqlite: %s %d: %w", op, id, err)
		}
		return nil
	})
}

func truncateError(s string) string {
	const max = 2000
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// CountPendingEmails counts emails neither sent nor abandoned.
func (s *Store) CountPendingEmails(ctx context.Context) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count pending emails: %w", err)
	}
	return n, nil
}

// FindEmail returns the email with the given event key, or mypt.ErrNotFound. A pending email's
// one-time links read mypt.SecretHiddenPlaceholder and its Secret is empty.
func (s *Store) FindEmail(ctx context.Context, eventKey string) (mypt.OutboxMessage, error) {
	m, err := scanOutbox(s.read.QueryRowContext(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE event_key = ?`, eventKey))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("sqlite: find email %q: %w", eventKey, mypt.ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("sqlite: find email %q: %w", eventKey, err)
	}
	return hideSecret(m), nil
}

// ListEmails returns the newest emails first, at most limit, for the staff site, one-time links
// hidden as FindEmail does.
func (s *Store) ListEmails(ctx context.Context, limit int) ([]mypt.OutboxMessage, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+outboxColumns+` FROM outbox ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list emails: %w", err)
	}
	defer rows.Close()
	var out []mypt.OutboxMessage
	for rows.Next() {
		m, err := scanOutbox(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list emails: %w", err)
		}
		out = append(out, hideSecret(m))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list emails: %w", err)
	}
	return out, nil
}

// PurgeSentEmails deletes emails sent before the given time and returns how many went (their
// one-time links are already scrubbed; this bounds how long recipients and subjects are kept).
// Abandoned emails are kept.
func (s *Store) PurgeSentEmails(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?`, FormatTime(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge sent emails: %w", err)
	}
	return n, nil
}
