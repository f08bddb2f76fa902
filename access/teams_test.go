package access_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/audit"

	"github.com/google/uuid"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestInvitationsAndSeats: an invitation holds a seat, acceptance needs the
// invited address, works once, and makes the membership with its seat,
// which gives the member the subscription's plan.
func TestInvitationsAndSeats(t *testing.T) {
	a := newApp(t)
	anne := testenv.User(t, a, "anne@acme.test")
	bob := testenv.User(t, a, "bob@acme.test")
	carl := testenv.User(t, a, "carl@acme.test")
	ctx := audit.WithActor(context.Background(), audit.Actor{UserID: anne.ID, IP: netip.MustParseAddr("192.0.2.7")})
	acme, _, err := a.Access.CreateTeam(ctx, anne.ID, "Acme", "billing@acme.test")
	testenv.Must(t, err)

	if _, _, err := a.Access.Invite(ctx, acme.ID, bob.Email, access.RoleMember, true, 0); !errors.Is(err, access.ErrNoSeat) {
		t.Fatalf("a seat invitation without a subscription: %v, want ErrNoSeat", err)
	}
	_, err = a.Access.SetTeamSubscription(ctx, acme.ID, "team", 1, false, nil)
	testenv.Must(t, err)
	inv, token, err := a.Access.Invite(ctx, acme.ID, "BOB@acme.test", access.RoleMember, true, 0)
	testenv.Must(t, err)
	if _, _, err := a.Access.Invite(ctx, acme.ID, carl.Email, access.RoleAdmin, true, 0); !errors.Is(err, access.ErrNoSeat) {
		t.Fatalf("a second seat invitation for one seat: %v, want ErrNoSeat", err)
	}
	for _, bad := range []struct{ email, role string }{{"not an address", "member"}, {carl.Email, "owner"}, {carl.Email, "root"}} {
		if _, _, err := a.Access.Invite(ctx, acme.ID, bad.email, access.Role(bad.role), false, 0); !errors.Is(err, access.ErrInvalid) {
			t.Errorf("invite %+v: %v, want ErrInvalid", bad, err)
		}
	}
	list, err := a.Access.Invitations(ctx, acme.ID)
	testenv.Must(t, err)
	if len(list) != 1 || list[0].ID != inv.ID || list[0].TeamName != "Acme" {
		t.Fatalf("invitations: %+v", list)
	}
	if _, _, err := a.Access.AcceptInvitation(ctx, token, carl.ID); !errors.Is(err, access.ErrInvalid) {
		t.Fatalf("accepted by another address: %v, want ErrInvalid", err)
	}
	if _, _, err := a.Access.AcceptInvitation(ctx, "made-up", bob.ID); !errors.Is(err, access.ErrNotFound) {
		t.Fatalf("unknown token: %v, want ErrNotFound", err)
	}
	testenv.AssertCheck(t, a, bob.ID, "member", authz.TeamObject(acme.ID), false)
	if plan := effectivePlan(t, a, bob.ID); plan != "basic" {
		t.Fatalf("bob's plan before joining: %s", plan)
	}
	_, _, err = a.Access.AcceptInvitation(ctx, token, bob.ID)
	testenv.Must(t, err)
	testenv.AssertCheck(t, a, bob.ID, "member", authz.TeamObject(acme.ID), true)
	if plan := effectivePlan(t, a, bob.ID); plan != "team" {
		t.Fatalf("bob's plan with a seat: %s, want team", plan)
	}
	if _, _, err := a.Access.AcceptInvitation(ctx, token, bob.ID); !errors.Is(err, access.ErrNotFound) {
		t.Fatalf("second use of the link: %v, want ErrNotFound", err)
	}
	sub, err := a.Access.TeamSubscription(ctx, acme.ID)
	testenv.Must(t, err)
	if sub.Seats != 1 || sub.SeatsUsed != 1 {
		t.Fatalf("subscription: %+v", sub)
	}
	// Full: a seat for carl is refused, membership without one is fine.
	_, err = a.Access.UpdateMember(ctx, acme.ID, anne.ID, access.RoleMember, false)
	if !errors.Is(err, access.ErrInvalid) {
		t.Fatalf("demoting the owner: %v, want ErrInvalid", err)
	}
	_, err = a.Access.SetTeamMember(ctx, acme.ID, carl.ID, access.RoleMember, false)
	testenv.Must(t, err)
	if _, err := a.Access.UpdateMember(ctx, acme.ID, carl.ID, access.RoleMember, true); !errors.Is(err, access.ErrNoSeat) {
		t.Fatalf("a seat beyond the subscription: %v, want ErrNoSeat", err)
	}
	if _, err := a.Access.SetTeamSubscription(ctx, acme.ID, "team", 0, false, nil); !errors.Is(err, access.ErrInvalid) {
		t.Fatalf("lowering seats below those in use: %v, want ErrInvalid", err)
	}

	// An expired invitation is refused.
	dana := testenv.User(t, a, "dana@acme.test")
	_, token, err = a.Access.Invite(ctx, acme.ID, dana.Email, access.RoleMember, false, time.Millisecond)
	testenv.Must(t, err)
	time.Sleep(5 * time.Millisecond)
	if _, _, err := a.Access.AcceptInvitation(ctx, token, dana.ID); !errors.Is(err, access.ErrExpired) {
		t.Fatalf("expired invitation: %v, want ErrExpired", err)
	}
	if _, _, err := a.Access.Invite(ctx, acme.ID, bob.Email, access.RoleMember, false, 0); !errors.Is(err, access.ErrConflict) {
		t.Fatalf("inviting a member: %v, want ErrConflict", err)
	}

	entries, err := a.Audit.Entries(ctx, audit.Filter{TeamID: acme.ID, ViewerID: anne.ID})
	testenv.Must(t, err)
	actions := map[string]bool{}
	for _, e := range entries {
		actions[e.Action] = true
		if e.ActorLabel != anne.Email || e.IP == nil || *e.IP != "192.0.2.7" {
			t.Errorf("audit entry %s: actor %q ip %v", e.Action, e.ActorLabel, e.IP)
		}
	}
	for _, want := range []string{audit.TeamCreate, audit.Invite, audit.InviteAccept, audit.MemberAdd} {
		if !actions[want] {
			t.Errorf("no %s entry in %v", want, actions)
		}
	}
}

