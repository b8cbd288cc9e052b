package config

import (
	"cmp"
	"encoding"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable the loader reads.
const EnvPrefix = "MYPT_"

// Environment variables that start with EnvPrefix but are not configuration keys.
var reservedEnv = []string{
	"MYPT_CONFIG", // the config file's path, read by the command line
}

// reservedEnvPrefixes are left alone too (tests' own settings, e.g. MYPT_TEST_MSSQL_DSN).
var reservedEnvPrefixes = []string{"MYPT_TEST_"}

// A section type may implement Problemer (in its own file) to report its own problems for
// Validate. Each problem starts with the key it is about, relative to the section, e.g.
// `host: is required when transport is "smtp"`; Validate prefixes the section's path.
type Problemer interface {
	Problems() []string
}

// defaulter is implemented (on the pointer) by section types that set their own defaults;
// Default calls it on every section, so an area's defaults live in its own file.
type defaulter interface {
	setDefaults()
}

// Default returns the configuration used for every key a file and the environment leave unset.
// With it, a file naming only data.dir, college.public_base_url and college.name is enough for
// `mypt serve`.
func Default() Config {
	c := Config{
		Data:     DataConfig{Dir: "/var/lib/mypt"},
		College:  CollegeConfig{},
		Public:   ListenerConfig{Addr: ":8080"},
		Internal: ListenerConfig{Addr: "127.0.0.1:9090"},
		Log:      LogConfig{Format: "text", Level: "info"},
		Attendance: AttendanceConfig{
			Unmarked: "ignore",
			Bands:    "Excellent=100,Good=90,Requires improvement=85,Poor=0",
		},
		Eligibility: EligibilityConfig{
			MaxAge: 19, MaxAgeEHCP: 25, AgeReference: "academic_year_start", LeftGraceDays: 0,
		},
	}
	walkSections(reflect.ValueOf(&c).Elem(), "", func(v reflect.Value, _ string) bool {
		if d, ok := v.Addr().Interface().(defaulter); ok {
			d.setDefaults()
		}
		// Sections written as `func (c X) WithDefaults() X` fill their zero fields.
		if m := v.MethodByName("WithDefaults"); m.IsValid() && m.Type().NumIn() == 0 && m.Type().NumOut() == 1 && m.Type().Out(0) == v.Type() {
			v.Set(m.Call(nil)[0])
		}
		return true
	})
	return c
}

// Load reads the YAML file at path (strictly: an unknown key is an error naming it and its line)
// over Default(), then applies MYPT_<SECTION>_<KEY> overrides from env (os.Environ() form;
// an unknown MYPT_ variable is an error too), then reads every secret given as `<key>_file` or
// MYPT_<SECTION>_<KEY>_FILE. An empty path reads no file. Load does not Validate. On a
// *LoadError the Config returned holds whatever did load (never use it to run).
func Load(path string, env []string) (Config, error) {
	var data []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		data = b
	}
	return Parse(path, data, env)
}

// Parse is Load on the file's contents; name is used in error messages.
func Parse(name string, data []byte, env []string) (Config, error) {
	c, _, err := parse(name, data, env)
	return c, err
}

// parse is Parse, also returning the loader (for the keys' positions).
func parse(name string, data []byte, env []string) (Config, *loader, error) {
	c := Default()
	l := &loader{name: name}
	root := reflect.ValueOf(&c).Elem()
	if len(data) > 0 {
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return Config{}, l, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
			l.decode(doc.Content[0], root, "")
		}
	}
	l.applyEnv(root, env)
	impliedDefaults(&c, l.set)
	if len(l.errs) > 0 {
		// What did load comes back too, so LoadChecked can validate it in the same run.
		return c, l, &LoadError{Problems: l.errs}
	}
	return c, l, nil
}

