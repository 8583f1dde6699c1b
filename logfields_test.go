package balcony_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDurationsAreLoggedInSeconds holds the code in pkg/ and cmd/ to one
// convention for durations in logs and events: a float number of seconds
// in a field whose name ends in _seconds. zerolog's Dur writes
// milliseconds under a name that does not say so (took=302652.53 beside
// puppet_seconds), so it is not used.
func TestDurationsAreLoggedInSeconds(t *testing.T) {
	units := map[string]bool{"Seconds": true, "Milliseconds": true, "Microseconds": true, "Nanoseconds": true, "Minutes": true, "Hours": true}
	fset := token.NewFileSet()
	var bad []string
	check := func(pos token.Pos, name string, value ast.Expr) {
		call, ok := value.(*ast.CallExpr)
		if !ok {
			return
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !units[sel.Sel.Name] {
			return
		}
		if sel.Sel.Name != "Seconds" || !strings.HasSuffix(name, "_seconds") {
			bad = append(bad, fset.Position(pos).String()+": field "+strconv.Quote(name)+" holds ."+sel.Sel.Name+"(): want seconds in a *_seconds field")
		}
	}
	for _, dir := range []string{"pkg", "cmd"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Dur" || sel.Sel.Name == "Durs" || sel.Sel.Name == "TimeDiff") {
						bad = append(bad, fset.Position(n.Pos()).String()+": ."+sel.Sel.Name+"() logs milliseconds")
					}
					if len(n.Args) == 2 {
						if lit, ok := n.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							name, _ := strconv.Unquote(lit.Value)
							check(n.Pos(), name, n.Args[1])
						}
					}
				case *ast.KeyValueExpr: // event data maps
					if lit, ok := n.Key.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						name, _ := strconv.Unquote(lit.Value)
						check(n.Pos(), name, n.Value)
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range bad {
		t.Error(b)
	}
}
