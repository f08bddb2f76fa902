package modeltest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// minAssertions guards against the test file shrinking by accident.
const minAssertions = 40

// apiEnv returns the OpenFGA server to test against. Without one the model is
// untested, so this fails rather than skips: a skipped test would look green.
func apiEnv(t *testing.T) (url, token string) {
	t.Helper()
	url = os.Getenv("OPENFGA_API_URL")
	if url == "" {
		t.Fatal("OPENFGA_API_URL is not set: run `make test`, which starts an OpenFGA server and sets it")
	}
	return url, os.Getenv("OPENFGA_API_TOKEN")
}

func TestModel(t *testing.T) {
	url, token := apiEnv(t)
	s, err := Load("../../model.fga.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if n := s.AssertionCount(); n < minAssertions {
		t.Fatalf("model.fga.yaml has %d assertions, want at least %d", n, minAssertions)
	}
	s.Run(t, url, token)
	if s.Ran() != s.AssertionCount() {
		t.Errorf("ran %d assertions, the file has %d", s.Ran(), s.AssertionCount())
	}
	t.Logf("%d tests, %d assertions", len(s.Tests), s.Ran())
}

// TestRunnerReportsWrongExpectations proves the runner cannot pass vacuously:
// of the three assertions in testdata/wrong.fga.yaml, the two false ones must
// be reported, with the messages a reader needs.
func TestRunnerReportsWrongExpectations(t *testing.T) {
	url, token := apiEnv(t)
	s, err := Load("testdata/wrong.fga.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f := runFake(func(r reporter) { s.run(r, url, token) })

	want := []string{
		"user user:bob relation viewer object doc:readme: want true, got false",
		"user user:bob relation viewer type doc: want [doc:readme], got []",
	}
	if !slices.Equal(f.log.msgs, want) {
		t.Errorf("runner reported:\n  %s\nwant:\n  %s", strings.Join(f.log.msgs, "\n  "), strings.Join(want, "\n  "))
	}
	if s.Ran() != 3 || s.AssertionCount() != 3 {
		t.Errorf("ran %d of %d assertions, want 3 of 3", s.Ran(), s.AssertionCount())
	}
}

// TestLoadRejects covers files that would otherwise run nothing and pass, or
// hide a broken model.
func TestLoadRejects(t *testing.T) {
	const check = "    check:\n      - {user: user:a, object: doc:b, assertions: {viewer: true}}\n"
	for _, tc := range []struct{ name, yaml, model, wantErr string }{
		{"no tests", "model_file: ./m.fga\ntests: []\n", "", "no tests"},
		{"misspelt key", "model_file: ./m.fga\ntests:\n  - name: t\n    check:\n      - {user: user:a, object: doc:b, assertion: {viewer: true}}\n", "", "field assertion not found"},
		{"no assertions", "model_file: ./m.fga\ntests:\n  - name: t\n", "", `test "t" has no assertions`},
		{"no model file", "tests:\n  - name: t\n" + check, "", "model_file is required"},
		{"bad model", "model_file: ./m.fga\ntests:\n  - name: t\n" + check, "this is not a model\n", "./m.fga: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "m.fga.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "m.fga"), []byte(tc.model), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(path); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Load: got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// fakeT is a reporter that records failures instead of failing the real test.
// Like testing.T, each (sub)test runs on its own goroutine so that Fatalf can
// stop it with runtime.Goexit, and its cleanups run when it ends.
type fakeT struct {
	log      *fakeLog
	cleanups []func()
}

type fakeLog struct{ msgs []string }

func (f *fakeT) Helper() {}

func (f *fakeT) Errorf(format string, args ...any) {
	f.log.msgs = append(f.log.msgs, fmt.Sprintf(format, args...))
}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.Errorf(format, args...)
	runtime.Goexit()
}

func (f *fakeT) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

func (f *fakeT) Run(_ string, fn func(reporter)) bool {
	before := len(f.log.msgs)
	runFakeWith(&fakeT{log: f.log}, fn)
	return len(f.log.msgs) == before
}

func runFake(fn func(reporter)) *fakeT {
	f := &fakeT{log: &fakeLog{}}
	runFakeWith(f, fn)
	return f
}

func runFakeWith(f *fakeT, fn func(reporter)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			for _, c := range slices.Backward(f.cleanups) {
				c()
			}
		}()
		fn(f)
	}()
	<-done
}
