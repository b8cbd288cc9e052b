package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const threeLines = `data: {dir: /var/lib/mypt}
college: {name: Croydon College, public_base_url: "https://parents.example.ac.uk"}
`

func mustParse(t *testing.T, src string, env ...string) Config {
	t.Helper()
	c, err := Parse("config.yaml", []byte(src), env)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error %v is not a *LoadError", err)
	}
	return le.Problems
}

func TestThreeLineConfigIsValid(t *testing.T) {
	c := mustParse(t, threeLines)
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.Public.Addr != ":8080" || c.Internal.Addr != "127.0.0.1:9090" || c.Log.Level != "info" {
		t.Errorf("defaults not kept: %+v %+v %+v", c.Public, c.Internal, c.Log)
	}
	if c.College.Name != "Croydon College" {
		t.Errorf("college.name = %q", c.College.Name)
	}
}

func TestUnknownKeyNamesKeyAndLine(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"in a section", "data:\n  dir: /x\npublic:\n  addr: :80\n  pubic: 1\n",
			`config.yaml:5: public.pubic: unknown key`},
		{"top level", "data: {dir: /x}\ncolege:\n  name: x\n",
			`config.yaml:2: colege: unknown key (did you mean "college"?)`},
		{"inside a list", "college:\n  sites:\n    - code: CRO\n      nmae: Croydon\n",
			`config.yaml:4: college.sites[0].nmae: unknown key (did you mean "name"?)`},
		{"duplicate", "log:\n  level: info\n  level: debug\n",
			`config.yaml:3: log.level: duplicate key (first on line 2)`},
		{"wrong type", "eligibility:\n  max_age: nineteen\n",
			`config.yaml:2: eligibility.max_age: "nineteen" must be a whole number`},
		{"section not a mapping", "public: 8080\n",
			`config.yaml:1: public: must be a mapping of keys, not the value "8080"`},
		{"a key_file for a non-secret", "public:\n  addr_file: /x\n",
			`config.yaml:2: public.addr_file: unknown key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("config.yaml", []byte(tt.src), nil)
			ps := problemsOf(t, err)
			if len(ps) != 1 || !strings.HasPrefix(ps[0], tt.want) {
				t.Errorf("problems = %q\nwant one starting %q", ps, tt.want)
			}
		})
	}
}

func TestEveryLoadProblemAtOnce(t *testing.T) {
	_, err := Parse("c.yaml", []byte("a: 1\nb: 2\nlog: {levl: x}\n"), []string{"MYPT_NOPE=1"})
	if ps := problemsOf(t, err); len(ps) != 4 {
		t.Errorf("want 4 problems, got %q", ps)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	c := mustParse(t, threeLines+"public:\n  addr: :80\n",
		"MYPT_PUBLIC_ADDR=127.0.0.1:8443",
		"MYPT_PUBLIC_TRUST_PROXY_HEADERS=true",
		"MYPT_ELIGIBILITY_MAX_AGE=18",
		"MYPT_COLLEGE_PUBLIC_BASE_URL=https://other.example",
		"MYPT_COLLEGE_SITES=[{code: CRO, name: Croydon College}, {code: COU, name: Coulsdon College}]",
		"MYPT_CONFIG=/etc/mypt.yaml",       // reserved: the file's path
		"MYPT_TEST_MSSQL_DSN=sqlserver://", // reserved for tests
		"HOME=/root",
	)
	if c.Public.Addr != "127.0.0.1:8443" || !c.Public.TrustProxyHeaders || c.Eligibility.MaxAge != 18 {
		t.Errorf("env not applied: %+v %+v", c.Public, c.Eligibility)
	}
	if c.College.PublicBaseURL != "https://other.example" || c.College.Name != "Croydon College" {
		t.Errorf("college = %+v", c.College)
	}
	if len(c.College.Sites) != 2 || c.College.Sites[1].Code != "COU" {
		t.Errorf("sites = %+v", c.College.Sites)
	}
}

func TestEnvironmentProblems(t *testing.T) {
	tests := []struct {
		name string
		env  string
		want string
	}{
		{"unknown variable", "MYPT_PUBIC_ADDR=:1", `environment MYPT_PUBIC_ADDR: unknown variable (did you mean "MYPT_PUBLIC_ADDR"?)`},
		{"bad int", "MYPT_ELIGIBILITY_MAX_AGE=old", `environment MYPT_ELIGIBILITY_MAX_AGE: eligibility.max_age: "old" must be a whole number`},
		{"bad bool", "MYPT_PUBLIC_TRUST_PROXY_HEADERS=sometimes", `environment MYPT_PUBLIC_TRUST_PROXY_HEADERS: public.trust_proxy_headers: "sometimes" must be true or false`},
		{"unknown key in YAML value", "MYPT_COLLEGE_SITES=[{cod: X}]", `college.sites[0].cod: unknown key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("config.yaml", nil, []string{tt.env})
			ps := problemsOf(t, err)
			if len(ps) != 1 || !strings.Contains(ps[0], tt.want) {
				t.Errorf("problems = %q, want one containing %q", ps, tt.want)
			}
		})
	}
}

