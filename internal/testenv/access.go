package testenv

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	fgaclient "github.com/openfga/go-sdk/client"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/authz"
)

// Must fails the test on err.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// User creates a user named after the email's local part.
func User(t testing.TB, a *app.App, email string) access.User {
	t.Helper()
	name, _, _ := strings.Cut(email, "@")
	u, _, err := a.Access.CreateUser(context.Background(), email, name)
	Must(t, err)
	return u
}

// ClaimedInstance registers an instance and claims it into workspaceID.
func ClaimedInstance(t testing.TB, a *app.App, userID, workspaceID, name string) access.Instance {
	t.Helper()
	ctx := context.Background()
	in, err := a.Access.CreateInstance(ctx)
	Must(t, err)
	_, err = a.Access.ClaimInstance(ctx, in.ID, userID, workspaceID, name)
	Must(t, err)
	in.Name, in.WorkspaceID = name, workspaceID
	return in
}

// AssertCheck asks OpenFGA, through the app, whether the user has relation
// to object, and fails the test unless the answer is want.
func AssertCheck(t testing.TB, a *app.App, userID, relation, object string, want bool) {
	t.Helper()
	got, err := a.Authz.Check(context.Background(), authz.UserObject(userID), relation, object)
	Must(t, err)
	if got != want {
		t.Fatalf("check user:%s %s %s = %v, want %v", userID, relation, object, got, want)
	}
}

// RawOpenFGA is an SDK client on the app's store, for tests that change
// tuples behind the outbox's back.
func RawOpenFGA(t testing.TB, a *app.App) *fgaclient.OpenFgaClient {
	t.Helper()
	var storeID string
	Must(t, a.DB.QueryRow(context.Background(), `SELECT store_id FROM authz_store`).Scan(&storeID))
	var modelID string
	Must(t, a.DB.QueryRow(context.Background(), `SELECT model_id FROM authz_models ORDER BY written_at DESC LIMIT 1`).Scan(&modelID))
	c, err := fgaclient.NewSdkClient(&fgaclient.ClientConfiguration{
		ApiUrl: a.Config.OpenFGAURL, StoreId: storeID, AuthorizationModelId: modelID,
		DefaultHeaders: map[string]string{"Authorization": "Bearer " + a.Config.OpenFGAToken},
	})
	Must(t, err)
	return c
}

// Seat gives each of userIDs, members of teamID, a seat of the team's
// subscription (use_seat, through the same control the team page and the
// API use), first giving the team a Team subscription, or enough seats on
// the one it has: with seats enforced (the default), members use the
// team's instances only with one.
func Seat(t testing.TB, a *app.App, teamID string, userIDs ...string) {
	t.Helper()
	ctx := context.Background()
	members, err := a.Access.Members(ctx, teamID)
	Must(t, err)
	plan, seats, trial, used := "team", 0, false, 0
	var ends *time.Time
	if sub, err := a.Access.TeamSubscription(ctx, teamID); err == nil {
		plan, seats, trial, ends, used = sub.Plan, sub.Seats, sub.Trial, sub.EndsAt, sub.SeatsUsed
	} else if !errors.Is(err, access.ErrNotFound) {
		t.Fatal(err)
	}
	if seats < used+len(userIDs) {
		_, err := a.Access.SetTeamSubscription(ctx, teamID, plan, used+len(userIDs), trial, ends)
		Must(t, err)
	}
	for _, id := range userIDs {
		i := slices.IndexFunc(members, func(m access.Member) bool { return m.UserID == id })
		if i < 0 {
			t.Fatalf("testenv.Seat: user %s is not a member of team %s", id, teamID)
		}
		if members[i].UseSeat {
			continue
		}
		_, err := a.Access.UpdateMember(ctx, teamID, id, members[i].Role, true)
		Must(t, err)
	}
}
