package authz_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	fga "github.com/openfga/go-sdk"
	fgaclient "github.com/openfga/go-sdk/client"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestOutboxSurvivesOpenFGAOutage stops OpenFGA, makes 200 changes of access,
// starts it again, and checks that every change reached OpenFGA exactly as
// PostgreSQL says, with none lost, none dead, and the outcomes of checks
// right even for tuples written and deleted several times over.
func TestOutboxSurvivesOpenFGAOutage(t *testing.T) {
	ctx := context.Background()
	server := testenv.OpenFGA(t)
	cfg := testenv.Config(t)
	cfg.OpenFGAURL, cfg.OpenFGAToken = server.URL(), server.PresharedKey
	cfg.AuthzWait = 10 * time.Millisecond // the bound a request waits; short, since OpenFGA will be down
	a := testenv.App(t, cfg, testenv.Options{})
	testenv.RunOutbox(t, a)

	// Before the outage: a team with an instance, and users around it.
	owner := testenv.User(t, a, "owner@acme.test")
	team, _, err := a.Access.CreateTeam(ctx, owner.ID, "Acme", "billing@acme.test")
	testenv.Must(t, err)
	users := make([]access.User, 8)
	for i := range users {
		users[i] = testenv.User(t, a, fmt.Sprintf("user%d@acme.test", i))
	}
	teamBox := testenv.ClaimedInstance(t, a, owner.ID, team.DefaultWorkspaceID, "team box")
	ownerBox := testenv.ClaimedInstance(t, a, owner.ID, owner.DefaultWorkspaceID, "owner box")
	// Seats for all: members who take one use the team's box.
	_, err = a.Access.SetTeamSubscription(ctx, team.ID, "team", len(users), false, nil)
	testenv.Must(t, err)

	testenv.Must(t, server.Stop())

	// Grants until soon have expired by the time the checks below run.
	// soon leaves the 200 changes below ample time on a loaded machine: a
	// grant that expires before it is made is refused.
	soon, later := time.Now().Add(45*time.Second), time.Now().Add(24*time.Hour)
	changes := 0
	record := func(ch access.Change, err error) {
		t.Helper()
		testenv.Must(t, err)
		if !ch.Pending {
			t.Fatalf("change %d: OpenFGA is down, yet the change is not reported as pending", changes)
		}
		changes++
	}
	isMember := map[string]bool{}
	for round := 0; changes < 200; round++ {
		u := users[round%len(users)]
		// Membership goes on and off, every other time with a seat: the same
		// tuples written and deleted again and again, so order and
		// idempotence both matter.
		if isMember[u.ID] {
			record(a.Access.RemoveTeamMember(ctx, team.ID, u.ID))
		} else {
			record(a.Access.SetTeamMember(ctx, team.ID, u.ID, access.RoleMember, round%3 == 0))
			if round%2 == 0 {
				record(a.Access.UpdateMember(ctx, team.ID, u.ID, access.RoleMember, true))
			}
		}
		isMember[u.ID] = !isMember[u.ID]
		// A grant whose expiry flips between soon and later: the tuple is
		// deleted and rewritten with a new condition each time.
		at := soon
		if round%3 == 0 {
			at = later
		}
		record(a.Access.Grant(ctx, ownerBox.ID, access.Grantee{UserID: u.ID}, &at, owner.ID))
		record(a.Access.SetAssistantEnabled(ctx, teamBox.ID, round%2 == 1))
		if round%5 == 4 {
			record(a.Access.Revoke(ctx, ownerBox.ID, access.Grantee{UserID: u.ID}))
		}
	}
	pending, err := a.Outbox.Pending(ctx)
	testenv.Must(t, err)
	if pending < 200 {
		t.Fatalf("%d entries pending while OpenFGA is down, want at least one per change (%d)", pending, changes)
	}

	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	testenv.Must(t, server.Start(startCtx))
	waitDrained(t, a, 90*time.Second)

	time.Sleep(time.Until(soon))

	var dead int
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT count(*) FROM authz_outbox WHERE status <> 'applied'`).Scan(&dead))
	if dead != 0 {
		t.Fatalf("%d outbox entries not applied", dead)
	}
	// OpenFGA now holds exactly what PostgreSQL implies.
	report, err := a.Reconcile(ctx, true)
	testenv.Must(t, err)
	if len(report.Written)+len(report.Deleted) != 0 {
		t.Fatalf("after the outage OpenFGA differs from PostgreSQL: missing %v, extra %v", report.Written, report.Deleted)
	}
	// And the decisions follow the last change of each kind, read back from
	// PostgreSQL rather than recomputed here.
	for _, u := range users {
		var seated, granted, grantLive bool
		testenv.Must(t, a.DB.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM team_members WHERE team_id = $1 AND user_id = $2 AND use_seat),
			EXISTS (SELECT 1 FROM instance_grants WHERE instance_id = $3 AND user_id = $2),
			EXISTS (SELECT 1 FROM instance_grants WHERE instance_id = $3 AND user_id = $2 AND expires_at > now())`,
			team.ID, u.ID, ownerBox.ID).Scan(&seated, &granted, &grantLive))
		testenv.AssertCheck(t, a, u.ID, "can_use", authz.InstanceObject(teamBox.ID), seated)
		testenv.AssertCheck(t, a, u.ID, "can_use", authz.InstanceObject(ownerBox.ID), grantLive)
		if granted && !grantLive {
			t.Logf("%s holds an expired grant: denied, as it must be", u.Email)
		}
	}
}

