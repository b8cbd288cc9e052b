package portal

import (
	"strings"
	"testing"
)

// The MIS level is shown as the MIS has it ("Level 3"), not prefixed a second time.
func TestDetailsShowsLevelAsIs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.signedIn(parentEmail, parentPass)
	r := h.get(c, "/students/"+seedStudent+"/details")
	if r.StatusCode != 200 || !strings.Contains(r.body, ">Level 3<") || strings.Contains(r.body, "Level Level") {
		t.Errorf("details: %d\n%s", r.StatusCode, r.body)
	}
}
