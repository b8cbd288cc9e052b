-- The mailbox queues its emails in the outbox owned by the mail area (0030_outbox.sql). This
-- creates the same table only where 0030 has not run (the mailbox branch on its own), so the
-- mailbox works and is tested before and after the two are merged; with 0030 present it does
-- nothing.
CREATE TABLE IF NOT EXISTS outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id      TEXT NOT NULL UNIQUE,
    event_key       TEXT NOT NULL UNIQUE,
    recipient       TEXT NOT NULL,
    recipient_name  TEXT NOT NULL DEFAULT '',
    subject         TEXT NOT NULL,
    text            TEXT NOT NULL,
    html            TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    sent_at         TEXT,
    failed_at       TEXT,
    last_error      TEXT NOT NULL DEFAULT '',
    transport       TEXT NOT NULL DEFAULT ''
);
