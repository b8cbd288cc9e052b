package sqlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"mypt"
)

// Account requests, one-time tokens, staff users and sessions, access-ended records and
// retention (the accounts area). Every state change that causes an email queues it with
// EnqueueEmailTx in the same transaction.

// NewToken returns a fresh one-time token: 32 random bytes, base64url (what goes in the link),
// and its SHA-256 (what is stored).
func NewToken() (raw string, hash []byte) {
	b := make([]byte, 32)
	rand.Read(b) // crypto/rand never returns short
	raw = base64.RawURLEncoding.EncodeToString(b)
	return raw, HashToken(raw)
}

// HashToken is how a one-time token is stored: the SHA-256 of its text.
func HashToken(raw string) []byte {
	h := sha256.Sum256([]byte(raw))
	return h[:]
}

// issueTokenTx stores a new token for the subject (a request or an account), voiding every
// unused token of the same purpose for that subject: a re-request makes the old link useless.
func (s *Store) issueTokenTx(ctx context.Context, tx *sql.Tx, purpose mypt.TokenPurpose, requestID, accountID int64, ttl time.Duration) (string, error) {
	now := s.now()
	var err error
	if requestID != 0 {
		_, err = tx.ExecContext(ctx, `DELETE FROM one_time_token WHERE request_id = ? AND purpose = ? AND used_at IS NULL`, requestID, purpose)
	} else {
		_, err = tx.ExecContext(ctx, `DELETE FROM one_time_token WHERE account_id = ? AND purpose = ? AND used_at IS NULL`, accountID, purpose)
	}
	if err != nil {
		return "", fmt.Errorf("void old %s tokens: %w", purpose, err)
	}
	raw, hash := NewToken()
	_, err = tx.ExecContext(ctx, `INSERT INTO one_time_token (token_hash, purpose, request_id, account_id, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`, hash, purpose, nullID(requestID), nullID(accountID), FormatTime(now), FormatTime(now.Add(ttl)))
	if err != nil {
		return "", fmt.Errorf("store %s token: %w", purpose, err)
	}
	return raw, nil
}

// withSecret marks m as carrying the one-time token raw (issued now for ttl), so the outbox
// scrubs it once the email is sent, given up or expired.
func (s *Store) withSecret(m mypt.OutboxMessage, raw string, ttl time.Duration) mypt.OutboxMessage {
	m.Secret = raw
	if ttl > 0 {
		m.SecretExpiresAt = s.now().Add(ttl)
	}
	return m
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// consumeTokenTx marks the token used and returns its subject. It returns ErrNotFound when the
// token is unknown, of another purpose, used, or expired (expiry compared on instants, DM-4).
func (s *Store) consumeTokenTx(ctx context.Context, tx *sql.Tx, purpose mypt.TokenPurpose, raw string) (requestID, accountID int64, err error) {
	var rid, aid sql.NullInt64
	now := FormatTime(s.now())
	err = tx.QueryRowContext(ctx, `UPDATE one_time_token SET used_at = ?
		WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?
		RETURNING request_id, account_id`, now, HashToken(raw), purpose, now).Scan(&rid, &aid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("%s token: %w", purpose, mypt.ErrNotFound)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("use %s token: %w", purpose, err)
	}
	return rid.Int64, aid.Int64, nil
}

// peekToken returns the subject of a valid token without using it (the GET that shows a
// confirm button). ErrNotFound as for consumeTokenTx.
func (s *Store) peekToken(ctx context.Context, purpose mypt.TokenPurpose, raw string) (requestID, accountID int64, err error) {
	var rid, aid sql.NullInt64
	err = s.read.QueryRowContext(ctx, `SELECT request_id, account_id FROM one_time_token
		WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?`,
		HashToken(raw), purpose, FormatTime(s.now())).Scan(&rid, &aid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("sqlite: %s token: %w", purpose, mypt.ErrNotFound)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: read %s token: %w", purpose, err)
	}
	return rid.Int64, aid.Int64, nil
}

const requestColumns = `request_id, state, parent_first_name, parent_last_name, email, password_hash, student_id,
	student_first_names, student_last_name, student_dob, relationship, mobile_phone, home_phone, client_addr,
	created_at, verified_at, decided_at, decided_by, reason, match_report, contact_id, account_id`

func scanRequest(r scanner) (mypt.StoredAccountRequest, error) {
	var q mypt.StoredAccountRequest
	var dob, created string
	var verified, decided, report sql.NullString
	var account sql.NullInt64
	err := r.Scan(&q.ID, &q.State, &q.ParentFirstName, &q.ParentLastName, &q.Email, &q.PasswordHash, &q.StudentID,
		&q.StudentFirstNames, &q.StudentLastName, &dob, &q.Relationship, &q.MobilePhone, &q.HomePhone, &q.ClientAddr,
		&created, &verified, &decided, &q.DecidedBy, &q.Reason, &report, &q.ContactID, &account)
	if err != nil {
		return q, err
	}
	q.AccountID = account.Int64
	if q.StudentDOB, err = mypt.ParseDate(dob); err != nil {
		return q, err
	}
	if q.CreatedAt, err = ParseTime(created); err != nil {
		return q, err
	}
	if q.VerifiedAt, err = scanTime(verified); err != nil {
		return q, err
	}
	if q.DecidedAt, err = scanTime(decided); err != nil {
		return q, err
	}
	if report.Valid && report.String != "" {
		var m mypt.MatchReport
		if err := json.Unmarshal([]byte(report.String), &m); err != nil {
			return q, fmt.Errorf("bad match report of request %d: %w", q.ID, err)
		}
		q.Match = &m
	}
	return q, nil
}

// CreateAccountRequest stores a new, unverified request and its verification token, and queues
// the verification email that compose builds from the raw token, all in one transaction. An
// earlier unverified request from the same email for the same student is replaced, so its link
// stops working. It returns the new request's id.
func (s *Store) CreateAccountRequest(ctx context.Context, r mypt.StoredAccountRequest, verifyTTL time.Duration,
	compose func(requestID int64, token string) (mypt.OutboxMessage, error)) (int64, error) {
	now := s.now()
	var id int64
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM account_request WHERE email = ? AND student_id = ? AND state = 'unverified'`,
			NormalizeEmail(r.Email), r.StudentID); err != nil {
			return fmt.Errorf("replace earlier request: %w", err)
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO account_request (state, parent_first_name, parent_last_name, email,
			password_hash, student_id, student_first_names, student_last_name, student_dob, relationship, mobile_phone,
			home_phone, client_addr, created_at) VALUES ('unverified', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING request_id`,
			r.ParentFirstName, r.ParentLastName, NormalizeEmail(r.Email), r.PasswordHash, r.StudentID, r.StudentFirstNames,
			r.StudentLastName, r.StudentDOB.String(), r.Relationship, r.MobilePhone, r.HomePhone, r.ClientAddr,
			FormatTime(now)).Scan(&id)
		if err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		raw, err := s.issueTokenTx(ctx, tx, mypt.TokenVerify, id, 0, verifyTTL)
		if err != nil {
			return err
		}
		m, err := compose(id, raw)
		if err != nil {
			return err
		}
		_, err = s.EnqueueEmailTx(ctx, tx, s.withSecret(m, raw, verifyTTL))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: create account request: %w", err)
	}
	return id, nil
}

