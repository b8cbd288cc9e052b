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

// EmailKind names one of the account emails the seed's workflow sends.
type EmailKind string

const (
	EmailVerify          EmailKind = "verify"           // to the requester: confirm your email
	EmailApproved        EmailKind = "approved"         // to the parent: your new account is open
	EmailChildAdded      EmailKind = "child_added"      // to the parent: a child was added to the account they already had
	EmailRejected        EmailKind = "rejected"         // to the requester: generic, never says which field failed
	EmailConsentNeeded   EmailKind = "consent_needed"   // to the requester: the student's consent is needed
	EmailConsentRequest  EmailKind = "consent_request"  // to the student's college email: agree or decline
	EmailLocked          EmailKind = "locked"           // to the parent: account locked after failed attempts
	EmailUnlocked        EmailKind = "unlocked"         // to the parent: staff unlocked the account
	EmailPasswordReset   EmailKind = "password_reset"   // to the parent: reset link
	EmailPasswordChanged EmailKind = "password_changed" // to the parent: notice after a reset
	EmailAccessEnded     EmailKind = "access_ended"     // to the parent: access to a child stopped
)

// EmailKinds lists every kind (tests render each).
var EmailKinds = []EmailKind{EmailVerify, EmailApproved, EmailChildAdded, EmailRejected, EmailConsentNeeded, EmailConsentRequest,
	EmailLocked, EmailUnlocked, EmailPasswordReset, EmailPasswordChanged, EmailAccessEnded}

// MailSettings is what every account email says about the college, and the one base URL its
// links are built from.
type MailSettings struct {
	CollegeName     string // "Croydon College"
	PortalName      string // "Croydon College Parent Portal"; default CollegeName + " Parent Portal"
	SupportEmail    string // Parent Portal Support
	AttendanceEmail string
	PublicBaseURL   string // "https://parentportal.example.ac.uk"; every link starts with it
	// NoReplyTo is set when the emails go out without a Reply-To (mail.reply_to: none, or no
	// support address to reply to): a reply would reach only the sending address, so the footer
	// asks the parent to write to SupportEmail instead of inviting a reply.
	NoReplyTo bool
}

// EmailData is the variable part of one email.
type EmailData struct {
	ToEmail     string
	ToName      string        // the addressee's name, any Unicode
	Token       string        // the raw one-time token for verify, consent and reset links
	ExpiresIn   time.Duration // how long the token lasts
	StudentName string        // the student the email is about, where there is one
	ParentName  string        // the requester (consent request)
	Relation    string        // the requester's relationship (consent request)
	Reason      string        // a reason in words safe to show the parent (access ended, locked)
}

// Link returns the public URL of path with the token, built only from PublicBaseURL.
func (s MailSettings) Link(path, token string) string {
	u := strings.TrimRight(s.PublicBaseURL, "/") + path
	if token != "" {
		u += "?token=" + url.QueryEscape(token)
	}
	return u
}

type emailView struct {
	MailSettings
	EmailData
	Link      string
	LoginLink string
	HelpLink  string
	Expires   string
}

type emailTemplate struct {
	subject string
	path    string // link path, "" for none
	body    string // shared by text and HTML: paragraphs separated by blank lines; {{link}} marks the link
}

