// Package modeltest runs authorization model tests written in the
// `fga model test` YAML format against a real OpenFGA server, so that the
// model is checked by the same engine that serves it in production rather than
// by an embedded copy of it.
package modeltest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	openfga "github.com/openfga/go-sdk"
	"github.com/openfga/go-sdk/client"
	"github.com/openfga/language/pkg/go/transformer"
	"gopkg.in/yaml.v3"
)

// Suite is one `fga model test` file.
type Suite struct {
	Name      string  `yaml:"name"`
	ModelFile string  `yaml:"model_file"`
	Tuples    []Tuple `yaml:"tuples"`
	Tests     []Test  `yaml:"tests"`

	modelJSON string // the model file, transformed from DSL when loading
	ran       int    // assertions Run got an answer for
}

// Tuple is a relationship tuple, optionally conditional.
type Tuple struct {
	User      string     `yaml:"user"`
	Relation  string     `yaml:"relation"`
	Object    string     `yaml:"object"`
	Condition *Condition `yaml:"condition"`
}

// Condition names a model condition and the context stored with the tuple.
type Condition struct {
	Name    string         `yaml:"name"`
	Context map[string]any `yaml:"context"`
}

// Test runs in its own store, holding the suite's tuples plus its own.
type Test struct {
	Name        string        `yaml:"name"`
	Description string        `yaml:"description"`
	Tuples      []Tuple       `yaml:"tuples"`
	Check       []Check       `yaml:"check"`
	ListObjects []ListObjects `yaml:"list_objects"`
}

// Check asserts, for each relation, whether user has it on object.
type Check struct {
	User       string          `yaml:"user"`
	Object     string          `yaml:"object"`
	Context    map[string]any  `yaml:"context"`
	Assertions map[string]bool `yaml:"assertions"`
}

// ListObjects asserts, for each relation, exactly which objects of a type user has it on.
type ListObjects struct {
	User       string              `yaml:"user"`
	Type       string              `yaml:"type"`
	Context    map[string]any      `yaml:"context"`
	Assertions map[string][]string `yaml:"assertions"`
}

// Load parses a test file and the model it names (relative to the file), and
// transforms the model so that a DSL error is reported before any server is involved.
func Load(path string) (*Suite, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	// A misspelt key (say `assertion:`) would otherwise drop its assertions silently.
	dec.KnownFields(true)
	var s Suite
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	modelPath := s.ModelFile
	if !filepath.IsAbs(modelPath) {
		modelPath = filepath.Join(filepath.Dir(path), modelPath)
	}
	dsl, err := os.ReadFile(modelPath)
	if err != nil {
		return nil, fmt.Errorf("%s: model_file: %w", path, err)
	}
	if s.modelJSON, err = transformer.TransformDSLToJSON(string(dsl)); err != nil {
		return nil, fmt.Errorf("%s: %w", s.ModelFile, err)
	}
	return &s, nil
}

// validate rejects files that would make Run pass without checking anything.
func (s *Suite) validate() error {
	if s.ModelFile == "" {
		return errors.New("model_file is required")
	}
	if len(s.Tests) == 0 {
		return errors.New("no tests")
	}
	for _, tc := range s.Tests {
		if tc.Name == "" {
			return errors.New("a test has no name")
		}
		for _, c := range tc.Check {
			if c.User == "" || c.Object == "" || len(c.Assertions) == 0 {
				return fmt.Errorf("test %q: a check needs user, object and assertions", tc.Name)
			}
		}
		for _, l := range tc.ListObjects {
			if l.User == "" || l.Type == "" || len(l.Assertions) == 0 {
				return fmt.Errorf("test %q: a list_objects needs user, type and assertions", tc.Name)
			}
		}
		if len(tc.Check)+len(tc.ListObjects) == 0 {
			return fmt.Errorf("test %q has no assertions", tc.Name)
		}
	}
	return nil
}

// AssertionCount is the number of assertions in the file: one per relation
// asserted in each check and list_objects entry.
func (s *Suite) AssertionCount() int {
	n := 0
	for _, tc := range s.Tests {
		for _, c := range tc.Check {
			n += len(c.Assertions)
		}
		for _, l := range tc.ListObjects {
			n += len(l.Assertions)
		}
	}
	return n
}

// Ran is the number of assertions the last Run got an answer from the server
// for; after a clean run it equals AssertionCount.
func (s *Suite) Ran() int { return s.ran }

// reporter is the part of *testing.T the runner uses, so that a test can hand
// it a fake and prove the runner reports a wrong expectation.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	Run(name string, f func(reporter)) bool
}

type tReporter struct{ *testing.T }

func (r tReporter) Run(name string, f func(reporter)) bool {
	return r.T.Run(name, func(t *testing.T) { f(tReporter{t}) })
}

// Run runs every test of the suite as a subtest of t, each in a fresh store on
// the OpenFGA server at apiURL (apiToken may be empty), deleted afterwards.
func (s *Suite) Run(t *testing.T, apiURL, apiToken string) {
	t.Helper()
	s.run(tReporter{t}, apiURL, apiToken)
}

