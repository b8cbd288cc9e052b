-- Batches of a pull pass that are read but not yet applied (stage.go). A pass larger than one
-- batch is read whole into pull_stage first, so a failure while reading the MIS leaves the
-- cache and its watermark exactly as they were before the pass.
CREATE TABLE pull_stage (
    source  TEXT NOT NULL,
    entity  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    records BLOB NOT NULL,    -- one JSON record per line: {"op":…,"key":…,"data":{…}}
    PRIMARY KEY (source, entity, seq)
);

-- A pass read to its end: its staged batches are being applied in seq order, the last one
-- together with this watermark. A process that stops while publishing finishes at next start.
CREATE TABLE pull_stage_ready (
    source    TEXT NOT NULL,
    entity    TEXT NOT NULL,
    watermark BLOB NOT NULL,
    ready_at  TEXT NOT NULL,
    PRIMARY KEY (source, entity)
);
