package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/pats"
)

// TestPATCannotCreatePAT: a personal access token cannot make another one,
// however it is scoped: a token that expires in an hour would otherwise
// make one that never expires and outlives its revocation, and a team token
// one of no team. The answer is 403 and says where tokens are made; no
// token is made.
func TestPATCannotCreatePAT(t *testing.T) {
	w := newManageWorld(t)
	ctx := context.Background()
	soon := time.Now().Add(time.Hour)
	shortLived, _, err := w.a.PATs.Create(ctx, pats.NewToken{UserID: w.anne.ID, Name: "an hour", ExpiresAt: &soon, Via: pats.ViaOperator})
	testenv.Must(t, err)
	teamPAT := w.pat(t, w.anne.ID, w.team.ID)
	count := func() (n int) {
		testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT count(*) FROM personal_access_tokens`).Scan(&n))
		return n
	}
	before := count()
	for name, tc := range map[string]struct {
		token string
		body  map[string]any
	}{
		"a token that expires in an hour, asking for one that never does": {shortLived, map[string]any{"name": "forever"}},
		"a team token, asking for one of no team":                         {teamPAT, map[string]any{"name": "unscoped"}},
		"a team token, asking for one of its team":                        {teamPAT, map[string]any{"name": "same team", "team_id": w.team.ID}},
		"a token of no team":                                              {w.annePAT, map[string]any{"name": "child"}},
	} {
		t.Run(name, func(t *testing.T) {
			body := w.expect(t, tc.token, "POST", "/api/v1/personal-access-tokens", tc.body, http.StatusForbidden, "FORBIDDEN")
			msg := decodeAs[map[string]any](t, body)["message"].(string)
			if !strings.Contains(msg, "dashboard") || !strings.Contains(msg, "CLI") {
				t.Errorf("the refusal does not say where tokens are made: %q", msg)
			}
		})
	}
	if n := count(); n != before {
		t.Fatalf("%d tokens after the refusals, %d before", n, before)
	}
}

// TestAuditIPOnlyForActorAndTeamAdmins: an audit entry carries the client
// address only for its actor and for the admins of its team. bob (a member
// of Acme) and olga (in no team) see the changes anne made to them without
// her address; anne and Acme's admins see it; bob sees his own.
func TestAuditIPOnlyForActorAndTeamAdmins(t *testing.T) {
	w := newManageWorld(t)
	// anne acts on bob inside Acme (he is a member again when he reads),
	// and shares her personal instance with
	// olga (an entry of no team); bob acts himself.
	w.expect(t, w.annePAT, "PATCH", "/api/v1/team/users/"+w.bob.ID, map[string]any{"role": "admin"}, http.StatusOK, "")
	w.expect(t, w.annePAT, "PATCH", "/api/v1/team/users/"+w.bob.ID, map[string]any{"role": "member"}, http.StatusOK, "")
	w.expect(t, w.annePAT, "POST", "/api/v1/instances/"+w.personal.id+"/grants", map[string]any{"user_email": w.olga.Email}, http.StatusCreated, "")
	w.expect(t, w.bobPAT, "POST", "/api/v1/teams", map[string]any{"name": "Bob's", "billing_email": "bob@example.test"}, http.StatusCreated, "")

	log := func(token, query string) []map[string]any {
		return decodeAs[[]map[string]any](t, w.expect(t, token, "GET", "/api/v1/audit-log"+query, nil, http.StatusOK, ""))
	}
	find := func(entries []map[string]any, action, actor string) map[string]any {
		t.Helper()
		for _, e := range entries {
			if e["action"] == action && e["actor_user_id"] == actor {
				return e
			}
		}
		t.Fatalf("no %s entry by %s in %v", action, actor, entries)
		return nil
	}
	for _, tc := range []struct {
		who, token, query, action, actor string
		wantIP                           bool
	}{
		{"bob, about anne's change of his role", w.bobPAT, "", access.AuditMemberRole, w.anne.ID, false},
		{"olga, about anne's share with her", w.olgaPAT, "", access.AuditGrant, w.anne.ID, false},
		{"bob, about his own team", w.bobPAT, "", access.AuditTeamCreate, w.bob.ID, true},
		{"anne, about her change of bob's role", w.annePAT, "", access.AuditMemberRole, w.anne.ID, true},
		{"anne, about her share", w.annePAT, "", access.AuditGrant, w.anne.ID, true},
		{"anne, in Acme's log", w.annePAT, "?team_id=" + w.team.ID, access.AuditMemberRole, w.anne.ID, true},
	} {
		t.Run(tc.who, func(t *testing.T) {
			e := find(log(tc.token, tc.query), tc.action, tc.actor)
			if got := e["ip"] != nil; got != tc.wantIP {
				t.Fatalf("ip %v, want shown=%v: %v", e["ip"], tc.wantIP, e)
			}
			if tc.wantIP && e["ip"] != "127.0.0.1" {
				t.Fatalf("ip %v, want 127.0.0.1", e["ip"])
			}
		})
	}
}
