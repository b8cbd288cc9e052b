package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func loadCheckedProblems(t *testing.T, src string, env ...string) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mypt.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadChecked(path, env)
	if err == nil {
		return nil
	}
	ps := problemsOf(t, err)
	for i, p := range ps {
		ps[i] = strings.TrimPrefix(p, path)
	}
	return ps
}

// The tester's repro: eight bad values in three sections are eight problems, each with the
// line of its key, in `key: message` form.
func TestEveryValueProblemAtOnceWithItsLine(t *testing.T) {
	src := threeLines + `portal:
  lockout_attempts: 0
  login_rate_burst: -1
  session_max_age: 1s
  max_form_bytes: -5
accounts:
  password_min_score: 9
  staff_lockout_attempts: 0
eligibility:
  max_age: -1
  age_reference: yesterday
`
	ps := loadCheckedProblems(t, src)
	want := []string{
		":6: portal.session_max_age: 1s must not be shorter than session_idle_timeout (20m0s)",
		":4: portal.lockout_attempts: 0 must be between 1 and 100",
		":5: portal.login_rate_burst: -1 must be at least 1",
		":7: portal.max_form_bytes: -5 must be at least 1024",
		":9: accounts.password_min_score: 9 must be between 0 and 4",
		":10: accounts.staff_lockout_attempts: 0 must be at least 1",
		":12: eligibility.max_age: -1 must be between 1 and 120",
		`:13: eligibility.age_reference: "yesterday" must be "academic_year_start" or "today"`,
	}
	for _, w := range want {
		if !slices.Contains(ps, w) {
			t.Errorf("problems lack %q", w)
		}
	}
	if len(ps) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(ps), len(want), strings.Join(ps, "\n"))
	}
}

// A value from the environment names the variable instead of a line.
func TestValueProblemFromEnvironmentNamesTheVariable(t *testing.T) {
	ps := loadCheckedProblems(t, threeLines, "MYPT_PORTAL_LOCKOUT_ATTEMPTS=0")
	want := "environment MYPT_PORTAL_LOCKOUT_ATTEMPTS: portal.lockout_attempts: 0 must be between 1 and 100"
	if len(ps) != 1 || ps[0] != want {
		t.Errorf("problems = %q, want [%q]", ps, want)
	}
}

func TestTypeProblemsReadPlainly(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"eligibility:\n  max_age: three\n", `:2: eligibility.max_age: "three" must be a whole number`},
		{"portal:\n  page_cache_entries: 1.5\n", `:2: portal.page_cache_entries: "1.5" must be a whole number`},
		{"portal:\n  login_rate_per_minute: fast\n", `:2: portal.login_rate_per_minute: "fast" must be a number`},
		{"public:\n  trust_proxy_headers: sometimes\n", `:2: public.trust_proxy_headers: "sometimes" must be true or false`},
		{"portal:\n  argon2: {parallelism: 300}\n", `:2: portal.argon2.parallelism: "300" must be a whole number from 0 to 255`},
		{"push:\n  tokens: {a: x}\n", `:2: push.tokens: must be a list, not a mapping`},
		{"college:\n  name: [a, b]\n", `:2: college.name: must be a single value, not a list`},
	} {
		_, err := Parse("", []byte(c.src), nil)
		ps := problemsOf(t, err)
		if len(ps) != 1 || ps[0] != c.want {
			t.Errorf("%q: problems = %q, want [%q]", c.src, ps, c.want)
		}
	}
}

func TestUnknownEntityListsTheKnownOnes(t *testing.T) {
	ps := loadCheckedProblems(t, threeLines+"mis:\n  entities: [student, attendance_marks]\n")
	if len(ps) != 1 || !strings.Contains(ps[0], `:4: mis.entities: unknown entity "attendance_marks" (known: mark_type, course, student,`) ||
		!strings.Contains(ps[0], "attendance_mark,") {
		t.Errorf("problems = %q", ps)
	}
}

// A password_file that cannot be read is one problem, not also "password: is required".
func TestMissingSecretFileReportedOnce(t *testing.T) {
	ps := loadCheckedProblems(t, threeLines+"mis:\n  host: mis.example\n  user: r\n  password_file: /nonexistent/mis-password\n")
	if len(ps) != 1 || !strings.Contains(ps[0], ":6: mis.password_file: read secret:") {
		t.Errorf("problems = %q, want one about mis.password_file", ps)
	}
}

func TestMISQueryOverridesChecked(t *testing.T) {
	good := "SELECT * FROM v WHERE RowVer > @p1 AND RowVer < @p2\n  order  by  rowver"
	for _, c := range []struct {
		name, yaml, want string
	}{
		{"good", "queries:\n    student: \"" + strings.ReplaceAll(good, "\n", " ") + "\"\n", ""},
		{"good block", "queries:\n    student: |\n      " + strings.ReplaceAll(good, "\n", "\n      ") + "\n", ""},
		{"no p2", "queries:\n    student: SELECT * FROM v WHERE RowVer > @p1 ORDER BY RowVer\n", "mis.queries.student: must filter RowVer > @p1 AND RowVer < @p2"},
		{"no order", "queries:\n    student: SELECT * FROM v WHERE RowVer > @p1 AND RowVer < @p2\n", "mis.queries.student: must end ORDER BY RowVer"},
		{"key one column", "key_queries:\n    student: SELECT StudentID FROM v\n", ""},
		{"key not select", "key_queries:\n    student: DELETE FROM v\n", "mis.key_queries.student: must be a SELECT of one column (the key)"},
		{"key two columns", "key_queries:\n    student: SELECT StudentID, Name FROM v\n", "mis.key_queries.student: must be a SELECT of one column (the key)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps := loadCheckedProblems(t, threeLines+"mis:\n  "+c.yaml)
			if c.want == "" {
				if len(ps) != 0 {
					t.Errorf("problems = %q", ps)
				}
				return
			}
			if len(ps) != 1 || !strings.Contains(ps[0], c.want) || !strings.HasPrefix(ps[0], ":5: ") {
				t.Errorf("problems = %q, want one at line 5 containing %q", ps, c.want)
			}
		})
	}
}

func TestNoSupportEmailWarns(t *testing.T) {
	w := strings.Join(mustParse(t, threeLines).Warnings(), "\n")
	if !strings.Contains(w, "college.support_email: "+WarnNoSupportEmail) {
		t.Errorf("warnings lack support_email:\n%s", w)
	}
	w = strings.Join(mustParse(t, strings.Replace(threeLines, "college: {", "college: {support_email: parentportal@example.ac.uk, ", 1)).Warnings(), "\n")
	if strings.Contains(w, "support_email") {
		t.Errorf("support_email set, still warned:\n%s", w)
	}
}

// The README's minimal config is valid and names the support address (no such warning).
func TestReadmeMinimalConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "## Configuration\n")
	_, rest, ok := strings.Cut(rest, "```yaml\n")
	src, _, _ := strings.Cut(rest, "```")
	if !ok || src == "" {
		t.Fatal("README.md's Configuration section has no yaml example")
	}
	dir := t.TempDir()
	pw := filepath.Join(dir, "mis-password")
	os.WriteFile(pw, []byte("x\n"), 0o600)
	c, err := Parse("README.md", []byte(strings.ReplaceAll(src, "/etc/mypt/mis-password", pw)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("README's minimal config: %v", err)
	}
	if w := strings.Join(c.Warnings(), "\n"); strings.Contains(w, "support_email") {
		t.Errorf("README's minimal config warns: %s", w)
	}
}