// TestOutboxAppliesWithinTheRequest: with OpenFGA up, a change is applied
// before the call returns (read-your-writes for the admin who made it).
func TestOutboxAppliesWithinTheRequest(t *testing.T) {
	ctx := context.Background()
	a := testenv.App(t, testenv.Config(t), testenv.Options{})
	testenv.RunOutbox(t, a)

	owner := testenv.User(t, a, "anne@example.test")
	box := testenv.ClaimedInstance(t, a, owner.ID, owner.DefaultWorkspaceID, "laptop")
	bob := testenv.User(t, a, "bob@example.test")
	testenv.AssertCheck(t, a, bob.ID, "can_use", authz.InstanceObject(box.ID), false)
	ch, err := a.Access.Grant(ctx, box.ID, access.Grantee{UserID: bob.ID}, nil, owner.ID)
	testenv.Must(t, err)
	if ch.Pending {
		t.Fatal("grant reported pending although OpenFGA is up")
	}
	testenv.AssertCheck(t, a, bob.ID, "can_use", authz.InstanceObject(box.ID), true)
	ch, err = a.Access.Revoke(ctx, box.ID, access.Grantee{UserID: bob.ID})
	testenv.Must(t, err)
	if ch.Pending {
		t.Fatal("revoke reported pending although OpenFGA is up")
	}
	testenv.AssertCheck(t, a, bob.ID, "can_use", authz.InstanceObject(box.ID), false)
}

// TestOutboxCountsExistingTuplesAsDone: an entry whose tuple OpenFGA already
// holds (an earlier attempt applied it, then died before recording so) is
// done, and so are the entries batched with it.
func TestOutboxCountsExistingTuplesAsDone(t *testing.T) {
	ctx := context.Background()
	a := testenv.App(t, testenv.Config(t), testenv.Options{NoWait: true})
	raw := testenv.RawOpenFGA(t, a)

	owner := testenv.User(t, a, "anne@example.test") // pending: no worker runs yet
	bob := testenv.User(t, a, "bob@example.test")
	// Apply the first user's tuple behind the outbox's back.
	_, err := raw.Write(ctx).Body(fgaclient.ClientWriteRequest{Writes: []fga.TupleKey{{
		User: authz.UserObject(owner.ID), Relation: "owner_user", Object: authz.WorkspaceObject(owner.DefaultWorkspaceID),
	}}}).Execute()
	testenv.Must(t, err)
	// And a delete of a tuple that was never there.
	testenv.Must(t, pgx.BeginFunc(ctx, a.DB, func(tx pgx.Tx) error {
		_, err := authz.Enqueue(ctx, tx, authz.Delete(authz.Tuple{User: authz.UserObject(bob.ID), Relation: "member", Object: authz.TeamObject("never")}))
		return err
	}))

	n, err := a.Outbox.ApplyPending(ctx)
	testenv.Must(t, err)
	if n != 3 {
		t.Fatalf("settled %d entries, want 3", n)
	}
	assertStatuses(t, a, map[string]int{"applied": 3})
	testenv.AssertCheck(t, a, bob.ID, "manager", authz.WorkspaceObject(bob.DefaultWorkspaceID), true)
}