// TestSeatsUnderConcurrency: ten admins adding seat members at once fill
// exactly the seats there are.
func TestSeatsUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	a := newApp(t)
	anne := testenv.User(t, a, "anne@acme.test")
	acme, _, err := a.Access.CreateTeam(ctx, anne.ID, "Acme", "billing@acme.test")
	testenv.Must(t, err)
	_, err = a.Access.SetTeamSubscription(ctx, acme.ID, "team", 3, false, nil)
	testenv.Must(t, err)
	var users []access.User
	for i := range 10 {
		u := testenv.User(t, a, "m"+string(rune('a'+i))+"@acme.test")
		_, err := a.Access.SetTeamMember(ctx, acme.ID, u.ID, access.RoleMember, false)
		testenv.Must(t, err)
		users = append(users, u)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted, full := 0, 0
	for _, u := range users {
		wg.Go(func() {
			_, err := a.Access.UpdateMember(ctx, acme.ID, u.ID, access.RoleMember, true)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				granted++
			case errors.Is(err, access.ErrNoSeat):
				full++
			default:
				t.Errorf("seat for %s: %v", u.Email, err)
			}
		})
	}
	wg.Wait()
	if granted != 3 || full != 7 {
		t.Fatalf("%d seats given, %d refused; want 3 and 7", granted, full)
	}
}