// AccountRequest returns one request; ErrNotFound if there is none.
func (s *Store) AccountRequest(ctx context.Context, id int64) (mypt.StoredAccountRequest, error) {
	what := fmt.Sprintf("account request %d", id)
	return scanOne(s.read.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM account_request WHERE request_id = ?`, id),
		scanRequest, what, what)
}

// AccountRequestByToken returns the request a valid, unused verify or consent token belongs to,
// without using the token. ErrNotFound if the token is unknown, used or expired.
func (s *Store) AccountRequestByToken(ctx context.Context, purpose mypt.TokenPurpose, raw string) (mypt.StoredAccountRequest, error) {
	rid, _, err := s.peekToken(ctx, purpose, raw)
	if err != nil {
		return mypt.StoredAccountRequest{}, err
	}
	return s.AccountRequest(ctx, rid)
}

// AccountRequests lists requests in any of states (all when empty), oldest first, at most limit.
func (s *Store) AccountRequests(ctx context.Context, states []mypt.RequestState, limit int) ([]mypt.StoredAccountRequest, error) {
	q := `SELECT ` + requestColumns + ` FROM account_request`
	var args []any
	if len(states) > 0 {
		q += ` WHERE state IN (?` + strings.Repeat(",?", len(states)-1) + `)`
		for _, st := range states {
			args = append(args, st)
		}
	}
	q += ` ORDER BY created_at, request_id LIMIT ?`
	args = append(args, limit)
	return queryAll(ctx, s, "account requests", q, scanRequest, args...)
}

// AccountRequestsByEmail lists every request made from email, newest first.
func (s *Store) AccountRequestsByEmail(ctx context.Context, email string) ([]mypt.StoredAccountRequest, error) {
	return queryAll(ctx, s, "account requests", `SELECT `+requestColumns+` FROM account_request
		WHERE email = ? ORDER BY created_at DESC, request_id DESC`, scanRequest, NormalizeEmail(email))
}

// DecideAccountRequest moves request id to d.To in one transaction: it uses the token (if
// use is not nil; ErrNotFound if it is not a valid token of this request), checks the current
// state (ErrConflict when it is not one of d.From), and on approval creates the account with
// the request's password, or, when the email already has an account, only links the student
// to it: an approval never changes an existing account's password or names (whoever filled in
// the request need not be the account's owner). The approval email d.ApprovalEmail builds for
// the case found, d.Emails and the audit entries commit with the change. Once the request is
// decided its password hash is cleared, whatever the outcome.
func (s *Store) DecideAccountRequest(ctx context.Context, id int64, use *mypt.TokenUse, d mypt.RequestDecision) (mypt.StoredAccountRequest, error) {
	var out mypt.StoredAccountRequest
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		if use != nil {
			rid, _, err := s.consumeTokenTx(ctx, tx, use.Purpose, use.Raw)
			if err != nil {
				return err
			}
			if rid != id {
				return fmt.Errorf("%s token of another request: %w", use.Purpose, mypt.ErrNotFound)
			}
		}
		q, err := scanRequest(tx.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM account_request WHERE request_id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("request %d: %w", id, mypt.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if !slices.Contains(d.From, q.State) || !q.State.CanMoveTo(d.To) {
			return fmt.Errorf("request %d is %s, cannot become %s: %w", id, q.State, d.To, mypt.ErrConflict)
		}
		now := s.now()
		q.State = d.To
		if d.Verified {
			q.VerifiedAt = now
		}
		if d.Match != nil {
			q.Match = d.Match
		}
		if d.ContactID != "" {
			q.ContactID = d.ContactID
		}
		if d.DecidedBy != "" {
			q.DecidedBy = d.DecidedBy
		}
		if d.Reason != "" {
			q.Reason = d.Reason
		}
		if d.To == mypt.RequestApproved || d.To == mypt.RequestRejected {
			q.DecidedAt = now
		}
		if d.To == mypt.RequestApproved {
			if q.AccountID, q.AddedToExisting, err = s.approveTx(ctx, tx, q, now); err != nil {
				return err
			}
			if d.ApprovalEmail != nil {
				m, err := d.ApprovalEmail(q.AddedToExisting)
				if err != nil {
					return err
				}
				if _, err := s.EnqueueEmailTx(ctx, tx, m); err != nil {
					return err
				}
			}
		}
		if d.To == mypt.RequestAwaitingConsent && d.ConsentEmail != nil {
			raw, err := s.issueTokenTx(ctx, tx, mypt.TokenConsent, id, 0, d.ConsentTTL)
			if err != nil {
				return err
			}
			m, err := d.ConsentEmail(raw)
			if err != nil {
				return err
			}
			if _, err := s.EnqueueEmailTx(ctx, tx, s.withSecret(m, raw, d.ConsentTTL)); err != nil {
				return err
			}
		}
		hash := q.PasswordHash
		if q.DecidedAt != (time.Time{}) {
			hash = "" // a decided request no longer needs the password: do not keep it
		}
		var report any
		if q.Match != nil {
			b, err := json.Marshal(q.Match)
			if err != nil {
				return err
			}
			report = string(b)
		}
		_, err = tx.ExecContext(ctx, `UPDATE account_request SET state = ?, verified_at = ?, decided_at = ?, decided_by = ?,
			reason = ?, match_report = ?, contact_id = ?, account_id = ?, password_hash = ? WHERE request_id = ?`,
			q.State, nullTime(q.VerifiedAt), nullTime(q.DecidedAt), q.DecidedBy, q.Reason, report, q.ContactID,
			nullID(q.AccountID), hash, id)
		if err != nil {
			return fmt.Errorf("update request %d: %w", id, err)
		}
		q.PasswordHash = hash
		// Tokens of a decided request are void.
		if q.DecidedAt != (time.Time{}) {
			if _, err := tx.ExecContext(ctx, `DELETE FROM one_time_token WHERE request_id = ? AND used_at IS NULL`, id); err != nil {
				return err
			}
		}
		if d.Verified && d.To != mypt.RequestRejected {
			if err := s.supersedeTx(ctx, tx, q, now); err != nil {
				return err
			}
		}
		for _, m := range d.Emails {
			if _, err := s.EnqueueEmailTx(ctx, tx, m); err != nil {
				return err
			}
		}
		if err := writeAuditTx(ctx, tx, now, d.Audit...); err != nil {
			return err
		}
		out = q
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("sqlite: decide account request %d: %w", id, err)
	}
	return out, nil
}

// supersedeTx closes the older requests for the same child by the same email that still wait
// for staff or the student's consent, now that q (newer, verified) replaces them: staff see one
// request in the queue, not two. No email goes out (the parent is told about q); their unused
// links are void; each closing is audited.
func (s *Store) supersedeTx(ctx context.Context, tx *sql.Tx, q mypt.StoredAccountRequest, now time.Time) error {
	rows, err := tx.QueryContext(ctx, `SELECT request_id FROM account_request WHERE email = ? AND student_id = ?
		AND request_id <> ? AND state IN ('awaiting_staff', 'awaiting_consent')`, NormalizeEmail(q.Email), q.StudentID, q.ID)
	if err != nil {
		return fmt.Errorf("find superseded requests: %w", err)
	}
	var old []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		old = append(old, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range old {
		reason := fmt.Sprintf("replaced by request %d", q.ID)
		if _, err := tx.ExecContext(ctx, `UPDATE account_request SET state = 'rejected', decided_at = ?, decided_by = 'system',
			reason = ?, password_hash = '' WHERE request_id = ?`, FormatTime(now), reason, id); err != nil {
			return fmt.Errorf("supersede request %d: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM one_time_token WHERE request_id = ? AND used_at IS NULL`, id); err != nil {
			return err
		}
		if err := writeAuditTx(ctx, tx, now, mypt.AuditEntry{Actor: "system", Action: "request_superseded", StudentID: q.StudentID,
			Page: fmt.Sprintf("request:%d", id), Detail: reason}); err != nil {
			return err
		}
	}
	return nil
}