// TestOutboxDropsWhatOpenFGARefuses: an entry OpenFGA rejects as invalid
// would never apply; it is marked dead and does not block those behind it.
func TestOutboxDropsWhatOpenFGARefuses(t *testing.T) {
	ctx := context.Background()
	a := testenv.App(t, testenv.Config(t), testenv.Options{NoWait: true})
	testenv.Must(t, pgx.BeginFunc(ctx, a.DB, func(tx pgx.Tx) error {
		_, err := authz.Enqueue(ctx, tx, authz.Write(authz.Tuple{User: "user:x", Relation: "no_such_relation", Object: "instance:y"}))
		return err
	}))
	anne := testenv.User(t, a, "anne@example.test")

	n, err := a.Outbox.ApplyPending(ctx)
	testenv.Must(t, err)
	if n != 2 {
		t.Fatalf("settled %d entries, want 2", n)
	}
	assertStatuses(t, a, map[string]int{"applied": 1, "dead": 1})
	var lastError string
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT last_error FROM authz_outbox WHERE status = 'dead'`).Scan(&lastError))
	if lastError == "" {
		t.Fatal("a dead entry must say why")
	}
	// The entry behind the dead one was applied.
	testenv.AssertCheck(t, a, anne.ID, "manager", authz.WorkspaceObject(anne.DefaultWorkspaceID), true)
}

// TestOutboxBatchesInOrder: many changes to one tuple in a row are applied
// one batch boundary at a time, so the last one wins.
func TestOutboxBatchesInOrder(t *testing.T) {
	ctx := context.Background()
	a := testenv.App(t, testenv.Config(t), testenv.Options{NoWait: true})
	anne := testenv.User(t, a, "anne@example.test")
	box := testenv.ClaimedInstance(t, a, anne.ID, anne.DefaultWorkspaceID, "laptop")
	for i := range 7 {
		_, err := a.Access.SetAssistantEnabled(ctx, box.ID, i%2 == 1) // ends disabled (i = 6)
		testenv.Must(t, err)
	}
	for {
		n, err := a.Outbox.ApplyPending(ctx)
		testenv.Must(t, err)
		if n == 0 {
			break
		}
	}
	testenv.AssertCheck(t, a, anne.ID, "can_use", authz.InstanceObject(box.ID), true)
	testenv.AssertCheck(t, a, anne.ID, "can_use_assistant", authz.InstanceObject(box.ID), false)
}

func waitDrained(t *testing.T, a *app.App, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		n, err := a.Outbox.Pending(context.Background())
		testenv.Must(t, err)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d outbox entries still pending %s after OpenFGA came back", n, bound)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func assertStatuses(t *testing.T, a *app.App, want map[string]int) {
	t.Helper()
	rows, err := a.DB.Query(context.Background(), `SELECT status, count(*)::int FROM authz_outbox GROUP BY status`)
	testenv.Must(t, err)
	got := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		testenv.Must(t, rows.Scan(&s, &n))
		got[s] = n
	}
	testenv.Must(t, rows.Err())
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("outbox statuses %v, want %v", got, want)
	}
}
