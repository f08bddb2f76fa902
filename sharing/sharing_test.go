package sharing_test

import (
	"context"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/mail/mailtest"
	"github.com/caido-cloud/caido-cloud/sharing"
)

// TestRules: who may share, revoke and list what, asked of the use case
// itself (the surfaces' tests, api/sharing_test.go, ask the same through
// the pages and /api/v1). Anne manages her instance and is in Red and Blue;
// Carol owns Blue, Dave is a member of it; Bob has a grant; Olga is in no
// team; Mallory signed up as cfo@victim.example and never verified it.
func TestRules(t *testing.T) {
	ctx := context.Background()
	a := testenv.App(t, testenv.Config(t), testenv.Options{Mail: mailtest.Start(t, mailtest.Options{})})
	testenv.RunOutbox(t, a)
	user := func(email string, verified bool) access.User {
		u := testenv.User(t, a, email)
		if verified {
			_, err := a.DB.Exec(ctx, `UPDATE users SET email_verified_at = now() WHERE id = $1`, u.ID)
			testenv.Must(t, err)
		}
		return u
	}
	anne, bob, carol := user("anne@example.test", true), user("bob@example.test", true), user("carol@example.test", true)
	dave, olga, mallory := user("dave@example.test", true), user("olga@example.test", true), user("cfo@victim.example", false)
	red, _, err := a.Access.CreateTeam(ctx, anne.ID, "Red", "billing@example.test")
	testenv.Must(t, err)
	blue, _, err := a.Access.CreateTeam(ctx, carol.ID, "Blue", "billing@example.test")
	testenv.Must(t, err)
	for _, m := range []access.User{anne, dave} {
		_, err := a.Access.SetTeamMember(ctx, blue.ID, m.ID, access.RoleMember, false)
		testenv.Must(t, err)
	}
	box := testenv.ClaimedInstance(t, a, anne.ID, anne.DefaultWorkspaceID, "box").ID
	_, err = a.Access.Grant(ctx, box, access.Grantee{UserID: bob.ID}, nil, anne.ID)
	testenv.Must(t, err)
	unknown := "0b5e6a2e-4f7c-4f43-9d39-0f3c2a7d9e11"
	past, soon := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)

	as := func(u access.User) sharing.Actor { return sharing.Actor{UserID: u.ID} }
	grants := []struct {
		name    string
		actor   sharing.Actor
		in      string
		to      sharing.Grantee
		until   *time.Time
		code    sharing.Code // 0: shared
		subject sharing.Subject
	}{
		{"with a team of hers", as(anne), box, sharing.Grantee{TeamID: red.ID}, &soon, 0, ""},
		{"with a team she is not in", as(anne), box, sharing.Grantee{TeamID: unknown}, nil, sharing.NotFound, sharing.SubjectTeam},
		{"with Blue, by her Red token", sharing.Actor{UserID: anne.ID, TeamID: red.ID}, box, sharing.Grantee{TeamID: blue.ID}, nil, sharing.NotFound, sharing.SubjectTeam},
		{"with a team of hers, by its token", sharing.Actor{UserID: anne.ID, TeamID: blue.ID}, box, sharing.Grantee{TeamID: blue.ID}, nil, 0, ""},
		{"with a malformed team id", as(anne), box, sharing.Grantee{TeamID: "blue"}, nil, sharing.NotFound, sharing.SubjectTeam},
		{"by a grantee", as(bob), box, sharing.Grantee{UserEmail: "olga@example.test"}, nil, sharing.Forbidden, sharing.SubjectInstance},
		{"by a stranger", as(olga), box, sharing.Grantee{UserEmail: "dave@example.test"}, nil, sharing.NotFound, sharing.SubjectInstance},
		{"of a malformed instance id", as(anne), "box", sharing.Grantee{TeamID: red.ID}, nil, sharing.NotFound, sharing.SubjectInstance},
		{"with herself", as(anne), box, sharing.Grantee{UserEmail: "ANNE@example.test"}, nil, sharing.Invalid, sharing.SubjectSelf},
		{"with no address", as(anne), box, sharing.Grantee{UserEmail: "anne"}, nil, sharing.Invalid, sharing.SubjectEmail},
		{"until a time past", as(anne), box, sharing.Grantee{UserEmail: "olga@example.test"}, &past, sharing.Invalid, sharing.SubjectUntil},
		{"with two at once", as(anne), box, sharing.Grantee{UserEmail: "olga@example.test", TeamID: red.ID}, nil, sharing.Invalid, sharing.SubjectGrant},
		{"with an unverified address", as(anne), box, sharing.Grantee{UserEmail: "cfo@victim.example"}, nil, 0, ""},
		{"with a verified one", as(anne), box, sharing.Grantee{UserEmail: "olga@example.test"}, nil, 0, ""},
	}
	for _, tc := range grants {
		_, err := a.Sharing.Grant(ctx, tc.actor, tc.in, tc.to, tc.until)
		e, refused := sharing.AsError(err)
		switch {
		case tc.code == 0 && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.code != 0 && !refused:
			t.Errorf("%s: %v, want a refusal %d about %s", tc.name, err, tc.code, tc.subject)
		case tc.code != 0 && (e.Code != tc.code || e.Subject != tc.subject):
			t.Errorf("%s: refused %d about %s (%s), want %d about %s", tc.name, e.Code, e.Subject, e.Message, tc.code, tc.subject)
		}
	}
	testenv.AssertCheck(t, a, olga.ID, "can_use", authz.InstanceObject(box), true)
	testenv.AssertCheck(t, a, mallory.ID, "can_use", authz.InstanceObject(box), false)
	testenv.AssertCheck(t, a, dave.ID, "can_use", authz.InstanceObject(box), true) // through Blue

	// Carol, Blue's owner, sees Blue's share only, and may end it alone.
	list, err := a.Sharing.Grants(ctx, as(carol), box)
	testenv.Must(t, err)
	if len(list) != 1 || list[0].TeamID != blue.ID {
		t.Fatalf("Blue's owner lists %+v", list)
	}
	revokes := []struct {
		name  string
		actor sharing.Actor
		of    sharing.Grantee
		code  sharing.Code
	}{
		{"another's share, by a grantee team's owner", as(carol), sharing.Grantee{UserID: bob.ID}, sharing.Forbidden},
		{"the team's share, by a member of it", as(dave), sharing.Grantee{TeamID: blue.ID}, sharing.Forbidden},
		{"the team's share, by its owner with another team's token", sharing.Actor{UserID: carol.ID, TeamID: red.ID}, sharing.Grantee{TeamID: blue.ID}, sharing.Forbidden},
		{"no share, by the manager", as(anne), sharing.Grantee{UserOrTeamID: unknown}, sharing.NotFound},
		{"by a stranger", as(olga), sharing.Grantee{UserID: bob.ID}, sharing.Forbidden}, // Olga may use it: a grantee
		{"the team's share, by its owner", as(carol), sharing.Grantee{TeamID: blue.ID}, 0},
		{"a share waiting for its address, by the manager", as(anne), sharing.Grantee{UserEmail: "cfo@victim.example"}, 0},
	}
	for _, tc := range revokes {
		_, err := a.Sharing.Revoke(ctx, tc.actor, box, tc.of)
		e, refused := sharing.AsError(err)
		switch {
		case tc.code == 0 && err != nil:
			t.Errorf("revoke %s: %v", tc.name, err)
		case tc.code != 0 && (!refused || e.Code != tc.code):
			t.Errorf("revoke %s: %v, want a refusal %d", tc.name, err, tc.code)
		}
	}
	testenv.AssertCheck(t, a, dave.ID, "can_use", authz.InstanceObject(box), false)
	testenv.AssertCheck(t, a, bob.ID, "can_use", authz.InstanceObject(box), true)
	if list, err := a.Sharing.Grants(ctx, as(anne), box); err != nil || len(list) != 3 { // Bob, Red, Olga
		t.Fatalf("the manager lists %+v, %v", list, err)
	}
	if _, err := a.Sharing.Grants(ctx, as(dave), box); err == nil {
		t.Fatal("a stranger lists the grants")
	}
}
