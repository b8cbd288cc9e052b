package synth

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"mypt"
)

// pdfEpoch fixes the PDFs' creation dates so the same seed gives the same bytes.
var pdfEpoch = time.Date(2018, time.September, 1, 0, 0, 0, 0, time.UTC)

// letterPDF renders a one-page letter to the student's family.
func letterPDF(college string, s mypt.Student, dated mypt.Date, title string, body []string) []byte {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCreationDate(pdfEpoch)
	pdf.SetModificationDate(pdfEpoch)
	pdf.SetCatalogSort(true)
	pdf.SetCompression(true)
	pdf.SetTitle(title, true)
	pdf.SetAuthor(college, true)
	tr := pdf.UnicodeTranslatorFromDescriptor("") // cp1252: á, ë, ’ and é are all in it
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 16)
	pdf.CellFormat(0, 10, tr(college), "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	pdf.CellFormat(0, 6, tr("Student Services · College Road · Croydon CR9 1DX"), "", 1, "L", false, 0, "")
	pdf.Ln(8)
	pdf.SetFont("Helvetica", "", 11)
	pdf.CellFormat(0, 6, dated.UK(), "", 1, "R", false, 0, "")
	pdf.Ln(4)
	pdf.SetFont("Helvetica", "B", 12)
	pdf.CellFormat(0, 8, tr(title), "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 11)
	pdf.MultiCell(0, 6, tr(fmt.Sprintf("Student: %s %s (%s)", s.LegalFirstNames, s.LegalLastName, s.StudentID)), "", "L", false)
	pdf.Ln(3)
	pdf.MultiCell(0, 6, tr("Dear Parent/Carer,"), "", "L", false)
	for _, p := range body {
		pdf.Ln(2)
		pdf.MultiCell(0, 6, tr(p), "", "L", false)
	}
	pdf.Ln(6)
	pdf.MultiCell(0, 6, tr("Yours sincerely,\n\nStudent Services\n"+college), "", "L", false)
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		// fpdf fails only on programming errors (a bad font name); the letter is still a PDF.
		return []byte("%PDF-1.3\n%%EOF\n")
	}
	return buf.Bytes()
}

func welcomeText(s mypt.Student, c mypt.Course, cal Calendar) []string {
	name := s.LegalFirstNames
	if s.PreferredName != "" {
		name = s.PreferredName
	}
	return []string{
		fmt.Sprintf("We are delighted to welcome %s to the college for %s, studying %s (%s).",
			name, mypt.YearLabel(cal.Year), c.Title, c.Level),
		fmt.Sprintf("Term starts on %s. Please make sure %s arrives in good time for the first session; registers are taken at the start of every lesson.",
			cal.Start.UK(), name),
		"You can follow attendance, targets and progress reviews on the Parent Portal. If you have any questions please contact Student Services.",
	}
}

func concernText(s mypt.Student) []string {
	return []string{
		fmt.Sprintf("We are writing because %s's attendance has fallen below the college's expectation of 90%%.",
			strings.Fields(s.LegalFirstNames)[0]),
		"Good attendance is closely linked to achievement. Please talk with your son or daughter about any difficulties and contact their personal tutor so we can agree how to help.",
	}
}
