package access_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

func newApp(t *testing.T) *app.App {
	a := testenv.App(t, testenv.Config(t), testenv.Options{})
	testenv.RunOutbox(t, a)
	return a
}

// TestTeamAccess follows a team through its life: members use the team's
// instances, admins manage them, other teams see nothing, and a removed
// member loses access at once.
func TestTeamAccess(t *testing.T) {
	ctx := context.Background()
	a := newApp(t)
	anne := testenv.User(t, a, "anne@acme.test")
	bob := testenv.User(t, a, "bob@acme.test")
	gina := testenv.User(t, a, "gina@globex.test")

	acme, ch, err := a.Access.CreateTeam(ctx, anne.ID, "Acme", "billing@acme.test")
	testenv.Must(t, err)
	if ch.Pending {
		t.Fatal("team creation pending with OpenFGA up")
	}
	globex, _, err := a.Access.CreateTeam(ctx, gina.ID, "Globex", "billing@globex.test")
	testenv.Must(t, err)
	acmeBox := testenv.ClaimedInstance(t, a, anne.ID, acme.DefaultWorkspaceID, "acme ci")
	globexBox := testenv.ClaimedInstance(t, a, gina.ID, globex.DefaultWorkspaceID, "globex prod")
	acmeBoxObj, globexBoxObj := authz.InstanceObject(acmeBox.ID), authz.InstanceObject(globexBox.ID)

	testenv.AssertCheck(t, a, anne.ID, "can_manage", acmeBoxObj, true)
	testenv.AssertCheck(t, a, anne.ID, "can_manage_billing", authz.TeamObject(acme.ID), true)
	testenv.AssertCheck(t, a, bob.ID, "can_use", acmeBoxObj, false)

	gen := generation(t, a, acme.DefaultWorkspaceID)
	_, err = a.Access.SetTeamMember(ctx, acme.ID, bob.ID, access.RoleMember, false)
	testenv.Must(t, err)
	if g := generation(t, a, acme.DefaultWorkspaceID); g <= gen {
		t.Fatalf("adding a member left the workspace generation at %d", g)
	}
	// A member sees the team's workspace; using its instances takes a seat.
	testenv.AssertCheck(t, a, bob.ID, "can_view", authz.WorkspaceObject(acme.DefaultWorkspaceID), true)
	testenv.AssertCheck(t, a, bob.ID, "can_use", acmeBoxObj, false)
	testenv.Seat(t, a, acme.ID, bob.ID)
	testenv.AssertCheck(t, a, bob.ID, "can_use", acmeBoxObj, true)
	testenv.AssertCheck(t, a, bob.ID, "can_use_assistant", acmeBoxObj, true)
	testenv.AssertCheck(t, a, bob.ID, "can_manage", acmeBoxObj, false)
	testenv.AssertCheck(t, a, bob.ID, "can_use", globexBoxObj, false)
	testenv.AssertCheck(t, a, gina.ID, "can_use", acmeBoxObj, false)

	// Promotion to admin replaces the role's tuple.
	_, err = a.Access.SetTeamMember(ctx, acme.ID, bob.ID, access.RoleAdmin, false)
	testenv.Must(t, err)
	testenv.AssertCheck(t, a, bob.ID, "can_manage", acmeBoxObj, true)
	testenv.AssertCheck(t, a, bob.ID, "can_manage_members", authz.TeamObject(acme.ID), true)
	testenv.AssertCheck(t, a, bob.ID, "can_manage_billing", authz.TeamObject(acme.ID), false)

	gen = generation(t, a, acme.DefaultWorkspaceID)
	_, err = a.Access.RemoveTeamMember(ctx, acme.ID, bob.ID)
	testenv.Must(t, err)
	testenv.AssertCheck(t, a, bob.ID, "can_use", acmeBoxObj, false)
	testenv.AssertCheck(t, a, bob.ID, "can_manage", acmeBoxObj, false)
	if g := generation(t, a, acme.DefaultWorkspaceID); g <= gen {
		t.Fatalf("removing a member left the workspace generation at %d", g)
	}
	if _, err := a.Access.RemoveTeamMember(ctx, acme.ID, bob.ID); !errors.Is(err, access.ErrNotFound) {
		t.Fatalf("removing a non-member: %v, want ErrNotFound", err)
	}
	if _, err := a.Access.SetTeamMember(ctx, acme.ID, bob.ID, "superuser", false); !errors.Is(err, access.ErrInvalid) {
		t.Fatalf("an unknown role: %v, want ErrInvalid", err)
	}
}

