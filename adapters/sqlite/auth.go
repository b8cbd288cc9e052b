package sqlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"mypt"
)

// Sign-in state: accounts, links, the failed-attempt counter, sessions and the audit log.

const accountColumns = `account_id, email, first_name, last_name, password_hash, failed_attempts, locked_at,
	lock_reason, created_at, last_login_at, password_changed_at`

// accountRaw holds an account's nullable time columns until they are parsed.
type accountRaw struct{ locked, created, last, changed sql.NullString }

// accountDest lists scan destinations for accountColumns, in order.
func accountDest(a *mypt.Account, raw *accountRaw) []any {
	return []any{&a.ID, &a.Email, &a.FirstName, &a.LastName, &a.PasswordHash, &a.FailedAttempts, &raw.locked,
		&a.LockReason, &raw.created, &raw.last, &raw.changed}
}

func (raw *accountRaw) finish(a *mypt.Account) error {
	var err error
	if a.LockedAt, err = scanTime(raw.locked); err != nil {
		return err
	}
	if a.CreatedAt, err = scanTime(raw.created); err != nil {
		return err
	}
	if a.LastLoginAt, err = scanTime(raw.last); err != nil {
		return err
	}
	a.PasswordChangedAt, err = scanTime(raw.changed)
	return err
}

func scanAccount(r scanner) (mypt.Account, error) {
	var a mypt.Account
	var raw accountRaw
	if err := r.Scan(accountDest(&a, &raw)...); err != nil {
		return a, err
	}
	return a, raw.finish(&a)
}

// NormalizeEmail is how account emails are stored and looked up: trimmed and lower-cased.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// AccountByEmail returns the account whose email is email, compared case-insensitively.
// It returns ErrNotFound if there is none.
func (s *Store) AccountByEmail(ctx context.Context, email string) (mypt.Account, error) {
	return scanOne(s.queryRow(ctx, `SELECT `+accountColumns+` FROM account WHERE email = ?`, NormalizeEmail(email)),
		scanAccount, "account by email", "account")
}

// Account returns the account with id; ErrNotFound if there is none.
func (s *Store) Account(ctx context.Context, id int64) (mypt.Account, error) {
	return scanOne(s.queryRow(ctx, `SELECT `+accountColumns+` FROM account WHERE account_id = ?`, id),
		scanAccount, fmt.Sprintf("account %d", id), "account")
}

