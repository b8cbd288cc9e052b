package portal

import (
	"context"
	"net/http"
	"strings"
	"time"
	"unicode"

	"mypt"
)

// studentRequest is a request for a student the signed-in account may see.
type studentRequest struct {
	sess   *requestSession
	access mypt.StudentAccess
	nav    *StudentNav
}

// studentHandler serves one student page. It writes nothing when it returns an error; on
// success it returns what to record in the audit log's detail (e.g. the year or document).
type studentHandler func(w http.ResponseWriter, r *http.Request, sr *studentRequest) (detail string, err error)

// validID rejects ids that cannot be an MIS identifier before they reach the database.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !unicode.IsPrint(c) || unicode.IsSpace(c) {
			return false
		}
	}
	return true
}

// canSee applies the access rule (DESIGN §3) on every request: the account is linked to the
// student, the link is approved, its contact still exists and is not barred, and the student is
// eligible today. Any failure is ErrNotFound, so callers cannot tell the reasons apart.
func (s *Server) canSee(ctx context.Context, accountID int64, studentID string) (mypt.StudentAccess, error) {
	if !validID(studentID) {
		return mypt.StudentAccess{}, mypt.ErrNotFound
	}
	a, err := s.store.StudentAccess(ctx, accountID, studentID)
	if err != nil {
		return a, err
	}
	if !s.visible(a) {
		return mypt.StudentAccess{}, mypt.ErrNotFound
	}
	return a, nil
}

func (s *Server) visible(a mypt.StudentAccess) bool {
	return a.Link.Status == mypt.LinkApproved && a.ContactFound && !a.ContactBarred &&
		s.opts.Eligibility.StudentEligibility(a.Student, s.today()) == mypt.Eligible
}

// studentPage wraps a student route: sign-in required (else a redirect to sign-in), the access
// rule (else the one 404 page), no-store caching, and an audit record of what was shown.
func (s *Server) studentPage(page string, h studentHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := paramsOf(r).ByName("id")
		lookupID := id
		if !validID(id) {
			lookupID = "" // never linked: the same 404 as any other id
		}
		// One query reads the session and the access rule's facts together.
		var (
			a      mypt.StudentAccess
			linked bool
		)
		r = s.requireSessionVia(w, r, func(ctx context.Context, sid string) (mypt.Session, mypt.Account, error) {
			sess, acct, access, ok, err := s.store.SessionStudentAccess(ctx, sid, lookupID)
			a, linked = access, ok
			return sess, acct, err
		})
		if r == nil {
			return
		}
		sess := sessionFrom(r.Context())
		if !linked || !s.visible(a) {
			// The audit log records only what was shown; the refusal goes to the operators' log.
			switch {
			case lookupID == "" || !wellFormedStudentID(lookupID):
				// Not a student id at all (markup, a probe): never echoed into the log.
				s.securityEvent(r, "student_refused", "bad_id")
			case !linked:
				s.securityEvent(r, "student_refused", "not_linked", "student", lookupID)
			default:
				s.securityEvent(r, "student_refused", "not_visible", "student", lookupID)
			}
			s.renderError(w, r, mypt.ErrNotFound)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		sr := &studentRequest{sess: sess, access: a, nav: &StudentNav{ID: a.Student.StudentID,
			Name: displayName(a.Student), College: s.siteName(a.Student.College), Current: page}}
		if err := s.renderNav(sr.nav, a.Version); err != nil {
			s.renderError(w, r, err)
			return
		}
		detail, err := h(w, r, sr)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		if r.Method == http.MethodHead {
			return // headers only: nothing was shown, so nothing to audit
		}
		s.audit.add(mypt.AuditEntry{At: s.now(), Actor: actor(sess.AccountID), Action: "view",
			StudentID: a.Student.StudentID, Page: page, Detail: detail, ClientAddr: s.clientAddr(r)})
	}
}

// displayName is the student's name as the college writes it: preferred (or legal) first
// names and the legal last name.
func displayName(st mypt.Student) string {
	first := st.LegalFirstNames
	if st.PreferredName != "" {
		first = st.PreferredName
	}
	return strings.TrimSpace(first + " " + st.LegalLastName)
}

func (s *Server) londonTime(t time.Time) string {
	if t.IsZero() {
		return "not yet known"
	}
	return t.In(s.loc).Format("02/01/2006 15:04")
}

// homeChild is one child on the home page.
type homeChild struct {
	ID, Name, College string
	YearLabel         string
	HasFigures        bool
	Attendance        string
	Punctuality       string
	Band              string
	DataAsOf          string
	LatestYear        int // the newest year with marks when this year has none (0 if none)
	LatestLabel       string
}