// secretsConfig is a section with every kind of key the loader supports, decoded through the
// same code as Config's sections.
type secretsConfig struct {
	Password Secret        `yaml:"password"`
	Tokens   []Secret      `yaml:"tokens"`
	Timeout  time.Duration `yaml:"timeout"`
	Hosts    []string      `yaml:"hosts"`
	Port     int           `yaml:"port"`
	TLS      bool          `yaml:"tls"`
	Nested   struct {
		Key Secret `yaml:"key"`
	} `yaml:"nested"`
}

func decodeTest(t *testing.T, src string) (secretsConfig, []string) {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	var c secretsConfig
	l := &loader{name: "t.yaml"}
	l.decode(n.Content[0], reflect.ValueOf(&c).Elem(), "s")
	return c, l.errs
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSecretFiles(t *testing.T) {
	pw := writeFile(t, "pw", "hunter2\n")
	t1 := writeFile(t, "t1", "tok-one\r\n")
	t2 := writeFile(t, "t2", "tok-two")
	key := writeFile(t, "key", "k")
	c, errs := decodeTest(t, fmt.Sprintf(`password_file: %s
tokens_file: [%s, %s]
timeout: 5m
hosts: [a, b]
port: 25
tls: true
nested:
  key_file: %s
`, pw, t1, t2, key))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if c.Password.Reveal() != "hunter2" || len(c.Tokens) != 2 || c.Tokens[0].Reveal() != "tok-one" || c.Tokens[1].Reveal() != "tok-two" {
		t.Errorf("secrets = %q %q", c.Password.Reveal(), c.Tokens)
	}
	if c.Timeout != 5*time.Minute || len(c.Hosts) != 2 || c.Port != 25 || !c.TLS || c.Nested.Key.Reveal() != "k" {
		t.Errorf("decoded %+v", c)
	}

	t.Run("both value and file", func(t *testing.T) {
		_, errs := decodeTest(t, "password: x\npassword_file: "+pw+"\n")
		if len(errs) != 1 || !strings.Contains(errs[0], "set password or password_file, not both") {
			t.Errorf("errs = %q", errs)
		}
	})
	t.Run("missing file names the file, not a value", func(t *testing.T) {
		_, errs := decodeTest(t, "password_file: /nonexistent/pw\n")
		if len(errs) != 1 || !strings.Contains(errs[0], "t.yaml:1: s.password_file: read secret: open /nonexistent/pw") {
			t.Errorf("errs = %q", errs)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		_, errs := decodeTest(t, "password_file: "+writeFile(t, "e", "\n")+"\n")
		if len(errs) != 1 || !strings.Contains(errs[0], "is empty") {
			t.Errorf("errs = %q", errs)
		}
	})
	t.Run("bare number is not a duration", func(t *testing.T) {
		_, errs := decodeTest(t, "timeout: 5\n")
		if len(errs) != 1 || !strings.Contains(errs[0], "not a duration") {
			t.Errorf("errs = %q", errs)
		}
	})
	t.Run("string keys keep their text", func(t *testing.T) {
		c, errs := decodeTest(t, "password: 0x1F\n")
		if len(errs) > 0 || c.Password.Reveal() != "0x1F" {
			t.Errorf("password %q, errs %q", c.Password.Reveal(), errs)
		}
	})
}

func TestEnvSecretFile(t *testing.T) {
	// Config has no Secret of its own in the core sections; exercise the env path on every
	// Secret key that the areas declare, or skip if none yet.
	var secretKey *Key
	for _, k := range Keys() {
		if k.Type == "secret" {
			secretKey = &k
			break
		}
	}
	if secretKey == nil {
		t.Skip("no Secret key in Config yet (areas add theirs)")
	}
	f := writeFile(t, "s", "from-file\n")
	c, err := Parse("config.yaml", nil, []string{secretKey.Env + "_FILE=" + f})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fmt.Sprintf("%v", c), "<secret>") || strings.Contains(fmt.Sprintf("%+v", c), "from-file") {
		t.Errorf("secret from %s_FILE not set or not redacted: %+v", secretKey.Env, c)
	}
	_, err = Parse("config.yaml", nil, []string{secretKey.Env + "_FILE=" + f, secretKey.Env + "=x"})
	if ps := problemsOf(t, err); len(ps) != 1 || !strings.Contains(ps[0], "not both") {
		t.Errorf("problems = %q", ps)
	}
}

func TestSecretRedaction(t *testing.T) {
	type holder struct {
		Name     string
		Password Secret   `yaml:"password" json:"password"`
		Tokens   []Secret `yaml:"tokens" json:"tokens"`
	}
	const value = "hunter2-very-secret"
	h := holder{Name: "x", Password: Secret(value), Tokens: []Secret{Secret(value)}}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outputs = append(outputs, fmt.Sprintf(verb, h), fmt.Sprintf(verb, h.Password))
	}
	outputs = append(outputs, fmt.Sprint(h.Password), h.Password.String(), h.Password.GoString())
	j, _ := json.Marshal(h)
	y, _ := yaml.Marshal(h)
	outputs = append(outputs, string(j), string(y))
	for _, json := range []bool{false, true} {
		var buf bytes.Buffer
		var hd slog.Handler = slog.NewTextHandler(&buf, nil)
		if json {
			hd = slog.NewJSONHandler(&buf, nil)
		}
		slog.New(hd).Info("config", "password", h.Password, "holder", h, slog.Any("tokens", h.Tokens))
		outputs = append(outputs, buf.String())
	}
	for _, out := range outputs {
		if strings.Contains(out, value) || strings.Contains(out, fmt.Sprintf("%x", value)) {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if !strings.Contains(string(y), "password: <secret>") || !strings.Contains(string(j), `"password":"\u003csecret\u003e"`) {
		t.Errorf("marshalled forms: %s / %s", y, j)
	}
	if got := fmt.Sprintf("%v", Secret("")); got != "" {
		t.Errorf("unset secret prints %q, want empty", got)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Default()
	c.Data.Dir = ""
	c.Public.Addr = "nonsense"
	c.Log.Format = "xml"
	c.Attendance.Bands = "Good=90"
	c.College.Sites = []College{{Code: "CRO", Name: "Croydon"}, {Code: "CRO"}}
	err := c.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate = %v", err)
	}
	for _, want := range []string{"data.dir:", "college.name:", "college.public_base_url:", "public.addr:",
		"log.format:", "attendance.bands:", `college.sites[1].code: "CRO" is listed twice`, "college.sites[1].name:"} {
		found := false
		for _, p := range ve.Problems {
			found = found || strings.HasPrefix(p, want)
		}
		if !found {
			t.Errorf("no problem starting %q in %q", want, ve.Problems)
		}
	}
}

func TestEnvNamesAreUnique(t *testing.T) {
	if _, err := envVars(); err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys() {
		if !strings.HasPrefix(k.Env, EnvPrefix) || strings.ToUpper(k.Env) != k.Env {
			t.Errorf("key %s has env %s", k.Path, k.Env)
		}
	}
}

func TestLoadFile(t *testing.T) {
	p := writeFile(t, "mypt.yaml", threeLines)
	c, err := Load(p, nil)
	if err != nil || c.College.Name != "Croydon College" {
		t.Fatalf("Load = %+v, %v", c.College, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil); err == nil {
		t.Error("a missing file loaded")
	}
	_, err = Load(writeFile(t, "bad.yaml", "public:\n  pubic: x\n"), nil)
	if err == nil || !strings.Contains(err.Error(), `bad.yaml:2: public.pubic: unknown key`) {
		t.Errorf("err = %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(threeLines), "MYPT_PUBLIC_ADDR=:1")
	f.Add([]byte("public: {addr: x, pubic: 1}\ncollege: {sites: [{code: A}, 3]}\n"), "MYPT_COLLEGE_SITES=[{code: 1}]")
	f.Add([]byte("a: &x {b: *x}\n"), "")
	f.Add([]byte("log: [1, 2]\neligibility: {max_age: 1e99}\n"), "MYPT_LOG=1")
	f.Add([]byte("- 1\n- 2\n"), "MYPT_ELIGIBILITY_MAX_AGE=[1]")
	f.Fuzz(func(t *testing.T, data []byte, env string) {
		c, err := Parse("fuzz.yaml", data, strings.Split(env, "\n"))
		if err == nil {
			_ = c.Validate()
			_, _ = yaml.Marshal(c)
		}
	})
}

func TestDefaultsOfAreaSectionsApplied(t *testing.T) {
	c := Default()
	if c.Portal.LockoutAttempts != 3 {
		t.Errorf("portal.lockout_attempts default = %d; WithDefaults not applied", c.Portal.LockoutAttempts)
	}
	c.College.Name, c.College.PublicBaseURL = "X", "https://x.example"
	if err := c.Validate(); err != nil {
		t.Errorf("defaults plus the college are not valid: %v", err)
	}
}

// TestPrintedConfigLoadsBack: what `mypt config check --print` writes is a valid file that
// loads back to the same configuration (secrets aside, which print as <secret>).
func TestPrintedConfigLoadsBack(t *testing.T) {
	c := mustParse(t, threeLines)
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("printed.yaml", b, nil)
	if err != nil {
		t.Fatalf("printed configuration does not load: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(normalise(c), normalise(back)) {
		t.Errorf("printed configuration loads differently:\n%s", b)
		bb, _ := yaml.Marshal(back)
		t.Logf("loaded back:\n%s", bb)
	}
}

// normalise treats nil and empty slices and maps alike.
func normalise(c Config) string {
	b, _ := json.Marshal(c)
	return strings.NewReplacer("null", "[]", "{}", "[]").Replace(string(b))
}

// shapesConfig has the section shapes areas may use: inline, pointer, map and list of sections.
type shapesConfig struct {
	Common `yaml:",inline"`
	Ptr    *struct {
		Port int `yaml:"port"`
	} `yaml:"ptr"`
	ByName map[string]struct {
		Limit time.Duration `yaml:"limit"`
	} `yaml:"by_name"`
	Items []struct {
		Key Secret `yaml:"key"`
	} `yaml:"items"`
	Skip string `yaml:"-"`
}

type Common struct {
	Name string `yaml:"name"`
}

func TestSectionShapes(t *testing.T) {
	key := writeFile(t, "k", "item-key\n")
	src := "name: x\nptr: {port: 3}\nby_name:\n  a: {limit: 2s}\n  b: {limt: 1s}\nitems:\n  - key_file: " + key + "\nskip: 1\n"
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	var c shapesConfig
	l := &loader{name: "s.yaml"}
	l.decode(n.Content[0], reflect.ValueOf(&c).Elem(), "")
	want := []string{
		`s.yaml:5: by_name.b.limt: unknown key (did you mean "limit"?)`,
		`s.yaml:8: skip: unknown key`,
	}
	if !reflect.DeepEqual(l.errs, want) {
		t.Errorf("errs = %q\nwant  %q", l.errs, want)
	}
	if c.Name != "x" || c.Ptr == nil || c.Ptr.Port != 3 || c.ByName["a"].Limit != 2*time.Second || len(c.Items) != 1 || c.Items[0].Key.Reveal() != "item-key" {
		t.Errorf("decoded %+v", c)
	}
}

func TestEnvSetsNestedSecret(t *testing.T) {
	c := mustParse(t, threeLines, "MYPT_MIS_DSN=sqlserver://u:p@db:1433?database=x")
	if c.MIS.DSN.Reveal() != "sqlserver://u:p@db:1433?database=x" {
		t.Errorf("MYPT_MIS_DSN not applied: %q", c.MIS.DSN.Reveal())
	}
}

// Unknown keys do not hide validation problems: one run reports them all.
func TestLoadCheckedReportsEverythingAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mypt.yaml")
	src := `data: {dir: /var/lib/mypt}
college: {name: Croydon College, public_base_ulr: "https://parents.example.ac.uk"}
mis: {dsn: "sqlserver://mypt_reader@mis.example.ac.uk?database=ProSolution", pasword_file: /etc/mypt/mis-password}
public: {addr: notaport}
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadChecked(path, nil)
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("LoadChecked = %v, want a *LoadError", err)
	}
	all := strings.Join(le.Problems, "\n")
	for _, want := range []string{`college.public_base_ulr: unknown key`, `mis.pasword_file: unknown key`, `public.addr: "notaport" is not host:port`} {
		if !strings.Contains(all, want) {
			t.Errorf("problems lack %q:\n%s", want, all)
		}
	}
}

// A configured mis.dsn (or mis.host) turns the pull syncer on: the README's three-line config
// syncs. Only an explicit `enabled: false` (file or environment) keeps it off.
func TestMISConnectionEnablesPull(t *testing.T) {
	const dsn = `mis: {dsn: "sqlserver://mypt_reader@mis.example.ac.uk?database=ProSolution"}` + "\n"
	for _, c := range []struct {
		name string
		src  string
		env  []string
		want bool
	}{
		{"no mis section", threeLines, nil, false},
		{"dsn", threeLines + dsn, nil, true},
		{"host", threeLines + "mis: {host: mis.example.ac.uk, user: mypt_reader}\n", nil, true},
		{"dsn with enabled false", threeLines + `mis: {dsn: "sqlserver://u@h", enabled: false}` + "\n", nil, false},
		{"dsn with MYPT_MIS_ENABLED=false", threeLines + dsn, []string{"MYPT_MIS_ENABLED=false"}, false},
		{"dsn from the environment", threeLines, []string{"MYPT_MIS_DSN=sqlserver://u@h"}, true},
		{"enabled true", threeLines + "mis: {enabled: true, host: h, user: u, password: p}\n", nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := mustParse(t, c.src, c.env...).MIS.Enabled; got != c.want {
				t.Errorf("mis.enabled = %v, want %v", got, c.want)
			}
		})
	}
}