// The bodies are written once and rendered twice: as plain text and as HTML (escaped by
// html/template, so a name like D'Arcy is escaped exactly once).
var emailTemplates = map[EmailKind]emailTemplate{
	EmailVerify: {"Confirm your email address for the {{.PortalName}}", "/verify-email", `Dear {{.ToName}},

Thank you for your account request for the {{.PortalName}}{{if .StudentName}}, to see the records of {{.StudentName}}{{end}}.

To complete your request, open the link below, enter the password you typed on the request and press "Confirm my email address". The link works once and expires in {{.Expires}}.

{{link}}

If you already have an account with this email address, confirming adds {{if .StudentName}}{{.StudentName}}{{else}}the student{{end}} to it and your password does not change: you keep signing in with your existing password. The password typed on this request is needed only to confirm it. To change your password, use "Forgot your password?" on the sign-in page.

If you did not ask for an account, you can ignore this email; nothing will happen.`},
	EmailApproved: {"Your {{.PortalName}} account is open", "", `Dear {{.ToName}},

Your account request has been approved. You can now sign in with your email address and the password you chose on your account request to see {{.StudentName}}'s records.

{{login}}

If you have more than one child at the college, submit a request for each child using the same email address; you will see them all on the same home screen.`},
	EmailChildAdded: {"{{.StudentName}} has been added to your {{.PortalName}} account", "", `Dear {{.ToName}},

Your account request has been approved. {{.StudentName}} has been added to your account; sign in with your existing password to see their records.

{{login}}

Your password has not changed: the password typed on the request only confirmed it, and does not sign in. If you have forgotten your password, use "Forgot your password?" on the sign-in page.

If you did not ask for this, email Parent Portal Support at {{.SupportEmail}} straight away.`},
	EmailRejected: {"Your {{.PortalName}} account request", "", `Dear {{.ToName}},

We are sorry, but we could not approve your account request. Either the details on the request do not match the details we hold for the student, or we could not verify your connection to the student.

Please check that you entered the Student ID number from the college pass, the student's full legal first and last names exactly as they appear on their passport (for example William rather than Will), and their date of birth as dd/mm/yyyy, and that your own name and email address are the ones you gave the college. Then you may submit a new request.

{{help}}

If you still have difficulty, email Parent Portal Support at {{.SupportEmail}} with your name and contact details.`},
	EmailConsentNeeded: {"Your {{.PortalName}} account request needs the student's consent", "", `Dear {{.ToName}},

Thank you for confirming your email address. Your details are not recorded on our system as the student's next of kin or as a verified contact, so for data protection reasons the student's consent is needed before you can see their records.

We have emailed the student at their college email address and asked them to agree. You will receive an email when your request has been decided.`},
	EmailConsentRequest: {"Consent request: {{.ParentName}} would like to see your college records", "/student-consent", `Dear {{.StudentName}},

{{.ParentName}}{{if .Relation}} ({{.Relation}}){{end}} has asked for access to your attendance and progress records on the {{.PortalName}}. They are not recorded as your next of kin or a verified contact, so we need your consent.

Open the link below to agree or to decline. The link works once and expires in {{.Expires}}.

{{link}}

If you do not know this person, decline, and tell Parent Portal Support at {{.SupportEmail}}.`},
	EmailLocked: {"Your {{.PortalName}} account is locked", "/forgot-password", `Dear {{.ToName}},

Your account has been locked because the password was entered incorrectly too many times.

If you have forgotten your password, use the link below to reset it; a reset also unlocks the account.

{{link}}

Otherwise email Parent Portal Support at {{.SupportEmail}} with your name, contact number and your child's Student ID, and we will unlock it.`},
	EmailUnlocked: {"Your {{.PortalName}} account has been unlocked", "", `Dear {{.ToName}},

Your account has been unlocked. You can sign in again with your email address and password.

{{login}}

If you have forgotten your password, use "Forgot your password?" on the sign-in page before you try again.`},
	EmailPasswordReset: {"Reset your {{.PortalName}} password", "/reset-password", `Dear {{.ToName}},

We received a request to reset the password of your account. Open the link below to choose a new password. The link works once and expires in {{.Expires}}.

{{link}}

If you did not ask for this, you can ignore this email; your password has not changed.`},
	EmailPasswordChanged: {"Your {{.PortalName}} password has been changed", "", `Dear {{.ToName}},

The password of your account has just been changed, and every device signed in to the account has been signed out.

If you did not do this, email Parent Portal Support at {{.SupportEmail}} straight away.`},
	EmailAccessEnded: {"Your access to {{.StudentName}}'s records has ended", "", `Dear {{.ToName}},

Your access to {{.StudentName}}'s records on the {{.PortalName}} has ended{{if .Reason}} because {{.Reason}}{{end}}.

If you think this is wrong, email Parent Portal Support at {{.SupportEmail}} with your name, contact number and the Student ID.`},
}

