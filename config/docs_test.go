package config

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md and README.md's key reference from the Config struct")

// fieldDocs reads the doc comment of every struct field in this package: "Type.Field" → text.
func fieldDocs(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			var carry string // a comment naming several fields ("A and B do …") covers the group
			for _, fl := range st.Fields.List {
				text := ""
				if fl.Doc != nil {
					text = fl.Doc.Text()
				} else if fl.Comment != nil {
					text = fl.Comment.Text()
				}
				text = strings.Join(strings.Fields(text), " ")
				if text != "" {
					carry = text
				} else {
					text = carry
				}
				for _, n := range fl.Names {
					docs[ts.Name.Name+"."+n.Name] = text
				}
			}
			return true
		})
	}
	return docs
}

func generateDocs(t *testing.T) []byte {
	docs := fieldDocs(t)
	var b bytes.Buffer
	b.WriteString(`# Configuration

<!-- Generated from the Config struct by ` + "`go test ./config -run TestConfigurationDocs -update`" + `; do not edit by hand. -->

mypt reads one YAML file (` + "`mypt serve --config FILE`" + `, or the file named by ` + "`$MYPT_CONFIG`" + `), then
environment variables, then secret files. Every key has a default, so a three-line file is enough:

` + "```yaml" + `
data: {dir: /var/lib/mypt}
college: {name: Croydon College, public_base_url: "https://parents.example.ac.uk"}
` + "```" + `

Check a file with ` + "`mypt config check --config FILE`" + ` (every problem is listed at once, with its
file and line; exit status 1 if there is any) and see the effective configuration, secrets
redacted, with ` + "`mypt config check --print`" + `.

## Rules

- **Strict.** An unknown key is an error naming the key, its line and its section
  (` + "`config.yaml:12: public.pubic: unknown key`" + `), and so
  is a duplicate key or a value of the wrong type. A key left out keeps its default.
- **Environment.** Every key can be set as ` + "`MYPT_<SECTION>_<KEY>`" + ` (the path in capitals, dots
  as underscores: ` + "`public.addr`" + ` is ` + "`MYPT_PUBLIC_ADDR`" + `, ` + "`mail.smtp.host`" + ` is
  ` + "`MYPT_MAIL_SMTP_HOST`" + `). The environment wins over the file. Lists are comma-separated
  (` + "`a,b`" + `) or YAML (` + "`[a, b]`" + `); lists of mappings are YAML
  (` + "`MYPT_COLLEGE_SITES='[{code: CRO, name: Croydon College}]'`" + `). An unknown ` + "`MYPT_`" + `
  variable is an error too, except ` + "`MYPT_CONFIG`" + ` (the file's path) and ` + "`MYPT_TEST_*`" + ` (tests' own).
- **Durations** are written ` + "`90s`" + `, ` + "`5m`" + `, ` + "`1h30m`" + `; a bare number is refused.
- **Secrets** (type *secret*) never appear in logs, errors, metrics or ` + "`--print`" + ` output: they print
  as ` + "`<secret>`" + `. Rather than writing one in the file, name a file holding it: ` + "`password_file: /run/secrets/mis-password`" + ` in YAML, or ` + "`MYPT_MIS_PASSWORD_FILE=/run/secrets/mis-password`" + ` in
  the environment (Docker and Kubernetes secrets, systemd credentials). The file's trailing newline
  is dropped; an empty or unreadable file is an error. Setting both ` + "`password`" + ` and
  ` + "`password_file`" + ` in the same place is an error; the environment's form overrides the file's.
  A list of secrets takes a list of files (` + "`tokens_file: [a, b]`" + `, or ` + "`MYPT_PUSH_TOKENS_FILE=a,b`" + `), one secret per file.

## Keys
`)
	section := ""
	for _, k := range Keys() {
		top, _, _ := strings.Cut(k.Path, ".")
		if top != section {
			section = top
			fmt.Fprintf(&b, "\n### %s\n\n", section)
			if d := docs["Config."+fieldNameOf(top)]; d != "" {
				fmt.Fprintf(&b, "%s\n\n", d)
			}
			b.WriteString("| key | type | default | environment | meaning |\n|---|---|---|---|---|\n")
		}
		env := "`" + k.Env + "`"
		if k.Secret {
			env += "<br>`" + k.Env + "_FILE`"
		}
		key := "`" + k.Path + "`"
		if k.Secret {
			key += "<br>`" + k.Path + "_file`"
		}
		def := k.Default
		if def != "" {
			def = "`" + strings.ReplaceAll(def, "\n", " ") + "`"
		}
		desc := docs[k.Parent.Name()+"."+k.Field.Name]
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", key, k.Type, strings.ReplaceAll(def, "|", "\\|"), env, strings.ReplaceAll(desc, "|", "\\|"))
		// A list of mappings shows each entry's keys (set with the list, as YAML in the variable).
		if t := k.Field.Type; t.Kind() == reflect.Slice && isSection(t.Elem()) {
			for _, f := range fieldsOf(t.Elem()) {
				sf := t.Elem().FieldByIndex(f.index)
				desc := docs[parentOf(t.Elem(), f.index).Name()+"."+sf.Name]
				fmt.Fprintf(&b, "| `%s[].%s` | %s |  | (in `%s`) | %s |\n", k.Path, f.key, typeName(f.typ), k.Env, strings.ReplaceAll(desc, "|", "\\|"))
			}
		}
	}
	return b.Bytes()
}