// CreateAccount stores a new account (email lower-cased) and returns its id. It returns
// ErrConflict if an account with the email exists. Times default to the store's clock.
func (s *Store) CreateAccount(ctx context.Context, a mypt.Account) (int64, error) {
	now := s.now()
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	if a.PasswordChangedAt.IsZero() {
		a.PasswordChangedAt = a.CreatedAt
	}
	var id int64
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM account WHERE email = ?)`,
			NormalizeEmail(a.Email)).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("sqlite: create account: email already has an account: %w", mypt.ErrConflict)
		}
		return tx.QueryRowContext(ctx, `INSERT INTO account (email, first_name, last_name, password_hash,
			created_at, password_changed_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING account_id`,
			NormalizeEmail(a.Email), a.FirstName, a.LastName, a.PasswordHash, FormatTime(a.CreatedAt),
			FormatTime(a.PasswordChangedAt)).Scan(&id)
	})
	if err != nil && !errors.Is(err, mypt.ErrConflict) {
		return 0, fmt.Errorf("sqlite: create account: %w", err)
	}
	return id, err
}

// LinkStudent records (or replaces) the link between an account and a student. Status defaults
// to approved and ApprovedAt to now.
func (s *Store) LinkStudent(ctx context.Context, l mypt.StudentLink) error {
	if l.Status == "" {
		l.Status = mypt.LinkApproved
	}
	if l.ApprovedAt.IsZero() {
		l.ApprovedAt = s.now()
	}
	if l.ApprovedBy == "" {
		l.ApprovedBy = "auto"
	}
	_, err := s.exec(ctx, "link student", `INSERT INTO account_student (account_id, student_id, contact_id, relationship,
			status, approved_at, approved_by) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (account_id, student_id) DO UPDATE SET contact_id = excluded.contact_id,
			relationship = excluded.relationship, status = excluded.status, approved_at = excluded.approved_at,
			approved_by = excluded.approved_by, ended_at = NULL, end_reason = ''`,
		l.AccountID, l.StudentID, l.ContactID, l.Relationship, l.Status, FormatTime(l.ApprovedAt), l.ApprovedBy)
	return err
}

// LinkedStudents returns every link of the account (any status), by student id.
func (s *Store) LinkedStudents(ctx context.Context, accountID int64) ([]mypt.StudentLink, error) {
	return queryAll(ctx, s, "linked students", `SELECT account_id, student_id, contact_id, relationship, status,
		approved_at, approved_by FROM account_student WHERE account_id = ? ORDER BY student_id`,
		func(r scanner) (mypt.StudentLink, error) {
			var l mypt.StudentLink
			var at string
			err := r.Scan(&l.AccountID, &l.StudentID, &l.ContactID, &l.Relationship, &l.Status, &at, &l.ApprovedBy)
			if err != nil {
				return l, err
			}
			l.ApprovedAt, err = ParseTime(at)
			return l, err
		}, accountID)
}

// RecordLoginFailure counts one wrong password and locks the account when the count reaches
// maxAttempts, in one atomic UPDATE … RETURNING, so parallel guesses cannot slip past the limit:
// exactly one of them reaches maxAttempts and locks. It returns ErrNotFound for an unknown id.
func (s *Store) RecordLoginFailure(ctx context.Context, accountID int64, maxAttempts int) (mypt.LoginFailure, error) {
	var f mypt.LoginFailure
	now := FormatTime(s.now())
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `UPDATE account SET
			failed_attempts = failed_attempts + 1,
			locked_at = CASE WHEN locked_at IS NULL AND failed_attempts + 1 >= ?1 THEN ?2 ELSE locked_at END,
			lock_reason = CASE WHEN locked_at IS NULL AND failed_attempts + 1 >= ?1 THEN 'failed_attempts' ELSE lock_reason END
			WHERE account_id = ?3
			RETURNING failed_attempts, locked_at IS NOT NULL, failed_attempts = ?1 AND lock_reason = 'failed_attempts'`,
			maxAttempts, now, accountID).Scan(&f.Attempts, &f.Locked, &f.NewlyLocked)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return f, fmt.Errorf("sqlite: record login failure: %w", mypt.ErrNotFound)
	}
	if err != nil {
		return f, fmt.Errorf("sqlite: record login failure: %w", err)
	}
	return f, nil
}

// RecordLoginSuccess resets the failed-attempt counter and notes the sign-in time. It returns
// ErrLocked if the account is locked (a parallel failure may have locked it since the password
// was checked), so a lock always wins.
func (s *Store) RecordLoginSuccess(ctx context.Context, accountID int64) error {
	var n int64
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE account SET failed_attempts = 0, last_login_at = ?
			WHERE account_id = ? AND locked_at IS NULL`, FormatTime(s.now()), accountID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: record login: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: record login: %w", mypt.ErrLocked)
	}
	return nil
}

// SetPasswordHash replaces the stored hash oldHash (the one a sign-in just verified) with hash,
// a re-hash of the same password at a new cost. It is not a password change (sessions and
// password_changed_at stay), so it only ever replaces oldHash: when the account's hash is no
// longer oldHash (a reset changed the password meanwhile) nothing changes and it returns
// ErrConflict, so a re-hash of the old password can never undo a reset.
func (s *Store) SetPasswordHash(ctx context.Context, accountID int64, oldHash, hash string) error {
	return s.execOneErr(ctx, "set password hash", mypt.ErrConflict, `UPDATE account SET password_hash = ?
		WHERE account_id = ? AND password_hash = ?`, hash, accountID, oldHash)
}