type homeView struct {
	Base
	Children []homeChild
}

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	r = s.requireSession(w, r)
	if r == nil {
		return
	}
	sess := sessionFrom(r.Context())
	list, err := s.store.StudentAccessList(r.Context(), sess.AccountID)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	year := mypt.AcademicYearOf(s.today())
	v := &homeView{}
	v.Title = "Your children"
	for _, a := range list {
		if !s.visible(a) {
			continue
		}
		c := homeChild{ID: a.Student.StudentID, Name: displayName(a.Student), College: s.siteName(a.Student.College),
			YearLabel: mypt.YearLabel(year), DataAsOf: s.londonTime(a.DataAsOf)}
		rows, err := s.store.AttendanceYears(r.Context(), c.ID, year)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		for _, row := range rows {
			if row.EnrolmentID == "" && row.Tally.Possible() > 0 {
				c.HasFigures = true
				c.Attendance = row.Tally.AttendancePct().String()
				c.Punctuality = row.Tally.PunctualityPct().String()
				c.Band = mypt.BandFor(row.Tally.AttendancePct(), s.opts.Bands)
			}
		}
		if !c.HasFigures {
			years, err := s.store.AttendanceYearList(r.Context(), c.ID)
			if err != nil {
				s.renderError(w, r, err)
				return
			}
			if len(years) > 0 {
				c.LatestYear, c.LatestLabel = years[0], mypt.YearLabel(years[0])
			}
		}
		v.Children = append(v.Children, c)
		if r.Method == http.MethodHead {
			continue // headers only: nothing was shown, so nothing to audit
		}
		s.audit.add(mypt.AuditEntry{At: s.now(), Actor: actor(sess.AccountID), Action: "view",
			StudentID: c.ID, Page: "home", ClientAddr: s.clientAddr(r)})
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, "home", v)
}

type studentView struct {
	Base
	DataAsOf string
}

func (s *Server) handleStudent(w http.ResponseWriter, r *http.Request, sr *studentRequest) (string, error) {
	v := &studentView{DataAsOf: s.londonTime(sr.access.DataAsOf)}
	v.Title = sr.nav.Name
	v.Student = sr.nav
	return "", s.renderPage(w, r, http.StatusOK, "student", v)
}

type enrolmentRow struct {
	Course, Code, Level, Year, Start, ExpectedEnd, ActualEnd, Status string
	Tutors                                                           []mypt.Tutor
}

type detailsView struct {
	Base
	StudentID    string
	LegalName    string
	Preferred    string
	DateOfBirth  string
	Site         string // the student's own college
	CollegeEmail string
	Status       string
	Enrolments   []enrolmentRow
	Tutors       []mypt.Tutor // tutors for the student as a whole
}

func (s *Server) handleDetails(w http.ResponseWriter, r *http.Request, sr *studentRequest) (string, error) {
	st := sr.access.Student
	ens, err := s.store.StudentEnrolments(r.Context(), st.StudentID)
	if err != nil {
		return "", err
	}
	tutors, err := s.store.StudentTutors(r.Context(), st.StudentID)
	if err != nil {
		return "", err
	}
	v := &detailsView{StudentID: st.StudentID, LegalName: st.LegalFirstNames + " " + st.LegalLastName,
		Preferred: st.PreferredName, DateOfBirth: st.DateOfBirth.UK(), Site: s.siteName(st.College),
		CollegeEmail: st.CollegeEmail, Status: studentStatus(st)}
	byEnrolment := map[string][]mypt.Tutor{}
	for _, t := range tutors {
		if t.EnrolmentID == "" {
			v.Tutors = append(v.Tutors, t)
		} else {
			byEnrolment[t.EnrolmentID] = append(byEnrolment[t.EnrolmentID], t)
		}
	}
	for _, e := range ens {
		row := enrolmentRow{Course: orDash(e.Course.Title), Code: e.Course.Code, Level: e.Course.Level,
			Start: e.StartDate.UK(), ExpectedEnd: e.ExpectedEndDate.UK(), ActualEnd: e.ActualEndDate.UK(),
			Status: e.Status, Tutors: byEnrolment[e.EnrolmentID]}
		if e.Course.AcademicYear > 0 {
			row.Year = mypt.YearLabel(e.Course.AcademicYear)
		}
		v.Enrolments = append(v.Enrolments, row)
	}
	v.Title = "Student Details"
	v.Student = sr.nav
	return "", s.renderPage(w, r, http.StatusOK, "details", v)
}