func TestVouchers(t *testing.T) {
	ctx := context.Background()
	a := newApp(t)
	anne := testenv.User(t, a, "anne@example.test")
	bob := testenv.User(t, a, "bob@example.test")
	code, err := a.Access.CreateVoucher(ctx, "individual", 30, 1, nil)
	testenv.Must(t, err)
	if err := a.Access.ClaimVoucher(ctx, anne.ID, "CVOU-NOPE-NOPE-NOPE-NOPE"); !errors.Is(err, access.ErrVoucherInvalid) {
		t.Fatalf("unknown code: %v", err)
	}
	// Case and dashes do not matter.
	testenv.Must(t, a.Access.ClaimVoucher(ctx, anne.ID, strings.ToLower(strings.ReplaceAll(code, "-", ""))))
	if plan := effectivePlan(t, a, anne.ID); plan != "individual" {
		t.Fatalf("plan after claim: %s", plan)
	}
	if err := a.Access.ClaimVoucher(ctx, bob.ID, code); !errors.Is(err, access.ErrVoucherInvalid) {
		t.Fatalf("a used-up code: %v, want ErrVoucherInvalid", err)
	}
	second, err := a.Access.CreateVoucher(ctx, "individual", 30, 5, nil)
	testenv.Must(t, err)
	if err := a.Access.ClaimVoucher(ctx, anne.ID, second); !errors.Is(err, access.ErrAlreadySubscribed) {
		t.Fatalf("claim while subscribed: %v, want ErrAlreadySubscribed", err)
	}
	// Two codes claimed at once by one user: one wins, the other finds the
	// user subscribed.
	carl := testenv.User(t, a, "carl@example.test")
	codes := make([]string, 2)
	for i := range codes {
		codes[i], err = a.Access.CreateVoucher(ctx, "individual", 30, 5, nil)
		testenv.Must(t, err)
	}
	errs := make([]error, len(codes))
	var wg sync.WaitGroup
	for i, code := range codes {
		wg.Go(func() { errs[i] = a.Access.ClaimVoucher(ctx, carl.ID, code) })
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) || !errors.Is(errors.Join(errs...), access.ErrAlreadySubscribed) {
		t.Fatalf("two concurrent claims: %v", errs)
	}
	// The plan ends when the voucher's days are over.
	_, err = a.DB.Exec(ctx, `UPDATE users SET plan_ends_at = now() - interval '1 second' WHERE id = $1`, anne.ID)
	testenv.Must(t, err)
	if plan := effectivePlan(t, a, anne.ID); plan != "basic" {
		t.Fatalf("plan after its end: %s", plan)
	}
}

