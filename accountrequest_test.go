package mypt

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func goodForm() AccountRequestForm {
	return AccountRequestForm{
		ParentFirstName: "Siobhán", ParentLastName: "O’Neill-Smith", Email: " Parent@Example.org ", EmailConfirm: "parent@example.org",
		Password: "Correct-Horse-7", PasswordConfirm: "Correct-Horse-7", StudentID: "S100", StudentFirstNames: "José",
		StudentLastName: "D'Arcy", StudentDOB: "5/4/2011", Relationship: "Mother", MobilePhone: "07700 900123",
	}
}

func fieldMessages(err error) map[string]string {
	out := map[string]string{}
	var fe FieldErrors
	if errors.As(err, &fe) {
		for _, e := range fe {
			if _, dup := out[e.Field]; !dup {
				out[e.Field] = e.Reason
			}
		}
	}
	return out
}

func TestParseAccountRequestAccepts(t *testing.T) {
	r, err := ParseAccountRequest(goodForm(), Date{2026, time.December, 3})
	if err != nil {
		t.Fatal(err)
	}
	if r.ParentFirstName != "Siobhán" || r.ParentLastName != "O’Neill-Smith" || r.StudentFirstNames != "José" || r.StudentLastName != "D'Arcy" {
		t.Errorf("names not kept as typed: %+v", r)
	}
	if r.Email != "parent@example.org" {
		t.Errorf("email %q", r.Email)
	}
	for _, name := range []string{"St. John", "J. R.", "Mary-Jane", "Ng̃", "Zoë", "Łukasz", "李", "Anne-Marie O‘Connor"} {
		f := goodForm()
		f.ParentLastName = name
		if _, err := ParseAccountRequest(f, Date{2026, time.December, 3}); err != nil {
			t.Errorf("name %q refused: %v", name, err)
		}
	}
	if r.StudentDOB != (Date{2011, time.April, 5}) {
		t.Errorf("dob %v, want 2011-04-05", r.StudentDOB)
	}
}

func TestParseAccountRequestFields(t *testing.T) {
	today := Date{2026, time.December, 3}
	for _, tc := range []struct {
		name  string
		mod   func(*AccountRequestForm)
		field string
		want  string // part of the message
	}{
		{"missing first name", func(f *AccountRequestForm) { f.ParentFirstName = "  " }, FieldParentFirstName, "Enter your first name"},
		{"missing last name", func(f *AccountRequestForm) { f.ParentLastName = "" }, FieldParentLastName, "Enter your last name"},
		{"overlong name", func(f *AccountRequestForm) { f.ParentLastName = strings.Repeat("a", 101) }, FieldParentLastName, "at most 100"},
		{"control character in name", func(f *AccountRequestForm) { f.ParentFirstName = "Ann\x00" }, FieldParentFirstName, "special characters"},
		{"digits only name", func(f *AccountRequestForm) { f.StudentLastName = "123" }, FieldStudentLastName, "letters"},
		// Names are emailed to students and staff: nothing but name characters may pass (no markup, no links).
		{"markup in name", func(f *AccountRequestForm) { f.ParentFirstName = "<script>alert(1)</script>" }, FieldParentFirstName, "letters"},
		{"link in name", func(f *AccountRequestForm) { f.ParentLastName = "see evil.example.com" }, FieldParentLastName, "letters"},
		{"url in name", func(f *AccountRequestForm) { f.ParentLastName = "https://evil.example" }, FieldParentLastName, "letters"},
		{"ampersand and quotes in name", func(f *AccountRequestForm) { f.ParentLastName = `O'Brien & "Co"` }, FieldParentLastName, "letters"},
		{"markup in relationship", func(f *AccountRequestForm) { f.Relationship = "<b>Aunt</b>" }, FieldRelationship, "letters"},
		{"link in relationship", func(f *AccountRequestForm) { f.Relationship = "Aunt www.evil.example" }, FieldRelationship, "letters"},
		{"missing email", func(f *AccountRequestForm) { f.Email = "" }, FieldEmail, "Enter your email"},
		{"bad email", func(f *AccountRequestForm) { f.Email = "parent.example.org" }, FieldEmail, "name@example.com"},
		{"email without dot domain", func(f *AccountRequestForm) { f.Email = "p@localhost"; f.EmailConfirm = "p@localhost" }, FieldEmail, "name@example.com"},
		{"email with display name", func(f *AccountRequestForm) { f.Email = "Ann <a@example.org>" }, FieldEmail, "name@example.com"},
		{"email confirm differs", func(f *AccountRequestForm) { f.EmailConfirm = "other@example.org" }, FieldEmailConfirm, "do not match"},
		{"email confirm missing", func(f *AccountRequestForm) { f.EmailConfirm = "" }, FieldEmailConfirm, "again"},
		{"missing password", func(f *AccountRequestForm) { f.Password = "" }, FieldPassword, "Create a password"},
		{"password confirm differs", func(f *AccountRequestForm) { f.PasswordConfirm = "Correct-Horse-8" }, FieldPasswordConfirm, "do not match"},
		{"password too long", func(f *AccountRequestForm) { f.Password = strings.Repeat("Ab1", 90); f.PasswordConfirm = f.Password }, FieldPassword, "at most 256"},
		{"missing student id", func(f *AccountRequestForm) { f.StudentID = "" }, FieldStudentID, "college pass"},
		{"student id with spaces inside", func(f *AccountRequestForm) { f.StudentID = "S 100; drop" }, FieldStudentID, "letters and numbers"},
		{"missing student first names", func(f *AccountRequestForm) { f.StudentFirstNames = "" }, FieldStudentFirstNames, "legal first name"},
		{"missing dob", func(f *AccountRequestForm) { f.StudentDOB = "" }, FieldStudentDOB, "dd/mm/yyyy"},
		{"31 February refused", func(f *AccountRequestForm) { f.StudentDOB = "31/02/2011" }, FieldStudentDOB, "dd/mm/yyyy"},
		{"month 13 refused", func(f *AccountRequestForm) { f.StudentDOB = "13/13/2011" }, FieldStudentDOB, "dd/mm/yyyy"},
		{"two-digit year refused", func(f *AccountRequestForm) { f.StudentDOB = "05/04/11" }, FieldStudentDOB, "dd/mm/yyyy"},
		{"ISO date refused", func(f *AccountRequestForm) { f.StudentDOB = "2011-04-05" }, FieldStudentDOB, "dd/mm/yyyy"},
		{"future dob refused", func(f *AccountRequestForm) { f.StudentDOB = "04/12/2026" }, FieldStudentDOB, "in the past"},
		{"missing relationship", func(f *AccountRequestForm) { f.Relationship = " " }, FieldRelationship, "Mother"},
		{"no phone at all", func(f *AccountRequestForm) { f.MobilePhone = ""; f.HomePhone = "" }, FieldMobilePhone, "mobile or home"},
		{"letters in phone", func(f *AccountRequestForm) { f.HomePhone = "call me" }, FieldHomePhone, "UK phone"},
		{"too few digits", func(f *AccountRequestForm) { f.MobilePhone = "123" }, FieldMobilePhone, "UK phone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := goodForm()
			tc.mod(&f)
			_, err := ParseAccountRequest(f, today)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v, want ErrInvalid", err)
			}
			msgs := fieldMessages(err)
			if got, ok := msgs[tc.field]; !ok || !strings.Contains(got, tc.want) {
				t.Fatalf("message for %s = %q, want it to contain %q (all: %v)", tc.field, got, tc.want, msgs)
			}
			if len(msgs) != 1 {
				t.Errorf("only %s should be bad, got %v", tc.field, msgs)
			}
		})
	}
}

