package deploy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// definedMetric is a mypt_* metric found in the source by the AST scan.
type definedMetric struct {
	name, typ string   // typ "" when unknown (NewDesc)
	labels    []string // nil when not literal
	where     string
}

var constructorTypes = map[string]string{
	"NewCounter": "counter", "NewCounterVec": "counter",
	"NewGauge": "gauge", "NewGaugeVec": "gauge",
	"NewHistogram": "histogram", "NewHistogramVec": "histogram",
	"NewSummary": "summary", "NewSummaryVec": "summary",
}

// scanMetrics parses every non-test Go file of the module (outside deploy/)
// and returns the mypt_* metrics they construct with client_golang, with the
// label names given as literals.
func scanMetrics(t *testing.T) []definedMetric {
	t.Helper()
	var found []definedMetric
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != ".." && (strings.HasPrefix(name, ".") || name == "deploy" || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			where := fset.Position(call.Pos()).String()
			if sel.Sel.Name == "NewDesc" && len(call.Args) >= 3 {
				if name, ok := stringLit(call.Args[0]); ok && strings.HasPrefix(name, "mypt_") {
					found = append(found, definedMetric{name: name, labels: stringSlice(call.Args[2]), where: where})
				}
				return true
			}
			typ, ok := constructorTypes[sel.Sel.Name]
			if !ok || len(call.Args) == 0 {
				return true
			}
			opts, ok := call.Args[0].(*ast.CompositeLit)
			if !ok {
				return true
			}
			var name string
			var labels []string
			for _, el := range opts.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				key, _ := kv.Key.(*ast.Ident)
				switch {
				case key == nil:
				case key.Name == "Name":
					name, _ = stringLit(kv.Value)
				case key.Name == "ConstLabels":
					if cl, ok := kv.Value.(*ast.CompositeLit); ok {
						for _, e := range cl.Elts {
							if lkv, ok := e.(*ast.KeyValueExpr); ok {
								if l, ok := stringLit(lkv.Key); ok {
									labels = append(labels, l)
								}
							}
						}
					}
				}
			}
			if !strings.HasPrefix(name, "mypt_") {
				return true
			}
			if strings.HasSuffix(sel.Sel.Name, "Vec") {
				labels = nil
				if len(call.Args) > 1 {
					labels = stringSlice(call.Args[1])
				}
			} else if labels == nil {
				labels = []string{}
			}
			found = append(found, definedMetric{name: name, typ: typ, labels: labels, where: where})
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// stringSlice returns the elements of a []string{...} literal, or nil when
// the expression is not such a literal.
func stringSlice(e ast.Expr) []string {
	cl, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	out := []string{}
	for _, el := range cl.Elts {
		s, ok := stringLit(el)
		if !ok {
			return nil
		}
		out = append(out, s)
	}
	return out
}

// TestSourceMetricsMatchThePlan keeps every component's metrics in step with
// the plan's table, which the alerts and dashboard are written against: a
// renamed metric, a changed type or label set fails here, not silently in
// production.
func TestSourceMetricsMatchThePlan(t *testing.T) {
	t.Parallel()
	defined := scanMetrics(t)
	if len(defined) == 0 {
		t.Fatal("the scan found no mypt_ metrics at all")
	}
	seen := map[string]bool{}
	for _, d := range defined {
		m, ok := planMetricByName(d.name)
		if !ok || m.name != d.name {
			t.Errorf("%s: %s is not in the plan's metric table (alerts and dashboard do not know it)", d.where, d.name)
			continue
		}
		seen[d.name] = true
		if d.typ != "" && d.typ != m.typ {
			t.Errorf("%s: %s is a %s, the plan says %s", d.where, d.name, d.typ, m.typ)
		}
		if d.labels != nil {
			got, want := slices.Clone(d.labels), slices.Clone(m.labels)
			sort.Strings(got)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s: %s has labels %v, the plan says %v", d.where, d.name, d.labels, m.labels)
			}
		}
	}
	var missing []string
	for _, m := range planMetrics {
		if !seen[m.name] {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		// Components land on main at different times; this lists what is not merged yet.
		t.Logf("plan metrics not (yet) defined in this tree: %v", missing)
	}
}
