package portal

import (
	"strings"
	"testing"

	"mypt"
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

// The student menu has the seed's groups (as headings) and names, and each page is titled with
// its menu name.
func TestStudentNavFollowsSeed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.signedIn(parentEmail, parentPass)
	pages := []struct{ path, group, name string }{
		{"/attendance?year=2018", "Reports", "Attendance &amp; punctuality report"},
		{"/details", "Student Information", "Student Details"},
		{"/further-details", "Student Information", "Further Details"},
		{"/achievements", "Student Information", "Achievements on Entry"},
		{"/documents", "Student Information", "Uploaded Documents"},
		{"/ilp/policies", "ILP", "Information I Have Read"},
		{"/ilp/target-grades", "ILP", "Target Minimum Grades"},
		{"/ilp/targets", "ILP", "My SMART Targets"},
		{"/meetings", "Meetings", "My Meetings"},
	}
	for _, p := range pages {
		r := h.get(c, "/students/"+seedStudent+p.path)
		if r.StatusCode != 200 {
			t.Fatalf("%s: %d", p.path, r.StatusCode)
		}
		nav := r.body[strings.Index(r.body, `<nav class="student-nav"`):]
		nav = nav[:strings.Index(nav, "</nav>")]
		last := 0
		for _, g := range []string{">Reports</h2>", ">Student Information</h2>", ">ILP</h2>", ">Meetings</h2>"} {
			i := strings.Index(nav, g)
			if i < last {
				t.Errorf("%s: menu heading %q missing or out of order", p.path, g)
			}
			last = i
		}
		for _, q := range pages {
			if !strings.Contains(nav, ">"+q.name+"</a>") {
				t.Errorf("%s: menu lacks %q", p.path, q.name)
			}
		}
		if !strings.Contains(nav, `aria-current="page">`+p.name+"</a>") {
			t.Errorf("%s: %q is not the current page", p.path, p.name)
		}
		if !strings.Contains(r.body, "<title>"+p.name) || !strings.Contains(r.body, "<h1>"+p.name) {
			t.Errorf("%s: title or heading is not %q", p.path, p.name)
		}
	}
}

// The key lists marks as the seed does: present first, then absent, then late.
func TestAttendanceKeyOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.signedIn(parentEmail, parentPass)
	r := h.get(c, "/students/"+seedStudent+"/attendance?year=2018")
	key := r.body[strings.Index(r.body, `<dl class="key">`):]
	key = key[:strings.Index(key, "</dl>")]
	last := -1
	for _, m := range []string{"Mark /<", `Mark \<`, "Mark O<", "Mark L<"} {
		i := strings.Index(key, m)
		if i <= last {
			t.Fatalf("key order: %q missing or out of place in\n%s", m, key)
		}
		last = i
	}
}

func TestKeyRank(t *testing.T) {
	t.Parallel()
	order := []mypt.MarkCategory{mypt.CategoryPresent, mypt.CategoryAbsent, mypt.CategoryAuthorisedAbsent,
		mypt.CategoryLate, mypt.CategoryNeutral, mypt.CategoryUnmarked}
	for i := 1; i < len(order); i++ {
		if keyRank(order[i-1]) >= keyRank(order[i]) {
			t.Errorf("%v does not come before %v", order[i-1], order[i])
		}
	}
}