// fieldNameOf is the Config field whose yaml key is key.
func fieldNameOf(key string) string {
	for _, f := range fieldsOf(typeOfConfig()) {
		if f.key == key {
			return typeOfConfig().FieldByIndex(f.index).Name
		}
	}
	return ""
}

// TestConfigurationDocs keeps docs/configuration.md true to the Config struct.
func TestConfigurationDocs(t *testing.T) {
	got := generateDocs(t)
	path := filepath.Join("..", "docs", "configuration.md")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("docs/configuration.md is out of date with the Config struct: run `go test ./config -run TestConfigurationDocs -update`")
	}
}

// The README carries the key reference too, between these markers, so a newcomer finds every
// key, default and environment variable on the first page; TestConfigurationDocs keeps it true.
const (
	readmeKeysStart = "<!-- config keys: generated from the Config struct by `go test ./config -update` -->\n"
	readmeKeysEnd   = "<!-- end of config keys -->\n"
)

// readmeWithKeys returns readme with the region between the markers replaced by the "## Keys"
// part of the generated configuration document (its headings moved one level down).
func readmeWithKeys(t *testing.T, readme, doc []byte) []byte {
	t.Helper()
	i := bytes.Index(doc, []byte("## Keys\n"))
	if i < 0 {
		t.Fatal("generated configuration document has no ## Keys section")
	}
	keys := bytes.TrimPrefix(doc[i:], []byte("## Keys\n"))
	keys = bytes.ReplaceAll(keys, []byte("\n### "), []byte("\n#### "))
	start := bytes.Index(readme, []byte(readmeKeysStart))
	end := bytes.Index(readme, []byte(readmeKeysEnd))
	if start < 0 || end < start {
		t.Fatalf("README.md lacks the config-keys markers %q … %q", readmeKeysStart, readmeKeysEnd)
	}
	var out bytes.Buffer
	out.Write(readme[:start+len(readmeKeysStart)])
	out.Write(bytes.TrimSpace(keys))
	out.WriteString("\n")
	out.Write(readme[end:])
	return out.Bytes()
}

func TestReadmeConfigKeys(t *testing.T) {
	path := filepath.Join("..", "README.md")
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := readmeWithKeys(t, readme, generateDocs(t))
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(got, readme) {
		t.Errorf("README.md's configuration keys are out of date with the Config struct: run `go test ./config -run 'TestConfigurationDocs|TestReadmeConfigKeys' -update`")
	}
}