func TestParseAccountRequestReportsEveryField(t *testing.T) {
	_, err := ParseAccountRequest(AccountRequestForm{}, Date{2026, 12, 3})
	msgs := fieldMessages(err)
	for _, f := range AccountRequestFields {
		if f == FieldHomePhone {
			continue // optional when the mobile is given; the missing-phone message goes beside mobile
		}
		if msgs[f] == "" {
			t.Errorf("no message for empty %s", f)
		}
	}
}

func TestParseAccountRequestUKDates(t *testing.T) {
	for _, s := range []string{"05/04/2011", "5/4/2011"} {
		f := goodForm()
		f.StudentDOB = s
		r, err := ParseAccountRequest(f, Date{2026, 12, 3})
		if err != nil || r.StudentDOB != (Date{2011, time.April, 5}) {
			t.Errorf("%s: %v %v, want 5 April 2011", s, r.StudentDOB, err)
		}
	}
}

func FuzzParseAccountRequest(f *testing.F) {
	g := goodForm()
	f.Add(g.ParentFirstName, g.Email, g.Password, g.StudentID, g.StudentDOB, g.MobilePhone)
	f.Add("", "", "", "", "", "")
	f.Add("D'Arcy\u2019", "a@b.c", "Ab1ñ€€€€", "S-1/2", "31/02/2011", "+44 (0)20 7946 0000")
	f.Add("\xff\xfe", "\x00@x.y", "\xc0", "12345678901234567890123456789012345", "1/1/0000", "..")
	f.Fuzz(func(t *testing.T, name, email, password, id, dob, phone string) {
		form := goodForm()
		form.ParentFirstName, form.Email, form.EmailConfirm = name, email, email
		form.Password, form.PasswordConfirm = password, password
		form.StudentID, form.StudentDOB, form.MobilePhone = id, dob, phone
		r, err := ParseAccountRequest(form, Date{2026, 12, 3})
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			for field := range fieldMessages(err) {
				found := false
				for _, k := range AccountRequestFields {
					found = found || k == field
				}
				if !found {
					t.Fatalf("unknown field %q", field)
				}
			}
			return
		}
		if r.ParentFirstName != name {
			t.Fatalf("name changed: %q -> %q", name, r.ParentFirstName)
		}
		if !r.StudentDOB.Valid() {
			t.Fatalf("accepted invalid date %q -> %v", dob, r.StudentDOB)
		}
		if r.Email != EmailKey(email) || r.Email == "" {
			t.Fatalf("email %q -> %q", email, r.Email)
		}
	})
}
