package actors

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// parsePackage parses the package's own source files, tests left out.
func parsePackage(t *testing.T) (*token.FileSet, []*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return fset, files
}

// codeConstants returns every constant of type Code the package declares,
// by name.
func codeConstants(t *testing.T, files []*ast.File) map[string]Code {
	t.Helper()
	consts := map[string]Code{}
	for _, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
					continue
				}
				for i, n := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s: want a string literal", n.Name)
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					consts[n.Name] = Code(v)
				}
			}
		}
	}
	return consts
}

// effects returns Codes as a map, checking that each code is listed once
// with a valid effect.
func effects(t *testing.T) map[Code]Effect {
	t.Helper()
	m := make(map[Code]Effect, len(Codes))
	for _, r := range Codes {
		if _, dup := m[r.Code]; dup {
			t.Errorf("%s: listed twice in Codes", r.Code)
		}
		if r.Effect != KeepsOpen && r.Effect != Closes {
			t.Errorf("%s: effect %v is neither KeepsOpen nor Closes", r.Code, r.Effect)
		}
		m[r.Code] = r.Effect
	}
	return m
}

// TestCodesListsEveryCode: a Code constant missing from Codes would have
// no rule, and the transport's test, which enumerates Codes, could not see
// it.
func TestCodesListsEveryCode(t *testing.T) {
	_, files := parsePackage(t)
	consts := codeConstants(t, files)
	if len(consts) == 0 {
		t.Fatal("no Code constants found")
	}
	listed := effects(t)
	for name, code := range consts {
		if _, ok := listed[code]; !ok {
			t.Errorf("%s (%q) has no rule: add it to Codes", name, code)
		}
	}
	if len(consts) != len(listed) {
		t.Errorf("%d Code constants, %d codes in Codes", len(consts), len(listed))
	}
}

// codeSinks are where a code constant is written to be sent: the functions
// that take one as their first argument, and the struct fields that carry
// one, each with the effect its codes must have.
var (
	callSinks  = map[string]Effect{"close": Closes, "Close": Closes, "fail": KeepsOpen}
	fieldSinks = map[[2]string]Effect{{"ErrorFrame", "Code"}: KeepsOpen, {"claimResult", "code"}: Closes}
)

// TestCodesAreSentAsListed: a code that closes is only passed where the
// session closes, and one that keeps the connection open only where an
// error frame is made, wherever a constant is written.
func TestCodesAreSentAsListed(t *testing.T) {
	fset, files := parsePackage(t)
	consts := codeConstants(t, files)
	listed := effects(t)
	check := func(e ast.Expr, want Effect, sink string) {
		id, ok := e.(*ast.Ident)
		if !ok {
			return // a variable: its values are checked where they are written
		}
		code, ok := consts[id.Name]
		if !ok {
			return
		}
		if got := listed[code]; got != want {
			t.Errorf("%s: %s goes to %s, but Codes gives it %v", fset.Position(e.Pos()), id.Name, sink, got)
		}
	}
	sinks := 0
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || len(n.Args) == 0 {
					return true
				}
				if want, sink := callSinks[sel.Sel.Name]; sink {
					sinks++
					check(n.Args[0], want, sel.Sel.Name)
				}
			case *ast.CompositeLit:
				typ, ok := n.Type.(*ast.Ident)
				if !ok {
					return true
				}
				for _, el := range n.Elts {
					kv, ok := el.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					key, ok := kv.Key.(*ast.Ident)
					if !ok {
						continue
					}
					if want, sink := fieldSinks[[2]string{typ.Name, key.Name}]; sink {
						sinks++
						check(kv.Value, want, typ.Name+"."+key.Name)
					}
				}
			}
			return true
		})
	}
	if sinks == 0 {
		t.Fatal("no place that sends a code was found")
	}
}