// TestGrants shares a personal instance with a user and with a team, with
// and without expiry, and takes the shares back.
func TestGrants(t *testing.T) {
	ctx := context.Background()
	a := newApp(t)
	anne := testenv.User(t, a, "anne@example.test")
	bob := testenv.User(t, a, "bob@example.test")
	carl := testenv.User(t, a, "carl@example.test")
	box := testenv.ClaimedInstance(t, a, anne.ID, anne.DefaultWorkspaceID, "laptop")
	boxObj := authz.InstanceObject(box.ID)
	testenv.AssertCheck(t, a, anne.ID, "can_use", boxObj, true)
	testenv.AssertCheck(t, a, bob.ID, "can_use", boxObj, false)

	// A grant until a moment that then passes: allowed, then denied, with no
	// change in between (OpenFGA compares with the time of each check).
	until := time.Now().Add(5 * time.Second) // room for the checks below on a loaded machine
	gen := generation(t, a, anne.DefaultWorkspaceID)
	_, err := a.Access.Grant(ctx, box.ID, access.Grantee{UserID: bob.ID}, &until, anne.ID)
	testenv.Must(t, err)
	if g := generation(t, a, anne.DefaultWorkspaceID); g <= gen {
		t.Fatalf("a grant left the workspace generation at %d", g)
	}
	testenv.AssertCheck(t, a, bob.ID, "can_use", boxObj, true)
	testenv.AssertCheck(t, a, bob.ID, "can_manage", boxObj, false)
	time.Sleep(time.Until(until) + 10*time.Millisecond)
	testenv.AssertCheck(t, a, bob.ID, "can_use", boxObj, false)

	// Granting again replaces the expiry: now without one.
	_, err = a.Access.Grant(ctx, box.ID, access.Grantee{UserID: bob.ID}, nil, anne.ID)
	testenv.Must(t, err)
	testenv.AssertCheck(t, a, bob.ID, "can_use", boxObj, true)
	_, err = a.Access.Revoke(ctx, box.ID, access.Grantee{UserID: bob.ID})
	testenv.Must(t, err)
	testenv.AssertCheck(t, a, bob.ID, "can_use", boxObj, false)

	// A share with a whole team reaches its members, and leaves with them.
	team, _, err := a.Access.CreateTeam(ctx, carl.ID, "Carl's team", "carl@example.test")
	testenv.Must(t, err)
	_, err = a.Access.SetTeamMember(ctx, team.ID, bob.ID, access.RoleMember, false)
	testenv.Must(t, err)
	later := time.Now().Add(time.Hour)
	_, err = a.Access.Grant(ctx, box.ID, access.Grantee{TeamID: team.ID}, &later, anne.ID)
	testenv.Must(t, err)
	testenv.AssertCheck(t, a, carl.ID, "can_use", boxObj, true)
	testenv.AssertCheck(t, a, bob.ID, "can_use", boxObj, true)
	_, err = a.Access.RemoveTeamMember(ctx, team.ID, bob.ID)
	testenv.Must(t, err)
	testenv.AssertCheck(t, a, bob.ID, "can_use", boxObj, false)
	testenv.AssertCheck(t, a, carl.ID, "can_use", boxObj, true)

	// Bad grants change nothing.
	past := time.Now().Add(-time.Minute)
	for name, call := range map[string]func() error{
		"expired": func() error {
			_, err := a.Access.Grant(ctx, box.ID, access.Grantee{UserID: bob.ID}, &past, anne.ID)
			return err
		},
		"nobody": func() error { _, err := a.Access.Grant(ctx, box.ID, access.Grantee{}, nil, anne.ID); return err },
		"two at once": func() error {
			_, err := a.Access.Grant(ctx, box.ID, access.Grantee{UserID: bob.ID, TeamID: team.ID}, nil, anne.ID)
			return err
		},
	} {
		if err := call(); !errors.Is(err, access.ErrInvalid) {
			t.Errorf("%s grant: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := a.Access.Grant(ctx, box.ID, access.Grantee{UserID: "4f2b5a7e-0000-4000-8000-000000000000"}, nil, anne.ID); !errors.Is(err, access.ErrNotFound) {
		t.Errorf("grant to an unknown user: %v, want ErrNotFound", err)
	}
	if _, err := a.Access.Revoke(ctx, box.ID, access.Grantee{UserID: bob.ID}); !errors.Is(err, access.ErrNotFound) {
		t.Errorf("revoking what was never granted: %v, want ErrNotFound", err)
	}
	testenv.AssertCheck(t, a, bob.ID, "can_use", boxObj, false)
}

func TestInstanceLifecycle(t *testing.T) {
	ctx := context.Background()
	a := newApp(t)
	anne := testenv.User(t, a, "anne@example.test")
	bob := testenv.User(t, a, "bob@example.test")

	in, err := a.Access.CreateInstance(ctx)
	testenv.Must(t, err)
	obj := authz.InstanceObject(in.ID)
	testenv.AssertCheck(t, a, anne.ID, "can_use", obj, false) // unclaimed: nobody

	if _, err := a.Access.ClaimInstance(ctx, in.ID, anne.ID, anne.DefaultWorkspaceID, " "); !errors.Is(err, access.ErrInvalid) {
		t.Fatalf("claim with a blank name: %v, want ErrInvalid", err)
	}
	_, err = a.Access.ClaimInstance(ctx, in.ID, anne.ID, anne.DefaultWorkspaceID, "laptop")
	testenv.Must(t, err)
	testenv.AssertCheck(t, a, anne.ID, "can_use", obj, true)
	testenv.AssertCheck(t, a, anne.ID, "can_manage", obj, true)
	testenv.AssertCheck(t, a, anne.ID, "claimant", obj, true)
	if _, err := a.Access.ClaimInstance(ctx, in.ID, bob.ID, bob.DefaultWorkspaceID, "mine"); !errors.Is(err, access.ErrConflict) {
		t.Fatalf("claiming a claimed instance: %v, want ErrConflict", err)
	}
	testenv.AssertCheck(t, a, bob.ID, "can_use", obj, false)
	if _, err := a.Access.ClaimInstance(ctx, "4f2b5a7e-0000-4000-8000-000000000000", anne.ID, anne.DefaultWorkspaceID, "x"); !errors.Is(err, access.ErrNotFound) {
		t.Fatalf("claiming an unknown instance: %v, want ErrNotFound", err)
	}

	_, err = a.Access.SetAssistantEnabled(ctx, in.ID, false)
	testenv.Must(t, err)
	testenv.AssertCheck(t, a, anne.ID, "can_use_assistant", obj, false)
	testenv.AssertCheck(t, a, anne.ID, "can_use", obj, true)
	_, err = a.Access.SetAssistantEnabled(ctx, in.ID, true)
	testenv.Must(t, err)
	testenv.AssertCheck(t, a, anne.ID, "can_use_assistant", obj, true)

	_, err = a.Access.Grant(ctx, in.ID, access.Grantee{UserID: bob.ID}, nil, anne.ID)
	testenv.Must(t, err)
	_, err = a.Access.DeleteInstance(ctx, in.ID)
	testenv.Must(t, err)
	testenv.AssertCheck(t, a, anne.ID, "can_use", obj, false)
	testenv.AssertCheck(t, a, bob.ID, "can_use", obj, false)
	// Nothing about the instance is left in OpenFGA.
	report, err := a.Reconcile(ctx, true)
	testenv.Must(t, err)
	if len(report.Written)+len(report.Deleted) != 0 {
		t.Fatalf("after delete OpenFGA differs from PostgreSQL: %+v", report)
	}
}

func TestUsersAreValidatedAndUnique(t *testing.T) {
	ctx := context.Background()
	a := newApp(t)
	testenv.User(t, a, "anne@example.test")
	if _, _, err := a.Access.CreateUser(ctx, "ANNE@example.test", "Anne again"); !errors.Is(err, access.ErrConflict) {
		t.Fatalf("same email in other case: %v, want ErrConflict", err)
	}
	for _, email := range []string{"", "not an address", "Anne <anne2@example.test>"} {
		if _, _, err := a.Access.CreateUser(ctx, email, "x"); !errors.Is(err, access.ErrInvalid) {
			t.Errorf("email %q: %v, want ErrInvalid", email, err)
		}
	}
	if _, _, err := a.Access.CreateUser(ctx, "nameless@example.test", "  "); !errors.Is(err, access.ErrInvalid) {
		t.Errorf("blank name: %v, want ErrInvalid", err)
	}
	var users int
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&users))
	if users != 1 {
		t.Fatalf("%d users after refused sign-ups, want 1", users)
	}
}

func generation(t *testing.T, a *app.App, workspaceID string) int64 {
	t.Helper()
	var g int64
	testenv.Must(t, a.DB.QueryRow(context.Background(), `SELECT generation FROM workspaces WHERE id = $1`, workspaceID).Scan(&g))
	return g
}
