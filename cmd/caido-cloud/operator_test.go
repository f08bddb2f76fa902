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
}