// LoadChecked is Load then Validate in one run: an unknown key or a bad value does not hide
// the validation problems of the rest, so every problem is reported at once in one *LoadError
// (load problems first). Each validation problem is prefixed, like a load problem, with where
// its key was set: "file:line: " or "environment MYPT_X: " (nothing for a default). A problem
// about a key that already failed to load (a password_file that cannot be read, a section that
// is not a mapping) is not reported again. A file that cannot be read or is not YAML is
// returned as Load's error.
func LoadChecked(path string, env []string) (Config, error) {
	var data []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		data = b
	}
	c, l, err := parse(path, data, env)
	var le *LoadError
	if err != nil && !errors.As(err, &le) {
		return Config{}, err
	}
	var problems []string
	if le != nil {
		problems = append(problems, le.Problems...)
	}
	var ve *ValidationError
	if verr := c.Validate(); errors.As(verr, &ve) {
		for _, p := range ve.Problems {
			key, _, _ := strings.Cut(p, ": ")
			if l.failedAt(key) {
				continue
			}
			if where := l.positionOf(key); where != "" {
				p = where + ": " + p
			}
			problems = append(problems, p)
		}
	} else if verr != nil {
		problems = append(problems, verr.Error())
	}
	if len(problems) > 0 {
		sortByLine(problems)
		return c, &LoadError{Problems: problems}
	}
	return c, nil
}

// sortByLine puts the problems that name a line of the file in line order, first; the others
// (environment variables, keys left at their default) follow in the order they were found.
func sortByLine(problems []string) {
	line := func(p string) int {
		// "path:12: key: message" — the path itself may hold colons (C:\...), so look for
		// the first ":<digits>: " rather than split.
		for i := 0; i < len(p); i++ {
			if p[i] != ':' {
				continue
			}
			j := i + 1
			for j < len(p) && p[j] >= '0' && p[j] <= '9' {
				j++
			}
			if j > i+1 && strings.HasPrefix(p[j:], ": ") {
				n, _ := strconv.Atoi(p[i+1 : j])
				return n
			}
		}
		return math.MaxInt
	}
	slices.SortStableFunc(problems, func(a, b string) int { return cmp.Compare(line(a), line(b)) })
}

// parentKeys lists key and the keys holding it: "a.b[0].c", "a.b[0]", "a.b", "a".
func parentKeys(key string) []string {
	out := []string{key}
	for {
		i := strings.LastIndexAny(key, ".[")
		if i <= 0 {
			return out
		}
		key = key[:i]
		out = append(out, key)
	}
}

// positionOf is where key (or the nearest key holding it) was set: "file:line" or
// "environment MYPT_X"; "" when it kept its default.
func (l *loader) positionOf(key string) string {
	for _, k := range parentKeys(key) {
		if p, ok := l.pos[k]; ok {
			return p
		}
	}
	return ""
}

// failedAt reports whether key, its key_file, or a key holding it failed to load.
func (l *loader) failedAt(key string) bool {
	if l.failed[key+"_file"] {
		return true
	}
	for _, k := range parentKeys(key) {
		if l.failed[k] {
			return true
		}
	}
	return false
}

// setPos records where path was set (the first place wins; the environment overrides).
func (l *loader) setPos(path string, line int) {
	if path == "" {
		return
	}
	if l.pos == nil {
		l.pos = map[string]string{}
	}
	if _, ok := l.pos[path]; ok {
		return
	}
	if line > 0 {
		l.pos[path] = fmt.Sprintf("%s:%d", l.name, line)
	} else {
		l.pos[path] = l.name
	}
}

// fail records that path did not load, so Validate's problem about it is not repeated.
func (l *loader) fail(path string) {
	if l.failed == nil {
		l.failed = map[string]bool{}
	}
	l.failed[path] = true
}

func (l *loader) markSet(path string) {
	if l.set == nil {
		l.set = map[string]bool{}
	}
	l.set[path] = true
}

// impliedDefaults sets the defaults that follow from other keys: a configured MIS connection
// (mis.dsn or mis.host) turns the pull syncer on unless mis.enabled was given — a college that
// names its MIS expects it to be mirrored.
func impliedDefaults(c *Config, set map[string]bool) {
	if !set["mis.enabled"] && (c.MIS.DSN.IsSet() || c.MIS.Host != "") {
		c.MIS.Enabled = true
	}
}

// LoadError lists every problem found while loading, each naming the file and line or the
// environment variable.
type LoadError struct {
	Problems []string
}

func (e *LoadError) Error() string { return "config: " + strings.Join(e.Problems, "; ") }

// loader decodes a YAML tree into a Config, collecting every problem rather than stopping.
type loader struct {
	name string
	errs []string
	// set holds the paths of the leaf keys the file or environment gave (for impliedDefaults).
	set map[string]bool
	// visits bounds the work on hostile input (aliases can make a small file a huge tree).
	visits int
	// expanding holds the aliases being expanded, to refuse an alias inside its own anchor.
	expanding map[*yaml.Node]bool
	// pos holds where each key was set ("file:line" or "environment MYPT_X"), for LoadChecked.
	pos map[string]string
	// failed holds the keys whose value did not load.
	failed map[string]bool
}

