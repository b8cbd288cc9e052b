package mypt

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"
)

// EmailKind names one of the emails the account workflow sends.
type EmailKind string

// The emails of the seed's account workflow.
const (
	EmailVerify          EmailKind = "verify"           // confirm your email address (link)
	EmailApproved        EmailKind = "approved"         // your account is open / child added
	EmailRejected        EmailKind = "rejected"         // details did not match: what to check, never which field
	EmailConsentRequest  EmailKind = "consent_request"  // to the student's college email (link)
	EmailConsentDeclined EmailKind = "consent_declined" // to the requester: the request cannot go ahead
	EmailLocked          EmailKind = "locked"           // too many failed sign-ins
	EmailUnlocked        EmailKind = "unlocked"         // staff unlocked the account
	EmailPasswordReset   EmailKind = "password_reset"   // reset link
	EmailPasswordChanged EmailKind = "password_changed" // notice after a change or reset
	EmailAccessEnded     EmailKind = "access_ended"     // a linked student can no longer be seen
)

// EmailKinds lists every kind, for tests and the staff site.
var EmailKinds = []EmailKind{EmailVerify, EmailApproved, EmailRejected, EmailConsentRequest, EmailConsentDeclined,
	EmailLocked, EmailUnlocked, EmailPasswordReset, EmailPasswordChanged, EmailAccessEnded}

// EmailSender is what every email says about the college: its name and contacts, and the
// portal's public address, the only base any emailed link is built on.
type EmailSender struct {
	CollegeName     string
	SupportEmail    string // Parent Portal Support
	AttendanceEmail string
	PublicBaseURL   string         // e.g. https://parents.college.ac.uk
	Location        *time.Location // times are shown in it (Europe/London); UTC when nil
}

// Email is what one email is about. Which fields matter depends on Kind.
type Email struct {
	Kind     EmailKind
	EventKey string // unique per event: see OutboxMessage
	ToEmail  string
	ToName   string // full name for the To header

	Greeting      string // the name after "Dear": the recipient's first name
	StudentName   string // approved, access ended, consent request (the student's own name there)
	StudentID     string // approved, locked (to quote when emailing support)
	RequesterName string // consent request, consent declined: the parent's full name
	Relationship  string // consent request
	// LinkPath is the path and query of the action link ("/verify-email?token=…"); the link
	// is PublicBaseURL + LinkPath, never anything else.
	LinkPath string
	Expires  time.Duration // how long the link works: "48 hours"
	At       time.Time     // when it happened (password changed, locked)
}

// BuildEmail renders e as an outbox message: subject, plain text and HTML alternative. Names
// are used exactly as given and escaped once in the HTML. It returns an error wrapping
// ErrInvalid when a field the kind needs is missing.
func BuildEmail(s EmailSender, e Email) (OutboxMessage, error) {
	t, ok := emailTemplates[e.Kind]
	if !ok {
		return OutboxMessage{}, &FieldError{Field: "kind", Reason: fmt.Sprintf("unknown email kind %q", e.Kind)}
	}
	var es FieldErrors
	if s.CollegeName == "" {
		es.add("college_name", "is required")
	}
	if t.needsLink {
		if e.LinkPath == "" || !strings.HasPrefix(e.LinkPath, "/") || strings.HasPrefix(e.LinkPath, "//") {
			es.add("link_path", "must be a path starting with /")
		}
		if u, err := url.Parse(s.PublicBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			es.add("public_base_url", "must be an absolute http(s) URL")
		}
	}
	if t.needsStudent && e.StudentName == "" {
		es.add("student_name", "is required")
	}
	if err := es.err(); err != nil {
		return OutboxMessage{}, err
	}
	loc := s.Location
	if loc == nil {
		loc = time.UTC
	}
	v := emailView{
		EmailSender: s, Email: e,
		Link:    strings.TrimRight(s.PublicBaseURL, "/") + e.LinkPath,
		Portal:  strings.TrimRight(s.PublicBaseURL, "/") + "/login",
		Expiry:  humanDuration(e.Expires),
		When:    e.At.In(loc).Format("Monday 2 January 2006 at 15:04"),
		Hello:   "Dear " + firstNonEmpty(e.Greeting, e.ToName, "parent or guardian"),
		Subject: "",
	}
	var subj bytes.Buffer
	if err := t.subject.Execute(&subj, v); err != nil {
		return OutboxMessage{}, fmt.Errorf("mypt: email %s: subject: %w", e.Kind, err)
	}
	v.Subject = strings.Join(strings.Fields(subj.String()), " ")
	var text, html bytes.Buffer
	if err := t.text.Execute(&text, v); err != nil {
		return OutboxMessage{}, fmt.Errorf("mypt: email %s: text: %w", e.Kind, err)
	}
	if err := emailTextFooter.Execute(&text, v); err != nil {
		return OutboxMessage{}, fmt.Errorf("mypt: email %s: text: %w", e.Kind, err)
	}
	if err := emailHTMLLayout.ExecuteTemplate(&html, string(e.Kind), v); err != nil {
		return OutboxMessage{}, fmt.Errorf("mypt: email %s: html: %w", e.Kind, err)
	}
	m := OutboxMessage{
		EventKey: e.EventKey, ToEmail: e.ToEmail, ToName: e.ToName,
		Subject: v.Subject, Text: text.String(), HTML: html.String(),
	}
	return m, m.Validate()
}

