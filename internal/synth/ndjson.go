package synth

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"mypt"
)

// pushRecord is one line of a push batch (DESIGN §4).
type pushRecord struct {
	Entity mypt.Entity `json:"entity"`
	Op     mypt.Op     `json:"op"`
	Data   mypt.Row    `json:"data"`
}

// WriteNDJSON writes rows as one push batch: a delta header with batchID, then one upsert per row.
func WriteNDJSON(w io.Writer, batchID string, rows []mypt.Row) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]string{"batch": batchID, "mode": string(mypt.ModeDelta)}); err != nil {
		return fmt.Errorf("synth: write batch header: %w", err)
	}
	for _, r := range rows {
		if err := enc.Encode(pushRecord{Entity: r.EntityName(), Op: mypt.OpUpsert, Data: r}); err != nil {
			return fmt.Errorf("synth: write %s %s: %w", r.EntityName(), r.Key(), err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("synth: write batch: %w", err)
	}
	return nil
}

// Chunks splits rows into batches of at most n rows, keeping their order (so every batch's
// references were sent in it or before it).
func Chunks(rows []mypt.Row, n int) [][]mypt.Row {
	if n <= 0 {
		n = len(rows)
	}
	var out [][]mypt.Row
	for len(rows) > 0 {
		k := min(n, len(rows))
		out = append(out, rows[:k:k])
		rows = rows[k:]
	}
	return out
}