// maxVisits is far above any real configuration's node count.
const maxVisits = 20000

func (l *loader) errorf(line int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if line > 0 {
		l.errs = append(l.errs, fmt.Sprintf("%s:%d: %s", l.name, line, msg))
	} else {
		l.errs = append(l.errs, fmt.Sprintf("%s: %s", l.name, msg))
	}
}

var (
	secretType      = reflect.TypeFor[Secret]()
	secretSliceType = reflect.TypeFor[[]Secret]()
	durationType    = reflect.TypeFor[time.Duration]()
)

// isSection reports whether values of t are decoded key by key (a struct of our own, not a
// type that decodes itself, such as time.Time).
func isSection(t reflect.Type) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	p := reflect.PointerTo(t)
	if p.Implements(reflect.TypeFor[yaml.Unmarshaler]()) || p.Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
		return false
	}
	return true
}

func isSecret(t reflect.Type) bool { return t == secretType || t == secretSliceType }

// field is one key of a section.
type field struct {
	key   string
	index []int
	typ   reflect.Type
}

// fieldsOf lists the keys of struct type t by their yaml tags (inline structs flattened).
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") && f.Type.Kind() == reflect.Struct {
			for _, sub := range fieldsOf(f.Type) {
				sub.index = append([]int{i}, sub.index...)
				out = append(out, sub)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, field{key: name, index: []int{i}, typ: f.Type})
	}
	return out
}

func findField(fs []field, key string) (field, bool) {
	for _, f := range fs {
		if f.key == key {
			return f, true
		}
	}
	return field{}, false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// decode sets v from n, checking every key; path names v in messages ("" for the root).
func (l *loader) decode(n *yaml.Node, v reflect.Value, path string) {
	if l.visits++; l.visits > maxVisits {
		if l.visits == maxVisits+1 {
			l.errorf(n.Line, "the file is too large or its aliases expand too far")
		}
		return
	}
	l.setPos(path, n.Line)
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil || l.expanding[n.Alias] {
			l.errorf(n.Line, "%s: alias *%s refers to itself", path, n.Value)
			return
		}
		if l.expanding == nil {
			l.expanding = map[*yaml.Node]bool{}
		}
		l.expanding[n.Alias] = true
		defer delete(l.expanding, n.Alias)
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "mis:" with nothing under it leaves the defaults
	}
	t := v.Type()
	switch {
	case isSection(t):
		l.decodeSection(n, v, path)
	case t.Kind() == reflect.Pointer && isSection(t.Elem()):
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		l.decode(n, v.Elem(), path)
	case t.Kind() == reflect.Slice && isSection(t.Elem()):
		if n.Kind != yaml.SequenceNode {
			l.errorf(n.Line, "%s: must be a list", path)
			l.fail(path)
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			l.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && isSection(t.Elem()):
		if n.Kind != yaml.MappingNode {
			l.errorf(n.Line, "%s: must be a mapping", path)
			l.fail(path)
			return
		}
		m := reflect.MakeMap(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			e := reflect.New(t.Elem()).Elem()
			l.decode(n.Content[i+1], e, join(path, k))
			m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
		}
		v.Set(m)
	default:
		l.decodeLeaf(n, v, path)
	}
}

func (l *loader) decodeSection(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		where := "the file"
		if path != "" {
			where = path
		}
		l.errorf(n.Line, "%s: must be a mapping of keys, not %s", where, describeNode(n))
		l.fail(path)
		return
	}
	fs := fieldsOf(v.Type())
	seen := map[string]int{} // key → line, for duplicates and key/key_file clashes
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		key := kn.Value
		if first, dup := seen[key]; dup {
			l.errorf(kn.Line, "%s: duplicate key (first on line %d)", join(path, key), first)
			continue
		}
		seen[key] = kn.Line
		if f, ok := findField(fs, key); ok {
			l.decode(vn, v.FieldByIndex(f.index), join(path, key))
			continue
		}
		if base, ok := strings.CutSuffix(key, "_file"); ok {
			if f, ok := findField(fs, base); ok && isSecret(f.typ) {
				l.setPos(join(path, base), kn.Line)
				l.decodeSecretFiles(vn, v.FieldByIndex(f.index), join(path, key), kn.Line)
				continue
			}
		}
		l.errorf(kn.Line, "%s: unknown key%s", join(path, key), suggest(key, keysOf(fs)))
	}
	for _, f := range fs {
		if !isSecret(f.typ) {
			continue
		}
		if line, ok := seen[f.key+"_file"]; ok {
			if _, both := seen[f.key]; both {
				l.errorf(line, "%s: set %s or %s_file, not both", join(path, f.key), f.key, f.key)
			}
		}
	}
}

