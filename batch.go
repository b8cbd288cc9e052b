package mypt

// Op is what a batch record does to its row.
type Op string

const (
	OpUpsert Op = "upsert"
	OpDelete Op = "delete"
)

// Mode is how a batch is applied.
type Mode string

const (
	// ModeDelta applies each record and leaves every other row alone.
	ModeDelta Mode = "delta"
	// ModeSnapshot replaces the named entities: rows absent from the batch are deleted.
	ModeSnapshot Mode = "snapshot"
)

// Record is one change in a batch.
type Record struct {
	Line   int // the record's line in an NDJSON batch (1-based), or 0
	Entity Entity
	Op     Op
	Key    string // the row's key; for upserts it equals Row.Key()
	Row    Row    // nil for deletes
}

// Watermark is how far a source has read one entity: for SQL Server the 8-byte rowversion of the
// last row applied, compared big-endian.
type Watermark struct {
	Entity Entity
	Value  []byte
}

// Batch is a set of changes applied whole, in one cache transaction, with the source's watermarks.
type Batch struct {
	// ID makes the batch idempotent: applying a batch whose ID was already applied changes nothing.
	// Empty for batches that are idempotent by their watermark (the pull syncer's).
	ID       string
	Source   string // "push", "mssql", "demo" …
	Mode     Mode
	Entities []Entity // for ModeSnapshot: the entities the batch replaces
	// Force lets a snapshot delete more than the configured share of an entity's rows.
	Force bool
	// AllOrNothing refuses the whole batch if any record is rejected (the push API's rule);
	// otherwise bad records are reported and the rest applied (the pull syncer's rule).
	AllOrNothing bool
	Records      []Record
	Watermarks   []Watermark
}

// Rejection is one record that was not applied, with its line, key and reason.
type Rejection struct {
	Line   int
	Entity Entity
	Key    string
	Reason string
}

// BatchResult says what applying a batch did.
type BatchResult struct {
	Duplicate bool // the batch ID had already been applied; nothing changed
	Upserted  int  // rows inserted or changed
	Unchanged int  // upserts whose row was already identical
	Deleted   int  // rows deleted (by delete records or by a snapshot)
	Rejected  []Rejection
	// Students lists the students whose data changed, so caches of their pages can be dropped.
	Students []string
}
