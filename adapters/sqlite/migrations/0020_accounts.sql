-- Account requests, one-time tokens, staff users and sessions, and access-ended records
-- (the accounts area). Instants are TimeFormat UTC text; dates YYYY-MM-DD.

CREATE TABLE account_request (
    request_id          INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: email event keys name it
    state               TEXT NOT NULL CHECK (state IN ('unverified', 'awaiting_consent', 'awaiting_staff', 'approved', 'rejected')),
    parent_first_name   TEXT NOT NULL,           -- exactly as typed (DM-3)
    parent_last_name    TEXT NOT NULL,
    email               TEXT NOT NULL,           -- trimmed, lower-cased
    password_hash       TEXT NOT NULL,           -- argon2id PHC; cleared once decided
    student_id          TEXT NOT NULL,
    student_first_names TEXT NOT NULL,
    student_last_name   TEXT NOT NULL,
    student_dob         TEXT NOT NULL,
    relationship        TEXT NOT NULL,
    mobile_phone        TEXT NOT NULL DEFAULT '', -- E.164
    home_phone          TEXT NOT NULL DEFAULT '',
    client_addr         TEXT NOT NULL DEFAULT '',
    created_at          TEXT NOT NULL,
    verified_at         TEXT,
    decided_at          TEXT,
    decided_by          TEXT NOT NULL DEFAULT '', -- auto | staff:<id> | consent | system
    reason              TEXT NOT NULL DEFAULT '', -- staff's reason or the deciding check
    match_report        TEXT,                     -- JSON mypt.MatchReport
    contact_id          TEXT NOT NULL DEFAULT '',
    account_id          INTEGER REFERENCES account (account_id) ON DELETE SET NULL
);
CREATE INDEX account_request_state ON account_request (state, created_at);
CREATE INDEX account_request_email ON account_request (email);
CREATE INDEX account_request_student ON account_request (student_id);

-- One-time tokens: only the SHA-256 of the random 32 bytes is stored.
CREATE TABLE one_time_token (
    token_hash  BLOB PRIMARY KEY,
    purpose     TEXT NOT NULL CHECK (purpose IN ('verify', 'reset', 'consent')),
    request_id  INTEGER REFERENCES account_request (request_id) ON DELETE CASCADE,
    account_id  INTEGER REFERENCES account (account_id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
) WITHOUT ROWID;
CREATE INDEX one_time_token_request ON one_time_token (request_id, purpose);
CREATE INDEX one_time_token_account ON one_time_token (account_id, purpose);

CREATE TABLE staff_user (
    staff_id        INTEGER PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,        -- lower-cased
    name            TEXT NOT NULL DEFAULT '',
    password_hash   TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    last_login_at   TEXT,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_at       TEXT,
    disabled        INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE staff_session (
    id_hash      BLOB PRIMARY KEY,
    staff_id     INTEGER NOT NULL REFERENCES staff_user (staff_id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX staff_session_staff ON staff_session (staff_id);

-- Why a parent's access to a student stopped, for staff.
CREATE TABLE access_ended (
    access_ended_id INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL,
    student_id      TEXT NOT NULL,
    reason          TEXT NOT NULL,
    detail          TEXT NOT NULL DEFAULT '',
    at              TEXT NOT NULL
);
CREATE INDEX access_ended_account ON access_ended (account_id, at);
