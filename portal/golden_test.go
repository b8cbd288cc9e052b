package portal

import (
	"bytes"
	"flag"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		os.WriteFile(path+".got", got, 0o644)
		t.Errorf("%s differs from the golden file; got written to %s.got (diff them; -update accepts)", path, path)
	}
}

var csrfValueRE = regexp.MustCompile(`(name="csrf_token" value=")[^"]+`)

// TestAttendanceGolden renders the seed student's 2018/19 report and checks it against the
// seed's table as data (every week, mark and percentage) and against the golden page.
func TestAttendanceGolden(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.signedIn(parentEmail, parentPass)
	r := h.get(c, "/students/"+seedStudent+"/attendance?year=2018")
	if r.StatusCode != 200 {
		t.Fatalf("status %d", r.StatusCode)
	}
	seed := loadSeed(t)
	rowRE := regexp.MustCompile(`<tr><th scope="row">([0-9/]+)</th>(.*?)<td class="num">([0-9.]+)%</td><td class="num">([0-9.]+)%</td></tr>`)
	markRE := regexp.MustCompile(`aria-hidden="true">([^<]+)</span>`)
	rows := rowRE.FindAllStringSubmatch(r.body, -1)
	if len(rows) != len(seed.Weeks) {
		t.Fatalf("%d weeks shown, the seed has %d", len(rows), len(seed.Weeks))
	}
	for i, w := range seed.Weeks {
		row := rows[i]
		var marks []string
		for _, m := range markRE.FindAllStringSubmatch(row[2], -1) {
			marks = append(marks, m[1])
		}
		if row[1] != w.WC || strings.Join(marks, "") != strings.Join(w.Marks, "") || row[3] != w.AttendancePct || row[4] != w.PunctualityPct {
			t.Errorf("week %d: got w/c %s marks %v %s%% %s%%, seed w/c %s marks %v %s%% %s%%", i, row[1], marks, row[3], row[4],
				w.WC, w.Marks, w.AttendancePct, w.PunctualityPct)
		}
	}
	for _, want := range []string{
		"<dt>Total Marks</dt><dd>63</dd>", "<dt>Attended</dt><dd>60</dd>", "<dt>Late</dt><dd>1</dd>",
		"<dt>Attendance</dt><dd>95.2% <span class=\"band\">Good</span></dd>", "<dt>Punctuality</dt><dd>98.3%</dd>",
		"<dt>Academic Year</dt><dd>2018/19</dd>", "Present, morning", "Absent, afternoon", "Late, morning",
		"Siobhán D&#39;Arcy-O’Neill", // DM-3: escaped exactly once
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(r.body, "18/02/2019") {
		t.Error("a week with only a not-required session is shown")
	}
	golden(t, "attendance-seed.html", csrfValueRE.ReplaceAll([]byte(r.body), []byte("${1}CSRF")))
}

// TestAttendancePDFGolden checks the PDF's text, extracted with pdftotext (poppler-utils).
func TestAttendancePDFGolden(t *testing.T) {
	t.Parallel()
	pdftotext, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Fatal("pdftotext (poppler-utils) is not installed: run ./scripts/test")
	}
	h := newHarness(t)
	c := h.signedIn(parentEmail, parentPass)
	r := h.get(c, "/students/"+seedStudent+"/attendance.pdf?year=2018")
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(r.body, "%PDF-") {
		t.Fatalf("status %d type %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename="attendance-10012345-2018-19.pdf"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	pdf := filepath.Join(t.TempDir(), "report.pdf")
	if err := os.WriteFile(pdf, []byte(r.body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pdftotext, "-layout", "-enc", "UTF-8", pdf, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	text := string(out)
	for _, want := range []string{"Croydon College", "Attendance and punctuality report", "Siobhán D'Arcy-O’Neill",
		"Total Marks", "63", "95.2% (Good)", "98.3%", "Printed 01/03/2019", "Key to attendance report",
		"Present AM", "07/01/2019", "66.7%", "33.3%"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}
	golden(t, "attendance-seed.pdf.txt", out)
}

// TestAttendanceCachedPage checks that the page served from the whole-page cache is the
// rendered page byte for byte, with each session's own CSRF token in it.
func TestAttendanceCachedPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	path := "/students/" + seedStudent + "/attendance?year=2018"
	c1 := h.signedIn(parentEmail, parentPass)
	first := h.get(c1, path)  // rendered, then cached
	second := h.get(c1, path) // from the cache
	c2 := h.signedIn(parentEmail, parentPass)
	other := h.get(c2, path) // from the cache, another session
	for _, r := range []response{first, second, other} {
		if r.StatusCode != 200 {
			t.Fatalf("status %d", r.StatusCode)
		}
	}
	if first.body != second.body {
		t.Error("the cached page differs from the rendered one")
	}
	tok1, tok2 := csrfOf(t, first.body), csrfOf(t, other.body)
	if tok1 == tok2 {
		t.Fatal("two sessions were given the same CSRF token")
	}
	if strings.Replace(other.body, tok2, tok1, 1) != first.body {
		t.Error("the cached page for another session differs from the rendered one other than by its token")
	}
	if strings.Contains(other.body, "slot") {
		t.Error("a slot marker is left in the page")
	}
	// Its token works: sign out with it.
	if r := h.do(c2, "POST", "/logout", url.Values{"csrf_token": {tok2}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("sign out with the cached page's token: %d", r.StatusCode)
	}
	if r := h.get(c2, path); r.StatusCode != http.StatusSeeOther {
		t.Errorf("after sign-out the cached page is still served: %d", r.StatusCode)
	}
}
