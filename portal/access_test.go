package portal

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"mypt"
)

// studentRoutes are every student route, relative to /students/<id>.
var studentRoutes = []string{"", "/attendance", "/attendance?year=2018", "/attendance.pdf", "/details",
	"/further-details", "/achievements", "/documents", "/documents/D1", "/ilp/policies", "/ilp/target-grades",
	"/ilp/targets", "/meetings"}

// TestAccessRule: every student route × {own child, other family's child, unknown id,
// malformed id, barred contact, over age, signed out, session expired}. Only "own child" shows
// data; the rest are the same 404 page byte for byte, or a redirect to sign-in. The audit log
// records exactly what was shown.
func TestAccessRule(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.signedIn(parentEmail, parentPass)
	ref := h.get(c, "/students/00000000/attendance")
	if ref.StatusCode != http.StatusNotFound {
		t.Fatalf("reference 404: %d", ref.StatusCode)
	}
	if r := h.get(c, "/no/such/page"); r.StatusCode != 404 || r.body != ref.body {
		t.Errorf("router 404 differs from the student 404")
	}
	hidden := map[string]string{
		"other family's child": otherFamilyID,
		"unknown id":           "99999999",
		"malformed id":         "bad%09id%00",
		"overlong id":          strings.Repeat("9", 65),
		"barred contact":       barredID,
		"over age limit":       tooOldID,
	}
	shown := 0
	for _, route := range studentRoutes {
		t.Run("own child"+route, func(t *testing.T) {
			r := h.get(c, "/students/"+seedStudent+route)
			if r.StatusCode != http.StatusOK {
				t.Fatalf("status %d", r.StatusCode)
			}
			if strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") &&
				!strings.Contains(r.body, `<a class="brand" href="/">Croydon and Coulsdon Colleges <span>`) {
				t.Error("the layout does not show the organisation's name (a view model field shadows Base?)")
			}
			if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			shown++
		})
		for name, id := range hidden {
			t.Run(name+route, func(t *testing.T) {
				r := h.get(c, "/students/"+id+route)
				if r.StatusCode != http.StatusNotFound || r.body != ref.body {
					t.Errorf("status %d; same page as the reference 404: %v", r.StatusCode, r.body == ref.body)
				}
				if r.Header.Get("Content-Disposition") != "" {
					t.Error("a 404 carries Content-Disposition")
				}
			})
		}
		t.Run("signed out"+route, func(t *testing.T) {
			r := h.get(h.client(), "/students/"+seedStudent+route)
			if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login?next=") {
				t.Errorf("status %d location %q", r.StatusCode, r.Header.Get("Location"))
			}
			if strings.Contains(r.body, "Siobhán") {
				t.Error("personal data in the redirect")
			}
		})
	}
	t.Run("other family's document via own child", func(t *testing.T) {
		r := h.get(c, "/students/"+seedStudent+"/documents/D3")
		if r.StatusCode != http.StatusNotFound || r.body != ref.body {
			t.Errorf("status %d", r.StatusCode)
		}
	})
	t.Run("home lists only visible children", func(t *testing.T) {
		r := h.get(c, "/")
		for _, id := range []string{seedStudent, siblingID} {
			if !strings.Contains(r.body, id) {
				t.Errorf("home lacks %s", id)
			}
		}
		for _, id := range []string{otherFamilyID, barredID, tooOldID} {
			if strings.Contains(r.body, id) {
				t.Errorf("home shows %s", id)
			}
		}
		if !strings.Contains(r.body, "Coulsdon College") || !strings.Contains(r.body, "Croydon College") {
			t.Error("each child is not shown with their own college")
		}
	})
	h.flushAudit()
	entries, err := h.store.AuditEntries(context.Background(), time.Time{}, 10000)
	if err != nil {
		t.Fatal(err)
	}
	views := 0
	for _, e := range entries {
		if e.Action != "view" {
			continue
		}
		if e.StudentID != seedStudent && e.StudentID != siblingID {
			t.Errorf("audit records a view of %s (%s)", e.StudentID, e.Page)
		}
		if e.Page != "home" {
			views++
			if e.Actor != actor(h.parent) || e.ClientAddr != "127.0.0.1" || e.At.IsZero() {
				t.Errorf("audit entry %+v", e)
			}
		}
	}
	if views != shown {
		t.Errorf("audit has %d views of student pages, %d were shown", views, shown)
	}

	t.Run("session expired", func(t *testing.T) {
		h.clock.Advance(21 * time.Minute)
		for _, route := range studentRoutes {
			r := h.get(c, "/students/"+seedStudent+route)
			if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
				t.Errorf("%s: status %d", route, r.StatusCode)
			}
		}
	})
}

func TestSessionLifetimes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.signedIn(parentEmail, parentPass)
	page := "/students/" + seedStudent + "/details"
	// Activity every 10 minutes keeps the session until its absolute lifetime of 8 hours.
	for i := 0; i < 47; i++ {
		h.clock.Advance(10 * time.Minute)
		if r := h.get(c, page); r.StatusCode != 200 {
			t.Fatalf("after %d min: status %d", (i+1)*10, r.StatusCode)
		}
	}
	h.clock.Advance(11 * time.Minute) // 8h01m after sign-in
	if r := h.get(c, page); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("past the absolute lifetime: status %d", r.StatusCode)
	}
}

func TestLinkEndedOrLockedHidesAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.signedIn(parentEmail, parentPass)
	page := "/students/" + seedStudent + "/attendance"
	if r := h.get(c, page); r.StatusCode != 200 {
		t.Fatal(r.StatusCode)
	}
	ctx := context.Background()
	if err := h.store.LinkStudent(ctx, mypt.StudentLink{AccountID: h.parent, StudentID: seedStudent, ContactID: "K1",
		Status: mypt.LinkEnded}); err != nil {
		t.Fatal(err)
	}
	if r := h.get(c, page); r.StatusCode != 404 {
		t.Errorf("ended link: status %d", r.StatusCode)
	}
	if err := h.store.Lock(ctx, h.parent, "staff"); err != nil {
		t.Fatal(err)
	}
	if r := h.get(c, "/students/"+siblingID+"/attendance"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("locked account: status %d", r.StatusCode)
	}
}

func TestSignOutEndsSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.signedIn(parentEmail, parentPass)
	old := h.sessionCookie(c)
	home := h.get(c, "/")
	r := h.do(c, "POST", "/logout", map[string][]string{"csrf_token": {csrfOf(t, home.body)}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login?signed_out=1" {
		t.Fatalf("logout: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if _, err := h.store.Session(context.Background(), old); err == nil {
		t.Error("the session survives sign-out on the server")
	}
	// Replaying the old cookie does not work either.
	c2 := h.client()
	req, _ := http.NewRequest("GET", h.ts.URL+"/students/"+seedStudent+"/attendance", nil)
	req.AddCookie(&http.Cookie{Name: "__Host-mypt_session", Value: old})
	resp, err := c2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("old cookie: status %d", resp.StatusCode)
	}
	// Sign-out without the CSRF token is refused.
	c3 := h.signedIn(parentEmail, parentPass)
	if r := h.do(c3, "POST", "/logout", map[string][]string{"csrf_token": {"wrong"}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("logout with a bad token: %d", r.StatusCode)
	}
}

// A sync that changes a student's marks shows at once: the page cache is keyed by the
// student's data version.
func TestAttendanceCacheFollowsDataVersion(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.signedIn(parentEmail, parentPass)
	page := "/students/" + seedStudent + "/attendance?year=2018"
	if r := h.get(c, page); !strings.Contains(r.body, "<dt>Attended</dt><dd>60</dd>") {
		t.Fatal("seed totals not shown")
	}
	b := mypt.Batch{ID: "change-1", Source: "test", Mode: mypt.ModeDelta, Records: []mypt.Record{{
		Entity: mypt.EntityAttendanceMark, Op: mypt.OpUpsert, Key: "AM0001",
		Row: mypt.AttendanceMark{MarkID: "AM0001", StudentID: seedStudent, EnrolmentID: "E1",
			SessionDate: ukDate("10/09/2018"), StartTime: "09:00", EndTime: "12:00", Mark: "O"}}}}
	if _, err := h.store.ApplyBatch(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	r := h.get(c, page)
	if !strings.Contains(r.body, "<dt>Attended</dt><dd>59</dd>") || !strings.Contains(r.body, `<th scope="row">10/09/2018</th><td><span class="mark absent"`) {
		t.Errorf("the change is not shown:\n%s", r.body)
	}
}

// The year selector offers every year with marks; ?year= picks one; without it the report
// shows this academic year, or the newest year with marks.
func TestYearSelector(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	loadRowsID(t, h, "older-year", mypt.AttendanceMark{MarkID: "OLD1", StudentID: seedStudent, EnrolmentID: "E1",
		SessionDate: date("2017-10-02"), StartTime: "09:00", EndTime: "12:00", Mark: "/"})
	c := h.signedIn(parentEmail, parentPass)
	r := h.get(c, "/students/"+seedStudent+"/attendance")
	if !strings.Contains(r.body, `<option value="2018" selected>2018/19</option>`) || !strings.Contains(r.body, `<option value="2017">2017/18</option>`) {
		t.Errorf("default year or options wrong:\n%s", r.body)
	}
	r = h.get(c, "/students/"+seedStudent+"/attendance?year=2017")
	if !strings.Contains(r.body, `<option value="2017" selected>2017/18</option>`) || !strings.Contains(r.body, "<dt>Total Marks</dt><dd>1</dd>") {
		t.Errorf("2017/18 not shown")
	}
	if r := h.get(c, "/students/"+seedStudent+"/attendance?year=abc"); r.StatusCode != 404 {
		t.Errorf("malformed year: %d", r.StatusCode)
	}
	// A year the student has no marks for is the same 404 as any other missing page, as HTML
	// and as PDF (the current academic year, which may have none yet, is the exception).
	for _, p := range []string{"/attendance?year=2016", "/attendance?year=1900", "/attendance.pdf?year=2016", "/attendance.pdf?year=1900"} {
		if r := h.get(c, "/students/"+seedStudent+p); r.StatusCode != 404 || !strings.Contains(r.body, "<h1>Page not found</h1>") {
			t.Errorf("%s: %d\n%s", p, r.StatusCode, r.body)
		}
	}
}

func TestYearShown(t *testing.T) {
	t.Parallel()
	years := []int{2018, 2017}
	for _, c := range []struct {
		year int
		want bool
	}{{2018, true}, {2017, true}, {2019, true}, {2016, false}, {1900, false}} {
		if got := yearShown(c.year, years, 2019); got != c.want {
			t.Errorf("yearShown(%d) = %v", c.year, got)
		}
	}
	if !yearShown(2019, nil, 2019) {
		t.Error("the current year with no marks at all")
	}
}

func loadRowsID(t *testing.T, h *harness, id string, rows ...mypt.Row) {
	t.Helper()
	b := mypt.Batch{ID: id, Source: "test", Mode: mypt.ModeDelta}
	for _, r := range rows {
		b.Records = append(b.Records, mypt.Record{Entity: r.EntityName(), Op: mypt.OpUpsert, Key: r.Key(), Row: r})
	}
	if _, err := h.store.ApplyBatch(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}
