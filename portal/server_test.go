package portal

import (
	"net/http"
	"strings"
	"testing"
)

func TestSmokeSignInAndPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.signedIn(parentEmail, parentPass)
	for _, p := range []string{"/", "/students/" + seedStudent, "/students/" + seedStudent + "/attendance?year=2018",
		"/students/" + seedStudent + "/details", "/help", "/help/attendance"} {
		r := h.get(c, p)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d\n%s", p, r.StatusCode, r.body)
		}
		if strings.Contains(r.body, "D&amp;#39;") || strings.Contains(r.body, "&amp;amp;") {
			t.Errorf("%s: escaped twice", p)
		}
	}
}
