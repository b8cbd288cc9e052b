-- mypt's own state, never sent back to the MIS: parent accounts, their links to students,
-- sessions and the audit log. The accounts, mail and mailbox migrations add the rest.

CREATE TABLE account (
    account_id          INTEGER PRIMARY KEY,
    email               TEXT NOT NULL UNIQUE,  -- stored lower-cased
    first_name          TEXT NOT NULL,
    last_name           TEXT NOT NULL,
    password_hash       TEXT NOT NULL,         -- argon2id PHC string
    failed_attempts     INTEGER NOT NULL DEFAULT 0,
    locked_at           TEXT,                  -- NULL = not locked
    lock_reason         TEXT NOT NULL DEFAULT '',
    created_at          TEXT NOT NULL,
    last_login_at       TEXT,
    password_changed_at TEXT NOT NULL
);

-- Which students an account may see. Access also needs the student to be eligible and the
-- contact not barred, re-checked on every request (DESIGN §3).
CREATE TABLE account_student (
    account_id   INTEGER NOT NULL REFERENCES account (account_id) ON DELETE CASCADE,
    student_id   TEXT NOT NULL,
    contact_id   TEXT NOT NULL DEFAULT '',     -- '' when approved by student consent or staff without a contact
    relationship TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL,                -- approved | ended
    approved_at  TEXT NOT NULL,
    approved_by  TEXT NOT NULL,                -- auto | staff:<id> | consent
    ended_at     TEXT,
    end_reason   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (account_id, student_id)
) WITHOUT ROWID;
CREATE INDEX account_student_student ON account_student (student_id);

-- Server-side sessions. id_hash is SHA-256 of the random cookie value: a stolen database holds
-- no usable session ids.
CREATE TABLE session (
    id_hash      BLOB PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES account (account_id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    client_addr  TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX session_account ON session (account_id);

CREATE TABLE audit_log (
    audit_id    INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,   -- account:<id> | staff:<id> | system | mis
    action      TEXT NOT NULL,   -- e.g. view, login, approve, unlock
    student_id  TEXT NOT NULL DEFAULT '',
    page        TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    client_addr TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_student ON audit_log (student_id, at);
