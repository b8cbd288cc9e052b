package portal

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"github.com/trustelem/zxcvbn"
)

// PasswordPolicy is the rule a new password must meet: the seed's rule (at least MinLength
// characters with an upper-case letter, a lower-case letter and a number), at most MaxLength
// characters of any Unicode, and not common or easily guessed (zxcvbn score at least MinScore).
type PasswordPolicy struct {
	MinLength int // 8
	MaxLength int // at least 128
	// MinScore is the lowest zxcvbn score (0–4) accepted; 0 turns the guessability check off.
	MinScore int
}

// DefaultPasswordPolicy is the seed's rule with a zxcvbn score of at least 3.
func DefaultPasswordPolicy() PasswordPolicy {
	return PasswordPolicy{MinLength: 8, MaxLength: 256, MinScore: 3}
}

// zxcvbnMaxRunes bounds the part of a password zxcvbn looks at: its matching is super-linear in
// length and a long password is not "common" because of its 200th character.
const zxcvbnMaxRunes = 100

// Check returns a message for the parent ("" when the password is acceptable). userInputs are
// words the password must not lean on (the parent's and student's names, the email).
func (p PasswordPolicy) Check(password string, userInputs ...string) string {
	if p.MinLength <= 0 {
		p.MinLength = 8
	}
	if p.MaxLength < 128 {
		p.MaxLength = 128
	}
	if !utf8.ValidString(password) {
		return "The password contains characters that cannot be read; type it again"
	}
	n := utf8.RuneCountInString(password)
	if n < p.MinLength {
		return fmt.Sprintf("Passwords must be %d characters or more with a combination of numbers and upper and lower case letters", p.MinLength)
	}
	if n > p.MaxLength {
		return fmt.Sprintf("Use a password of at most %d characters", p.MaxLength)
	}
	var upper, lower, digit bool
	for _, r := range password {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		}
	}
	if !upper || !lower || !digit {
		return fmt.Sprintf("Passwords must be %d characters or more with a combination of numbers and upper and lower case letters", p.MinLength)
	}
	if p.MinScore > 0 {
		probe := password
		if n > zxcvbnMaxRunes {
			probe = string([]rune(password)[:zxcvbnMaxRunes])
		}
		var inputs []string
		for _, u := range userInputs {
			for _, w := range strings.FieldsFunc(strings.ToLower(u), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
				if utf8.RuneCountInString(w) >= 3 {
					inputs = append(inputs, w)
				}
			}
		}
		if zxcvbn.PasswordStrength(probe, inputs).Score < p.MinScore {
			return "This password is too common or easy to guess. Try a longer one, for example three or four unrelated words with a number"
		}
	}
	return ""
}

// NormalizeUKPhone checks s as a UK phone number (a leading +44 or another country code is
// accepted) and returns it in E.164 form (+447700900123). The error message is for the parent.
func NormalizeUKPhone(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	bad := fmt.Errorf("Enter a UK phone number, for example 07700 900123 or 020 7946 0000")
	if len(s) > 30 {
		return "", bad
	}
	num, err := phonenumbers.Parse(s, "GB")
	if err != nil {
		return "", bad
	}
	// A UK number of a possible length is accepted even outside the allocated ranges the
	// library knows, so Ofcom's drama numbers (07700 900xxx) used in tests and demos work.
	if !phonenumbers.IsValidNumber(num) && (num.GetCountryCode() != 44 || !phonenumbers.IsPossibleNumber(num) ||
		len(phonenumbers.GetNationalSignificantNumber(num)) < 9) {
		return "", bad
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}