func studentStatus(st mypt.Student) string {
	if st.Status == mypt.StudentLeft {
		if !st.LeftDate.IsZero() {
			return "Left on " + st.LeftDate.UK()
		}
		return "Left"
	}
	return "Current student"
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

type consentRow struct {
	Name   string
	Answer string // "Yes", "No" or "Not recorded"
}

type furtherView struct {
	Base
	Consents []consentRow
}

func yesNo(b *bool) string {
	switch {
	case b == nil:
		return "Not recorded"
	case *b:
		return "Yes"
	}
	return "No"
}

func (s *Server) handleFurtherDetails(w http.ResponseWriter, r *http.Request, sr *studentRequest) (string, error) {
	f, err := s.store.FurtherDetail(r.Context(), sr.access.Student.StudentID)
	if err != nil {
		return "", err
	}
	v := &furtherView{Consents: []consentRow{
		{"Consent for visits (trips and activities away from college)", yesNo(f.ConsentForVisits)},
		{"Consent for photographs", yesNo(f.ConsentForPhotographs)},
		{"Consent for emergency medical treatment", yesNo(f.ConsentForMedicalTreatment)},
		{"Consent to share information with employers", yesNo(f.ConsentForSharingWithEmployers)},
	}}
	v.Title = "Further Details"
	v.Student = sr.nav
	return "", s.renderPage(w, r, http.StatusOK, "further_details", v)
}

type achievementsView struct {
	Base
	Achievements []mypt.Achievement
}

func (s *Server) handleAchievements(w http.ResponseWriter, r *http.Request, sr *studentRequest) (string, error) {
	list, err := s.store.Achievements(r.Context(), sr.access.Student.StudentID)
	if err != nil {
		return "", err
	}
	v := &achievementsView{Achievements: list}
	v.Title = "Achievements on Entry"
	v.Student = sr.nav
	return "", s.renderPage(w, r, http.StatusOK, "achievements", v)
}

type documentRow struct {
	ID, Title, Category, Created, Size, Type string
}

type documentsView struct {
	Base
	Documents []documentRow
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return itoa(int((n*10)>>20)/10) + "." + itoa(int((n*10)>>20)%10) + " MB"
	case n >= 1<<10:
		return itoa(int((n+512)>>10)) + " KB"
	}
	return itoa(int(n)) + " bytes"
}

func typeName(ct string) string {
	ct, _, _ = strings.Cut(ct, ";")
	switch strings.TrimSpace(strings.ToLower(ct)) {
	case "application/pdf":
		return "PDF"
	case "application/msword", "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
		return "Word document"
	case "text/plain":
		return "Text"
	case "image/png", "image/jpeg", "image/gif":
		return "Image"
	}
	return "File"
}

func (s *Server) handleDocuments(w http.ResponseWriter, r *http.Request, sr *studentRequest) (string, error) {
	list, err := s.store.Documents(r.Context(), sr.access.Student.StudentID)
	if err != nil {
		return "", err
	}
	v := &documentsView{}
	for _, d := range list {
		v.Documents = append(v.Documents, documentRow{ID: d.DocumentID, Title: d.Title, Category: d.Category,
			Created: d.CreatedAt.In(s.loc).Format("02/01/2006"), Size: humanSize(d.Size), Type: typeName(d.ContentType)})
	}
	v.Title = "Uploaded Documents"
	v.Student = sr.nav
	return "", s.renderPage(w, r, http.StatusOK, "documents", v)
}

// handleDocument sends a document as a download with its stored content type. It is never
// rendered by the browser in our origin: attachment, nosniff and a sandboxing CSP.
func (s *Server) handleDocument(w http.ResponseWriter, r *http.Request, sr *studentRequest) (string, error) {
	docID := paramsOf(r).ByName("doc")
	if !validID(docID) {
		return "", mypt.ErrNotFound
	}
	d, err := s.store.Document(r.Context(), sr.access.Student.StudentID, docID)
	if err != nil {
		return "", err
	}
	ct := d.ContentType
	if ct == "" || strings.ContainsAny(ct, "\r\n") {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", attachment(d.Title, ct))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", itoa(len(d.Content)))
	w.WriteHeader(http.StatusOK)
	w.Write(d.Content)
	return d.DocumentID, nil
}

