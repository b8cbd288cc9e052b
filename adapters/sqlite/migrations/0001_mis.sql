-- The MIS mirror (DESIGN §3). One table per entity, keyed by the MIS's own identifiers.
-- No foreign keys between MIS tables: rows arrive in any order across batches and the MIS is
-- the authority. Every table has row_hash, a digest of the row's content, so an upsert of an
-- identical row changes nothing (idempotent batches) and can be counted as unchanged.
-- Dates are TEXT 'YYYY-MM-DD'; instants TEXT UTC 'YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ' (fixed width, sorts).

CREATE TABLE student (
    student_id         TEXT PRIMARY KEY,
    legal_first_names  TEXT NOT NULL,
    legal_last_name    TEXT NOT NULL,
    preferred_name     TEXT NOT NULL DEFAULT '',
    date_of_birth      TEXT NOT NULL,
    has_ehcp           INTEGER NOT NULL DEFAULT 0,
    college            TEXT NOT NULL DEFAULT '',
    college_email      TEXT NOT NULL DEFAULT '',
    share_info_consent INTEGER NOT NULL DEFAULT 0,
    status             TEXT NOT NULL,
    left_date          TEXT,
    row_hash           BLOB NOT NULL
);

CREATE TABLE contact (
    contact_id                  TEXT PRIMARY KEY,
    student_id                  TEXT NOT NULL,
    first_name                  TEXT NOT NULL DEFAULT '',
    last_name                   TEXT NOT NULL,
    relationship                TEXT NOT NULL DEFAULT '',
    email                       TEXT NOT NULL DEFAULT '',
    mobile_phone                TEXT NOT NULL DEFAULT '',
    home_phone                  TEXT NOT NULL DEFAULT '',
    is_next_of_kin              INTEGER NOT NULL DEFAULT 0,
    is_verified_contact         INTEGER NOT NULL DEFAULT 0,
    has_parental_responsibility INTEGER NOT NULL DEFAULT 0,
    portal_access_barred        INTEGER NOT NULL DEFAULT 0,
    row_hash                    BLOB NOT NULL
);
CREATE INDEX contact_student ON contact (student_id);
CREATE INDEX contact_email ON contact (email COLLATE NOCASE);

CREATE TABLE course (
    course_id     TEXT PRIMARY KEY,
    code          TEXT NOT NULL,
    title         TEXT NOT NULL,
    level         TEXT NOT NULL DEFAULT '',
    academic_year INTEGER NOT NULL,
    row_hash      BLOB NOT NULL
);

CREATE TABLE enrolment (
    enrolment_id      TEXT PRIMARY KEY,
    student_id        TEXT NOT NULL,
    course_id         TEXT NOT NULL,
    start_date        TEXT NOT NULL,
    expected_end_date TEXT,
    actual_end_date   TEXT,
    status            TEXT NOT NULL,
    row_hash          BLOB NOT NULL
);
CREATE INDEX enrolment_student ON enrolment (student_id);
-- A course's change reaches the students enrolled on it.
CREATE INDEX enrolment_course ON enrolment (course_id);

CREATE TABLE tutor (
    tutor_id     TEXT PRIMARY KEY,
    student_id   TEXT NOT NULL,
    enrolment_id TEXT NOT NULL DEFAULT '',
    name         TEXT NOT NULL,
    role         TEXT NOT NULL DEFAULT '',
    email        TEXT NOT NULL DEFAULT '',
    row_hash     BLOB NOT NULL
);
CREATE INDEX tutor_student ON tutor (student_id);

CREATE TABLE mark_type (
    mark                  TEXT PRIMARY KEY,
    description           TEXT NOT NULL,
    status                INTEGER NOT NULL,
    is_late               INTEGER NOT NULL DEFAULT 0,
    is_authorised_absence INTEGER NOT NULL DEFAULT 0,
    row_hash              BLOB NOT NULL
);

CREATE TABLE attendance_mark (
    mark_id      TEXT PRIMARY KEY,
    student_id   TEXT NOT NULL,
    enrolment_id TEXT NOT NULL,
    session_date TEXT NOT NULL,
    start_time   TEXT NOT NULL,
    end_time     TEXT NOT NULL,
    mark         TEXT NOT NULL DEFAULT '',  -- '' = not yet marked
    row_hash     BLOB NOT NULL
);
-- A student's marks for a year are one range scan, already in report order.
CREATE INDEX attendance_mark_student_date ON attendance_mark (student_id, session_date, start_time);

CREATE TABLE document (
    document_id  TEXT PRIMARY KEY,
    student_id   TEXT NOT NULL,
    title        TEXT NOT NULL,
    category     TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    content      BLOB NOT NULL,
    row_hash     BLOB NOT NULL
);
CREATE INDEX document_student ON document (student_id, created_at);

CREATE TABLE achievement (
    achievement_id TEXT PRIMARY KEY,
    student_id     TEXT NOT NULL,
    qualification  TEXT NOT NULL,
    subject        TEXT NOT NULL DEFAULT '',
    grade          TEXT NOT NULL DEFAULT '',
    award_date     TEXT,
    row_hash       BLOB NOT NULL
);
CREATE INDEX achievement_student ON achievement (student_id);