// Compose renders the email of kind for data as an outbox message with eventKey (which must
// name the event uniquely: a second message with the same key is never queued).
func (s MailSettings) Compose(kind EmailKind, eventKey string, data EmailData) (OutboxMessage, error) {
	t, ok := emailTemplates[kind]
	if !ok {
		return OutboxMessage{}, fmt.Errorf("compose email: unknown kind %q", kind)
	}
	if s.PortalName == "" {
		s.PortalName = strings.TrimSpace(s.CollegeName + " Parent Portal")
	}
	if data.ToName == "" {
		data.ToName = "Parent or Guardian"
	}
	v := emailView{MailSettings: s, EmailData: data, LoginLink: s.Link("/login", ""), HelpLink: s.Link("/help/creating-an-account", "")}
	if t.path != "" {
		v.Link = s.Link(t.path, data.Token)
	}
	v.Expires = acctHumanDuration(data.ExpiresIn)

	subj, err := acctRenderText(t.subject, v)
	if err != nil {
		return OutboxMessage{}, fmt.Errorf("compose %s email: subject: %w", kind, err)
	}
	footer := "\n\n{{.CollegeName}} Parent Portal Support: {{.SupportEmail}}{{if .AttendanceEmail}}\nAttendance queries: {{.AttendanceEmail}}{{end}}\n" +
		"{{if .NoReplyTo}}If you have a question, write to {{.SupportEmail}}: replies to this email do not reach us." +
		"{{else}}If you have a question, reply to this email or write to {{.SupportEmail}}.{{end}}\n"
	textBody := strings.NewReplacer("{{link}}", "{{.Link}}", "{{login}}", "Sign in: {{.LoginLink}}", "{{help}}", "Help with account requests: {{.HelpLink}}").Replace(t.body) + footer
	text, err := acctRenderText(textBody, v)
	if err != nil {
		return OutboxMessage{}, fmt.Errorf("compose %s email: text: %w", kind, err)
	}
	var html strings.Builder
	html.WriteString(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{.Subject}}</title></head><body style="font-family:Arial,sans-serif;line-height:1.5">`)
	for _, para := range strings.Split(t.body+footer, "\n\n") {
		switch strings.TrimSpace(para) {
		case "{{link}}":
			html.WriteString(`<p><a href="{{.Link}}">{{.Link}}</a></p>`)
		case "{{login}}":
			html.WriteString(`<p><a href="{{.LoginLink}}">Sign in to the {{.PortalName}}</a></p>`)
		case "{{help}}":
			html.WriteString(`<p><a href="{{.HelpLink}}">Help with account requests</a></p>`)
		default:
			html.WriteString("<p>" + strings.ReplaceAll(para, "\n", "<br>") + "</p>")
		}
	}
	html.WriteString("</body></html>")
	ht, err := htmltemplate.New("html").Parse(html.String())
	if err != nil {
		return OutboxMessage{}, fmt.Errorf("compose %s email: html: %w", kind, err)
	}
	var hb bytes.Buffer
	if err := ht.Execute(&hb, struct {
		emailView
		Subject string
	}{v, subj}); err != nil {
		return OutboxMessage{}, fmt.Errorf("compose %s email: html: %w", kind, err)
	}
	m := OutboxMessage{EventKey: eventKey, ToEmail: data.ToEmail, ToName: data.ToName, Subject: subj, Text: text, HTML: hb.String()}
	if err := m.Validate(); err != nil {
		return OutboxMessage{}, fmt.Errorf("compose %s email: %w", kind, err)
	}
	return m, nil
}

func acctRenderText(src string, v any) (string, error) {
	t, err := texttemplate.New("t").Parse(src)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		return "", err
	}
	return b.String(), nil
}

// acctHumanDuration writes d as "48 hours", "1 hour", "30 minutes".
func acctHumanDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "a short time"
	case d%(24*time.Hour) == 0 && d >= 72*time.Hour:
		return acctPlural(int(d/(24*time.Hour)), "day")
	case d%time.Hour == 0:
		return acctPlural(int(d/time.Hour), "hour")
	default:
		return acctPlural(int((d+time.Minute-1)/time.Minute), "minute")
	}
}

func acctPlural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
