-- One-time tokens are not kept readable in the outbox once their email is done with (mail.md):
-- `secret` holds the raw token an email's links carry while the email may still be delivered,
-- and the transaction that marks it sent, given up or expired replaces each link holding it with
-- a placeholder and clears the column. Event keys name a token by a hash prefix, never the token.
ALTER TABLE outbox ADD COLUMN secret TEXT;            -- NULL: no token, or already scrubbed
ALTER TABLE outbox ADD COLUMN secret_expires_at TEXT; -- when the token dies; NULL: not known

-- Rows queued before this migration: the token is the rest of the link's line after "?token=".
UPDATE outbox
SET secret = substr(text, instr(text, '?token=') + 7,
                    instr(substr(text, instr(text, '?token=') + 7) || char(10), char(10)) - 1)
WHERE instr(text, '?token=') > 0;
UPDATE outbox SET secret = NULL WHERE secret = '';

-- Sent and given-up rows already holding a token: replace the link (from the start of its line,
-- or its last space, to the end of the token) and any other copy of the token in text and html.
UPDATE outbox
SET text = replace(replace(outbox.text, l.link, '[link removed after sending]'), outbox.secret, '[link removed after sending]'),
    html = replace(replace(outbox.html, l.link, '[link removed after sending]'), outbox.secret, '[link removed after sending]')
FROM (
    SELECT id, substr(text, b + 1, p + 7 + length(secret) - (b + 1)) AS link
    FROM (
        SELECT id, text, secret, p,
               length(rtrim(substr(text, 1, p - 1),
                            replace(replace(substr(text, 1, p - 1), char(10), ''), ' ', ''))) AS b
        FROM (SELECT id, text, secret, instr(text, '?token=') AS p FROM outbox
              WHERE secret IS NOT NULL AND (sent_at IS NOT NULL OR failed_at IS NOT NULL))
    )
) AS l
WHERE outbox.id = l.id;
UPDATE outbox SET secret = NULL WHERE sent_at IS NOT NULL OR failed_at IS NOT NULL;

-- Event keys that held a prefix of the raw token ("reset:<16>", "request:<id>:verify:<12>"):
-- the row id keeps them unique, and no new email is ever keyed by an old token.
UPDATE outbox SET event_key = 'reset:legacy:' || id WHERE event_key LIKE 'reset:%';
UPDATE outbox SET event_key = substr(event_key, 1, instr(event_key, ':verify:') + 7) || 'legacy:' || id
WHERE event_key GLOB 'request:[0-9]*:verify:*';