// keysOf lists a section's keys, with key_file for secrets, for suggestions.
func keysOf(fs []field) []string {
	var ks []string
	for _, f := range fs {
		ks = append(ks, f.key)
		if isSecret(f.typ) {
			ks = append(ks, f.key+"_file")
		}
	}
	return ks
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "this"
}

// decodeLeaf decodes a value yaml.v3 knows how to decode itself (scalars, lists of scalars,
// durations, maps of scalars, types with UnmarshalText). Its problems are said in the
// configuration's terms ("must be a whole number"), never YAML's (!!str, int).
func (l *loader) decodeLeaf(n *yaml.Node, v reflect.Value, path string) {
	l.markSet(path)
	bad := func(line int, format string, args ...any) {
		l.errorf(line, "%s: %s", path, fmt.Sprintf(format, args...))
		l.fail(path)
	}
	t := v.Type()
	isList := t.Kind() == reflect.Slice || t.Kind() == reflect.Array
	switch n.Kind {
	case yaml.MappingNode:
		if isList {
			bad(n.Line, "must be a list, not a mapping")
			return
		}
		if t.Kind() != reflect.Map && t.Kind() != reflect.Interface {
			bad(n.Line, "must be a single value, not a mapping")
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			l.setPos(join(path, n.Content[i].Value), n.Content[i].Line)
		}
	case yaml.SequenceNode:
		if t.Kind() == reflect.Map {
			bad(n.Line, "must be a mapping, not a list")
			return
		}
		if !isList && t.Kind() != reflect.Interface {
			bad(n.Line, "must be a single value, not a list")
			return
		}
		for i, c := range n.Content {
			l.setPos(fmt.Sprintf("%s[%d]", path, i), c.Line)
		}
	}
	if t.Kind() == reflect.String && n.Kind == yaml.ScalarNode {
		// A string key takes the text as written: `password: 0x1F` or `code: 0123` stay text.
		v.SetString(n.Value)
		return
	}
	if t == durationType && n.Kind == yaml.ScalarNode {
		d, err := parseDuration(n.Value)
		if err != nil {
			bad(n.Line, "%v", err)
			return
		}
		v.SetInt(int64(d))
		return
	}
	if n.Kind == yaml.ScalarNode {
		if msg := scalarProblem(n, t); msg != "" {
			bad(n.Line, "%q %s", n.Value, msg)
			return
		}
	}
	p := reflect.New(t)
	if err := n.Decode(p.Interface()); err != nil {
		bad(n.Line, "%s", cleanYAMLError(err))
		return
	}
	v.Set(p.Elem())
}

// scalarProblem says why scalar n cannot be a value of type t (a number or a bool), or "".
// YAML would turn 1.5 into the int 1; that is refused too.
func scalarProblem(n *yaml.Node, t reflect.Type) string {
	tag := n.ShortTag()
	k := t.Kind()
	switch {
	case k == reflect.Bool:
		if tag != "!!bool" && n.Decode(new(bool)) != nil {
			return "must be true or false"
		}
	case k >= reflect.Int && k <= reflect.Int64, k >= reflect.Uint && k <= reflect.Uint64:
		if tag != "!!int" {
			return "must be a whole number"
		}
		if n.Decode(reflect.New(t).Interface()) != nil {
			bits := t.Bits()
			if k >= reflect.Uint {
				return fmt.Sprintf("must be a whole number from 0 to %d", uint64(1)<<bits-1)
			}
			return fmt.Sprintf("must be a whole number from %d to %d", -(int64(1) << (bits - 1)), int64(1)<<(bits-1)-1)
		}
	case k == reflect.Float32 || k == reflect.Float64:
		if tag != "!!int" && tag != "!!float" {
			return "must be a number"
		}
	}
	return ""
}

// parseDuration reads "5m", "1h30m" or "90s"; a bare number is refused so "5" is never
// silently five nanoseconds.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 90s, 5m or 1h30m", s)
	}
	return d, nil
}

