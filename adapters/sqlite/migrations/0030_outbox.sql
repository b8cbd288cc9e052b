-- The email outbox (DESIGN §5): every email is inserted in the same transaction as the change
-- that causes it, then delivered at least once by the outbox worker (syncer/outbox.go).
-- A row is pending while sent_at and failed_at are both NULL.
CREATE TABLE outbox (
    -- AUTOINCREMENT: an id is never reused after old rows are purged, so Message-IDs stay unique.
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id      TEXT NOT NULL UNIQUE,       -- "mypt.<id>.<random>"; the adapter adds "@<domain>"
    event_key       TEXT NOT NULL UNIQUE,       -- one email per event: a second enqueue is a no-op
    recipient       TEXT NOT NULL,              -- email address
    recipient_name  TEXT NOT NULL DEFAULT '',
    subject         TEXT NOT NULL,
    text            TEXT NOT NULL,
    html            TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,              -- also the message's Date header
    attempts        INTEGER NOT NULL DEFAULT 0, -- claims so far (a claim is an attempt)
    next_attempt_at TEXT,                       -- due time while pending; NULL once sent or abandoned
    sent_at         TEXT,
    failed_at       TEXT,                       -- abandoned: permanent failure or too many attempts
    last_error      TEXT NOT NULL DEFAULT '',
    transport       TEXT NOT NULL DEFAULT ''    -- smtp | graph | file, of the last attempt
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;
