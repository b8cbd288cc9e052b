package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"mypt"
)

// This file is the support mailbox's state: checkpoint, processed messages, review items, the
// rate limits, and the one transaction that commits a message's outcome (DESIGN §5: a mailbox
// message is marked processed only after its outcome commits; its email is queued in the same
// transaction).

const maxExcerptBytes = 4 << 10

// MailCheckpoint returns folder's checkpoint, or the zero checkpoint if there is none.
func (s *Store) MailCheckpoint(ctx context.Context, folder string) (mypt.MailCheckpoint, error) {
	var cp mypt.MailCheckpoint
	err := s.read.QueryRowContext(ctx,
		`SELECT uidvalidity, last_uid FROM mailbox_checkpoint WHERE folder = ?`, folder).Scan(&cp.UIDValidity, &cp.LastUID)
	if errors.Is(err, sql.ErrNoRows) {
		return mypt.MailCheckpoint{}, nil
	}
	if err != nil {
		return cp, fmt.Errorf("sqlite: read mailbox checkpoint of %q: %w", folder, err)
	}
	return cp, nil
}

// SetMailCheckpoint stores folder's checkpoint as given (for tools and tests; the watcher's
// checkpoint moves with CommitMail).
func (s *Store) SetMailCheckpoint(ctx context.Context, folder string, cp mypt.MailCheckpoint) error {
	return s.WithTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO mailbox_checkpoint (folder, uidvalidity, last_uid, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (folder) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid,
				updated_at = excluded.updated_at`,
			folder, cp.UIDValidity, cp.LastUID, FormatTime(s.now()))
		if err != nil {
			return fmt.Errorf("sqlite: set mailbox checkpoint of %q: %w", folder, err)
		}
		return nil
	})
}

// MailProcessed reports whether the message with this key has already acted, and where it
// went. found is false for a new message.
func (s *Store) MailProcessed(ctx context.Context, key string) (disp mypt.MailDisposition, found bool, err error) {
	var outcome string
	err = s.read.QueryRowContext(ctx, `SELECT outcome FROM mailbox_processed WHERE message_key = ?`, key).Scan(&outcome)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("sqlite: look up processed message: %w", err)
	}
	return dispositionOf(mypt.MailOutcome(outcome)), true, nil
}

func dispositionOf(o mypt.MailOutcome) mypt.MailDisposition {
	if o == mypt.MailUnlocked {
		return mypt.MailToProcessed
	}
	return mypt.MailToReview
}

// MailSender returns what the unlock rules need about the account with this email (compared
// lower-cased): whether it exists and is locked, the students it is linked to (approved links
// only), when the mailbox last unlocked it, and when this address last got an acknowledgement.
func (s *Store) MailSender(ctx context.Context, email string) (mypt.UnlockAccount, time.Time, error) {
	var a mypt.UnlockAccount
	email = strings.ToLower(strings.TrimSpace(email))
	lastAck, err := s.lastAction(ctx, s.read, "ack", email)
	if err != nil {
		return a, time.Time{}, err
	}
	var id int64
	var lockedAt sql.NullString
	err = s.read.QueryRowContext(ctx,
		`SELECT account_id, locked_at, lock_reason FROM account WHERE email = ?`, email).Scan(&id, &lockedAt, &a.LockReason)
	if errors.Is(err, sql.ErrNoRows) {
		return a, lastAck, nil
	}
	if err != nil {
		return a, lastAck, fmt.Errorf("sqlite: find account for mailbox sender: %w", err)
	}
	a.Found, a.ID, a.Locked = true, strconv.FormatInt(id, 10), lockedAt.Valid
	if lockedAt.Valid {
		if a.LockedAt, err = ParseTime(lockedAt.String); err != nil {
			return a, lastAck, err
		}
	}
	rows, err := s.read.QueryContext(ctx,
		`SELECT student_id FROM account_student WHERE account_id = ? AND status = 'approved' ORDER BY student_id`, id)
	if err != nil {
		return a, lastAck, fmt.Errorf("sqlite: linked students of account %d: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var sid string
		if err := rows.Scan(&sid); err != nil {
			return a, lastAck, fmt.Errorf("sqlite: linked students of account %d: %w", id, err)
		}
		a.LinkedStudentIDs = append(a.LinkedStudentIDs, sid)
	}
	if err := rows.Err(); err != nil {
		return a, lastAck, fmt.Errorf("sqlite: linked students of account %d: %w", id, err)
	}
	if a.LastAutoUnlock, err = s.lastAction(ctx, s.read, "unlock", a.ID); err != nil {
		return a, lastAck, err
	}
	return a, lastAck, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func (s *Store) lastAction(ctx context.Context, q queryer, kind, subject string) (time.Time, error) {
	var at sql.NullString
	if err := q.QueryRowContext(ctx, `SELECT MAX(at) FROM mailbox_action WHERE kind = ? AND subject = ?`,
		kind, subject).Scan(&at); err != nil {
		return time.Time{}, fmt.Errorf("sqlite: last mailbox %s: %w", kind, err)
	}
	if !at.Valid {
		return time.Time{}, nil
	}
	return ParseTime(at.String)
}

// CommitMail records one message's outcome in one immediate transaction and returns what
// happened:
//   - MailDuplicate if the message key was already processed (nothing changes);
//   - MailUnlocked: the account is unlocked (only if it is still locked: otherwise the message
//     becomes a review item after all), the audit log and the 24-hour rate limit get a row, and
//     rec.Unlocked is queued in the outbox;
//   - MailReviewed: a review item is stored and, if rec.Decision.Acknowledge still holds inside
//     the transaction, rec.Ack is queued.
//
// In every case the message is marked processed and the folder's checkpoint moves to its UID.
func (s *Store) CommitMail(ctx context.Context, rec mypt.MailRecord) (mypt.MailOutcome, error) {
	m := rec.Message
	if m.Key == "" {
		return mypt.MailError, fmt.Errorf("sqlite: commit mail: %w: no message key", mypt.ErrInvalid)
	}
	at := rec.At
	if at.IsZero() {
		at = s.now()
	}
	now := FormatTime(at)
	var outcome mypt.MailOutcome
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		outcome = ""
		res, err := tx.ExecContext(ctx, `
			INSERT INTO mailbox_processed (message_key, folder, uidvalidity, uid, outcome, processed_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (message_key) DO NOTHING`,
			m.Key, m.Mailbox, m.UIDValidity, m.UID, string(mypt.MailReviewed), now)
		if err != nil {
			return fmt.Errorf("sqlite: mark message processed: %w", err)
		}
		if err := advanceCheckpointTx(ctx, tx, m, now); err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			outcome = mypt.MailDuplicate
			return nil
		}
		d := rec.Decision
		if d.Action == mypt.MailUnlock {
			unlocked, err := s.unlockForMailTx(ctx, tx, rec, now)
			if err != nil {
				return err
			}
			if unlocked {
				outcome = mypt.MailUnlocked
				_, err := tx.ExecContext(ctx, `UPDATE mailbox_processed SET outcome = ? WHERE message_key = ?`,
					string(mypt.MailUnlocked), m.Key)
				if err != nil {
					return fmt.Errorf("sqlite: mark message processed: %w", err)
				}
				return nil
			}
			// Someone (staff, a reset) unlocked or re-locked it since the facts were read.
			d = mypt.MailDecision{Action: mypt.MailReview, Reason: mypt.ReasonNotLocked, Acknowledge: true}
		}
		outcome = mypt.MailReviewed
		return s.reviewForMailTx(ctx, tx, rec, d, now)
	})
	if err != nil {
		return mypt.MailError, err
	}
	return outcome, nil
}

func advanceCheckpointTx(ctx context.Context, tx *sql.Tx, m mypt.MailMessage, now string) error {
	if m.Mailbox == "" || m.UIDValidity == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO mailbox_checkpoint (folder, uidvalidity, last_uid, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (folder) DO UPDATE SET
			last_uid = CASE WHEN mailbox_checkpoint.uidvalidity = excluded.uidvalidity
			                THEN MAX(mailbox_checkpoint.last_uid, excluded.last_uid) ELSE excluded.last_uid END,
			uidvalidity = excluded.uidvalidity,
			updated_at = excluded.updated_at`,
		m.Mailbox, m.UIDValidity, m.UID, now)
	if err != nil {
		return fmt.Errorf("sqlite: advance mailbox checkpoint: %w", err)
	}
	return nil
}

// unlockForMailTx unlocks the account if it is still locked and queues the email saying so.
func (s *Store) unlockForMailTx(ctx context.Context, tx *sql.Tx, rec mypt.MailRecord, now string) (bool, error) {
	id, err := strconv.ParseInt(rec.Account.ID, 10, 64)
	if err != nil {
		return false, fmt.Errorf("sqlite: unlock by mail: %w: account id %q", mypt.ErrInvalid, rec.Account.ID)
	}
	// Still locked, and by failed sign-ins (a staff lock is never lifted by email)?
	var lockedAt string
	err = tx.QueryRowContext(ctx, `SELECT locked_at FROM account
		WHERE account_id = ? AND locked_at IS NOT NULL AND lock_reason = ?`, id, mypt.LockReasonFailedAttempts).Scan(&lockedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: unlock account %d by mail: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE account SET locked_at = NULL, lock_reason = '', failed_attempts = 0 WHERE account_id = ?`, id); err != nil {
		return false, fmt.Errorf("sqlite: unlock account %d by mail: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO mailbox_action (kind, subject, at, message_key) VALUES ('unlock', ?, ?, ?)`,
		rec.Account.ID, now, rec.Message.Key); err != nil {
		return false, fmt.Errorf("sqlite: record unlock by mail: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO audit_log (at, actor, action, student_id, detail) VALUES (?, 'system', 'unlock', ?, ?)`,
		now, strings.Join(rec.Request.StudentIDs, ","), "account "+rec.Account.ID+" unlocked by email "+rec.Message.Key); err != nil {
		return false, fmt.Errorf("sqlite: audit unlock by mail: %w", err)
	}
	// The same event key as a staff unlock of this lock: one "unlocked" email per lock.
	reply := rec.Unlocked
	reply.Key = fmt.Sprintf("unlocked:%d:%s", id, lockedAt)
	if err := s.enqueueMailboxReplyTx(ctx, tx, reply); err != nil {
		return false, err
	}
	return true, nil
}

func (s *Store) reviewForMailTx(ctx context.Context, tx *sql.Tx, rec mypt.MailRecord, d mypt.MailDecision, now string) error {
	m := rec.Message
	var account any
	if rec.Account.Found {
		if id, err := strconv.ParseInt(rec.Account.ID, 10, 64); err == nil {
			account = id
		}
	}
	excerpt := rec.Request.NewText
	if excerpt == "" {
		excerpt = m.Text
	}
	excerpt = truncate(excerpt, maxExcerptBytes)
	auth := strings.TrimSpace(fmt.Sprintf("dmarc=%s spf=%s dkim=%s", orDash(rec.Auth.DMARC), orDash(rec.Auth.SPF), orDash(rec.Auth.DKIM)))
	if !rec.Auth.Found {
		auth = "no Authentication-Results from our server"
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO mailbox_review_item (message_key, received_at, from_address, from_name, subject, student_ids,
			name, phone, account_id, reason, auth, excerpt)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.Key, now, m.From, truncate(m.FromName, 200), truncate(m.Subject, 500), strings.Join(rec.Request.StudentIDs, ","),
		truncate(rec.Request.Name, 200), truncate(rec.Request.Phone, 50), account, d.Reason, auth, excerpt); err != nil {
		return fmt.Errorf("sqlite: store mailbox review item: %w", err)
	}
	if !d.Acknowledge || rec.Ack.To == "" {
		return nil
	}
	// Re-check the once-a-day rule inside the transaction: two messages from one sender may be
	// decided at once.
	last, err := s.lastAction(ctx, tx, "ack", m.From)
	if err != nil {
		return err
	}
	at, _ := ParseTime(now)
	if !last.IsZero() && at.Sub(last) < mypt.AcknowledgeInterval {
		return nil
	}
	if err := s.enqueueMailboxReplyTx(ctx, tx, rec.Ack); errors.Is(err, mypt.ErrInvalid) {
		return nil // an address the outbox cannot mail: the review item is enough
	} else if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO mailbox_action (kind, subject, at, message_key) VALUES ('ack', ?, ?, ?)`,
		m.From, now, m.Key); err != nil {
		return fmt.Errorf("sqlite: record acknowledgement: %w", err)
	}
	return nil
}

// enqueueMailboxReplyTx queues r in the outbox inside tx (one email per event key).
func (s *Store) enqueueMailboxReplyTx(ctx context.Context, tx *sql.Tx, r mypt.MailReply) error {
	_, err := s.EnqueueEmailTx(ctx, tx, mypt.OutboxMessage{EventKey: r.Key, ToEmail: r.To, Subject: r.Subject, Text: r.Text})
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// MailReviewItems lists review items with the given status ("open", "done", or "" for all),
// newest first, at most limit (default 100).
func (s *Store) MailReviewItems(ctx context.Context, status string, limit int) ([]mypt.MailReviewItem, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.read.QueryContext(ctx, `
		SELECT review_id, message_key, received_at, from_address, from_name, subject, student_ids, name, phone,
			account_id, reason, auth, excerpt, status, resolved_at, resolved_by
		FROM mailbox_review_item WHERE (? = '' OR status = ?) ORDER BY received_at DESC, review_id DESC LIMIT ?`,
		status, status, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list mailbox review items: %w", err)
	}
	defer rows.Close()
	var out []mypt.MailReviewItem
	for rows.Next() {
		var it mypt.MailReviewItem
		var received, ids string
		var account sql.NullInt64
		var resolved sql.NullString
		if err := rows.Scan(&it.ID, &it.MessageKey, &received, &it.FromAddress, &it.FromName, &it.Subject, &ids,
			&it.Name, &it.Phone, &account, &it.Reason, &it.Auth, &it.Excerpt, &it.Status, &resolved, &it.ResolvedBy); err != nil {
			return nil, fmt.Errorf("sqlite: list mailbox review items: %w", err)
		}
		if it.ReceivedAt, err = ParseTime(received); err != nil {
			return nil, err
		}
		if resolved.Valid {
			if it.ResolvedAt, err = ParseTime(resolved.String); err != nil {
				return nil, err
			}
		}
		if ids != "" {
			it.StudentIDs = strings.Split(ids, ",")
		}
		if account.Valid {
			it.AccountID = strconv.FormatInt(account.Int64, 10)
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// ResolveMailReviewItem marks an open review item done by staff. It returns mypt.ErrNotFound if
// no open item has that id.
func (s *Store) ResolveMailReviewItem(ctx context.Context, id int64, staff string) error {
	return s.WithTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE mailbox_review_item SET status = 'done', resolved_at = ?, resolved_by = ?
			WHERE review_id = ? AND status = 'open'`, FormatTime(s.now()), staff, id)
		if err != nil {
			return fmt.Errorf("sqlite: resolve mailbox review item %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlite: resolve mailbox review item %d: %w", id, mypt.ErrNotFound)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO audit_log (at, actor, action, detail) VALUES (?, ?, 'mailbox_review_done', ?)`,
			FormatTime(s.now()), staff, "review item "+strconv.FormatInt(id, 10))
		return err
	})
}

// MailboxState is the watcher's state for the staff site.
type MailboxState struct {
	Checkpoints    map[string]mypt.MailCheckpoint
	OpenReviews    int
	LastProcessed  time.Time // zero if nothing yet
	ProcessedTotal int
}

// MailboxState summarises the mailbox's stored state.
func (s *Store) MailboxState(ctx context.Context) (MailboxState, error) {
	st := MailboxState{Checkpoints: map[string]mypt.MailCheckpoint{}}
	rows, err := s.read.QueryContext(ctx, `SELECT folder, uidvalidity, last_uid FROM mailbox_checkpoint`)
	if err != nil {
		return st, fmt.Errorf("sqlite: mailbox state: %w", err)
	}
	for rows.Next() {
		var f string
		var cp mypt.MailCheckpoint
		if err := rows.Scan(&f, &cp.UIDValidity, &cp.LastUID); err != nil {
			rows.Close()
			return st, fmt.Errorf("sqlite: mailbox state: %w", err)
		}
		st.Checkpoints[f] = cp
	}
	rows.Close()
	var last sql.NullString
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*), MAX(processed_at) FROM mailbox_processed`).Scan(&st.ProcessedTotal, &last); err != nil {
		return st, fmt.Errorf("sqlite: mailbox state: %w", err)
	}
	if last.Valid {
		st.LastProcessed, _ = ParseTime(last.String)
	}
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM mailbox_review_item WHERE status = 'open'`).Scan(&st.OpenReviews); err != nil {
		return st, fmt.Errorf("sqlite: mailbox state: %w", err)
	}
	return st, nil
}

// PurgeMailbox deletes mailbox records older than before: processed marks (with their review
// items, open or not), and rate-limit rows. Review items hold personal data (addresses, phone
// numbers, the message text), so they are not kept for ever; processed marks must outlive any
// re-delivery of the same message, so keep at least 30 days. It returns the rows deleted.
func (s *Store) PurgeMailbox(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		b := FormatTime(before)
		for _, q := range []string{
			`DELETE FROM mailbox_review_item WHERE received_at < ?`,
			`DELETE FROM mailbox_processed WHERE processed_at < ?`,
			`DELETE FROM mailbox_action WHERE at < ?`,
		} {
			res, err := tx.ExecContext(ctx, q, b)
			if err != nil {
				return fmt.Errorf("sqlite: purge mailbox: %w", err)
			}
			k, _ := res.RowsAffected()
			n += k
		}
		return nil
	})
	return n, err
}
