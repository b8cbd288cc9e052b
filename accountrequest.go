package mypt

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Form field names of the account request (DESIGN §4); FieldErrors from
// ParseAccountRequest name these.
const (
	FieldParentFirstName   = "parent_first_name"
	FieldParentLastName    = "parent_last_name"
	FieldEmail             = "email"
	FieldEmailConfirm      = "email_confirm"
	FieldPassword          = "password"
	FieldPasswordConfirm   = "password_confirm"
	FieldStudentID         = "student_id"
	FieldStudentFirstNames = "student_first_names"
	FieldStudentLastName   = "student_last_name"
	FieldStudentDOB        = "student_dob"
	FieldRelationship      = "relationship"
	FieldMobilePhone       = "mobile_phone"
	FieldHomePhone         = "home_phone"
)

// AccountRequestFields lists the form's fields in the order they appear on the page.
var AccountRequestFields = []string{
	FieldParentFirstName, FieldParentLastName, FieldEmail, FieldEmailConfirm, FieldPassword,
	FieldPasswordConfirm, FieldStudentID, FieldStudentFirstNames, FieldStudentLastName,
	FieldStudentDOB, FieldRelationship, FieldMobilePhone, FieldHomePhone,
}

// Limits on the account request's fields.
const (
	MaxNameLen         = 100 // characters
	MaxEmailLen        = 254 // bytes (RFC 5321 path limit)
	MaxPasswordLen     = 256 // characters; the policy allows at least 128
	MaxStudentIDLen    = 32
	MaxRelationshipLen = 50
	MaxPhoneLen        = 30
)

// AccountRequestForm is the account request as submitted: every field as a string, as typed.
type AccountRequestForm struct {
	ParentFirstName   string
	ParentLastName    string
	Email             string
	EmailConfirm      string
	Password          string
	PasswordConfirm   string
	StudentID         string
	StudentFirstNames string
	StudentLastName   string
	StudentDOB        string // dd/mm/yyyy
	Relationship      string
	MobilePhone       string
	HomePhone         string
}

// Value returns the submitted value of the named form field ("" for an unknown name), so a
// page can show the form again with what was typed (never the passwords).
func (f AccountRequestForm) Value(field string) string {
	switch field {
	case FieldParentFirstName:
		return f.ParentFirstName
	case FieldParentLastName:
		return f.ParentLastName
	case FieldEmail:
		return f.Email
	case FieldEmailConfirm:
		return f.EmailConfirm
	case FieldStudentID:
		return f.StudentID
	case FieldStudentFirstNames:
		return f.StudentFirstNames
	case FieldStudentLastName:
		return f.StudentLastName
	case FieldStudentDOB:
		return f.StudentDOB
	case FieldRelationship:
		return f.Relationship
	case FieldMobilePhone:
		return f.MobilePhone
	case FieldHomePhone:
		return f.HomePhone
	}
	return ""
}

// AccountRequest is a validated account request. Names are exactly as typed (DM-3: matching
// normalises them, storage does not); Email is trimmed and lower-cased; phone numbers are as
// typed here (portal normalises them to E.164).
type AccountRequest struct {
	ParentFirstName   string `json:"parent_first_name"`
	ParentLastName    string `json:"parent_last_name"`
	Email             string `json:"email"`
	Password          string `json:"-"`
	StudentID         string `json:"student_id"`
	StudentFirstNames string `json:"student_first_names"`
	StudentLastName   string `json:"student_last_name"`
	StudentDOB        Date   `json:"student_dob"`
	Relationship      string `json:"relationship"`
	MobilePhone       string `json:"mobile_phone"`
	HomePhone         string `json:"home_phone"`
}

