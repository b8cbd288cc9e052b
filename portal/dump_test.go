package portal

import (
	"os"
	"testing"
)

func TestDump(t *testing.T) {
	if os.Getenv("DUMP") == "" {
		t.Skip()
	}
	h := newHarness(t)
	c := h.signedIn(parentEmail, parentPass)
	r := h.get(c, os.Getenv("DUMP"))
	os.WriteFile("/tmp/dump.out", []byte(r.body), 0o644)
	t.Log(r.StatusCode, r.Header)
}