// approveTx links request q's student to the account of q's email, opening the account with
// q's password when the email has none, and reports whether the account already existed. An
// existing account is left exactly as it is (password, names, lock, sessions): the request
// proves control of the email, not knowledge of the account's password, so its password must
// not replace the one the owner set; it is discarded with the decided request.
func (s *Store) approveTx(ctx context.Context, tx *sql.Tx, q mypt.StoredAccountRequest, now time.Time) (accountID int64, existing bool, err error) {
	email := NormalizeEmail(q.Email)
	err = tx.QueryRowContext(ctx, `SELECT account_id FROM account WHERE email = ?`, email).Scan(&accountID)
	switch {
	case err == nil:
		existing = true
	case errors.Is(err, sql.ErrNoRows):
		if q.PasswordHash == "" {
			return 0, false, fmt.Errorf("request %d has no password to open an account with: %w", q.ID, mypt.ErrConflict)
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO account (email, first_name, last_name, password_hash, created_at, password_changed_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING account_id`, email, q.ParentFirstName, q.ParentLastName, q.PasswordHash,
			FormatTime(now), FormatTime(now)).Scan(&accountID)
		if err != nil {
			return 0, false, fmt.Errorf("open account: %w", err)
		}
	default:
		return 0, false, fmt.Errorf("find account: %w", err)
	}
	by := q.DecidedBy
	if by == "" {
		by = "auto"
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO account_student (account_id, student_id, contact_id, relationship, status,
		approved_at, approved_by) VALUES (?, ?, ?, ?, 'approved', ?, ?)
		ON CONFLICT (account_id, student_id) DO UPDATE SET contact_id = excluded.contact_id, relationship = excluded.relationship,
		status = 'approved', approved_at = excluded.approved_at, approved_by = excluded.approved_by, ended_at = NULL, end_reason = ''`,
		accountID, q.StudentID, q.ContactID, q.Relationship, FormatTime(now), by)
	if err != nil {
		return 0, false, fmt.Errorf("link student: %w", err)
	}
	return accountID, existing, nil
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return FormatTime(t)
}

func writeAuditTx(ctx context.Context, tx *sql.Tx, now time.Time, entries ...mypt.AuditEntry) error {
	for _, e := range entries {
		at := e.At
		if at.IsZero() {
			at = now
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, actor, action, student_id, page, detail, client_addr)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, FormatTime(at), e.Actor, e.Action, e.StudentID, e.Page, e.Detail, e.ClientAddr); err != nil {
			return fmt.Errorf("write audit: %w", err)
		}
	}
	return nil
}

// IssueResetToken starts a password reset for the account with email: a reset token (voiding
// any earlier one) and the email compose builds, in one transaction. It reports whether the
// account exists; a caller must answer the same either way.
func (s *Store) IssueResetToken(ctx context.Context, email string, ttl time.Duration,
	compose func(a mypt.Account, token string) (mypt.OutboxMessage, error)) (bool, error) {
	found := false
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		a, err := scanAccount(tx.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM account WHERE email = ?`, NormalizeEmail(email)))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		raw, err := s.issueTokenTx(ctx, tx, mypt.TokenReset, 0, a.ID, ttl)
		if err != nil {
			return err
		}
		m, err := compose(a, raw)
		if err != nil {
			return err
		}
		_, err = s.EnqueueEmailTx(ctx, tx, s.withSecret(m, raw, ttl))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: issue reset token: %w", err)
	}
	return found, nil
}

// AccountByResetToken returns the account a valid, unused reset token belongs to, without
// using it. ErrNotFound if the token is unknown, used or expired.
func (s *Store) AccountByResetToken(ctx context.Context, raw string) (mypt.Account, error) {
	_, aid, err := s.peekToken(ctx, mypt.TokenReset, raw)
	if err != nil {
		return mypt.Account{}, err
	}
	return s.Account(ctx, aid)
}

// ResetPassword uses the reset token and, in one transaction, sets the account's password,
// clears a lockout caused by failed attempts (a staff lock stays), ends every session of the
// account and queues the notice compose builds. ErrNotFound for a bad, used or expired token.
func (s *Store) ResetPassword(ctx context.Context, raw, passwordHash string, audit mypt.AuditEntry,
	compose func(a mypt.Account) (mypt.OutboxMessage, error)) (mypt.Account, error) {
	var a mypt.Account
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		_, aid, err := s.consumeTokenTx(ctx, tx, mypt.TokenReset, raw)
		if err != nil {
			return err
		}
		now := s.now()
		a, err = scanAccount(tx.QueryRowContext(ctx, `UPDATE account SET password_hash = ?, password_changed_at = ?,
			failed_attempts = 0,
			locked_at = CASE WHEN lock_reason = 'failed_attempts' THEN NULL ELSE locked_at END,
			lock_reason = CASE WHEN lock_reason = 'failed_attempts' THEN '' ELSE lock_reason END
			WHERE account_id = ? RETURNING `+accountColumns, passwordHash, FormatTime(now), aid))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("account %d: %w", aid, mypt.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM session WHERE account_id = ?`, aid); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM one_time_token WHERE account_id = ? AND purpose = 'reset' AND used_at IS NULL`, aid); err != nil {
			return err
		}
		m, err := compose(a)
		if err != nil {
			return err
		}
		if _, err := s.EnqueueEmailTx(ctx, tx, m); err != nil {
			return err
		}
		audit.Actor = fmt.Sprintf("account:%d", aid)
		return writeAuditTx(ctx, tx, now, audit)
	})
	if err != nil {
		return a, fmt.Errorf("sqlite: reset password: %w", err)
	}
	return a, nil
}

// UnlockAccountNotify clears the account's lock and failed-attempt counter, writes the audit
// entry and queues the unlocked email, in one transaction. ErrNotFound for an unknown id;
// ErrConflict when the account is not locked.
func (s *Store) UnlockAccountNotify(ctx context.Context, accountID int64, audit mypt.AuditEntry,
	compose func(a mypt.Account) (mypt.OutboxMessage, error)) error {
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		a, err := scanAccount(tx.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM account WHERE account_id = ?`, accountID))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("account %d: %w", accountID, mypt.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if !a.Locked() {
			return fmt.Errorf("account %d is not locked: %w", accountID, mypt.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE account SET locked_at = NULL, lock_reason = '', failed_attempts = 0
			WHERE account_id = ?`, accountID); err != nil {
			return err
		}
		m, err := compose(a)
		if err != nil {
			return err
		}
		m.EventKey = fmt.Sprintf("unlocked:%d:%s", accountID, FormatTime(a.LockedAt))
		if _, err := s.EnqueueEmailTx(ctx, tx, m); err != nil {
			return err
		}
		return writeAuditTx(ctx, tx, s.now(), audit)
	})
	if err != nil {
		return fmt.Errorf("sqlite: unlock account: %w", err)
	}
	return nil
}

// LockedAccounts lists locked accounts, longest locked first.
func (s *Store) LockedAccounts(ctx context.Context) ([]mypt.Account, error) {
	return queryAll(ctx, s, "locked accounts", `SELECT `+accountColumns+` FROM account
		WHERE locked_at IS NOT NULL ORDER BY locked_at, account_id`, scanAccount)
}

// LockedNoticeKey is the outbox event key of the "account locked" email for one lock.
func LockedNoticeKey(a mypt.Account) string {
	return fmt.Sprintf("locked:%d:%s", a.ID, FormatTime(a.LockedAt))
}

// NotifyLockedAccounts queues the "account locked" email for every account locked by failed
// attempts whose current lock has not been notified yet, and returns how many it queued. The
// event key names the lock, so each lock mails once however often this runs.
func (s *Store) NotifyLockedAccounts(ctx context.Context, compose func(a mypt.Account) (mypt.OutboxMessage, error)) (int, error) {
	accts, err := queryAll(ctx, s, "locked accounts", `SELECT `+accountColumns+` FROM account a
		WHERE locked_at IS NOT NULL AND lock_reason = 'failed_attempts'
		AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_key = 'locked:' || a.account_id || ':' || a.locked_at)`, scanAccount)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range accts {
		m, err := compose(a)
		if err != nil {
			return n, err
		}
		m.EventKey = LockedNoticeKey(a)
		err = s.WithTx(ctx, func(tx *sql.Tx) error {
			// still locked by the same lock?
			var still bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM account WHERE account_id = ? AND locked_at = ?)`,
				a.ID, FormatTime(a.LockedAt)).Scan(&still); err != nil || !still {
				return err
			}
			_, err := s.EnqueueEmailTx(ctx, tx, m)
			return err
		})
		if err != nil {
			return n, fmt.Errorf("sqlite: notify locked account %d: %w", a.ID, err)
		}
		n++
	}
	return n, nil
}

