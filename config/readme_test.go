package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEListsEverySetting keeps the README's settings table true: each
// setting appears as a row with its default.
func TestREADMEListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Settings {
		def := "—"
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		row := "| `" + s.Env + "` | " + def + " |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("README.md lacks the row %q", row)
		}
	}
	if !strings.HasPrefix(string(readme), "# caido-cloud\n\n```sh\nmake run ") || !strings.Contains(string(readme), "\nmake test ") {
		t.Error("README.md must open with `make run` and `make test`")
	}
}
