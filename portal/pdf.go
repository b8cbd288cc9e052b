package portal

import (
	"bytes"
	_ "embed"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"codeberg.org/go-pdf/fpdf"

	"mypt"
)

// DejaVu Sans is embedded (fonts/LICENSE) so that any name the MIS holds (Siobhán, Łukasz,
// Ελένη) prints as written: the PDF core fonts cover Latin-1 only, and the machine we run on
// may have no fonts at all.
var (
	//go:embed fonts/DejaVuSans.ttf
	fontRegular []byte
	//go:embed fonts/DejaVuSans-Bold.ttf
	fontBold []byte
)

// handleAttendancePDF sends the attendance report as an A4 PDF with the college's name, the
// printed date and the key to marks.
func (s *Server) handleAttendancePDF(w http.ResponseWriter, r *http.Request, sr *studentRequest) (string, error) {
	st := sr.access.Student
	years, err := s.store.AttendanceYearList(r.Context(), st.StudentID)
	if err != nil {
		return "", err
	}
	year, ok := s.chooseYear(r, years)
	if !ok {
		return "", mypt.ErrNotFound
	}
	key := pageKey{student: st.StudentID, version: sr.access.Version, year: year, kind: "pdf:" + s.today().String()}
	cached, hit := s.pages.get(key)
	body := cached.body
	if !hit {
		rep, err := s.buildReport(r.Context(), st, year, years)
		if err != nil {
			return "", err
		}
		if body, err = s.reportPDF(rep); err != nil {
			return "", err
		}
		if sr.access.Version > 0 {
			s.pages.put(key, cachedPage{body: body, year: year})
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="attendance-%s-%s.pdf"`,
		safeFilePart(st.StudentID), strings.ReplaceAll(mypt.YearLabel(year), "/", "-")))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	return strconv.Itoa(year), nil
}

func safeFilePart(s string) string {
	var b strings.Builder
	for _, c := range s {
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// reportPDF lays the report out on A4 portrait pages.
func (s *Server) reportPDF(rep *report) ([]byte, error) {
	now := s.now()
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCreationDate(now)
	pdf.SetModificationDate(now)
	pdf.SetTitle("Attendance and punctuality "+rep.YearLabel+" – "+rep.StudentName, true)
	pdf.SetAuthor(rep.College, true)
	pdf.AddUTF8FontFromBytes("dejavu", "", fontRegular)
	pdf.AddUTF8FontFromBytes("dejavu", "B", fontBold)
	pdf.SetMargins(15, 15, 15)
	pdf.SetAutoPageBreak(true, 18)
	printed := now.In(s.loc).Format("02/01/2006") // the date only: the PDF is cached for the day
	pdf.SetFooterFunc(func() {
		pdf.SetY(-13)
		pdf.SetFont("dejavu", "", 8)
		pdf.CellFormat(90, 5, "Printed "+printed, "", 0, "L", false, 0, "")
		pdf.CellFormat(90, 5, fmt.Sprintf("Page %d", pdf.PageNo()), "", 0, "R", false, 0, "")
	})
	pdf.AddPage()

	pdf.SetFont("dejavu", "B", 14)
	pdf.CellFormat(0, 7, rep.College, "", 1, "L", false, 0, "")
	pdf.SetFont("dejavu", "B", 12)
	pdf.CellFormat(0, 7, "Attendance and punctuality report", "", 1, "L", false, 0, "")
	pdf.Ln(2)

	// The seed's header block: who, which year, and the annual summary.
	pdf.SetFont("dejavu", "", 10)
	label := func(k, v string, w float64, ln int) {
		pdf.SetFont("dejavu", "B", 10)
		pdf.CellFormat(32, 6, k, "", 0, "L", false, 0, "")
		pdf.SetFont("dejavu", "", 10)
		pdf.CellFormat(w, 6, v, "", ln, "L", false, 0, "")
	}
	t := rep.Totals
	band := t.Attendance
	if t.Band != "" {
		band += " (" + t.Band + ")"
	}
	label("Academic Year", rep.YearLabel, 64, 0)
	label("Total Marks", strconv.Itoa(t.Possible), 0, 1)
	label("Student ID", rep.StudentID, 64, 0)
	label("Attended", strconv.Itoa(t.Attended), 0, 1)
	label("Student Name", rep.StudentName, 64, 0)
	label("Late", strconv.Itoa(t.Late), 0, 1)
	label("", "", 64, 0)
	label("Attendance", band, 0, 1)
	label("", "", 64, 0)
	label("Punctuality", t.Punctuality, 0, 1)
	pdf.Ln(3)

	// The grid: w/c, one column per day, Att %, Punct %.
	dayW := (180.0 - 24 - 18 - 18) / float64(len(rep.Days))
	header := func() {
		pdf.SetFont("dejavu", "B", 9)
		pdf.SetFillColor(230, 230, 230)
		pdf.CellFormat(24, 6, "w/c", "1", 0, "L", true, 0, "")
		for _, d := range rep.Days {
			pdf.CellFormat(dayW, 6, d, "1", 0, "C", true, 0, "")
		}
		pdf.CellFormat(18, 6, "Att %", "1", 0, "R", true, 0, "")
		pdf.CellFormat(18, 6, "Punct %", "1", 1, "R", true, 0, "")
		pdf.SetFont("dejavu", "", 9)
	}
	header()
	if len(rep.Weeks) == 0 {
		pdf.CellFormat(180, 6, "No attendance has been recorded for "+rep.YearLabel+".", "1", 1, "L", false, 0, "")
	}
	for _, wk := range rep.Weeks {
		if pdf.GetY() > 297-18-6 {
			pdf.AddPage()
			header()
		}
		pdf.CellFormat(24, 6, wk.WC, "1", 0, "L", false, 0, "")
		for _, cells := range wk.Days {
			marks := make([]string, len(cells))
			for i, c := range cells {
				marks[i] = c.Mark
			}
			pdf.CellFormat(dayW, 6, strings.Join(marks, " "), "1", 0, "C", false, 0, "")
		}
		pdf.CellFormat(18, 6, wk.Attendance, "1", 0, "R", false, 0, "")
		pdf.CellFormat(18, 6, wk.Punctuality, "1", 1, "R", false, 0, "")
	}
	pdf.Ln(4)

	if len(rep.Courses) > 0 {
		pdf.SetFont("dejavu", "B", 11)
		pdf.CellFormat(0, 7, "By course", "", 1, "L", false, 0, "")
		pdf.SetFont("dejavu", "B", 9)
		pdf.CellFormat(100, 6, "Course", "1", 0, "L", true, 0, "")
		pdf.CellFormat(20, 6, "Marks", "1", 0, "R", true, 0, "")
		pdf.CellFormat(30, 6, "Attendance", "1", 0, "R", true, 0, "")
		pdf.CellFormat(30, 6, "Punctuality", "1", 1, "R", true, 0, "")
		pdf.SetFont("dejavu", "", 9)
		for _, c := range rep.Courses {
			title := c.Title
			if c.Code != "" {
				title += " (" + c.Code + ")"
			}
			pdf.CellFormat(100, 6, title, "1", 0, "L", false, 0, "")
			pdf.CellFormat(20, 6, strconv.Itoa(c.Tally.Possible), "1", 0, "R", false, 0, "")
			pdf.CellFormat(30, 6, c.Tally.Attendance, "1", 0, "R", false, 0, "")
			pdf.CellFormat(30, 6, c.Tally.Punctuality, "1", 1, "R", false, 0, "")
		}
		pdf.Ln(4)
	}

	pdf.SetFont("dejavu", "B", 11)
	pdf.CellFormat(0, 7, "Key to attendance report", "", 1, "L", false, 0, "")
	pdf.SetFont("dejavu", "", 9)
	for _, k := range rep.Key {
		pdf.CellFormat(12, 5, k.Mark, "", 0, "C", false, 0, "")
		pdf.CellFormat(0, 5, k.Description+" – counts as "+k.Counts, "", 1, "L", false, 0, "")
	}
	pdf.Ln(2)
	pdf.MultiCell(0, 5, "Attendance % is sessions attended (present or late) out of sessions that count. "+
		"Punctuality % is sessions on time out of sessions attended. Weeks with no counted session are not shown.", "", "L", false)
	if s.opts.College.AttendanceEmail != "" {
		pdf.MultiCell(0, 5, "Questions about attendance: "+s.opts.College.AttendanceEmail+
			" (with your name, a contact number and the Student ID).", "", "L", false)
	}
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, fmt.Errorf("portal: attendance pdf: %w", err)
	}
	return buf.Bytes(), nil
}