// Accounts lists accounts whose email or name contains q (all when q is empty), by email, at
// most limit.
func (s *Store) Accounts(ctx context.Context, q string, limit int) ([]mypt.Account, error) {
	like := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(strings.TrimSpace(q))) + "%"
	return queryAll(ctx, s, "accounts", `SELECT `+accountColumns+` FROM account
		WHERE email LIKE ?1 ESCAPE '\' OR lower(first_name || ' ' || last_name) LIKE ?1 ESCAPE '\'
		ORDER BY email LIMIT ?2`, scanAccount, like, limit)
}

// AccountLinks lists every link of the account with its end reason.
func (s *Store) AccountLinks(ctx context.Context, accountID int64) ([]mypt.AccountLink, error) {
	return queryAll(ctx, s, "account links", `SELECT l.student_id, l.contact_id, l.relationship, l.status,
		l.approved_at, l.approved_by, l.ended_at, l.end_reason,
		COALESCE(st.legal_first_names, ''), COALESCE(st.legal_last_name, '')
		FROM account_student l LEFT JOIN student st ON st.student_id = l.student_id
		WHERE l.account_id = ? ORDER BY l.student_id`, func(r scanner) (mypt.AccountLink, error) {
		var l mypt.AccountLink
		var approved string
		var ended sql.NullString
		err := r.Scan(&l.StudentID, &l.ContactID, &l.Relationship, &l.Status, &approved, &l.ApprovedBy, &ended,
			&l.EndReason, &l.StudentFirstNames, &l.StudentLastName)
		if err != nil {
			return l, err
		}
		l.AccountID = accountID
		if l.ApprovedAt, err = ParseTime(approved); err != nil {
			return l, err
		}
		l.EndedAt, err = scanTime(ended)
		return l, err
	}, accountID)
}