// attachment builds a Content-Disposition header with an ASCII fallback name and the UTF-8
// name (RFC 6266 / 5987).
func attachment(title, ct string) string {
	ext := ""
	switch typeName(ct) {
	case "PDF":
		ext = ".pdf"
	case "Text":
		ext = ".txt"
	}
	name := title + ext
	var ascii strings.Builder
	for _, c := range name {
		switch {
		case c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '/' || c == ';':
			ascii.WriteByte('_')
		default:
			ascii.WriteRune(c)
		}
	}
	enc := strings.Builder{}
	for _, b := range []byte(name) {
		if (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || strings.IndexByte("-._~", b) >= 0 {
			enc.WriteByte(b)
		} else {
			enc.WriteString("%" + strings.ToUpper(hex2(b)))
		}
	}
	return `attachment; filename="` + ascii.String() + `"; filename*=UTF-8''` + enc.String()
}

func hex2(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

type policiesView struct {
	Base
	Policies []policyRow
}

type policyRow struct{ Policy, ReadAt string }

func (s *Server) handlePolicies(w http.ResponseWriter, r *http.Request, sr *studentRequest) (string, error) {
	list, err := s.store.PolicyReads(r.Context(), sr.access.Student.StudentID)
	if err != nil {
		return "", err
	}
	v := &policiesView{}
	for _, p := range list {
		v.Policies = append(v.Policies, policyRow{p.Policy, s.londonTime(p.ReadAt)})
	}
	v.Title = "Information I Have Read"
	v.Student = sr.nav
	return "", s.renderPage(w, r, http.StatusOK, "ilp_policies", v)
}

type gradeRow struct{ Course, Code, Level, Grade string }

type targetGradesView struct {
	Base
	Grades []gradeRow
}

func (s *Server) courseTitles(ctx context.Context, studentID string) (map[string]mypt.CourseEnrolment, error) {
	ens, err := s.store.StudentEnrolments(ctx, studentID)
	if err != nil {
		return nil, err
	}
	m := make(map[string]mypt.CourseEnrolment, len(ens))
	for _, e := range ens {
		m[e.EnrolmentID] = e
	}
	return m, nil
}

func (s *Server) handleTargetGrades(w http.ResponseWriter, r *http.Request, sr *studentRequest) (string, error) {
	id := sr.access.Student.StudentID
	list, err := s.store.TargetGrades(r.Context(), id)
	if err != nil {
		return "", err
	}
	courses, err := s.courseTitles(r.Context(), id)
	if err != nil {
		return "", err
	}
	v := &targetGradesView{}
	for _, g := range list {
		e := courses[g.EnrolmentID]
		v.Grades = append(v.Grades, gradeRow{orDash(e.Course.Title), e.Course.Code, e.Course.Level, g.Grade})
	}
	v.Title = "Target Minimum Grades"
	v.Student = sr.nav
	return "", s.renderPage(w, r, http.StatusOK, "ilp_target_grades", v)
}

type targetRow struct {
	Text, Course, SetBy, SetDate, DueDate, Status, Reviewed string
	ByStudent                                               bool
}

type targetsView struct {
	Base
	Targets []targetRow
}

func (s *Server) handleTargets(w http.ResponseWriter, r *http.Request, sr *studentRequest) (string, error) {
	id := sr.access.Student.StudentID
	list, err := s.store.Targets(r.Context(), id)
	if err != nil {
		return "", err
	}
	courses, err := s.courseTitles(r.Context(), id)
	if err != nil {
		return "", err
	}
	v := &targetsView{}
	for _, t := range list {
		row := targetRow{Text: t.Text, SetBy: t.SetBy, SetDate: t.SetDate.UK(), DueDate: t.DueDate.UK(),
			Status: t.Status, Reviewed: t.ReviewedDate.UK(), ByStudent: t.CreatedByStudent}
		if t.EnrolmentID != "" {
			row.Course = courses[t.EnrolmentID].Course.Title
		}
		v.Targets = append(v.Targets, row)
	}
	v.Title = "My SMART Targets"
	v.Student = sr.nav
	return "", s.renderPage(w, r, http.StatusOK, "ilp_targets", v)
}

type meetingsView struct {
	Base
	Meetings []mypt.Meeting
}

func (s *Server) handleMeetings(w http.ResponseWriter, r *http.Request, sr *studentRequest) (string, error) {
	list, err := s.store.Meetings(r.Context(), sr.access.Student.StudentID)
	if err != nil {
		return "", err
	}
	v := &meetingsView{Meetings: list}
	v.Title = "My Meetings"
	v.Student = sr.nav
	return "", s.renderPage(w, r, http.StatusOK, "meetings", v)
}