CREATE TABLE target_grade (
    enrolment_id TEXT PRIMARY KEY,
    student_id   TEXT NOT NULL,
    grade        TEXT NOT NULL,
    row_hash     BLOB NOT NULL
);
CREATE INDEX target_grade_student ON target_grade (student_id);

CREATE TABLE target (
    target_id          TEXT PRIMARY KEY,
    student_id         TEXT NOT NULL,
    enrolment_id       TEXT NOT NULL DEFAULT '',
    text               TEXT NOT NULL,
    set_by             TEXT NOT NULL DEFAULT '',
    created_by_student INTEGER NOT NULL DEFAULT 0,
    set_date           TEXT NOT NULL,
    due_date           TEXT,
    status             TEXT NOT NULL,
    reviewed_date      TEXT,
    row_hash           BLOB NOT NULL
);
CREATE INDEX target_student ON target (student_id, set_date);

CREATE TABLE policy_read (
    policy_read_id TEXT PRIMARY KEY,
    student_id     TEXT NOT NULL,
    policy         TEXT NOT NULL,
    read_at        TEXT NOT NULL,
    row_hash       BLOB NOT NULL
);
CREATE INDEX policy_read_student ON policy_read (student_id);

CREATE TABLE meeting (
    meeting_id TEXT PRIMARY KEY,
    student_id TEXT NOT NULL,
    type       TEXT NOT NULL,
    held_on    TEXT NOT NULL,
    staff_name TEXT NOT NULL DEFAULT '',
    notes      TEXT NOT NULL DEFAULT '',
    row_hash   BLOB NOT NULL
);
CREATE INDEX meeting_student ON meeting (student_id, held_on);

CREATE TABLE further_detail (
    student_id                        TEXT PRIMARY KEY,
    consent_for_visits                INTEGER,  -- NULL = not recorded
    consent_for_photographs           INTEGER,
    consent_for_medical_treatment     INTEGER,
    consent_for_sharing_with_employers INTEGER,
    row_hash                          BLOB NOT NULL
);

-- Precomputed in the same transaction as the marks they summarise, so the portal's home page
-- and report are cheap. Counts follow mypt.Tally under the configured unmarked policy (recorded in
-- cache_meta; a change of policy recomputes every row at Open). week_start is the Monday; a week
-- that straddles 1 August has one row per academic year, each counting only that year's sessions.
-- A row exists for every week with any session; the report shows only weeks whose possible
-- (present + late + absent + authorised_absent) is above 0, as mypt.GroupWeeks does.
CREATE TABLE attendance_week (
    student_id        TEXT NOT NULL,
    academic_year     INTEGER NOT NULL,
    week_start        TEXT NOT NULL,
    present           INTEGER NOT NULL,
    late              INTEGER NOT NULL,
    absent            INTEGER NOT NULL,
    authorised_absent INTEGER NOT NULL,
    neutral           INTEGER NOT NULL,
    unmarked          INTEGER NOT NULL,
    PRIMARY KEY (student_id, academic_year, week_start)
) WITHOUT ROWID;

-- One row per student, academic year and enrolment; enrolment_id '' is the whole year. Counts as
-- attendance_week; a row exists while the student has any session in that year (and enrolment).
CREATE TABLE attendance_year (
    student_id        TEXT NOT NULL,
    academic_year     INTEGER NOT NULL,
    enrolment_id      TEXT NOT NULL,
    present           INTEGER NOT NULL,
    late              INTEGER NOT NULL,
    absent            INTEGER NOT NULL,
    authorised_absent INTEGER NOT NULL,
    neutral           INTEGER NOT NULL,
    unmarked          INTEGER NOT NULL,
    PRIMARY KEY (student_id, academic_year, enrolment_id)
) WITHOUT ROWID;

-- Each student's data version: bumped in every transaction that changes any of their rows, so
-- rendered pages can be cached per (student, version). changed_at feeds "data as of".
CREATE TABLE student_version (
    student_id TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    changed_at TEXT NOT NULL
) WITHOUT ROWID;

-- Batches already applied (push idempotency): digest is of the batch's content, so a reused id
-- with other content is refused rather than silently ignored.
CREATE TABLE ingest_batch (
    batch_id   TEXT PRIMARY KEY,
    source     TEXT NOT NULL,
    digest     BLOB NOT NULL,
    applied_at TEXT NOT NULL,
    upserted   INTEGER NOT NULL,
    unchanged  INTEGER NOT NULL,
    deleted    INTEGER NOT NULL,
    rejected   INTEGER NOT NULL DEFAULT 0
);

-- How far each source has read each entity; committed with the rows it covers.
CREATE TABLE sync_watermark (
    source     TEXT NOT NULL,
    entity     TEXT NOT NULL,
    value      BLOB NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (source, entity)
) WITHOUT ROWID;

-- When each entity last received data from any source (the portal's "data as of").
CREATE TABLE entity_freshness (
    entity     TEXT PRIMARY KEY,
    source     TEXT NOT NULL,
    applied_at TEXT NOT NULL
) WITHOUT ROWID;

-- Small facts about the cache itself, e.g. 'attendance_unmarked': the unmarked policy the
-- precomputed attendance rows were counted under.
CREATE TABLE cache_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