// Lock locks the account now with reason (staff action); a locked account stays locked.
func (s *Store) Lock(ctx context.Context, accountID int64, reason string) error {
	return s.execOne(ctx, "lock account", `UPDATE account SET locked_at = COALESCE(locked_at, ?), lock_reason = ?
		WHERE account_id = ?`, FormatTime(s.now()), reason, accountID)
}

// Unlock clears the lock and the failed-attempt counter. ErrNotFound for an unknown id.
func (s *Store) Unlock(ctx context.Context, accountID int64) error {
	return s.execOne(ctx, "unlock account", `UPDATE account SET locked_at = NULL, lock_reason = '', failed_attempts = 0
		WHERE account_id = ?`, accountID)
}

// execOne runs one statement that must change a row; ErrNotFound when it changes none.
func (s *Store) execOne(ctx context.Context, what, query string, args ...any) error {
	return s.execOneErr(ctx, what, mypt.ErrNotFound, query, args...)
}

// scanOne is scan's result for row, of a query that returns at most one row: ErrNotFound,
// wrapped as "sqlite: <notFound>", when there is no row, and any other error wrapped as
// "sqlite: read <what>".
func scanOne[T any](row scanner, scan func(scanner) (T, error), notFound, what string) (T, error) {
	v, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("sqlite: %s: %w", notFound, mypt.ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("sqlite: read %s: %w", what, err)
	}
	return v, nil
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashSessionID is how a session id is stored: its SHA-256.
func HashSessionID(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// CreateSession starts a session for the account: a fresh random 256-bit id (returned, to go in
// the cookie; only its SHA-256 is stored) and a fresh CSRF token.
func (s *Store) CreateSession(ctx context.Context, accountID int64, clientAddr string) (id string, sess mypt.Session, err error) {
	id = randomToken(32)
	now := s.now()
	sess = mypt.Session{IDHash: HashSessionID(id), AccountID: accountID, CSRFToken: randomToken(32),
		CreatedAt: now, LastSeenAt: now, ClientAddr: clientAddr}
	err = s.WithTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO session (id_hash, account_id, csrf_token, created_at, last_seen_at,
			client_addr) VALUES (?, ?, ?, ?, ?, ?)`, sess.IDHash, accountID, sess.CSRFToken, FormatTime(now),
			FormatTime(now), clientAddr)
		return err
	})
	if err != nil {
		return "", mypt.Session{}, fmt.Errorf("sqlite: create session: %w", err)
	}
	return id, sess, nil
}

// Session returns the session whose cookie id is id; ErrNotFound if there is none. Expiry is
// the caller's rule.
func (s *Store) Session(ctx context.Context, id string) (mypt.Session, error) {
	return scanOne(s.queryRow(ctx, `SELECT id_hash, account_id, csrf_token, created_at, last_seen_at, client_addr
		FROM session WHERE id_hash = ?`, HashSessionID(id)), func(r scanner) (mypt.Session, error) {
		var sess mypt.Session
		var created, seen string
		if err := r.Scan(&sess.IDHash, &sess.AccountID, &sess.CSRFToken, &created, &seen, &sess.ClientAddr); err != nil {
			return sess, err
		}
		err := parseSessionTimes(created, &sess.CreatedAt, seen, &sess.LastSeenAt)
		return sess, err
	}, "session", "session")
}

// parseSessionTimes parses a (staff or parent) session's stored created and last-seen times.
func parseSessionTimes(createdText string, created *time.Time, seenText string, seen *time.Time) error {
	var err error
	if *created, err = ParseTime(createdText); err != nil {
		return err
	}
	*seen, err = ParseTime(seenText)
	return err
}

// SessionAccount returns the session whose cookie id is id together with its account, in one
// query (the portal asks on every request); ErrNotFound if there is no such session.
func (s *Store) SessionAccount(ctx context.Context, id string) (mypt.Session, mypt.Account, error) {
	sess, acct, _, _, err := s.sessionQuery(ctx, id, "")
	return sess, acct, err
}

// SessionStudentAccess is SessionAccount and StudentAccess in one query, for a student page:
// the session (ErrNotFound if there is no such session), the parts of its account a page
// needs (ID, FirstName, LastName, FailedAttempts, LockedAt and LockReason only: no password
// hash, email or other times) and, when linked is true, what the access rule needs about the
// account's link to studentID. linked is false when the account has no link to the student or
// the cache has no such student. It reads about two thirds of the columns SessionAccount and
// StudentAccess do, since it runs on every student page.
func (s *Store) SessionStudentAccess(ctx context.Context, id, studentID string) (mypt.Session, mypt.Account, mypt.StudentAccess, bool, error) {
	var (
		sess                  mypt.Session
		acct                  mypt.Account
		a                     mypt.StudentAccess
		created, seen         string
		locked, dob, left     sql.NullString
		approvedAt, changedAt sql.NullString
	)
	sess.IDHash = HashSessionID(id)
	st := &a.Student
	err := s.queryRow(ctx, sessionStudentQuery, sess.IDHash, studentID).Scan(
		&sess.AccountID, &sess.CSRFToken, &created, &seen, &sess.ClientAddr,
		&acct.FirstName, &acct.LastName, &acct.FailedAttempts, &locked, &acct.LockReason,
		&st.StudentID, &st.LegalFirstNames, &st.LegalLastName, &st.PreferredName, &dob, &st.HasEHCP, &st.College,
		&st.CollegeEmail, &st.ShareInfoConsent, &st.Status, &left,
		&a.Link.ContactID, &a.Link.Relationship, &a.Link.Status, &approvedAt, &a.Link.ApprovedBy,
		&a.ContactFound, &a.ContactBarred, &a.Version, &changedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return sess, acct, a, false, fmt.Errorf("sqlite: session: %w", mypt.ErrNotFound)
	}
	acct.ID = sess.AccountID
	if err == nil {
		sess.CreatedAt, err = parseStoredTime(created)
	}
	if err == nil {
		sess.LastSeenAt, err = parseStoredTime(seen)
	}
	if err == nil && locked.Valid && locked.String != "" {
		acct.LockedAt, err = parseStoredTime(locked.String)
	}
	if err != nil {
		return sess, acct, mypt.StudentAccess{}, false, fmt.Errorf("sqlite: read session: %w", err)
	}
	if st.StudentID == "" {
		return sess, acct, mypt.StudentAccess{}, false, nil
	}
	a.Link.AccountID, a.Link.StudentID = sess.AccountID, st.StudentID
	if a.Link.ContactID == "" {
		a.ContactFound = true // nothing to find: approved without a contact
	}
	if st.DateOfBirth, err = scanDate(dob); err == nil {
		st.LeftDate, err = scanDate(left)
	}
	if err == nil && approvedAt.String != "" {
		a.Link.ApprovedAt, err = parseStoredTime(approvedAt.String)
	}
	if err == nil && changedAt.Valid && changedAt.String != "" {
		a.DataAsOf, err = parseStoredTime(changedAt.String)
	}
	if err != nil {
		return sess, acct, mypt.StudentAccess{}, false, fmt.Errorf("sqlite: read student access: %w", err)
	}
	return sess, acct, a, true, nil
}

// sessionStudentQuery reads a session, what a page needs of its account and (nullable) the
// link to one student with the student, the link's contact and the student's data version.
const sessionStudentQuery = `SELECT s.account_id, s.csrf_token, s.created_at, s.last_seen_at, s.client_addr,
	a.first_name, a.last_name, a.failed_attempts, a.locked_at, a.lock_reason,
	COALESCE(st.student_id, ''), COALESCE(st.legal_first_names, ''), COALESCE(st.legal_last_name, ''),
	COALESCE(st.preferred_name, ''), st.date_of_birth, COALESCE(st.has_ehcp, 0), COALESCE(st.college, ''),
	COALESCE(st.college_email, ''), COALESCE(st.share_info_consent, 0), COALESCE(st.status, ''), st.left_date,
	COALESCE(l.contact_id, ''), COALESCE(l.relationship, ''), COALESCE(l.status, ''),
	l.approved_at, COALESCE(l.approved_by, ''),
	c.contact_id IS NOT NULL, COALESCE(c.portal_access_barred, 0),
	COALESCE(v.version, 0), v.changed_at
` + sessionStudentFrom

// parseStoredTime is ParseTime for the one format we store ("2006-01-02T15:04:05.000000000Z"),
// read without time.Parse's layout interpretation since it runs several times a request; any
// other text goes to ParseTime.
func parseStoredTime(v string) (time.Time, error) {
	if len(v) != len(TimeFormat) || v[4] != '-' || v[7] != '-' || v[10] != 'T' || v[13] != ':' || v[16] != ':' ||
		v[19] != '.' || v[29] != 'Z' {
		return ParseTime(v)
	}
	num := func(i, n int) (int, bool) {
		x := 0
		for _, c := range []byte(v[i : i+n]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			x = x*10 + int(c-'0')
		}
		return x, true
	}
	y, ok1 := num(0, 4)
	mo, ok2 := num(5, 2)
	d, ok3 := num(8, 2)
	h, ok4 := num(11, 2)
	mi, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	ns, ok7 := num(20, 9)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59 {
		return ParseTime(v)
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
	if t.Day() != d { // e.g. 31 April: let ParseTime say what is wrong
		return ParseTime(v)
	}
	return t, nil
}

const sessionColumns = `s.id_hash, s.account_id, s.csrf_token, s.created_at, s.last_seen_at, s.client_addr,
	a.account_id, a.email, a.first_name, a.last_name, a.password_hash, a.failed_attempts, a.locked_at,
	a.lock_reason, a.created_at, a.last_login_at, a.password_changed_at`

// sessionAccessQuery reads a session, its account and (nullable) the link to one student, with
// the same columns as accessQuery so scanAccess reads them.
const sessionAccessQuery = `SELECT ` + sessionColumns + `,
	COALESCE(st.student_id, ''), COALESCE(st.legal_first_names, ''), COALESCE(st.legal_last_name, ''),
	COALESCE(st.preferred_name, ''), st.date_of_birth, COALESCE(st.has_ehcp, 0), COALESCE(st.college, ''),
	COALESCE(st.college_email, ''), COALESCE(st.share_info_consent, 0), COALESCE(st.status, ''), st.left_date,
	COALESCE(l.account_id, 0), COALESCE(l.contact_id, ''), COALESCE(l.relationship, ''), COALESCE(l.status, ''),
	COALESCE(l.approved_at, ''), COALESCE(l.approved_by, ''),
	c.contact_id IS NOT NULL, COALESCE(c.portal_access_barred, 0),
	COALESCE(v.version, 0), v.changed_at,
	st.student_id IS NOT NULL
` + sessionStudentFrom

// sessionStudentFrom is the tables of sessionStudentQuery and sessionAccessQuery: the session
// (?1, its id hash), its account and the (nullable) link to student ?2 with the student, the
// link's contact and the student's data version.
const sessionStudentFrom = `FROM session s
JOIN account a ON a.account_id = s.account_id
LEFT JOIN account_student l ON l.account_id = s.account_id AND l.student_id = ?2
LEFT JOIN student st ON st.student_id = l.student_id
LEFT JOIN contact c ON c.contact_id = l.contact_id AND c.student_id = l.student_id AND l.contact_id <> ''
LEFT JOIN student_version v ON v.student_id = l.student_id
WHERE s.id_hash = ?1`

func (s *Store) sessionQuery(ctx context.Context, id, studentID string) (mypt.Session, mypt.Account, mypt.StudentAccess, bool, error) {
	var (
		sess          mypt.Session
		acct          mypt.Account
		raw           accountRaw
		created, seen string
		linked        bool
	)
	prefix := append([]any{&sess.IDHash, &sess.AccountID, &sess.CSRFToken, &created, &seen, &sess.ClientAddr},
		accountDest(&acct, &raw)...)
	row := s.queryRow(ctx, sessionAccessQuery, HashSessionID(id), studentID)
	access, err := scanAccess(wrapScanner{row, prefix, []any{&linked}})
	if errors.Is(err, sql.ErrNoRows) {
		return sess, acct, access, false, fmt.Errorf("sqlite: session: %w", mypt.ErrNotFound)
	}
	if err == nil {
		err = raw.finish(&acct)
	}
	if err == nil {
		sess.CreatedAt, err = ParseTime(created)
	}
	if err == nil {
		sess.LastSeenAt, err = ParseTime(seen)
	}
	if err != nil {
		return sess, acct, access, false, fmt.Errorf("sqlite: read session: %w", err)
	}
	if !linked {
		access = mypt.StudentAccess{}
	}
	return sess, acct, access, linked, nil
}

// wrapScanner scans leading columns into prefix and trailing ones into suffix around what
// Scan is given.
type wrapScanner struct {
	r              scanner
	prefix, suffix []any
}

func (w wrapScanner) Scan(dest ...any) error {
	all := append(append(append([]any{}, w.prefix...), dest...), w.suffix...)
	return w.r.Scan(all...)
}

// TouchSession records activity on the session (for the idle timeout).
func (s *Store) TouchSession(ctx context.Context, idHash []byte, at time.Time) error {
	_, err := s.exec(ctx, "touch session", `UPDATE session SET last_seen_at = ? WHERE id_hash = ? AND last_seen_at < ?`,
		FormatTime(at), idHash, FormatTime(at))
	return err
}

// DeleteSession ends one session; ending one that does not exist is not an error.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	_, err := s.exec(ctx, "delete session", `DELETE FROM session WHERE id_hash = ?`, idHash)
	return err
}

// DeleteAccountSessions ends every session of the account (password change, lock, unlink).
func (s *Store) DeleteAccountSessions(ctx context.Context, accountID int64) error {
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM session WHERE account_id = ?`, accountID)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete sessions of account %d: %w", accountID, err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions idle since before idleBefore or created before
// createdBefore, and returns how many went.
func (s *Store) DeleteExpiredSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error) {
	var n int64
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM session WHERE last_seen_at < ? OR created_at < ?`,
			FormatTime(idleBefore), FormatTime(createdBefore))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired sessions: %w", err)
	}
	return n, nil
}

// WriteAudit appends entries to the audit log in one transaction.
func (s *Store) WriteAudit(ctx context.Context, entries ...mypt.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit_log (at, actor, action, student_id, page, detail,
			client_addr) VALUES (?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, e := range entries {
			at := e.At
			if at.IsZero() {
				at = s.now()
			}
			if _, err := stmt.ExecContext(ctx, FormatTime(at), e.Actor, e.Action, e.StudentID, e.Page, e.Detail,
				e.ClientAddr); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: write audit: %w", err)
	}
	return nil
}

// AuditEntries returns audit entries at or after since, oldest first, at most limit of them.
func (s *Store) AuditEntries(ctx context.Context, since time.Time, limit int) ([]mypt.AuditEntry, error) {
	return queryAll(ctx, s, "audit log", `SELECT at, actor, action, student_id, page, detail, client_addr
		FROM audit_log WHERE at >= ? ORDER BY at, audit_id LIMIT ?`,
		func(r scanner) (mypt.AuditEntry, error) {
			var e mypt.AuditEntry
			var at string
			err := r.Scan(&at, &e.Actor, &e.Action, &e.StudentID, &e.Page, &e.Detail, &e.ClientAddr)
			if err != nil {
				return e, err
			}
			e.At, err = ParseTime(at)
			return e, err
		}, FormatTime(since), limit)
}
