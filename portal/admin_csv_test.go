package portal

import (
	"strings"
	"testing"
	"time"

	"mypt"
)

// No cell of the audit export can start a formula, whichever field an outsider typed into.
func TestAuditCSVRecordEveryCellSafe(t *testing.T) {
	t.Parallel()
	e := mypt.AuditEntry{At: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC), Actor: "=cmd|' /C calc'!A0", Action: "+1",
		StudentID: "-A1", Page: "@SUM(1)", Detail: "\t=1", ClientAddr: "=HYPERLINK(\"x\")"}
	rec := auditCSVRecord(e)
	if rec[0] != "2026-12-03T09:00:00Z" {
		t.Errorf("time cell %q", rec[0])
	}
	for i, c := range rec[1:] {
		if c == "" || !strings.HasPrefix(c, "'") {
			t.Errorf("cell %d = %q: not made safe", i+1, c)
		}
	}
	if got := auditCSVRecord(mypt.AuditEntry{Actor: "staff:1", StudentID: "18100000"}); got[1] != "staff:1" || got[3] != "18100000" {
		t.Errorf("plain cells changed: %q", got)
	}
}