// TestDeleteAccount removes a person with their personal instances, hands
// their team on, keeps the team's instances, and leaves OpenFGA equal to
// PostgreSQL.
func TestDeleteAccount(t *testing.T) {
	ctx := context.Background()
	a := newApp(t)
	anne := testenv.User(t, a, "anne@acme.test")
	bob := testenv.User(t, a, "bob@acme.test")
	carl := testenv.User(t, a, "carl@acme.test")
	acme, _, err := a.Access.CreateTeam(ctx, anne.ID, "Acme", "billing@acme.test")
	testenv.Must(t, err)
	solo, _, err := a.Access.CreateTeam(ctx, anne.ID, "Solo", "billing@solo.test")
	testenv.Must(t, err)
	_, err = a.Access.SetTeamMember(ctx, acme.ID, bob.ID, access.RoleMember, false)
	testenv.Must(t, err)
	personal := testenv.ClaimedInstance(t, a, anne.ID, anne.DefaultWorkspaceID, "laptop")
	teamBox := testenv.ClaimedInstance(t, a, anne.ID, acme.DefaultWorkspaceID, "ci")
	soloBox := testenv.ClaimedInstance(t, a, anne.ID, solo.DefaultWorkspaceID, "solo")
	carlBox := testenv.ClaimedInstance(t, a, carl.ID, carl.DefaultWorkspaceID, "carl's")
	_, err = a.Access.Grant(ctx, carlBox.ID, access.Grantee{UserID: anne.ID}, nil, carl.ID)
	testenv.Must(t, err)
	_, err = a.Access.Grant(ctx, personal.ID, access.Grantee{UserID: carl.ID}, nil, anne.ID)
	testenv.Must(t, err)

	// The owner of a team with members and no other admin cannot leave.
	if _, err := a.Access.DeleteAccount(ctx, anne.ID); !errors.Is(err, access.ErrConflict) {
		t.Fatalf("deleting the only admin of a team with members: %v, want ErrConflict", err)
	}
	_, err = a.Access.UpdateMember(ctx, acme.ID, bob.ID, access.RoleAdmin, false)
	testenv.Must(t, err)
	export, err := a.Access.Export(ctx, anne.ID)
	testenv.Must(t, err)
	var doc map[string]any
	testenv.Must(t, json.Unmarshal(export, &doc))
	if len(doc["instances_claimed"].([]any)) != 3 || len(doc["teams"].([]any)) != 2 {
		t.Fatalf("export: %s", export)
	}
	if _, ok := doc["browser_sessions"].([]any); !ok {
		t.Fatalf("export without the browser sessions: %s", export)
	}
	if _, ok := doc["known_browsers"].([]any); !ok {
		t.Fatalf("export without the browsers that signed in: %s", export)
	}
	if strings.Contains(string(export), "password") {
		t.Fatalf("export holds a password field: %s", export)
	}

	ch, err := a.Access.DeleteAccount(ctx, anne.ID)
	testenv.Must(t, err)
	if ch.Pending {
		t.Fatal("deletion pending with OpenFGA up")
	}
	var left int
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT (SELECT count(*) FROM users WHERE id = $1)
		+ (SELECT count(*) FROM instances WHERE id = ANY($2::uuid[]))
		+ (SELECT count(*) FROM teams WHERE id = $3)`, anne.ID, []string{personal.ID, soloBox.ID}, solo.ID).Scan(&left))
	if left != 0 {
		t.Fatalf("%d rows of anne's left", left)
	}
	var owner string
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT user_id::text FROM team_members WHERE team_id = $1 AND role = 'owner'`, acme.ID).Scan(&owner))
	if owner != bob.ID {
		t.Fatalf("acme's owner is %s, want bob", owner)
	}
	testenv.AssertCheck(t, a, bob.ID, "can_manage", authz.InstanceObject(teamBox.ID), true)
	testenv.AssertCheck(t, a, bob.ID, "can_manage_billing", authz.TeamObject(acme.ID), true)
	testenv.AssertCheck(t, a, anne.ID, "can_use", authz.InstanceObject(carlBox.ID), false)
	testenv.AssertCheck(t, a, carl.ID, "can_use", authz.InstanceObject(personal.ID), false)
	report, err := a.Reconcile(ctx, true)
	testenv.Must(t, err)
	if len(report.Written)+len(report.Deleted) != 0 {
		t.Fatalf("after deleting an account OpenFGA differs from PostgreSQL: %+v", report)
	}
}

