package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestOperatorUserCommands: show, export and delete a user on request, and
// edit the model table, through the binary.
func TestOperatorUserCommands(t *testing.T) {
	a, env := usersSystem(t)
	ctx := context.Background()
	anne := testenv.User(t, a, "anne@example.test")
	box := testenv.ClaimedInstance(t, a, anne.ID, anne.DefaultWorkspaceID, "laptop")

	r := run(t, t.TempDir(), env, "user", "show", "--email", "ANNE@example.test")
	var shown struct {
		User struct{ ID string } `json:"user"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &shown) != nil || shown.User.ID != anne.ID {
		t.Fatalf("user show: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = run(t, t.TempDir(), env, "user", "export", "--email", "anne@example.test")
	if r.code != 0 || !json.Valid([]byte(r.stdout)) || !strings.Contains(r.stdout, box.ID) {
		t.Fatalf("user export: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, t.TempDir(), env, "user", "delete", "--email", "anne@example.test"); r.code != 2 {
		t.Fatalf("user delete without --yes: %d %s", r.code, r.stderr)
	}
	if r := run(t, t.TempDir(), env, "user", "show", "--email", "nobody@example.test"); r.code != 1 {
		t.Fatalf("user show of nobody: %d", r.code)
	}
	r = run(t, t.TempDir(), env, "user", "delete", "--email", "anne@example.test", "--yes")
	if r.code != 0 {
		t.Fatalf("user delete: %d %s", r.code, r.stderr)
	}
	var left int
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT (SELECT count(*) FROM users WHERE id = $1) + (SELECT count(*) FROM instances WHERE id = $2)`,
		anne.ID, box.ID).Scan(&left))
	if left != 0 {
		t.Fatalf("%d rows left after user delete", left)
	}
	testenv.AssertCheck(t, a, anne.ID, "can_use", authz.InstanceObject(box.ID), false)

	r = run(t, t.TempDir(), env, "model", "set", "--id", "fast-1", "--name", "Fast", "--upstream", "gpt-4o-mini", "--token-credit", "2")
	if r.code != 0 {
		t.Fatalf("model set: %d %s", r.code, r.stderr)
	}
	var credit int64
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT token_credit FROM assistant_models WHERE id = 'fast-1'`).Scan(&credit))
	if credit != 2 {
		t.Fatalf("token credit %d", credit)
	}
	if r := run(t, t.TempDir(), env, "model", "set", "--id", "bad id!", "--name", "x", "--upstream", "y"); r.code != 2 {
		t.Fatalf("model set with a bad id: %d %s", r.code, r.stderr)
	}
	// A change touches only what it names: disabling keeps the price, a
	// rename neither resets it nor enables the model again.
	model := func() (name, upstream string, credit int64, maxOutput int, enabled bool) {
		t.Helper()
		testenv.Must(t, a.DB.QueryRow(ctx, `SELECT name, upstream_model, token_credit, max_output_tokens, enabled FROM assistant_models WHERE id = 'fast-1'`).
			Scan(&name, &upstream, &credit, &maxOutput, &enabled))
		return
	}
	for _, step := range []struct {
		args     []string
		name     string
		credit   int64
		enabled  bool
		exitCode int
	}{
		{[]string{"--disabled"}, "Fast", 2, false, 0},
		{[]string{"--name", "Fast v2"}, "Fast v2", 2, false, 0},
		{[]string{"--name", " "}, "Fast v2", 2, false, 2},
		{[]string{"--token-credit", "0"}, "Fast v2", 2, false, 2},
		{[]string{"--disabled=false", "--token-credit", "3"}, "Fast v2", 3, true, 0},
	} {
		r := run(t, t.TempDir(), env, append([]string{"model", "set", "--id", "fast-1"}, step.args...)...)
		if r.code != step.exitCode {
			t.Fatalf("model set %v: exit %d, want %d\n%s", step.args, r.code, step.exitCode, r.stderr)
		}
		name, upstream, credit, maxOutput, enabled := model()
		if name != step.name || upstream != "gpt-4o-mini" || credit != step.credit || maxOutput != 4096 || enabled != step.enabled {
			t.Fatalf("after model set %v: %q %q %d %d %v; want %q gpt-4o-mini %d 4096 %v",
				step.args, name, upstream, credit, maxOutput, enabled, step.name, step.credit, step.enabled)
		}
	}
	if r := run(t, t.TempDir(), env, "model", "set", "--id", "new-1", "--name", "New"); r.code != 2 || !strings.Contains(r.stderr, "--upstream") {
		t.Fatalf("a new model without --upstream: exit %d\n%s", r.code, r.stderr)
	}
}

// TestOperatorPlanCommands: `plan set` changes exactly what it names; with
// nothing to change it refuses instead of clearing the plan.
func TestOperatorPlanCommands(t *testing.T) {
	a, env := usersSystem(t)
	ctx := context.Background()
	anne := testenv.User(t, a, "anne@example.test")
	plan := func() (credits int64, entitlements string) {
		t.Helper()
		testenv.Must(t, a.DB.QueryRow(ctx, `SELECT p.monthly_credits, coalesce(string_agg(e.entitlement, ',' ORDER BY e.entitlement), '')
			FROM plans p LEFT JOIN plan_entitlements e ON e.plan = p.name WHERE p.name = 'team' GROUP BY p.monthly_credits`).Scan(&credits, &entitlements))
		return credits, entitlements
	}
	credits, entitlements := plan()
	if entitlements == "" {
		t.Fatal("the team plan has no entitlements to begin with; the test below would prove nothing")
	}
	for _, args := range [][]string{
		{"plan", "set", "--plan", "team"}, // nothing named
		{"plan", "set", "--plan", "team", "--monthly-credits", "-1"},
		{"plan", "set", "--plan", "team", "--email", anne.Email, "--monthly-credits", "5"},
	} {
		if r := run(t, t.TempDir(), env, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)\n%s", args, r.code, r.stderr)
		}
	}
	if r := run(t, t.TempDir(), env, "plan", "set", "--plan", "platinum", "--monthly-credits", "5"); r.code != 1 || !strings.Contains(r.stderr, `no plan "platinum"`) {
		t.Errorf("an unknown plan: exit %d\n%s", r.code, r.stderr)
	}
	if c, e := plan(); c != credits || e != entitlements {
		t.Fatalf("refused commands changed the plan: %d %q, was %d %q", c, e, credits, entitlements)
	}

	if r := run(t, t.TempDir(), env, "plan", "set", "--plan", "team", "--monthly-credits", "1234"); r.code != 0 {
		t.Fatalf("plan set --monthly-credits: %d %s", r.code, r.stderr)
	}
	if c, e := plan(); c != 1234 || e != entitlements {
		t.Fatalf("after --monthly-credits 1234: %d %q; want 1234 and the entitlements unchanged (%q)", c, e, entitlements)
	}
	if r := run(t, t.TempDir(), env, "plan", "set", "--plan", "team", "--entitlements", "b, a"); r.code != 0 {
		t.Fatalf("plan set --entitlements: %d %s", r.code, r.stderr)
	}
	if c, e := plan(); c != 1234 || e != "a,b" {
		t.Fatalf("after --entitlements: %d %q", c, e)
	}
	if r := run(t, t.TempDir(), env, "plan", "set", "--plan", "team", "--email", "ANNE@example.test"); r.code != 0 {
		t.Fatalf("plan set --email: %d %s", r.code, r.stderr)
	}
	var userPlan string
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT plan FROM users WHERE id = $1`, anne.ID).Scan(&userPlan))
	if userPlan != "team" {
		t.Fatalf("anne's plan %q, want team", userPlan)
	}
}
