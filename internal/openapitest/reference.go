// Package openapitest checks answers against OpenAPI documents: ours and
// the published references. It depends on no part of the service, so that
// the package that embeds our document can test it from inside.
package openapitest

import (
	"os"
	"path/filepath"
	"testing"
)

// Reference returns the path of one of the published reference documents
// (../shared/reference/NAME beside the checkout, where CI puts shared/ too),
// found by walking up from the test's folder.
func Reference(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		path := filepath.Join(dir, "shared", "reference", name)
		if _, err := os.Stat(path); err == nil {
			return path
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("reference document %s not found in a shared/reference folder above the checkout", name)
		}
		dir = parent
	}
}
