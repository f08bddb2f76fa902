package access_test

import (
	"context"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestSeatTuplesFollowTheRows: every change a seat hangs on (taking and
// releasing one, invitation acceptance with one, the subscription's plan and
// end, removal, account deletion, a new team) queues the seat tuples that
// `fga reconcile` would derive from the rows: after each step OpenFGA holds
// exactly what PostgreSQL implies, and the checks say what the rule says.
func TestSeatTuplesFollowTheRows(t *testing.T) {
	a := newApp(t)
	ctx := context.Background()
	anne := testenv.User(t, a, "anne@seats.test")
	bob := testenv.User(t, a, "bob@seats.test")
	carl := testenv.User(t, a, "carl@seats.test")
	team, _, err := a.Access.CreateTeam(ctx, anne.ID, "Seats", "billing@seats.test")
	testenv.Must(t, err)
	box := testenv.ClaimedInstance(t, a, anne.ID, team.DefaultWorkspaceID, "box")
	uses := func(step string, want map[string]bool) {
		t.Helper()
		report, err := a.Reconcile(ctx, true)
		testenv.Must(t, err)
		if len(report.Written)+len(report.Deleted) != 0 {
			t.Fatalf("%s: OpenFGA differs from PostgreSQL: write %v, delete %v", step, report.Written, report.Deleted)
		}
		for id, w := range want {
			got, err := a.Authz.Check(ctx, authz.UserObject(id), "can_use", authz.InstanceObject(box.ID))
			testenv.Must(t, err)
			if got != w {
				t.Errorf("%s: user %s can_use the team's instance = %v, want %v", step, id, got, w)
			}
		}
	}
	uses("a new team: its owner holds no seat", map[string]bool{anne.ID: false})
	testenv.AssertCheck(t, a, anne.ID, "can_manage", authz.InstanceObject(box.ID), true)

	_, err = a.Access.SetTeamMember(ctx, team.ID, bob.ID, access.RoleAdmin, false)
	testenv.Must(t, err)
	_, err = a.Access.SetTeamSubscription(ctx, team.ID, "team", 3, false, nil)
	testenv.Must(t, err)
	_, err = a.Access.UpdateMember(ctx, team.ID, anne.ID, access.RoleOwner, true)
	testenv.Must(t, err)
	_, err = a.Access.UpdateMember(ctx, team.ID, bob.ID, access.RoleAdmin, true)
	testenv.Must(t, err)
	uses("seats taken", map[string]bool{anne.ID: true, bob.ID: true})

	_, token, err := a.Access.Invite(ctx, team.ID, carl.Email, access.RoleMember, true, 0)
	testenv.Must(t, err)
	_, _, err = a.Access.AcceptInvitation(ctx, token, carl.ID)
	testenv.Must(t, err)
	uses("an invitation with a seat accepted", map[string]bool{carl.ID: true})

	_, err = a.Access.UpdateMember(ctx, team.ID, bob.ID, access.RoleAdmin, false)
	testenv.Must(t, err)
	uses("a seat released", map[string]bool{anne.ID: true, bob.ID: false})

	_, err = a.Access.SetTeamSubscription(ctx, team.ID, "individual", 3, false, nil)
	testenv.Must(t, err)
	uses("a plan without seats", map[string]bool{anne.ID: false, carl.ID: false})
	_, err = a.Access.SetTeamSubscription(ctx, team.ID, "enterprise", 3, false, nil)
	testenv.Must(t, err)
	uses("an Enterprise plan", map[string]bool{anne.ID: true, carl.ID: true})
	ended := time.Now().Add(-time.Hour)
	_, err = a.Access.SetTeamSubscription(ctx, team.ID, "enterprise", 3, false, &ended)
	testenv.Must(t, err)
	uses("the subscription ended", map[string]bool{anne.ID: false, carl.ID: false})
	later := time.Now().Add(time.Hour)
	_, err = a.Access.SetTeamSubscription(ctx, team.ID, "enterprise", 3, false, &later)
	testenv.Must(t, err)
	uses("the subscription renewed until later", map[string]bool{anne.ID: true, carl.ID: true})

	_, err = a.Access.RemoveTeamMember(ctx, team.ID, carl.ID)
	testenv.Must(t, err)
	uses("a seated member removed", map[string]bool{carl.ID: false})
	_, err = a.Access.DeleteAccount(ctx, anne.ID)
	testenv.Must(t, err)
	uses("the seated owner's account deleted (bob owns the team now)", map[string]bool{bob.ID: false})
	_, err = a.Access.DeleteAccount(ctx, bob.ID)
	testenv.Must(t, err)
	uses("the last member's account deleted with the team", nil)
}