// ParseAccountRequest validates every field of the form and returns the request, or
// FieldErrors (wrapping ErrInvalid) with one message per bad field in form order. today bounds
// the date of birth (a birth date may not be in the future). The password is checked only for
// presence, length and confirmation here; the strength policy is the portal's.
func ParseAccountRequest(f AccountRequestForm, today Date) (AccountRequest, error) {
	var errs FieldErrors
	r := AccountRequest{
		ParentFirstName:   f.ParentFirstName,
		ParentLastName:    f.ParentLastName,
		Email:             EmailKey(f.Email),
		Password:          f.Password,
		StudentID:         strings.TrimSpace(f.StudentID),
		StudentFirstNames: f.StudentFirstNames,
		StudentLastName:   f.StudentLastName,
		Relationship:      f.Relationship,
		MobilePhone:       strings.TrimSpace(f.MobilePhone),
		HomePhone:         strings.TrimSpace(f.HomePhone),
	}
	acctCheckName(&errs, FieldParentFirstName, f.ParentFirstName, "your first name")
	acctCheckName(&errs, FieldParentLastName, f.ParentLastName, "your last name")
	emailOK := false
	switch e := strings.TrimSpace(f.Email); {
	case e == "":
		errs.add(FieldEmail, "Enter your email address")
	case len(e) > MaxEmailLen || !utf8.ValidString(e):
		errs.add(FieldEmail, "Enter an email address of at most %d characters", MaxEmailLen)
	case !acctValidEmail(e):
		errs.add(FieldEmail, "Enter an email address in the form name@example.com")
	default:
		emailOK = true
	}
	switch {
	case strings.TrimSpace(f.EmailConfirm) == "":
		errs.add(FieldEmailConfirm, "Enter your email address again to confirm it")
	case emailOK && EmailKey(f.EmailConfirm) != r.Email:
		errs.add(FieldEmailConfirm, "The email addresses do not match")
	}
	switch n := utf8.RuneCountInString(f.Password); {
	case f.Password == "":
		errs.add(FieldPassword, "Create a password")
	case !utf8.ValidString(f.Password):
		errs.add(FieldPassword, "The password contains characters that cannot be read; type it again")
	case n > MaxPasswordLen:
		errs.add(FieldPassword, "Use a password of at most %d characters", MaxPasswordLen)
	}
	switch {
	case f.PasswordConfirm == "":
		errs.add(FieldPasswordConfirm, "Enter the password again to confirm it")
	case f.Password != "" && f.PasswordConfirm != f.Password:
		errs.add(FieldPasswordConfirm, "The passwords do not match")
	}
	switch id := r.StudentID; {
	case id == "":
		errs.add(FieldStudentID, "Enter the Student ID number from your child's college pass")
	case len(id) > MaxStudentIDLen || !acctValidStudentID(id):
		errs.add(FieldStudentID, "Enter the Student ID number as it appears on the college pass (letters and numbers only)")
	}
	acctCheckName(&errs, FieldStudentFirstNames, f.StudentFirstNames, "the student's legal first name(s)")
	acctCheckName(&errs, FieldStudentLastName, f.StudentLastName, "the student's legal last name")
	if strings.TrimSpace(f.StudentDOB) == "" {
		errs.add(FieldStudentDOB, "Enter the student's date of birth as dd/mm/yyyy")
	} else if d, err := ParseUKDate(f.StudentDOB); IsNoSuchDay(err) {
		errs.add(FieldStudentDOB, "That date does not exist: check the day and the month, as dd/mm/yyyy, for example 05/04/2011")
	} else if err != nil {
		errs.add(FieldStudentDOB, "Enter the student's date of birth as dd/mm/yyyy, for example 05/04/2011")
	} else if !today.IsZero() && d.After(today) {
		errs.add(FieldStudentDOB, "The date of birth must be in the past")
	} else if d.Year < 1900 {
		errs.add(FieldStudentDOB, "Enter the student's date of birth as dd/mm/yyyy, for example 05/04/2011")
	} else {
		r.StudentDOB = d
	}
	switch rel := strings.TrimSpace(f.Relationship); {
	case rel == "":
		errs.add(FieldRelationship, "Enter your relationship to the student, for example Mother, Father or Guardian")
	case !utf8.ValidString(rel) || utf8.RuneCountInString(rel) > MaxRelationshipLen || acctHasControl(rel):
		errs.add(FieldRelationship, "Enter your relationship in at most %d characters", MaxRelationshipLen)
	case !acctNameChars(rel):
		errs.add(FieldRelationship, "Enter your relationship using letters, spaces and hyphens only, for example Mother or Step-father")
	}
	acctCheckPhone(&errs, FieldMobilePhone, r.MobilePhone)
	acctCheckPhone(&errs, FieldHomePhone, r.HomePhone)
	if r.MobilePhone == "" && r.HomePhone == "" {
		errs.add(FieldMobilePhone, "Enter a mobile or home phone number so the college can contact you")
	}
	if len(errs) > 0 {
		return r, errs
	}
	return r, nil
}

func acctCheckName(errs *FieldErrors, field, v, what string) {
	t := strings.TrimSpace(v)
	switch {
	case t == "":
		errs.add(field, "Enter %s", what)
	case !utf8.ValidString(v):
		errs.add(field, "Enter %s using letters that can be read; type it again", what)
	case utf8.RuneCountInString(v) > MaxNameLen:
		errs.add(field, "Enter %s in at most %d characters", what, MaxNameLen)
	case acctHasControl(v):
		errs.add(field, "Enter %s without special characters", what)
	case !acctHasLetter(t) || !acctNameChars(t):
		errs.add(field, "Enter %s using letters, spaces, hyphens and apostrophes only", what)
	}
}

// acctNameChars reports whether s holds only what names are written with: letters and their
// accents, spaces, hyphens, apostrophes (' ’ ‘) and a full stop that ends an initial or
// abbreviation ("St. John", "J. R."). Names are quoted in emails to students and staff, so
// markup, links and other words-with-punctuation must not pass.
func acctNameChars(s string) bool {
	rs := []rune(s)
	for i, r := range rs {
		switch {
		case unicode.IsLetter(r), unicode.Is(unicode.M, r), r == ' ', r == '-', r == '\'', r == '’', r == '‘':
		case r == '.':
			if i+1 < len(rs) && rs[i+1] != ' ' {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func acctCheckPhone(errs *FieldErrors, field, v string) {
	if v == "" {
		return
	}
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > MaxPhoneLen {
		errs.add(field, "Enter a UK phone number, for example 07700 900123")
		return
	}
	digits := 0
	for _, r := range v {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == ' ' || r == '+' || r == '(' || r == ')' || r == '-' || r == '.':
		default:
			errs.add(field, "Enter a UK phone number, for example 07700 900123")
			return
		}
	}
	if digits < 7 || digits > 15 {
		errs.add(field, "Enter a UK phone number, for example 07700 900123")
	}
}

func acctValidEmail(s string) bool {
	if strings.ContainsAny(s, " \t\r\n<>()\",;") {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".") && !strings.HasSuffix(s, ".")
}

func acctValidStudentID(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '-' || r == '/') {
			return false
		}
	}
	return true
}

func acctHasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || (unicode.Is(unicode.Cf, r) && r != '\u200d' && r != '\u200c') {
			return true
		}
	}
	return false
}

func acctHasLetter(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) {
			return true
		}
	}
	return false
}