// cleanYAMLError turns "yaml: unmarshal errors:\n  line 3: cannot unmarshal !!str `x` into int"
// into "cannot unmarshal !!str `x` into int".
func cleanYAMLError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var parts []string
		for _, e := range te.Errors {
			if _, rest, ok := strings.Cut(e, ": "); ok && strings.HasPrefix(e, "line ") {
				e = rest
			}
			parts = append(parts, e)
		}
		return strings.Join(parts, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// decodeSecretFiles reads key_file: one file for a Secret, one or more for a []Secret.
func (l *loader) decodeSecretFiles(n *yaml.Node, v reflect.Value, path string, line int) {
	var files []string
	switch {
	case n.Kind == yaml.ScalarNode:
		files = []string{n.Value}
	case n.Kind == yaml.SequenceNode && v.Type() == secretSliceType:
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				l.errorf(c.Line, "%s: each entry must be a file name", path)
				l.fail(path)
				return
			}
			files = append(files, c.Value)
		}
	default:
		l.errorf(line, "%s: must be a file name", path)
		l.fail(path)
		return
	}
	if err := setSecretFiles(v, files); err != nil {
		l.errorf(line, "%s: %v", path, err)
		l.fail(path)
	}
}

// setSecretFiles reads each file into v (a Secret or []Secret).
func setSecretFiles(v reflect.Value, files []string) error {
	if v.Type() == secretType && len(files) != 1 {
		return fmt.Errorf("names %d files; a single secret needs exactly one", len(files))
	}
	var secrets []Secret
	for _, f := range files {
		s, err := ReadSecretFile(f)
		if err != nil {
			return err
		}
		secrets = append(secrets, s)
	}
	if v.Type() == secretType {
		v.Set(reflect.ValueOf(secrets[0]))
	} else {
		v.Set(reflect.ValueOf(secrets))
	}
	return nil
}

// ReadSecretFile reads a secret from a file (as written by Kubernetes, Docker or systemd
// credentials), dropping trailing newlines. An empty file is an error: an empty secret is
// never what was meant.
func ReadSecretFile(name string) (Secret, error) {
	if strings.TrimSpace(name) == "" {
		return "", errors.New("no file named")
	}
	b, err := os.ReadFile(name)
	if err != nil {
		// The error names the file, never its contents.
		return "", fmt.Errorf("read secret: %w", err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", name)
	}
	return Secret(s), nil
}

// envVar is one settable key as an environment variable.
type envVar struct {
	name   string // MYPT_PUBLIC_ADDR
	path   string // public.addr
	index  [][]int
	typ    reflect.Type
	isFile bool // the MYPT_…_FILE form of a secret
}

// envVars lists every environment variable of Config, in field order. Lists and maps of
// sections are set whole (as YAML); sections recurse.
func envVars() ([]envVar, error) {
	var out []envVar
	var walk func(t reflect.Type, path, env string, index [][]int)
	walk = func(t reflect.Type, path, env string, index [][]int) {
		for _, f := range fieldsOf(t) {
			p, e := join(path, f.key), env+"_"+strings.ToUpper(f.key)
			idx := append(slices.Clone(index), f.index)
			if isSection(f.typ) {
				walk(f.typ, p, e, idx)
				continue
			}
			out = append(out, envVar{name: e, path: p, index: idx, typ: f.typ})
			if isSecret(f.typ) {
				out = append(out, envVar{name: e + "_FILE", path: p + "_file", index: idx, typ: f.typ, isFile: true})
			}
		}
	}
	walk(reflect.TypeFor[Config](), "", strings.TrimSuffix(EnvPrefix, "_"), nil)
	seen := map[string]string{}
	for _, ev := range out {
		if prev, dup := seen[ev.name]; dup {
			return nil, fmt.Errorf("config: environment variable %s would set both %s and %s; rename one key", ev.name, prev, ev.path)
		}
		seen[ev.name] = ev.path
	}
	return out, nil
}

func (ev envVar) field(root reflect.Value) reflect.Value {
	v := root
	for _, i := range ev.index {
		v = v.FieldByIndex(i)
	}
	return v
}

// applyEnv applies every MYPT_ variable in env over v; later duplicates win, as in a shell.
func (l *loader) applyEnv(root reflect.Value, env []string) {
	vars, err := envVars()
	if err != nil {
		l.errs = append(l.errs, err.Error())
		return
	}
	byName := map[string]envVar{}
	var names []string
	for _, ev := range vars {
		byName[ev.name] = ev
		names = append(names, ev.name)
	}
	set := map[string]string{}
	var order []string
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || reserved(name) {
			continue
		}
		if _, dup := set[name]; !dup {
			order = append(order, name)
		}
		set[name] = val
	}
	for _, name := range order {
		val := set[name]
		ev, ok := byName[name]
		if !ok {
			l.errs = append(l.errs, fmt.Sprintf("environment %s: unknown variable%s", name, suggest(name, names)))
			continue
		}
		where := "environment " + name
		// The environment overrides the file: a problem with this key names the variable.
		if l.pos == nil {
			l.pos = map[string]string{}
		}
		l.pos[strings.TrimSuffix(ev.path, "_file")] = where
		if ev.isFile {
			base := strings.TrimSuffix(name, "_FILE")
			if _, both := set[base]; both {
				l.errs = append(l.errs, fmt.Sprintf("%s: set %s or %s, not both", where, base, name))
				continue
			}
			if err := setSecretFiles(ev.field(root), splitList(val)); err != nil {
				l.errs = append(l.errs, fmt.Sprintf("%s: %s: %v", where, ev.path, err))
				l.fail(ev.path)
			}
			continue
		}
		n, err := envNode(val, ev.typ)
		if err != nil {
			l.errs = append(l.errs, fmt.Sprintf("%s: %s: %v", where, ev.path, err))
			l.fail(ev.path)
			continue
		}
		sub := &loader{name: where}
		sub.decode(n, ev.field(root), ev.path)
		for p := range sub.set {
			l.markSet(p)
		}
		for p := range sub.pos {
			l.pos[p] = where
		}
		for p := range sub.failed {
			l.fail(p)
		}
		for _, e := range sub.errs {
			// The sub-loader's messages read "environment X: path: reason"; line numbers of the
			// variable's own YAML are kept as "environment X:1:".
			l.errs = append(l.errs, e)
		}
	}
}

