package authz_test

import (
	"context"
	"testing"
	"time"

	fga "github.com/openfga/go-sdk"
	fgaclient "github.com/openfga/go-sdk/client"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestReconcileRepairsTuplesChangedBehindOurBack deletes, adds and alters
// tuples directly in OpenFGA; reconcile reports each and puts OpenFGA back to
// what PostgreSQL implies, and a second run finds nothing.
func TestReconcileRepairsTuplesChangedBehindOurBack(t *testing.T) {
	ctx := context.Background()
	a := testenv.App(t, testenv.Config(t), testenv.Options{})
	testenv.RunOutbox(t, a)
	raw := testenv.RawOpenFGA(t, a)

	anne := testenv.User(t, a, "anne@example.test")
	bob := testenv.User(t, a, "bob@example.test")
	box := testenv.ClaimedInstance(t, a, anne.ID, anne.DefaultWorkspaceID, "laptop")
	until := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	_, err := a.Access.Grant(ctx, box.ID, access.Grantee{UserID: bob.ID}, &until, anne.ID)
	testenv.Must(t, err)
	testenv.AssertCheck(t, a, bob.ID, "can_use", authz.InstanceObject(box.ID), true)

	// Behind our back: the workspace link of the instance disappears, a
	// stranger gets a grant, and bob's grant loses its expiry.
	workspaceLink := fga.TupleKeyWithoutCondition{User: authz.WorkspaceObject(anne.DefaultWorkspaceID), Relation: "workspace", Object: authz.InstanceObject(box.ID)}
	bobGrant := fga.TupleKeyWithoutCondition{User: authz.UserObject(bob.ID), Relation: "grantee", Object: authz.InstanceObject(box.ID)}
	_, err = raw.Write(ctx).Body(fgaclient.ClientWriteRequest{Deletes: []fga.TupleKeyWithoutCondition{workspaceLink, bobGrant}}).Execute()
	testenv.Must(t, err)
	_, err = raw.Write(ctx).Body(fgaclient.ClientWriteRequest{Writes: []fga.TupleKey{
		{User: "user:stranger", Relation: "grantee", Object: authz.InstanceObject(box.ID)},
		{User: bobGrant.User, Relation: bobGrant.Relation, Object: bobGrant.Object},
	}}).Execute()
	testenv.Must(t, err)
	testenv.AssertCheck(t, a, anne.ID, "can_use", authz.InstanceObject(box.ID), false)
	testenv.AssertCheck(t, a, "stranger", "can_use", authz.InstanceObject(box.ID), true)

	dry, err := a.Reconcile(ctx, true)
	testenv.Must(t, err)
	report, err := a.Reconcile(ctx, false)
	testenv.Must(t, err)
	if len(dry.Written) != len(report.Written) || len(dry.Deleted) != len(report.Deleted) {
		t.Fatalf("dry run reported %+v, the real run %+v", dry, report)
	}
	want := map[string]bool{
		"written " + authz.InstanceObject(box.ID) + "#workspace@" + authz.WorkspaceObject(anne.DefaultWorkspaceID):                  true,
		"written " + authz.InstanceObject(box.ID) + "#grantee@" + authz.UserObject(bob.ID) + " until " + until.Format(time.RFC3339): true,
		"deleted " + authz.InstanceObject(box.ID) + "#grantee@user:stranger":                                                        true,
	}
	got := map[string]bool{}
	for _, tu := range report.Written {
		got["written "+tu.String()] = true
	}
	for _, tu := range report.Deleted {
		got["deleted "+tu.String()] = true
	}
	if len(got) != len(want) {
		t.Fatalf("reconcile fixed %v, want %v", got, want)
	}
	for k := range want {
		if !got[k] {
			t.Fatalf("reconcile fixed %v, want %v", got, want)
		}
	}
	testenv.AssertCheck(t, a, anne.ID, "can_use", authz.InstanceObject(box.ID), true)
	testenv.AssertCheck(t, a, "stranger", "can_use", authz.InstanceObject(box.ID), false)

	again, err := a.Reconcile(ctx, false)
	testenv.Must(t, err)
	if len(again.Written)+len(again.Deleted) != 0 {
		t.Fatalf("a second reconcile still found differences: %+v", again)
	}
}
