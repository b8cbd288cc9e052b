-- Run history of the pull syncer (mssql): one row per entity per pass, for the staff site,
-- `mypt sync --once` output and post-mortems. Errors are stored as text without secrets.
CREATE TABLE sync_run (
    run_id      INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,
    entity      TEXT NOT NULL,
    kind        TEXT NOT NULL,            -- incremental | full | reconcile
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    result      TEXT NOT NULL,            -- success | failure
    read_rows   INTEGER NOT NULL DEFAULT 0,
    upserted    INTEGER NOT NULL DEFAULT 0,
    unchanged   INTEGER NOT NULL DEFAULT 0,
    rejected    INTEGER NOT NULL DEFAULT 0,
    deleted     INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sync_run_entity ON sync_run (source, entity, started_at);
