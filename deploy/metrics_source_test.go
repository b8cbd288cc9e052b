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

var optsTypes = map[string]string{
	"CounterOpts": "counter", "GaugeOpts": "gauge", "HistogramOpts": "histogram", "SummaryOpts": "summary",
}

// optsNameAndConstLabels reads Name and the keys of ConstLabels from an
// *Opts literal; ConstLabels is the label set of an unlabelled metric.
func optsNameAndConstLabels(opts *ast.CompositeLit) (name string, constLabels []string) {
	constLabels = []string{}
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
							constLabels = append(constLabels, l)
						}
					}
				}
			}
		}
	}
	return name, constLabels
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
			var fn string
			switch f := call.Fun.(type) {
			case *ast.SelectorExpr:
				fn = f.Sel.Name
			case *ast.Ident:
				fn = f.Name
			case *ast.IndexExpr: // a generic helper called with an explicit type argument
				if id, ok := f.X.(*ast.Ident); ok {
					fn = id.Name
				}
			}
			where := fset.Position(call.Pos()).String()
			if fn == "NewDesc" && len(call.Args) >= 3 {
				if name, ok := stringLit(call.Args[0]); ok && strings.HasPrefix(name, "mypt_") {
					found = append(found, definedMetric{name: name, labels: stringSlice(call.Args[2]), where: where})
				}
				return true
			}
			// Any call with a prometheus.*Opts literal among its arguments:
			// NewCounterVec(opts, labels), promauto's f.NewGauge(opts), and
			// helpers such as registerCounterVec(reg, opts, labels).
			for i, arg := range call.Args {
				opts, ok := arg.(*ast.CompositeLit)
				if !ok {
					continue
				}
				ot, ok := opts.Type.(*ast.SelectorExpr)
				if !ok {
					continue
				}
				typ, ok := optsTypes[ot.Sel.Name]
				if !ok {
					continue
				}
				name, constLabels := optsNameAndConstLabels(opts)
				if !strings.HasPrefix(name, "mypt_") {
					continue
				}
				// Labels are the []string literal after the options (nil, so
				// unchecked, when given another way), else the const labels.
				labels := constLabels
				if i+1 < len(call.Args) {
					labels = stringSlice(call.Args[i+1])
				}
				found = append(found, definedMetric{name: name, typ: typ, labels: labels, where: where})
			}
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
