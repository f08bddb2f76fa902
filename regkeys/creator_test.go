package regkeys_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"

	"github.com/caido-cloud/caido-cloud/audit"

	fga "github.com/openfga/go-sdk"
	fgaclient "github.com/openfga/go-sdk/client"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/regkeys"
)

// keyOf returns the listed key with id among workspaceID's keys.
func keyOf(t *testing.T, a *app.App, workspaceID, id string) regkeys.Key {
	t.Helper()
	keys, err := a.RegKeys.List(context.Background(), workspaceID)
	testenv.Must(t, err)
	for _, k := range keys {
		if k.ID == id {
			return k
		}
	}
	t.Fatalf("key %s is not listed in workspace %s", id, workspaceID)
	return regkeys.Key{}
}

// revocationAudited fails unless the team's audit log records the key's
// revocation, by actor, naming its creator.
func revocationAudited(t *testing.T, a *app.App, teamID string, k regkeys.Key, actor string) {
	t.Helper()
	entries, err := a.Audit.Entries(context.Background(), audit.Filter{TeamID: teamID})
	testenv.Must(t, err)
	for _, e := range entries {
		if e.Action == audit.KeyRevoke && e.TargetID == k.ID {
			if e.ActorUserID == nil || *e.ActorUserID != actor || e.TargetUserID == nil || *e.TargetUserID != k.CreatedBy {
				t.Fatalf("the revocation of key %s is recorded with actor %v, concerning %v; want %s and %s", k.ID, e.ActorUserID, e.TargetUserID, actor, k.CreatedBy)
			}
			return
		}
	}
	t.Fatalf("the team's audit log has no %s entry for key %s: %+v", audit.KeyRevoke, k.ID, entries)
}

// refusedAsRevoked fails unless a registration with key is refused with the
// answer a revoked key gets, and creates no instance.
func refusedAsRevoked(t *testing.T, a *app.App, base, key, what string) {
	t.Helper()
	var before, after int
	testenv.Must(t, a.DB.QueryRow(context.Background(), `SELECT count(*) FROM instances`).Scan(&before))
	status, body := registerWith(t, base, key)
	if status != http.StatusBadRequest || body["error"] != "invalid_client_metadata" || body["error_description"] != "instance_registration_key has been revoked" {
		// Not the whole body: an accepted registration's holds a client secret.
		t.Errorf("registering with %s: %d %v %v, want 400 invalid_client_metadata \"instance_registration_key has been revoked\"",
			what, status, body["error"], body["error_description"])
	}
	testenv.Must(t, a.DB.QueryRow(context.Background(), `SELECT count(*) FROM instances`).Scan(&after))
	if after != before {
		t.Errorf("the refused registration with %s created %d instances", what, after-before)
	}
}

// TestKeysEndWhenTheirCreatorStopsManaging: an admin's keys for the team's
// workspaces are revoked, audited, when the admin is demoted to member or
// removed from the team, and registrations with them are refused; their
// keys for their own workspace and other admins' keys keep working.
func TestKeysEndWhenTheirCreatorStopsManaging(t *testing.T) {
	ctx := context.Background()
	a, base := testenv.Serve(t, testenv.Config(t), testenv.Options{})
	anne := testenv.User(t, a, "anne@example.test")
	bob := testenv.User(t, a, "bob@example.test")
	carol := testenv.User(t, a, "carol@example.test")
	team, _, err := a.Access.CreateTeam(ctx, anne.ID, "Acme", "billing@acme.test")
	testenv.Must(t, err)
	for _, u := range []access.User{bob, carol} {
		_, err := a.Access.SetTeamMember(ctx, team.ID, u.ID, access.RoleAdmin, false)
		testenv.Must(t, err)
	}
	create := func(creator access.User, workspaceID, prefix string) (string, regkeys.Key) {
		key, k, err := a.RegKeys.Create(ctx, regkeys.NewKey{WorkspaceID: workspaceID, CreatedBy: creator.ID, NamePrefix: prefix, Reusable: true})
		testenv.Must(t, err)
		if status, body := registerWith(t, base, key); status != http.StatusCreated {
			t.Fatalf("registering with %s's %s key while they manage the workspace: %d %v", creator.Email, prefix, status, body)
		}
		return key, k
	}
	bobsTeamKey, bobsTeamK := create(bob, team.DefaultWorkspaceID, "bob-team")
	bobsOwnKey, bobsOwnK := create(bob, bob.DefaultWorkspaceID, "bob-own")
	carolsKey, carolsK := create(carol, team.DefaultWorkspaceID, "carol-team")
	annesKey, annesK := create(anne, team.DefaultWorkspaceID, "anne-team")

	// Anne, the owner, demotes Bob: his key for the team dies with his role.
	asAnne := audit.WithActor(ctx, audit.Actor{UserID: anne.ID})
	_, err = a.Access.UpdateMember(asAnne, team.ID, bob.ID, access.RoleMember, false)
	testenv.Must(t, err)
	if k := keyOf(t, a, team.DefaultWorkspaceID, bobsTeamK.ID); k.RevokedAt == nil {
		t.Errorf("bob's key for the team is not revoked after his demotion to member: %+v", k)
	} else {
		revocationAudited(t, a, team.ID, k, anne.ID)
	}
	refusedAsRevoked(t, a, base, bobsTeamKey, "the key of an admin demoted to member")
	if k := keyOf(t, a, bob.DefaultWorkspaceID, bobsOwnK.ID); k.RevokedAt != nil {
		t.Errorf("bob's key for his own workspace was revoked by his demotion in the team")
	}
	if status, body := registerWith(t, base, bobsOwnKey); status != http.StatusCreated {
		t.Errorf("bob's key for his own workspace after his demotion in the team: %d %v", status, body)
	}
	if status, body := registerWith(t, base, carolsKey); status != http.StatusCreated {
		t.Errorf("carol's key after bob's demotion: %d %v", status, body)
	}

	// Anne removes Carol from the team: the same for her key.
	_, err = a.Access.RemoveTeamMember(asAnne, team.ID, carol.ID)
	testenv.Must(t, err)
	if k := keyOf(t, a, team.DefaultWorkspaceID, carolsK.ID); k.RevokedAt == nil {
		t.Errorf("carol's key for the team is not revoked after her removal from the team: %+v", k)
	} else {
		revocationAudited(t, a, team.ID, k, anne.ID)
	}
	refusedAsRevoked(t, a, base, carolsKey, "the key of an admin removed from the team")

	// The owner's own key is untouched by either.
	if k := keyOf(t, a, team.DefaultWorkspaceID, annesK.ID); k.RevokedAt != nil {
		t.Errorf("the owner's key was revoked by changes to other members")
	}
	if status, body := registerWith(t, base, annesKey); status != http.StatusCreated {
		t.Errorf("the owner's key after the changes: %d %v", status, body)
	}
}

