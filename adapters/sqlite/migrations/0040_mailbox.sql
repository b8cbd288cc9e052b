-- The support mailbox (issue #6): where the watcher got to, which messages have acted (each
-- Message-ID at most once, across UIDVALIDITY changes and restarts), what staff must review,
-- and the rate limits on automatic unlocks and acknowledgements.

CREATE TABLE mailbox_checkpoint (
    folder      TEXT PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL,
    updated_at  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE mailbox_processed (
    message_key  TEXT PRIMARY KEY,   -- mid:<Message-ID>, or sha256:<hex of the raw message>
    folder       TEXT NOT NULL,
    uidvalidity  INTEGER NOT NULL,
    uid          INTEGER NOT NULL,
    outcome      TEXT NOT NULL,      -- unlocked | review
    processed_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX mailbox_processed_at ON mailbox_processed (processed_at);

CREATE TABLE mailbox_review_item (
    review_id    INTEGER PRIMARY KEY,
    message_key  TEXT NOT NULL UNIQUE REFERENCES mailbox_processed (message_key) ON DELETE CASCADE,
    received_at  TEXT NOT NULL,
    from_address TEXT NOT NULL,
    from_name    TEXT NOT NULL DEFAULT '',
    subject      TEXT NOT NULL DEFAULT '',
    student_ids  TEXT NOT NULL DEFAULT '',  -- as found, comma-separated
    name         TEXT NOT NULL DEFAULT '',
    phone        TEXT NOT NULL DEFAULT '',
    account_id   INTEGER REFERENCES account (account_id) ON DELETE SET NULL,
    reason       TEXT NOT NULL,
    auth         TEXT NOT NULL DEFAULT '',
    excerpt      TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT 'open',  -- open | done
    resolved_at  TEXT,
    resolved_by  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX mailbox_review_open ON mailbox_review_item (status, received_at);

-- Automatic unlocks (subject = account id) and acknowledgements (subject = address), for the
-- "once per 24 hours" rules.
CREATE TABLE mailbox_action (
    action_id   INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,   -- unlock | ack
    subject     TEXT NOT NULL,
    at          TEXT NOT NULL,
    message_key TEXT NOT NULL
);
CREATE INDEX mailbox_action_lookup ON mailbox_action (kind, subject, at);