// AccessEndedFor lists the access-ended records of an account, newest first.
func (s *Store) AccessEndedFor(ctx context.Context, accountID int64) ([]mypt.AccessEnded, error) {
	return queryAll(ctx, s, "access ended", `SELECT access_ended_id, account_id, student_id, reason, detail, at
		FROM access_ended WHERE account_id = ? ORDER BY at DESC, access_ended_id DESC`, scanAccessEnded, accountID)
}

func scanAccessEnded(r scanner) (mypt.AccessEnded, error) {
	var e mypt.AccessEnded
	var at string
	if err := r.Scan(&e.ID, &e.AccountID, &e.StudentID, &e.Reason, &e.Detail, &at); err != nil {
		return e, err
	}
	var err error
	e.At, err = ParseTime(at)
	return e, err
}

// AuditForAccount lists audit entries by or about the account (actor account:<id>, or a
// staff action whose page is account:<id>), newest first, at most limit.
func (s *Store) AuditForAccount(ctx context.Context, accountID int64, limit int) ([]mypt.AuditEntry, error) {
	who := fmt.Sprintf("account:%d", accountID)
	return queryAll(ctx, s, "account audit", `SELECT at, actor, action, student_id, page, detail, client_addr
		FROM audit_log WHERE actor = ?1 OR page = ?1 ORDER BY at DESC, audit_id DESC LIMIT ?2`,
		scanAudit, who, limit)
}

func scanAudit(r scanner) (mypt.AuditEntry, error) {
	var e mypt.AuditEntry
	var at string
	err := r.Scan(&at, &e.Actor, &e.Action, &e.StudentID, &e.Page, &e.Detail, &e.ClientAddr)
	if err != nil {
		return e, err
	}
	e.At, err = ParseTime(at)
	return e, err
}

