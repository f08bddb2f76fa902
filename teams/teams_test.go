package teams_test

import (
	"strings"
	"testing"

	"github.com/caido-cloud/caido-cloud/teams"
)

// TestNewNamesWhatIsMissing: every dependency is required, and the error
// says which one is not there. (What the service decides is tested through
// both of its surfaces, against PostgreSQL and OpenFGA: api's
// TestTeamsTable.)
func TestNewNamesWhatIsMissing(t *testing.T) {
	_, err := teams.New(teams.Deps{})
	if err == nil || !strings.HasPrefix(err.Error(), "teams: ") || !strings.Contains(err.Error(), "is required") {
		t.Fatalf("New without dependencies: %v", err)
	}
}
