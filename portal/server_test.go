package portal

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
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

// A request that finishes after Close still gets its audit record, and nothing panics.
func TestAuditAfterClose(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.signedIn(parentEmail, parentPass)
	if err := h.srv.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := h.get(c, "/students/"+seedStudent+"/meetings"); r.StatusCode != 200 {
		t.Fatalf("status %d", r.StatusCode)
	}
	es, err := h.store.AuditEntries(context.Background(), time.Time{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) == 0 || es[len(es)-1].Page != "meetings" {
		t.Errorf("the late view was not audited: %+v", es)
	}
}

// PM-2: the sign-in and lockout series exist at 0 before anything happens; PM-1: a second
// server on the same registry does not panic.
func TestSignInMetricsExportedAtStart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		series[mf.GetName()] = len(mf.GetMetric())
	}
	if series["mypt_signins_total"] != 4 || series["mypt_lockouts_total"] != 1 {
		t.Errorf("series at start: signins %d, lockouts %d", series["mypt_signins_total"], series["mypt_lockouts_total"])
	}
	second, err := New(Options{Store: h.store, Registerer: h.reg, College: testCollege()})
	if err != nil {
		t.Fatalf("second server on the same registry: %v", err)
	}
	second.Close(context.Background())
}