// AuditBetween lists audit entries with from <= at < to, oldest first (the CSV export).
func (s *Store) AuditBetween(ctx context.Context, from, to time.Time, fn func(mypt.AuditEntry) error) error {
	rows, err := s.read.QueryContext(ctx, `SELECT at, actor, action, student_id, page, detail, client_addr
		FROM audit_log WHERE at >= ? AND at < ? ORDER BY at, audit_id`, FormatTime(from), FormatTime(to))
	if err != nil {
		return fmt.Errorf("sqlite: read audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return fmt.Errorf("sqlite: read audit: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ApprovedLinks lists every approved link with its student and barring, for the eligibility sweep.
func (s *Store) ApprovedLinks(ctx context.Context) ([]mypt.LinkCheck, error) {
	return queryAll(ctx, s, "approved links", `SELECT a.account_id, a.email, a.first_name, a.last_name, l.student_id,
		l.contact_id, st.student_id IS NOT NULL,
		COALESCE(st.legal_first_names, ''), COALESCE(st.legal_last_name, ''), COALESCE(st.preferred_name, ''),
		st.date_of_birth, COALESCE(st.has_ehcp, 0), COALESCE(st.college, ''), COALESCE(st.college_email, ''),
		COALESCE(st.share_info_consent, 0), COALESCE(st.status, ''), st.left_date,
		EXISTS (SELECT 1 FROM contact c WHERE c.student_id = l.student_id AND c.portal_access_barred = 1
			AND (c.contact_id = l.contact_id OR (c.email <> '' AND lower(c.email) = a.email))),
		EXISTS (SELECT 1 FROM contact c WHERE c.contact_id = l.contact_id AND c.student_id = l.student_id)
		FROM account_student l JOIN account a ON a.account_id = l.account_id
		LEFT JOIN student st ON st.student_id = l.student_id
		WHERE l.status = 'approved' ORDER BY l.account_id, l.student_id`, func(r scanner) (mypt.LinkCheck, error) {
		var c mypt.LinkCheck
		var dob, left sql.NullString
		err := r.Scan(&c.AccountID, &c.Email, &c.FirstName, &c.LastName, &c.StudentID, &c.ContactID, &c.StudentFound,
			&c.Student.LegalFirstNames, &c.Student.LegalLastName, &c.Student.PreferredName, &dob, &c.Student.HasEHCP,
			&c.Student.College, &c.Student.CollegeEmail, &c.Student.ShareInfoConsent, &c.Student.Status, &left, &c.ContactBarred, &c.ContactFound)
		if err != nil {
			return c, err
		}
		c.Student.StudentID = c.StudentID
		if c.Student.DateOfBirth, err = scanDate(dob); err != nil {
			return c, err
		}
		c.Student.LeftDate, err = scanDate(left)
		return c, err
	})
}

// EndAccess ends an approved link at once: the link becomes ended with reason, an access-ended
// record is kept for staff, the email (if not nil) and an audit entry commit with it. It reports
// false when the link was not approved (already ended: nothing is done or sent).
func (s *Store) EndAccess(ctx context.Context, accountID int64, studentID string, reason mypt.Ineligibility, detail string,
	email *mypt.OutboxMessage) (bool, error) {
	ended := false
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		res, err := tx.ExecContext(ctx, `UPDATE account_student SET status = 'ended', ended_at = ?, end_reason = ?
			WHERE account_id = ? AND student_id = ? AND status = 'approved'`, FormatTime(now), string(reason), accountID, studentID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		ended = true
		if _, err := tx.ExecContext(ctx, `INSERT INTO access_ended (account_id, student_id, reason, detail, at) VALUES (?, ?, ?, ?, ?)`,
			accountID, studentID, string(reason), detail, FormatTime(now)); err != nil {
			return err
		}
		if email != nil {
			if _, err := s.EnqueueEmailTx(ctx, tx, *email); err != nil {
				return err
			}
		}
		return writeAuditTx(ctx, tx, now, mypt.AuditEntry{Actor: "system", Action: "access_ended", StudentID: studentID,
			Page: fmt.Sprintf("account:%d", accountID), Detail: string(reason) + ": " + detail})
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: end access of account %d to %s: %w", accountID, studentID, err)
	}
	return ended, nil
}

// ExpireConsentRequests rejects every request still waiting for the student's consent whose
// consent link has expired, queuing the rejection email compose builds for each, and returns
// how many it rejected.
func (s *Store) ExpireConsentRequests(ctx context.Context, compose func(q mypt.StoredAccountRequest) (mypt.OutboxMessage, error)) (int, error) {
	now := FormatTime(s.now())
	reqs, err := queryAll(ctx, s, "expired consent requests", `SELECT `+requestColumns+` FROM account_request r
		WHERE state = 'awaiting_consent' AND NOT EXISTS (SELECT 1 FROM one_time_token t WHERE t.request_id = r.request_id
			AND t.purpose = 'consent' AND t.used_at IS NULL AND t.expires_at > ?)`, scanRequest, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, q := range reqs {
		m, err := compose(q)
		if err != nil {
			return n, err
		}
		_, err = s.DecideAccountRequest(ctx, q.ID, nil, mypt.RequestDecision{From: []mypt.RequestState{mypt.RequestAwaitingConsent},
			To: mypt.RequestRejected, DecidedBy: "system", Reason: "the student did not answer the consent request in time",
			Emails: []mypt.OutboxMessage{m},
			Audit:  []mypt.AuditEntry{{Actor: "system", Action: "consent_expired", StudentID: q.StudentID, Page: fmt.Sprintf("request:%d", q.ID)}}})
		if errors.Is(err, mypt.ErrConflict) {
			continue // decided meanwhile
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// CountAccounts counts accounts by state and pending requests by stage.
func (s *Store) CountAccounts(ctx context.Context) (mypt.AccountCounts, error) {
	c := mypt.AccountCounts{Pending: map[mypt.RequestState]int{}}
	err := s.read.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(locked_at IS NOT NULL), 0),
		COALESCE(SUM(locked_at IS NULL AND has), 0),
		COALESCE(SUM(locked_at IS NULL AND NOT has), 0)
		FROM (SELECT locked_at, EXISTS (SELECT 1 FROM account_student l WHERE l.account_id = a.account_id
			AND l.status = 'approved') AS has FROM account a)`).Scan(&c.Locked, &c.Active, &c.NoChildren)
	if err != nil {
		return c, fmt.Errorf("sqlite: count accounts: %w", err)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT state, COUNT(*) FROM account_request
		WHERE state IN ('unverified', 'awaiting_consent', 'awaiting_staff') GROUP BY state`)
	if err != nil {
		return c, fmt.Errorf("sqlite: count requests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st mypt.RequestState
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return c, fmt.Errorf("sqlite: count requests: %w", err)
		}
		c.Pending[st] = n
	}
	return c, rows.Err()
}

// PurgeRetention removes, as of now: unverified requests older than p.UnverifiedDays, rejected
// requests decided more than p.RejectedDays ago, accounts with no approved child whose last
// link ended (or which were created, if never linked) more than p.NoChildrenDays ago and that
// have no pending request, and tokens expired more than a day ago. A zero or negative
// setting keeps those records. Whatever the settings, an unverified request whose link has
// expired loses its password hash at once: it can never be confirmed, so the hash is not
// kept until the request itself goes.
func (s *Store) PurgeRetention(ctx context.Context, now time.Time, p mypt.RetentionPolicy) (mypt.PurgeCounts, error) {
	var c mypt.PurgeCounts
	days := func(n int) string { return FormatTime(now.Add(-time.Duration(n) * 24 * time.Hour)) }
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		exec := func(dst *int64, q string, args ...any) error {
			res, err := tx.ExecContext(ctx, q, args...)
			if err != nil {
				return err
			}
			*dst, err = res.RowsAffected()
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE account_request SET password_hash = '' WHERE state = 'unverified'
			AND password_hash <> '' AND NOT EXISTS (SELECT 1 FROM one_time_token t WHERE t.request_id = account_request.request_id
				AND t.purpose = 'verify' AND t.used_at IS NULL AND t.expires_at > ?)`, FormatTime(now)); err != nil {
			return fmt.Errorf("clear expired requests' passwords: %w", err)
		}
		if p.UnverifiedDays > 0 {
			if err := exec(&c.Unverified, `DELETE FROM account_request WHERE state = 'unverified' AND created_at < ?`, days(p.UnverifiedDays)); err != nil {
				return err
			}
		}
		if p.RejectedDays > 0 {
			if err := exec(&c.Rejected, `DELETE FROM account_request WHERE state = 'rejected' AND decided_at < ?`, days(p.RejectedDays)); err != nil {
				return err
			}
		}
		if p.NoChildrenDays > 0 {
			if err := exec(&c.Accounts, `DELETE FROM account WHERE account_id IN (
				SELECT a.account_id FROM account a
				WHERE NOT EXISTS (SELECT 1 FROM account_student l WHERE l.account_id = a.account_id AND l.status = 'approved')
				AND NOT EXISTS (SELECT 1 FROM account_request r WHERE r.email = a.email
					AND r.state IN ('unverified', 'awaiting_consent', 'awaiting_staff'))
				AND COALESCE((SELECT MAX(l.ended_at) FROM account_student l WHERE l.account_id = a.account_id), a.created_at) < ?)`,
				days(p.NoChildrenDays)); err != nil {
				return err
			}
			// The staff's record of why access ended goes with the account.
			if _, err := tx.ExecContext(ctx, `DELETE FROM access_ended WHERE account_id NOT IN (SELECT account_id FROM account)`); err != nil {
				return err
			}
		}
		return exec(&c.Tokens, `DELETE FROM one_time_token WHERE expires_at < ?`, days(1))
	})
	if err != nil {
		return c, fmt.Errorf("sqlite: purge: %w", err)
	}
	return c, nil
}

// Staff users and their sessions.

const staffColumns = `staff_id, email, name, password_hash, created_at, last_login_at, failed_attempts, locked_at, disabled`

func scanStaff(r scanner) (mypt.StaffUser, error) {
	var u mypt.StaffUser
	var created string
	var last, locked sql.NullString
	err := r.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &created, &last, &u.FailedAttempts, &locked, &u.Disabled)
	if err != nil {
		return u, err
	}
	if u.CreatedAt, err = ParseTime(created); err != nil {
		return u, err
	}
	if u.LastLoginAt, err = scanTime(last); err != nil {
		return u, err
	}
	u.LockedAt, err = scanTime(locked)
	return u, err
}

// CreateStaffUser adds a staff user (email lower-cased) and returns its id; ErrConflict if the
// email is taken.
func (s *Store) CreateStaffUser(ctx context.Context, email, name, passwordHash string) (int64, error) {
	var id int64
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO staff_user (email, name, password_hash, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (email) DO NOTHING RETURNING staff_id`, NormalizeEmail(email), name, passwordHash,
			FormatTime(s.now())).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("staff user %s exists: %w", NormalizeEmail(email), mypt.ErrConflict)
		}
		if err != nil {
			return err
		}
		return writeAuditTx(ctx, tx, s.now(), mypt.AuditEntry{Actor: "system", Action: "staff_add", Page: fmt.Sprintf("staff:%d", id), Detail: NormalizeEmail(email)})
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: create staff user: %w", err)
	}
	return id, nil
}

// SetStaffPassword replaces a staff user's password and ends their sessions.
func (s *Store) SetStaffPassword(ctx context.Context, email, passwordHash string) error {
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `UPDATE staff_user SET password_hash = ?, failed_attempts = 0, locked_at = NULL
			WHERE email = ? RETURNING staff_id`, passwordHash, NormalizeEmail(email)).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return mypt.ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM staff_session WHERE staff_id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: set staff password: %w", err)
	}
	return nil
}

// StaffUserByEmail returns the staff user with email; ErrNotFound if none.
func (s *Store) StaffUserByEmail(ctx context.Context, email string) (mypt.StaffUser, error) {
	return scanOne(s.read.QueryRowContext(ctx, `SELECT `+staffColumns+` FROM staff_user WHERE email = ?`, NormalizeEmail(email)),
		scanStaff, "staff user", "staff user")
}

// StaffUser returns the staff user with id; ErrNotFound if none.
func (s *Store) StaffUser(ctx context.Context, id int64) (mypt.StaffUser, error) {
	return scanOne(s.read.QueryRowContext(ctx, `SELECT `+staffColumns+` FROM staff_user WHERE staff_id = ?`, id),
		scanStaff, fmt.Sprintf("staff user %d", id), "staff user")
}

// RecordStaffLoginFailure counts a wrong staff password atomically and locks the staff user at
// maxAttempts; it reports whether the user is locked now.
func (s *Store) RecordStaffLoginFailure(ctx context.Context, id int64, maxAttempts int) (bool, error) {
	var locked bool
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `UPDATE staff_user SET failed_attempts = failed_attempts + 1,
			locked_at = CASE WHEN locked_at IS NULL AND failed_attempts + 1 >= ? THEN ? ELSE locked_at END
			WHERE staff_id = ? RETURNING locked_at IS NOT NULL`, maxAttempts, FormatTime(s.now()), id).Scan(&locked)
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: record staff login failure: %w", err)
	}
	return locked, nil
}