// TestMoveInstance moves an instance from a personal workspace into a team's:
// the team's members gain it, and the move is audited for the team.
func TestMoveInstance(t *testing.T) {
	ctx := context.Background()
	a := newApp(t)
	anne := testenv.User(t, a, "anne@acme.test")
	bob := testenv.User(t, a, "bob@acme.test")
	acme, _, err := a.Access.CreateTeam(ctx, anne.ID, "Acme", "billing@acme.test")
	testenv.Must(t, err)
	_, err = a.Access.SetTeamMember(ctx, acme.ID, bob.ID, access.RoleMember, false)
	testenv.Must(t, err)
	testenv.Seat(t, a, acme.ID, bob.ID)
	box := testenv.ClaimedInstance(t, a, anne.ID, anne.DefaultWorkspaceID, "laptop")
	testenv.AssertCheck(t, a, bob.ID, "can_use", authz.InstanceObject(box.ID), false)
	_, err = a.Access.MoveInstance(ctx, box.ID, acme.DefaultWorkspaceID)
	testenv.Must(t, err)
	testenv.AssertCheck(t, a, bob.ID, "can_use", authz.InstanceObject(box.ID), true)
	testenv.Must(t, a.Access.RenameInstance(ctx, box.ID, "team laptop"))
	if err := a.Access.RenameInstance(ctx, box.ID, "  "); !errors.Is(err, access.ErrInvalid) {
		t.Fatalf("blank name: %v", err)
	}
	list, err := a.Access.InstancesIn(ctx, []string{acme.DefaultWorkspaceID})
	testenv.Must(t, err)
	if len(list) != 1 || list[0].Name != "team laptop" || list[0].ClaimedBy != anne.Email {
		t.Fatalf("instances in acme: %+v", list)
	}
	entries, err := a.Audit.Entries(ctx, audit.Filter{TeamID: acme.ID, ViewerID: anne.ID})
	testenv.Must(t, err)
	var seen []string
	for _, e := range entries {
		seen = append(seen, e.Action)
		if e.ActorLabel != "operator" {
			t.Errorf("entry %s by %q; with no actor in the context it is the operator's", e.Action, e.ActorLabel)
		}
	}
	if !strings.Contains(strings.Join(seen, ","), audit.InstanceMove) || !strings.Contains(strings.Join(seen, ","), audit.InstanceRename) {
		t.Fatalf("team audit log: %v", seen)
	}
}

// TestUpdateInstanceIsAtomic: a rename and a move asked for together happen
// together, or (the move failing) neither does.
func TestUpdateInstanceIsAtomic(t *testing.T) {
	ctx := context.Background()
	a := newApp(t)
	anne := testenv.User(t, a, "anne@acme.test")
	acme, _, err := a.Access.CreateTeam(ctx, anne.ID, "Acme", "billing@acme.test")
	testenv.Must(t, err)
	testenv.Seat(t, a, acme.ID, anne.ID) // for the last check: she uses the moved instance
	box := testenv.ClaimedInstance(t, a, anne.ID, anne.DefaultWorkspaceID, "laptop")
	where := func() (name, workspace string) {
		t.Helper()
		testenv.Must(t, a.DB.QueryRow(ctx, `SELECT name, workspace_id::text FROM instances WHERE id = $1`, box.ID).Scan(&name, &workspace))
		return name, workspace
	}
	renamed, gone := "team laptop", uuid.NewString()
	if _, err := a.Access.UpdateInstance(ctx, box.ID, access.InstanceUpdate{Name: &renamed, WorkspaceID: &gone}); !errors.Is(err, access.ErrNotFound) {
		t.Fatalf("move to a workspace that does not exist: %v, want ErrNotFound", err)
	}
	if name, ws := where(); name != "laptop" || ws != anne.DefaultWorkspaceID {
		t.Fatalf("after a failed update the instance is %q in %s; want it unchanged", name, ws)
	}
	_, err = a.Access.UpdateInstance(ctx, box.ID, access.InstanceUpdate{Name: &renamed, WorkspaceID: &acme.DefaultWorkspaceID})
	testenv.Must(t, err)
	if name, ws := where(); name != renamed || ws != acme.DefaultWorkspaceID {
		t.Fatalf("after the update the instance is %q in %s", name, ws)
	}
	testenv.AssertCheck(t, a, anne.ID, "can_use", authz.InstanceObject(box.ID), true)
}

// effectivePlan is the user_plans view's answer, which the profile and the
// assistant's allowance read.
func effectivePlan(t *testing.T, a *app.App, userID string) string {
	t.Helper()
	var plan string
	testenv.Must(t, a.DB.QueryRow(context.Background(), `SELECT plan FROM user_plans WHERE user_id = $1`, userID).Scan(&plan))
	return plan
}