type emailView struct {
	EmailSender
	Email
	Link, Portal, Expiry, When, Hello, Subject string
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

// humanDuration writes 48h as "48 hours", 1h as "1 hour", 30m as "30 minutes".
func humanDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d%time.Hour == 0:
		if h := int(d / time.Hour); h == 1 {
			return "1 hour"
		} else {
			return fmt.Sprintf("%d hours", h)
		}
	default:
		return fmt.Sprintf("%d minutes", int(d.Round(time.Minute)/time.Minute))
	}
}

type emailTemplate struct {
	subject, text           *texttemplate.Template
	needsLink, needsStudent bool
}

var emailTemplates = map[EmailKind]emailTemplate{}

func init() {
	for _, d := range emailDefs {
		emailTemplates[d.kind] = emailTemplate{
			subject:      texttemplate.Must(texttemplate.New("s").Parse(d.subject)),
			text:         texttemplate.Must(texttemplate.New("t").Parse(d.text)),
			needsLink:    d.link,
			needsStudent: d.student,
		}
		htmltemplate.Must(emailHTMLLayout.New(string(d.kind)).Parse(
			`{{template "top" .}}` + d.html + `{{template "bottom" .}}`))
	}
}

var emailTextFooter = texttemplate.Must(texttemplate.New("footer").Parse(`
-- 
{{.CollegeName}} Parent Portal
{{if .SupportEmail}}Parent Portal Support: {{.SupportEmail}}
{{end}}{{if .AttendanceEmail}}Attendance queries: {{.AttendanceEmail}}
{{end}}This email was sent automatically; please do not reply to it.
`))

var emailHTMLLayout = htmltemplate.Must(htmltemplate.New("layout").Parse(`
{{define "top"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: Arial, Helvetica, sans-serif; font-size: 16px; line-height: 1.5; color: #1b1b1b; max-width: 600px; margin: 0 auto; padding: 16px;">
<p style="font-size: 20px; font-weight: bold;">{{.CollegeName}} Parent Portal</p>
{{end}}
{{define "bottom"}}<hr style="border: none; border-top: 1px solid #cccccc; margin-top: 24px;">
<p style="font-size: 14px; color: #555555;">{{.CollegeName}} Parent Portal<br>
{{if .SupportEmail}}Parent Portal Support: <a href="mailto:{{.SupportEmail}}">{{.SupportEmail}}</a><br>{{end}}
{{if .AttendanceEmail}}Attendance queries: <a href="mailto:{{.AttendanceEmail}}">{{.AttendanceEmail}}</a><br>{{end}}
This email was sent automatically; please do not reply to it.</p>
</body></html>
{{end}}`))