// TestRedeemChecksTheCreatorAtThatMoment: a key whose creator may no longer
// add instances to its workspace is refused, like a revoked key, even when
// nothing revoked it: a key left from before demotion revoked keys (the row
// is written as it was then), made by an admin who is a plain member now;
// and a key whose creator's admin tuple OpenFGA no longer has, though
// PostgreSQL still says admin (standing in for any other route by which the
// relation goes: what OpenFGA answers at redemption decides).
func TestRedeemChecksTheCreatorAtThatMoment(t *testing.T) {
	ctx := context.Background()
	a, base := testenv.Serve(t, testenv.Config(t), testenv.Options{})
	anne := testenv.User(t, a, "anne@example.test")
	bob := testenv.User(t, a, "bob@example.test")
	team, _, err := a.Access.CreateTeam(ctx, anne.ID, "Acme", "billing@acme.test")
	testenv.Must(t, err)
	_, err = a.Access.SetTeamMember(ctx, team.ID, bob.ID, access.RoleMember, false)
	testenv.Must(t, err)
	testenv.AssertCheck(t, a, bob.ID, "can_add_instance", authz.WorkspaceObject(team.DefaultWorkspaceID), false)

	key := "ckey_" + strings.Repeat("B", 43)
	sum := sha256.Sum256([]byte(key))
	var id string
	testenv.Must(t, a.DB.QueryRow(ctx, `INSERT INTO registration_keys (key_hash, key_hint, workspace_id, created_by, name_prefix, reusable)
		VALUES ($1, $2, $3, $4, 'old', true) RETURNING id::text`, sum[:], key[:9], team.DefaultWorkspaceID, bob.ID).Scan(&id))

	refusedAsRevoked(t, a, base, key, "the key of a creator who may not add instances to its workspace")
	if k := keyOf(t, a, team.DefaultWorkspaceID, id); k.Uses != 0 {
		t.Errorf("the refused key's uses went to %d", k.Uses)
	}

	carl := testenv.User(t, a, "carl@example.test")
	_, err = a.Access.SetTeamMember(ctx, team.ID, carl.ID, access.RoleAdmin, false)
	testenv.Must(t, err)
	carlsKey, _, err := a.RegKeys.Create(ctx, regkeys.NewKey{WorkspaceID: team.DefaultWorkspaceID, CreatedBy: carl.ID, NamePrefix: "carl", Reusable: true})
	testenv.Must(t, err)
	if status, body := registerWith(t, base, carlsKey); status != http.StatusCreated {
		t.Fatalf("registering with an admin's key: %d %v", status, body)
	}
	_, err = testenv.RawOpenFGA(t, a).Write(ctx).Body(fgaclient.ClientWriteRequest{Deletes: []fga.TupleKeyWithoutCondition{
		{User: authz.UserObject(carl.ID), Relation: "admin", Object: authz.TeamObject(team.ID)},
	}}).Execute()
	testenv.Must(t, err)
	testenv.AssertCheck(t, a, carl.ID, "can_add_instance", authz.WorkspaceObject(team.DefaultWorkspaceID), false)
	refusedAsRevoked(t, a, base, carlsKey, "the key of a creator OpenFGA no longer lets add instances")
}
