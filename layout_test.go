package caidocloud_test

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The layout rules of DESIGN.md, held by the imports of every package of
// the module (tests excluded): decisions live in the use cases, the HTTP
// surfaces only decode, call and encode.

const module = "github.com/caido-cloud/caido-cloud"

// useCases decide: each method takes the acting user and checks OpenFGA
// itself, so they hold no HTTP, no templates and no SQL of their own.
var useCases = []string{"approval", "sharing", "teams"}

type layoutRule struct {
	// applies says whether the rule concerns a package (its path in the
	// module, "" for the root).
	applies func(pkg string) bool
	// forbidden says whether an import breaks it.
	forbidden func(imp string) bool
	why       string
}

func under(prefix string) func(string) bool {
	return func(pkg string) bool { return pkg == prefix || strings.HasPrefix(pkg, prefix+"/") }
}

func ours(pkgs ...string) func(string) bool {
	return func(imp string) bool {
		return slices.ContainsFunc(pkgs, func(p string) bool { return under(module + "/" + p)(imp) })
	}
}

func external(prefixes ...string) func(string) bool {
	return func(imp string) bool {
		return slices.ContainsFunc(prefixes, func(p string) bool { return imp == p || strings.HasPrefix(imp, p+"/") })
	}
}

var layoutRules = []layoutRule{
	{under("api"), external("github.com/jackc/pgx"), "a surface holds no SQL: it calls a use case or a domain service"},
	{under("api"), external("github.com/openfga"), "a surface calls no OpenFGA"},
	{func(p string) bool { return under("api")(p) && p != "api" }, func(imp string) bool {
		return under(module+"/api")(imp) && imp != module+"/api/httpx"
	}, "a surface imports no other surface: what they share is api/httpx"},
	{under("api"), ours("authz"),
		"a surface makes no OpenFGA check: the use case it calls does"},
	{func(p string) bool { return slices.ContainsFunc(useCases, func(u string) bool { return under(u)(p) }) },
		external("github.com/gin-gonic", "html/template", "net/http", "github.com/jackc/pgx"),
		"a use case knows no HTTP, no templates and no SQL"},
	{func(p string) bool { return slices.ContainsFunc(useCases, func(u string) bool { return under(u)(p) }) },
		func(imp string) bool {
			return slices.ContainsFunc(useCases, func(u string) bool { return under(module + "/" + u)(imp) })
		}, "a use case calls no other use case"},
	// The audit log is below every domain package: they all record in it.
	{under("audit"), func(imp string) bool { return under(module)(imp) }, "audit imports none of our packages: everyone records in it"},
	{func(p string) bool { return p == "pats" || p == "oidc/clients" }, ours("access"),
		"pats and oidc/clients record in audit; they need nothing else of access"},
	// Imports flow one way: cmd → app → api → use cases → domain → store.
	{func(p string) bool { return p != "cmd/caido-cloud" && !under("cmd")(p) }, ours("cmd"), "nothing imports a command"},
	{func(p string) bool { return !under("cmd")(p) && !under("app")(p) && !under("internal/testenv")(p) }, ours("app"),
		"only the commands import app, the composition root"},
	{func(p string) bool { return !under("app")(p) && !under("api")(p) && !under("internal/testenv")(p) }, ours("api"),
		"only app mounts the surfaces"},
	{func(p string) bool {
		return !under("api")(p) && !under("app")(p) && !under("cmd")(p) && !under("internal")(p) &&
			!slices.ContainsFunc(useCases, func(u string) bool { return under(u)(p) })
	}, func(imp string) bool {
		return slices.ContainsFunc(useCases, func(u string) bool { return under(module + "/" + u)(imp) })
	}, "a domain package does not reach up into a use case"},
}

// packages are the module's packages by path in the module, with their
// non-test imports.
func packages(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		name := d.Name()
		if path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
			return filepath.SkipDir
		}
		if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != "." {
			return filepath.SkipDir // another module (tools/)
		}
		p, err := build.Default.ImportDir(path, 0)
		if _, none := err.(*build.NoGoError); none {
			return nil
		}
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(path)
		if rel == "." {
			rel = ""
		}
		out[rel] = p.Imports
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLayout holds the import rules above. Add a rule's violation (say,
// pgx in a file of api/) and it names the package, the import and the rule.
func TestLayout(t *testing.T) {
	pkgs := packages(t)
	if len(pkgs) < 20 || pkgs["api"] == nil || pkgs["approval"] == nil {
		t.Fatalf("found %d packages, not the module's: %v", len(pkgs), pkgs)
	}
	for pkg, imports := range pkgs {
		for _, r := range layoutRules {
			if !r.applies(pkg) {
				continue
			}
			for _, imp := range imports {
				if r.forbidden(imp) {
					t.Errorf("%s imports %s: %s", cmpOr(pkg, "the root package"), imp, r.why)
				}
			}
		}
	}
}

// TestSurfaceFilesStaySmall: a surface's file is a handful of handlers
// over use cases; one past 500 lines holds decisions or several concerns.
func TestSurfaceFilesStaySmall(t *testing.T) {
	err := filepath.WalkDir("api", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if n := strings.Count(string(b), "\n"); n > 500 {
			t.Errorf("%s has %d lines; split it by what it serves (at most 500)", path, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func cmpOr(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