// emailDefs are the texts. The HTML says the same as the text. A link is always shown as text
// too, so it can be copied when a mail client hides buttons.
var emailDefs = []struct {
	kind                EmailKind
	link, student       bool
	subject, text, html string
}{
	{kind: EmailVerify, link: true,
		subject: `Confirm your email address for the {{.CollegeName}} Parent Portal`,
		text: `{{.Hello}},

Thank you for requesting a Parent Portal account. To confirm that this is your email address,
open the link below and press "Confirm my email address":

{{.Link}}
{{if .Expiry}}
The link works once and expires in {{.Expiry}}. If it has expired, request a new one from the
account request page.
{{end}}
Once your email is confirmed your request is checked against the college's records. You will
receive another email when your account is open.

If you did not ask for an account, ignore this email: nothing will happen.
`,
		html: `<p>{{.Hello}},</p>
<p>Thank you for requesting a Parent Portal account. To confirm that this is your email address, open the link below and press <strong>Confirm my email address</strong>.</p>
<p><a href="{{.Link}}">{{.Link}}</a></p>
{{if .Expiry}}<p>The link works once and expires in {{.Expiry}}. If it has expired, request a new one from the account request page.</p>{{end}}
<p>Once your email is confirmed your request is checked against the college's records. You will receive another email when your account is open.</p>
<p>If you did not ask for an account, ignore this email: nothing will happen.</p>`},

	{kind: EmailApproved, student: true,
		subject: `Your {{.CollegeName}} Parent Portal account is open`,
		text: `{{.Hello}},

Your request to see {{.StudentName}}'s records{{if .StudentID}} (Student ID {{.StudentID}}){{end}} has been approved.

Sign in with your email address and the password you chose when you made the request:

{{.Portal}}

If you have more than one child at the college, every child you are approved for appears on the
same home page. Your password is the one you set most recently.
`,
		html: `<p>{{.Hello}},</p>
<p>Your request to see <strong>{{.StudentName}}</strong>'s records{{if .StudentID}} (Student ID {{.StudentID}}){{end}} has been approved.</p>
<p>Sign in with your email address and the password you chose when you made the request:</p>
<p><a href="{{.Portal}}">{{.Portal}}</a></p>
<p>If you have more than one child at the college, every child you are approved for appears on the same home page. Your password is the one you set most recently.</p>`},

	{kind: EmailRejected,
		subject: `Your {{.CollegeName}} Parent Portal account request`,
		text: `{{.Hello}},

We are sorry: we could not approve your Parent Portal account request, because the details
given did not match the college's records or we could not confirm your connection to the student.

Please check, and then make a new request:
- the Student ID, exactly as on college letters or the student's ID card;
- the student's legal first name(s) and last name, exactly as on their passport;
- the student's date of birth (dd/mm/yyyy);
- your own first name, last name and email address, as the college holds them for you.
{{if .SupportEmail}}
If you are still having problems, email Parent Portal Support at {{.SupportEmail}} with your
name and contact details, and a member of the team will help you.
{{end}}`,
		html: `<p>{{.Hello}},</p>
<p>We are sorry: we could not approve your Parent Portal account request, because the details given did not match the college's records or we could not confirm your connection to the student.</p>
<p>Please check, and then make a new request:</p>
<ul>
<li>the Student ID, exactly as on college letters or the student's ID card;</li>
<li>the student's legal first name(s) and last name, exactly as on their passport;</li>
<li>the student's date of birth (dd/mm/yyyy);</li>
<li>your own first name, last name and email address, as the college holds them for you.</li>
</ul>
{{if .SupportEmail}}<p>If you are still having problems, email Parent Portal Support at <a href="mailto:{{.SupportEmail}}">{{.SupportEmail}}</a> with your name and contact details, and a member of the team will help you.</p>{{end}}`},

	{kind: EmailConsentRequest, link: true,
		subject: `Someone has asked to see your records on the {{.CollegeName}} Parent Portal`,
		text: `{{.Hello}},

{{if .RequesterName}}{{.RequesterName}}{{else}}Someone{{end}}{{if .Relationship}} ({{.Relationship}}){{end}} has asked for a Parent Portal account to see your college
records: attendance, courses, targets, reviews and letters.

The college does not hold them as your next of kin or contact, so they can only have access if
you agree. Open the link below to agree or decline:

{{.Link}}
{{if .Expiry}}
The link expires in {{.Expiry}}.{{end}} If you do nothing, they will not get access. You can ask
the college to remove access at any time.
`,
		html: `<p>{{.Hello}},</p>
<p><strong>{{if .RequesterName}}{{.RequesterName}}{{else}}Someone{{end}}</strong>{{if .Relationship}} ({{.Relationship}}){{end}} has asked for a Parent Portal account to see your college records: attendance, courses, targets, reviews and letters.</p>
<p>The college does not hold them as your next of kin or contact, so they can only have access if you agree. Open the link below to agree or decline:</p>
<p><a href="{{.Link}}">{{.Link}}</a></p>
<p>{{if .Expiry}}The link expires in {{.Expiry}}. {{end}}If you do nothing, they will not get access. You can ask the college to remove access at any time.</p>`},

	{kind: EmailConsentDeclined,
		subject: `Your {{.CollegeName}} Parent Portal account request`,
		text: `{{.Hello}},

Your Parent Portal account request cannot go ahead: the college does not hold you as the
student's next of kin or contact, and the student has not agreed to share their records.
{{if .SupportEmail}}
If you think this is wrong, email Parent Portal Support at {{.SupportEmail}}.
{{end}}`,
		html: `<p>{{.Hello}},</p>
<p>Your Parent Portal account request cannot go ahead: the college does not hold you as the student's next of kin or contact, and the student has not agreed to share their records.</p>
{{if .SupportEmail}}<p>If you think this is wrong, email Parent Portal Support at <a href="mailto:{{.SupportEmail}}">{{.SupportEmail}}</a>.</p>{{end}}`},

	{kind: EmailLocked,
		subject: `Your {{.CollegeName}} Parent Portal account is locked`,
		text: `{{.Hello}},

Your Parent Portal account was locked{{if not .At.IsZero}} on {{.When}}{{end}} after too many
unsuccessful sign-in attempts.

If you have forgotten your password, use "Forgot your password?" on the sign-in page: setting a
new password unlocks the account.
{{if .SupportEmail}}
Otherwise email Parent Portal Support at {{.SupportEmail}} with your name, a contact number and
your child's Student ID, and you will receive an email when the account is unlocked.
{{end}}
If this was not you, tell Parent Portal Support.
`,
		html: `<p>{{.Hello}},</p>
<p>Your Parent Portal account was locked{{if not .At.IsZero}} on {{.When}}{{end}} after too many unsuccessful sign-in attempts.</p>
<p>If you have forgotten your password, use <strong>Forgot your password?</strong> on the sign-in page: setting a new password unlocks the account.</p>
{{if .SupportEmail}}<p>Otherwise email Parent Portal Support at <a href="mailto:{{.SupportEmail}}">{{.SupportEmail}}</a> with your name, a contact number and your child's Student ID, and you will receive an email when the account is unlocked.</p>{{end}}
<p>If this was not you, tell Parent Portal Support.</p>`},

	{kind: EmailUnlocked,
		subject: `Your {{.CollegeName}} Parent Portal account is unlocked`,
		text: `{{.Hello}},

Your Parent Portal account has been unlocked. You can sign in again:

{{.Portal}}

If you have forgotten your password, use "Forgot your password?" on the sign-in page before
you try again.
`,
		html: `<p>{{.Hello}},</p>
<p>Your Parent Portal account has been unlocked. You can sign in again:</p>
<p><a href="{{.Portal}}">{{.Portal}}</a></p>
<p>If you have forgotten your password, use <strong>Forgot your password?</strong> on the sign-in page before you try again.</p>`},

	{kind: EmailPasswordReset, link: true,
		subject: `Reset your {{.CollegeName}} Parent Portal password`,
		text: `{{.Hello}},

Someone (we hope you) asked to reset the password of your Parent Portal account. To choose a
new password, open this link:

{{.Link}}
{{if .Expiry}}
The link works once and expires in {{.Expiry}}.{{end}} Setting a new password signs you out
everywhere and unlocks the account if it was locked.

If you did not ask for this, ignore this email: your password has not changed.
`,
		html: `<p>{{.Hello}},</p>
<p>Someone (we hope you) asked to reset the password of your Parent Portal account. To choose a new password, open this link:</p>
<p><a href="{{.Link}}">{{.Link}}</a></p>
<p>{{if .Expiry}}The link works once and expires in {{.Expiry}}. {{end}}Setting a new password signs you out everywhere and unlocks the account if it was locked.</p>
<p>If you did not ask for this, ignore this email: your password has not changed.</p>`},

	{kind: EmailPasswordChanged,
		subject: `Your {{.CollegeName}} Parent Portal password was changed`,
		text: `{{.Hello}},

The password of your Parent Portal account was changed{{if not .At.IsZero}} on {{.When}}{{end}}, and every
signed-in session was ended.

If you did this, there is nothing more to do. If you did not, reset your password now with
"Forgot your password?" on the sign-in page{{if .SupportEmail}} and tell Parent Portal Support at {{.SupportEmail}}{{end}}.
`,
		html: `<p>{{.Hello}},</p>
<p>The password of your Parent Portal account was changed{{if not .At.IsZero}} on {{.When}}{{end}}, and every signed-in session was ended.</p>
<p>If you did this, there is nothing more to do. If you did not, reset your password now with <strong>Forgot your password?</strong> on the sign-in page{{if .SupportEmail}} and tell Parent Portal Support at <a href="mailto:{{.SupportEmail}}">{{.SupportEmail}}</a>{{end}}.</p>`},

	// Access ended never says why: the reason can be a court order or a barred contact, which
	// must not be disclosed. Staff see the reason on the admin site.
	{kind: EmailAccessEnded, student: true,
		subject: `Your access to {{.StudentName}}'s records has ended`,
		text: `{{.Hello}},

You can no longer see {{.StudentName}}'s records on the {{.CollegeName}} Parent Portal.

This happens, for example, when a student reaches the age at which the portal stops applying,
or leaves the college, or when the college's records about who may see them change.
{{if .SupportEmail}}
If you think this is a mistake, email Parent Portal Support at {{.SupportEmail}}.
{{end}}`,
		html: `<p>{{.Hello}},</p>
<p>You can no longer see <strong>{{.StudentName}}</strong>'s records on the {{.CollegeName}} Parent Portal.</p>
<p>This happens, for example, when a student reaches the age at which the portal stops applying, or leaves the college, or when the college's records about who may see them change.</p>
{{if .SupportEmail}}<p>If you think this is a mistake, email Parent Portal Support at <a href="mailto:{{.SupportEmail}}">{{.SupportEmail}}</a>.</p>{{end}}`},
}