func (s *Suite) run(r reporter, apiURL, apiToken string) {
	r.Helper()
	s.ran = 0
	if len(s.Tests) == 0 {
		r.Fatalf("suite %q has no tests", s.Name)
	}
	cfg := &client.ClientConfiguration{
		ApiUrl: apiURL,
		// Without a timeout a stuck server would hang the test run until go test's own deadline.
		HTTPClient: &http.Client{Timeout: 30 * time.Second},
	}
	if apiToken != "" {
		// The SDK ignores Credentials when given an HTTP client.
		cfg.DefaultHeaders = map[string]string{"Authorization": "Bearer " + apiToken}
	}
	fga, err := client.NewSdkClient(cfg)
	if err != nil {
		r.Fatalf("OpenFGA client: %v", err)
	}
	var model openfga.WriteAuthorizationModelRequest
	if err := json.Unmarshal([]byte(s.modelJSON), &model); err != nil {
		r.Fatalf("model JSON (was the suite made by Load?): %v", err)
	}
	for _, tc := range s.Tests {
		r.Run(tc.Name, func(r reporter) { s.runTest(r, fga, model, tc) })
	}
}

func (s *Suite) runTest(r reporter, fga *client.OpenFgaClient, model openfga.WriteAuthorizationModelRequest, tc Test) {
	r.Helper()
	ctx := context.Background()

	store, err := fga.CreateStore(ctx).Body(client.ClientCreateStoreRequest{Name: storeName(s.Name, tc.Name)}).Execute()
	if err != nil {
		r.Fatalf("create store: %v", err)
	}
	storeID := store.GetId()
	r.Cleanup(func() {
		if _, err := fga.DeleteStore(context.Background()).Options(client.ClientDeleteStoreOptions{StoreId: &storeID}).Execute(); err != nil {
			r.Errorf("delete store %s: %v", storeID, err)
		}
	})

	written, err := fga.WriteAuthorizationModel(ctx).Body(model).
		Options(client.ClientWriteAuthorizationModelOptions{StoreId: &storeID}).Execute()
	if err != nil {
		r.Fatalf("write model (OpenFGA rejected it): %v", err)
	}
	modelID := written.GetAuthorizationModelId()

	// OpenFGA accepts at most 100 tuples per write by default.
	tuples := append(slices.Clone(s.Tuples), tc.Tuples...)
	for chunk := range slices.Chunk(tuples, 100) {
		keys := make([]client.ClientTupleKey, len(chunk))
		for i, tu := range chunk {
			keys[i] = client.ClientTupleKey{User: tu.User, Relation: tu.Relation, Object: tu.Object}
			if tu.Condition != nil {
				keys[i].Condition = &openfga.RelationshipCondition{Name: tu.Condition.Name, Context: mapPtr(tu.Condition.Context)}
			}
		}
		_, err := fga.Write(ctx).Body(client.ClientWriteRequest{Writes: keys}).
			Options(client.ClientWriteOptions{StoreId: &storeID, AuthorizationModelId: &modelID}).Execute()
		if err != nil {
			r.Fatalf("write tuples: %v", err)
		}
	}

	for _, c := range tc.Check {
		for _, rel := range sortedKeys(c.Assertions) {
			want := c.Assertions[rel]
			r.Run(fmt.Sprintf("check %s %s %s", c.User, rel, c.Object), func(r reporter) {
				resp, err := fga.Check(ctx).
					Body(client.ClientCheckRequest{User: c.User, Relation: rel, Object: c.Object, Context: mapPtr(c.Context)}).
					Options(client.ClientCheckOptions{StoreId: &storeID, AuthorizationModelId: &modelID}).Execute()
				if err != nil {
					r.Fatalf("user %s relation %s object %s%s: %v", c.User, rel, c.Object, withContext(c.Context), err)
				}
				s.ran++
				if got := resp.GetAllowed(); got != want {
					r.Errorf("user %s relation %s object %s%s: want %t, got %t", c.User, rel, c.Object, withContext(c.Context), want, got)
				}
			})
		}
	}

	for _, l := range tc.ListObjects {
		for _, rel := range sortedKeys(l.Assertions) {
			want := sorted(l.Assertions[rel])
			r.Run(fmt.Sprintf("list_objects %s %s %s", l.User, rel, l.Type), func(r reporter) {
				resp, err := fga.ListObjects(ctx).
					Body(client.ClientListObjectsRequest{User: l.User, Relation: rel, Type: l.Type, Context: mapPtr(l.Context)}).
					Options(client.ClientListObjectsOptions{StoreId: &storeID, AuthorizationModelId: &modelID}).Execute()
				if err != nil {
					r.Fatalf("user %s relation %s type %s%s: %v", l.User, rel, l.Type, withContext(l.Context), err)
				}
				s.ran++
				// ListObjects returns objects in no particular order: compare as sets.
				if got := sorted(resp.GetObjects()); !slices.Equal(got, want) {
					r.Errorf("user %s relation %s type %s%s: want %v, got %v", l.User, rel, l.Type, withContext(l.Context), want, got)
				}
			})
		}
	}
}

// badStoreChars are those OpenFGA refuses in a store name.
var badStoreChars = regexp.MustCompile(`[^a-zA-Z0-9 ./_&@-]+`)

// storeName names a store after the suite and test, so a store left behind by
// a killed run says where it came from; OpenFGA wants 3 to 64 allowed characters.
func storeName(suite, test string) string {
	name := badStoreChars.ReplaceAllString("modeltest "+suite+" / "+test, "-")
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}

func mapPtr(m map[string]any) *map[string]any {
	if len(m) == 0 {
		return nil
	}
	return &m
}

func withContext(m map[string]any) string {
	if len(m) == 0 {
		return ""
	}
	return fmt.Sprintf(" (context %v)", m)
}

// sortedKeys makes the subtest order, and so the output, stable.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// sorted returns a sorted copy, never nil, so that `[]` in the file equals an empty answer.
func sorted(s []string) []string {
	out := append([]string{}, s...)
	slices.Sort(out)
	return out
}