// RecordStaffLogin resets the counter and notes the sign-in; ErrLocked if the user is locked.
func (s *Store) RecordStaffLogin(ctx context.Context, id int64) error {
	return s.execOneErr(ctx, "record staff login", mypt.ErrLocked, `UPDATE staff_user SET failed_attempts = 0, last_login_at = ?
		WHERE staff_id = ? AND locked_at IS NULL AND disabled = 0`, FormatTime(s.now()), id)
}

// execOneErr runs one statement that must change a row; none (wrapped) when it changes none.
func (s *Store) execOneErr(ctx context.Context, what string, none error, query string, args ...any) error {
	n, err := s.exec(ctx, what, query, args...)
	if err == nil && n == 0 {
		err = fmt.Errorf("sqlite: %s: %w", what, none)
	}
	return err
}

// CreateStaffSession starts a staff session and returns the cookie id (only its SHA-256 is kept).
func (s *Store) CreateStaffSession(ctx context.Context, staffID int64) (string, mypt.StaffSession, error) {
	raw, hash := NewToken()
	csrf, _ := NewToken()
	now := s.now()
	sess := mypt.StaffSession{IDHash: hash, StaffID: staffID, CSRFToken: csrf, CreatedAt: now, LastSeenAt: now}
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO staff_session (id_hash, staff_id, csrf_token, created_at, last_seen_at)
			VALUES (?, ?, ?, ?, ?)`, hash, staffID, csrf, FormatTime(now), FormatTime(now))
		return err
	})
	if err != nil {
		return "", sess, fmt.Errorf("sqlite: create staff session: %w", err)
	}
	return raw, sess, nil
}

// StaffSession returns the staff session with cookie id raw; ErrNotFound if none.
func (s *Store) StaffSession(ctx context.Context, raw string) (mypt.StaffSession, error) {
	return scanOne(s.read.QueryRowContext(ctx, `SELECT id_hash, staff_id, csrf_token, created_at, last_seen_at FROM staff_session
		WHERE id_hash = ?`, HashToken(raw)), func(r scanner) (mypt.StaffSession, error) {
		var sess mypt.StaffSession
		var created, seen string
		if err := r.Scan(&sess.IDHash, &sess.StaffID, &sess.CSRFToken, &created, &seen); err != nil {
			return sess, err
		}
		err := parseSessionTimes(created, &sess.CreatedAt, seen, &sess.LastSeenAt)
		return sess, err
	}, "staff session", "staff session")
}

// TouchStaffSession records activity on a staff session.
func (s *Store) TouchStaffSession(ctx context.Context, idHash []byte, at time.Time) error {
	_, err := s.exec(ctx, "touch staff session", `UPDATE staff_session SET last_seen_at = ? WHERE id_hash = ? AND last_seen_at < ?`,
		FormatTime(at), idHash, FormatTime(at))
	return err
}

// DeleteStaffSession ends a staff session (sign out); a missing one is not an error.
func (s *Store) DeleteStaffSession(ctx context.Context, idHash []byte) error {
	_, err := s.exec(ctx, "delete staff session", `DELETE FROM staff_session WHERE id_hash = ?`, idHash)
	return err
}
