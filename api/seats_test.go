package api_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestSeatsDecideTeamInstances: a team's instance is used only with a seat
// of the team's subscription, and OpenFGA decides it wherever it is asked.
// The instance API: a member signed in with a seat keeps their session
// only while they hold it (released through PATCH /api/v1/team/users/{id})
// and while the subscription lasts; a member without a seat gets no token
// from a device flow at all. Seeing the workspace needs no seat.
func TestSeatsDecideTeamInstances(t *testing.T) {
	w := newAPIWorld(t)
	ctx := context.Background()
	owner := testenv.User(t, w.a, "owner@example.test")
	mia := testenv.User(t, w.a, "mia@example.test")
	noah := testenv.User(t, w.a, "noah@example.test")
	team, _, err := w.a.Access.CreateTeam(ctx, owner.ID, "Seats", "billing@example.test")
	testenv.Must(t, err)
	for _, u := range []access.User{mia, noah} {
		_, err = w.a.Access.SetTeamMember(ctx, team.ID, u.ID, access.RoleMember, false)
		testenv.Must(t, err)
	}
	testenv.Seat(t, w.a, team.ID, mia.ID)
	_, err = w.a.Access.SetTeamSubscription(ctx, team.ID, "team", 2, false, nil) // one more, for the owner below
	testenv.Must(t, err)
	in := w.register(t)
	_, err = w.a.Access.ClaimInstance(ctx, in.ID, owner.ID, team.DefaultWorkspaceID, "Team box")
	testenv.Must(t, err)

	// Noah is a member without a seat: he sees the workspace, but the
	// token endpoint refuses his approved device flow.
	testenv.AssertCheck(t, w.a, noah.ID, "can_view", "workspace:"+team.DefaultWorkspaceID, true)
	da := in.StartDeviceFlow(t, "profile:read")
	testenv.Must(t, w.a.Devices.Approve(ctx, da.UserCode, noah.ID, []string{"profile:read"}))
	status, tok, _ := in.PollDevice(t, da.DeviceCode)
	if status != http.StatusBadRequest || tok["error"] != "access_denied" {
		t.Errorf("a member without a seat redeemed the device code: %d %v, want 400 access_denied", status, tok["error"]) // not the token
	}

	// Mia holds a seat: her session works until the owner releases it.
	session := in.SignIn(t, w.a, mia.ID, "profile:read").AccessToken
	if got := w.sessionStatus(t, session); got != http.StatusOK {
		t.Fatalf("Mia's session with a seat: %d, want 200", got)
	}
	ownerPAT := w.pat(t, owner.ID, team.ID)
	w.expect(t, ownerPAT, "PATCH", "/api/v1/team/users/"+mia.ID, map[string]any{"use_seat": false}, http.StatusOK, "")
	if got := w.sessionStatus(t, session); got != http.StatusUnauthorized {
		t.Errorf("Mia's session after her seat was released: %d, want 401", got)
	}
	testenv.AssertCheck(t, w.a, mia.ID, "can_view", "workspace:"+team.DefaultWorkspaceID, true)

	// The owner too uses the team's instances only with a seat, taken
	// through the same control.
	testenv.AssertCheck(t, w.a, owner.ID, "can_use", "instance:"+in.ID, false)
	testenv.AssertCheck(t, w.a, owner.ID, "can_manage", "instance:"+in.ID, true)
	w.expect(t, ownerPAT, "PATCH", "/api/v1/team/users/"+owner.ID, map[string]any{"use_seat": true}, http.StatusOK, "")
	testenv.AssertCheck(t, w.a, owner.ID, "can_use", "instance:"+in.ID, true)
	w.expect(t, ownerPAT, "PATCH", "/api/v1/team/users/"+owner.ID, map[string]any{"role": "member"}, http.StatusConflict, "CONFLICT")

	// The subscription ends: Mia's new seat holds until then, not after.
	w.expect(t, ownerPAT, "PATCH", "/api/v1/team/users/"+mia.ID, map[string]any{"use_seat": true}, http.StatusOK, "")
	session = in.SignIn(t, w.a, mia.ID, "profile:read").AccessToken
	ends := time.Now().Add(3 * time.Second)
	sub, err := w.a.Access.TeamSubscription(ctx, team.ID)
	testenv.Must(t, err)
	_, err = w.a.Access.SetTeamSubscription(ctx, team.ID, sub.Plan, sub.Seats, false, &ends)
	testenv.Must(t, err)
	if got := w.sessionStatus(t, session); got != http.StatusOK {
		t.Fatalf("Mia's session before the subscription ends: %d, want 200", got)
	}
	time.Sleep(time.Until(ends.Add(1500 * time.Millisecond))) // past the end and the decision cache's second
	if got := w.sessionStatus(t, session); got != http.StatusUnauthorized {
		t.Errorf("Mia's session after the subscription ended: %d, want 401", got)
	}
	testenv.AssertCheck(t, w.a, mia.ID, "can_use", "instance:"+in.ID, false)
}

// TestDashboardSeats: on the dashboard, a team's member without a seat is
// told to ask an admin of the team for one (not that the instance does not
// exist); the team's admin without a seat still opens and manages the
// instance; the team page gives and takes seats, the owner's included.
func TestDashboardSeats(t *testing.T) {
	w := newDashWorld(t)
	ctx := context.Background()
	anne := w.user(t, "Anne", "anne@example.test")
	bob := w.user(t, "Bob", "bob@example.test")
	team := w.createTeam(t, anne, "Blue")
	_, err := w.a.Access.SetTeamMember(ctx, team, bob.id, access.RoleMember, false)
	testenv.Must(t, err)
	_, err = w.a.Access.SetTeamSubscription(ctx, team, "team", 2, false, nil)
	testenv.Must(t, err)
	box := testenv.ClaimedInstance(t, w.a, anne.id, w.teamWorkspace(t, team), "blue box")
	page := "/instances/" + box.ID

	resp, body := bob.get(page)
	dashExpect(t, resp, body, http.StatusForbidden, "You need a seat", "ask an admin of the team Blue for a seat")
	resp, body = anne.get(page)
	dashExpect(t, resp, body, http.StatusOK, "blue box")
	resp, body = anne.form(page+"/rename", url.Values{"name": {"blue ci"}})
	dashLocation(t, resp, body, page+"?done=renamed")
	testenv.AssertCheck(t, w.a, anne.id, "can_use", "instance:"+box.ID, false)

	// The owner's seat, then Bob's, through the team page's checkboxes.
	teamPage := "/teams/" + team
	resp, body = anne.form(teamPage+"/members/"+anne.id, url.Values{"role": {"owner"}, "use_seat": {"on"}})
	dashLocation(t, resp, body, teamPage+"?done=member-updated")
	testenv.AssertCheck(t, w.a, anne.id, "can_use", "instance:"+box.ID, true)
	resp, body = anne.form(teamPage+"/members/"+bob.id, url.Values{"role": {"member"}, "use_seat": {"on"}})
	dashLocation(t, resp, body, teamPage+"?done=member-updated")
	resp, body = bob.get(page)
	dashExpect(t, resp, body, http.StatusOK, "blue ci")
	// Released: Bob is told to ask for a seat again.
	resp, body = anne.form(teamPage+"/members/"+bob.id, url.Values{"role": {"member"}})
	dashLocation(t, resp, body, teamPage+"?done=member-updated")
	resp, body = bob.get(page)
	dashExpect(t, resp, body, http.StatusForbidden, "ask an admin of the team Blue for a seat")
}
