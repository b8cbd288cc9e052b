package mypt

import (
	"fmt"
	"time"
)

// Reference-date rules for the age limit.
const (
	// AgeAtAcademicYearStart measures age on 31 August at the start of the current academic year,
	// as FE funding does (the default).
	AgeAtAcademicYearStart = "academic_year_start"
	// AgeToday measures age on the day of the request.
	AgeToday = "today"
)

// EligibilityPolicy says while a parent may see a student (DESIGN §3).
type EligibilityPolicy struct {
	MaxAge        int    // the student must be younger than this (19)
	MaxAgeEHCP    int    // … or younger than this with an EHCP (25)
	AgeReference  string // AgeAtAcademicYearStart or AgeToday
	LeftGraceDays int    // a student who left stays visible this many days after LeftDate
}

// DefaultEligibility is the seed's rule: under 19, or under 25 with an EHCP, aged on 31 August.
func DefaultEligibility() EligibilityPolicy {
	return EligibilityPolicy{MaxAge: 19, MaxAgeEHCP: 25, AgeReference: AgeAtAcademicYearStart, LeftGraceDays: 0}
}

// Validate names the first bad setting.
func (p EligibilityPolicy) Validate() error {
	switch {
	case p.MaxAge < 1 || p.MaxAge > 120:
		return fmt.Errorf("max_age %d must be between 1 and 120", p.MaxAge)
	case p.MaxAgeEHCP < p.MaxAge || p.MaxAgeEHCP > 120:
		return fmt.Errorf("max_age_ehcp %d must be between max_age and 120", p.MaxAgeEHCP)
	case p.AgeReference != AgeAtAcademicYearStart && p.AgeReference != AgeToday:
		return fmt.Errorf("age_reference %q must be %q or %q", p.AgeReference, AgeAtAcademicYearStart, AgeToday)
	case p.LeftGraceDays < 0:
		return fmt.Errorf("left_grace_days %d must not be negative", p.LeftGraceDays)
	}
	return nil
}

// ReferenceDate returns the date on which age is measured for a request made on today.
func (p EligibilityPolicy) ReferenceDate(today Date) Date {
	if p.AgeReference == AgeToday {
		return today
	}
	return Date{AcademicYearOf(today), time.August, 31}
}

// Ineligibility says why a student may not be seen; the empty value means they may.
type Ineligibility string

const (
	Eligible        Ineligibility = ""
	TooOld          Ineligibility = "too_old"
	LeftCollege     Ineligibility = "left"
	NoDateOfBirth   Ineligibility = "no_date_of_birth"
	ContactBarred   Ineligibility = "contact_barred"
	LinkNotApproved Ineligibility = "link_not_approved"
)

// Describe says the reason in words for staff.
func (r Ineligibility) Describe() string {
	switch r {
	case Eligible:
		return "eligible"
	case TooOld:
		return "the student is over the age limit"
	case LeftCollege:
		return "the student has left the college"
	case NoDateOfBirth:
		return "the MIS holds no date of birth for the student"
	case ContactBarred:
		return "the contact is barred from portal access"
	case LinkNotApproved:
		return "the link has not been approved"
	}
	return string(r)
}

// StudentEligibility says whether a parent may see s on today, judged on the student alone
// (age and leaving); link approval and barring are checked by the caller.
func (p EligibilityPolicy) StudentEligibility(s Student, today Date) Ineligibility {
	if s.DateOfBirth.IsZero() {
		return NoDateOfBirth
	}
	limit := p.MaxAge
	if s.HasEHCP {
		limit = p.MaxAgeEHCP
	}
	if AgeOn(s.DateOfBirth, p.ReferenceDate(today)) >= limit {
		return TooOld
	}
	if s.Status == StudentLeft {
		if s.LeftDate.IsZero() || today.After(s.LeftDate.AddDays(p.LeftGraceDays)) {
			return LeftCollege
		}
	}
	return Eligible
}