// HasEnv reports whether env (os.Environ() form) sets any configuration key, so a command
// given no file still has a configuration to run on.
func HasEnv(env []string) bool {
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix) && !reserved(name) {
			return true
		}
	}
	return false
}

func reserved(name string) bool {
	if slices.Contains(reservedEnv, name) {
		return true
	}
	for _, p := range reservedEnvPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// envNode turns an environment value into a YAML node for a key of type t: lists are
// comma-separated ("a,b") or YAML flow ("[a, b]"), sections and maps are YAML, and
// everything else is the text as given.
func envNode(val string, t reflect.Type) (*yaml.Node, error) {
	composite := isSection(t) || t.Kind() == reflect.Map ||
		(t.Kind() == reflect.Pointer && isSection(t.Elem())) ||
		(t.Kind() == reflect.Slice && isSection(t.Elem()))
	switch {
	case composite || (t.Kind() == reflect.Slice && strings.HasPrefix(strings.TrimSpace(val), "[")):
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(val), &doc); err != nil {
			return nil, fmt.Errorf("not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		if len(doc.Content) != 1 {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}, nil
		}
		return doc.Content[0], nil
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, s := range splitList(val) {
			seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: s})
		}
		return seq, nil
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Value: val}, nil
}

// splitList splits "a, b,c" into its trimmed, non-empty parts.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// suggest returns ` (did you mean "x"?)` for the closest known name, if one is close.
func suggest(got string, known []string) string {
	best, bestD := "", 1<<30
	for _, k := range known {
		if d := editDistance(strings.ToLower(got), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" || bestD > max(2, len(got)/4) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20 // not worth comparing; also bounds the work for hostile input
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// walkSections calls fn on every section (struct) value under v, parents first, with its path;
// it does not descend below a section for which fn returns false.
func walkSections(v reflect.Value, path string, fn func(v reflect.Value, path string) bool) {
	if !isSection(v.Type()) {
		return
	}
	if !fn(v, path) {
		return
	}
	for _, f := range fieldsOf(v.Type()) {
		fv := v.FieldByIndex(f.index)
		switch {
		case isSection(f.typ):
			walkSections(fv, join(path, f.key), fn)
		case f.typ.Kind() == reflect.Pointer && isSection(f.typ.Elem()) && !fv.IsNil():
			walkSections(fv.Elem(), join(path, f.key), fn)
		case f.typ.Kind() == reflect.Slice && isSection(f.typ.Elem()):
			for i := range fv.Len() {
				walkSections(fv.Index(i), fmt.Sprintf("%s[%d]", join(path, f.key), i), fn)
			}
		}
	}
}

// ValidationError lists every problem Validate found, each naming its key.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	return "config: " + strings.Join(e.Problems, "; ")
}

// Validate checks the whole configuration and returns a *ValidationError listing every problem
// at once (each naming its key, e.g. `public.addr: "x" is not host:port`), or nil.
// Each section reports its own problems through Problemer, or through a `Validate() error`
// method (an errors.Join of several is several problems); such a section answers for the
// sections inside it too.
func (c Config) Validate() error {
	var problems []string
	add := func(path, msg string) {
		if path != "" && !strings.HasPrefix(msg, path+".") && !strings.HasPrefix(msg, path+":") && !strings.HasPrefix(msg, path+" ") {
			msg = path + "." + msg
		}
		problems = append(problems, msg)
	}
	v := reflect.ValueOf(&c).Elem()
	walkSections(v, "", func(sv reflect.Value, path string) bool {
		if p, ok := sv.Addr().Interface().(Problemer); ok {
			for _, msg := range p.Problems() {
				add(path, msg)
			}
			return path == ""
		}
		if vd, ok := sv.Addr().Interface().(interface{ Validate() error }); ok && path != "" {
			err := vd.Validate()
			var errs []error
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			} else if err != nil {
				errs = []error{err}
			}
			for _, e := range errs {
				add(path, e.Error())
			}
			return false
		}
		return true
	})
	if len(problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: problems}
}

// Key describes one configuration key, for the reference documentation and `config check`.
type Key struct {
	Path    string // public.addr
	Env     string // MYPT_PUBLIC_ADDR
	Type    string // string, bool, int, duration, secret, list of …
	Default string // the default, as YAML would write it ("" when empty)
	Secret  bool
	Field   reflect.StructField
	Parent  reflect.Type // the section type holding the field
}

// Keys lists every key of Config in field order, with its environment variable and default.
func Keys() []Key {
	def := reflect.ValueOf(Default())
	var out []Key
	var walk func(t reflect.Type, v reflect.Value, path, env string)
	walk = func(t reflect.Type, v reflect.Value, path, env string) {
		for _, f := range fieldsOf(t) {
			p, e := join(path, f.key), env+"_"+strings.ToUpper(f.key)
			fv := v.FieldByIndex(f.index)
			if isSection(f.typ) {
				walk(f.typ, fv, p, e)
				continue
			}
			sf := t.FieldByIndex(f.index)
			out = append(out, Key{
				Path: p, Env: e, Type: typeName(f.typ), Default: defaultText(fv),
				Secret: isSecret(f.typ), Field: sf, Parent: parentOf(t, f.index),
			})
		}
	}
	walk(def.Type(), def, "", strings.TrimSuffix(EnvPrefix, "_"))
	return out
}

// parentOf is the struct type that declares the field at index (inline structs included).
func parentOf(t reflect.Type, index []int) reflect.Type {
	for _, i := range index[:len(index)-1] {
		t = t.Field(i).Type
	}
	return t
}

func typeName(t reflect.Type) string {
	switch {
	case t == secretType:
		return "secret"
	case t == secretSliceType:
		return "list of secrets"
	case t == durationType:
		return "duration"
	case t.Kind() == reflect.Pointer:
		return typeName(t.Elem())
	case t.Kind() == reflect.Slice && isSection(t.Elem()):
		return "list of mappings"
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem())
	case t.Kind() == reflect.Map:
		return "mapping"
	case t.Kind() == reflect.Bool:
		return "bool"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "int"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.String:
		return "string"
	}
	return t.String()
}

func defaultText(v reflect.Value) string {
	switch {
	case v.Type() == durationType:
		if v.Int() == 0 {
			return "0s"
		}
		return time.Duration(v.Int()).String()
	case v.Kind() == reflect.String:
		if isSecret(v.Type()) && v.String() != "" {
			return redacted
		}
		return v.String()
	case v.Kind() == reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case v.Kind() == reflect.Slice || v.Kind() == reflect.Map:
		if v.Len() == 0 {
			return ""
		}
	}
	b, err := yaml.Marshal(v.Interface())
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func typeOfConfig() reflect.Type { return reflect.TypeFor[Config]() }
