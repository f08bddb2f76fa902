package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestTeamCommands: team create, team subscription and voucher create, and
// their refusals (a usage mistake exits 2, a refused value 1, and neither
// prints on stdout).
func TestTeamCommands(t *testing.T) {
	a, env := usersSystem(t)
	ctx := context.Background()
	anne := testenv.User(t, a, "anne@example.test")

	r := runStdin(t, env, "", "team", "create", "--owner-email", "ANNE@example.test", "--name", "Acme", "--billing-email", "billing@example.test")
	if r.code != 0 {
		t.Fatalf("team create: exit %d\n%s", r.code, r.stderr)
	}
	teamID := strings.TrimSpace(r.stdout)
	ms, err := a.Access.Memberships(ctx, anne.ID)
	testenv.Must(t, err)
	if len(ms) != 1 || ms[0].Team.ID != teamID || ms[0].Team.Name != "Acme" || ms[0].Role != "owner" || ms[0].Team.BillingEmail != "billing@example.test" {
		t.Fatalf("memberships %+v, printed %q", ms, r.stdout)
	}
	testenv.AssertCheck(t, a, anne.ID, "can_manage_members", authz.TeamObject(teamID), true)

	r = runStdin(t, env, "", "team", "subscription", "--team", teamID, "--plan", "team", "--seats", "5", "--trial", "--ends-at", "2099-01-31T00:00:00Z")
	if r.code != 0 || !strings.Contains(r.stdout, "5 seats") {
		t.Fatalf("team subscription: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	sub, err := a.Access.TeamSubscription(ctx, teamID)
	testenv.Must(t, err)
	if sub.Plan != "team" || sub.Seats != 5 || !sub.Trial || sub.EndsAt == nil || sub.EndsAt.UTC().Format("2006-01-02") != "2099-01-31" {
		t.Fatalf("subscription %+v", sub)
	}

	r = runStdin(t, env, "", "voucher", "create", "--plan", "individual", "--days", "30", "--claims", "2", "--expires-in", "720h")
	if r.code != 0 || !regexp.MustCompile(`^CVOU(-[A-Z2-9]{4}){4}\n$`).MatchString(r.stdout) {
		t.Fatalf("voucher create: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	testenv.Must(t, a.Access.ClaimVoucher(ctx, anne.ID, strings.TrimSpace(r.stdout)))

	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"team without a name", []string{"team", "create", "--owner-email", "anne@example.test", "--billing-email", "b@example.test"}, 2},
		{"team of nobody", []string{"team", "create", "--owner-email", "nobody@example.test", "--name", "X", "--billing-email", "b@example.test"}, 1},
		{"team with a bad billing email", []string{"team", "create", "--owner-email", "anne@example.test", "--name", "X", "--billing-email", "nope"}, 1},
		{"subscription without seats", []string{"team", "subscription", "--team", teamID, "--plan", "team"}, 2},
		{"subscription of no plan", []string{"team", "subscription", "--team", teamID, "--plan", "gold", "--seats", "1"}, 1},
		{"subscription with a bad end", []string{"team", "subscription", "--team", teamID, "--plan", "team", "--seats", "1", "--ends-at", "soon"}, 2},
		{"voucher without days", []string{"voucher", "create", "--plan", "individual"}, 2},
		{"voucher of no plan", []string{"voucher", "create", "--plan", "gold", "--days", "3"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runStdin(t, env, "", tc.args...)
			if r.code != tc.code || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q, want %d and nothing\n%s", r.code, r.stdout, tc.code, r.stderr)
			}
		})
	}
	if ms, _ := a.Access.Memberships(ctx, anne.ID); len(ms) != 1 {
		t.Fatalf("refused commands made teams: %+v", ms)
	}
}
