package portal

import (
	"strings"
	"testing"
)

func TestPasswordPolicy(t *testing.T) {
	p := DefaultPasswordPolicy()
	for _, tc := range []struct {
		name, pw string
		ok       bool
		want     string
	}{
		{"seed rule met and strong", "Tangerine-Kettle-Harbour-42", true, ""},
		{"seven characters", "Ab3defg", false, "8 characters"},
		{"no upper case", "tangerine-kettle-42", false, "upper and lower"},
		{"no lower case", "TANGERINE-KETTLE-42", false, "upper and lower"},
		{"no number", "Tangerine-Kettle-Harbour", false, "numbers"},
		{"common password", "Password1", false, "too common"},
		{"keyboard walk", "Qwerty123", false, "too common"},
		{"any unicode", "Ñandú-Żółw-Ōkami-2024", true, ""},
		{"128 characters allowed", "Zq7" + strings.Repeat("xK9mP2vL", 15) + "abcde", true, ""},
		{"over the maximum", strings.Repeat("Ab1x", 65), false, "at most 256"},
		{"invalid utf-8", "Abcdefg1\xff", false, "cannot be read"},
		{"built on the parent's name", "Siobhan2011", false, "too common"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := p.Check(tc.pw, "Siobhan", "O'Neill", "siobhan@example.org")
			if (got == "") != tc.ok || !strings.Contains(got, tc.want) {
				t.Fatalf("Check(%q) = %q, want ok=%t containing %q", tc.pw, got, tc.ok, tc.want)
			}
		})
	}
}

func TestPasswordPolicyScoreOff(t *testing.T) {
	p := PasswordPolicy{MinLength: 8, MaxLength: 128}
	if msg := p.Check("Password1"); msg != "" {
		t.Fatalf("with MinScore 0 the seed rule alone applies, got %q", msg)
	}
}

func TestNormalizeUKPhone(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"07700 900123", "+447700900123"},
		{"+44 7700 900123", "+447700900123"},
		{"020 7946 0000", "+442079460000"},
		{"(020) 7946-0000", "+442079460000"},
		{"+44 (0)20 7946 0000", "+442079460000"},
		{"", ""},
	} {
		got, err := NormalizeUKPhone(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeUKPhone(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"123", "07700", "call me", "0770090012345678", strings.Repeat("0", 40)} {
		if _, err := NormalizeUKPhone(bad); err == nil {
			t.Errorf("NormalizeUKPhone(%q) accepted", bad)
		}
	}
}
