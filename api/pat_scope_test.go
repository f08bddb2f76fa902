package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/audit"

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

// TestTeamPATStaysInItsTeam: a token made for one team acts on that team
// only, even though its user (anne) owns another team (Beta) and has a
// personal workspace: team ids, workspaces and instances outside its team
// are refused as neighbouring endpoints refuse what is not the caller's.
func TestTeamPATStaysInItsTeam(t *testing.T) {
	w := newManageWorld(t)
	ctx := context.Background()
	beta, _, err := w.a.Access.CreateTeam(ctx, w.anne.ID, "Beta", "beta@example.test")
	testenv.Must(t, err)
	betaInstance := testenv.ClaimedInstance(t, w.a, w.anne.ID, beta.DefaultWorkspaceID, "beta-box")
	acmePAT := w.pat(t, w.anne.ID, w.team.ID)
	// Something in Beta's audit log and in anne's own.
	w.expect(t, w.annePAT, "PATCH", "/api/v1/instances/"+betaInstance.ID, map[string]any{"name": "beta-renamed"}, http.StatusOK, "")
	w.expect(t, w.annePAT, "PATCH", "/api/v1/instances/"+w.teamInstance.ID, map[string]any{"name": "acme-renamed"}, http.StatusOK, "")

	// Lists: only its team's.
	for _, e := range decodeAs[[]map[string]any](t, w.expect(t, acmePAT, "GET", "/api/v1/audit-log?limit=500", nil, http.StatusOK, "")) {
		if e["team_id"] != w.team.ID {
			t.Errorf("a team token reads an entry outside its team: %v", e["action"])
		}
	}
	if ws := decodeAs[[]map[string]any](t, w.expect(t, acmePAT, "GET", "/api/v1/workspaces", nil, http.StatusOK, "")); len(ws) != 1 || ws[0]["id"] != w.team.DefaultWorkspaceID {
		t.Errorf("a team token's workspaces: %v", ids(ws))
	}
	if list := decodeAs[[]map[string]any](t, w.expect(t, acmePAT, "GET", "/api/v1/instances", nil, http.StatusOK, "")); len(list) != 1 || list[0]["id"] != w.teamInstance.ID {
		t.Errorf("a team token's instances: %v, want only %s", ids(list), w.teamInstance.ID)
	}

	type call struct {
		method, path string
		body         any
		status       int
		reason       string
	}
	// Team ids: 403, like a team one does not administer; workspaces and
	// instances outside the team: 404, like those one may not see.
	calls := []call{
		{"GET", "/api/v1/audit-log?team_id=" + beta.ID, nil, 403, "FORBIDDEN"},
		{"GET", "/api/v1/personal-access-tokens?team_id=" + beta.ID, nil, 403, "FORBIDDEN"},
		{"POST", "/api/v1/teams", map[string]any{"name": "Gamma", "billing_email": "g@example.test"}, 403, "FORBIDDEN"},
		// Nor may it move its team's instance out of the team.
		{"PATCH", "/api/v1/instances/" + w.teamInstance.ID, map[string]any{"workspace_id": beta.DefaultWorkspaceID}, 403, "FORBIDDEN"},
	}
	for _, ws := range []string{beta.DefaultWorkspaceID, w.anne.DefaultWorkspaceID} {
		calls = append(calls,
			call{"GET", "/api/v1/workspace/" + ws, nil, 404, "NOT_FOUND"},
			call{"GET", "/api/v1/registration-keys?workspace_id=" + ws, nil, 404, "NOT_FOUND"})
	}
	for _, in := range []string{betaInstance.ID, w.personal.ID} {
		calls = append(calls,
			call{"GET", "/api/v1/instances/" + in, nil, 404, "NOT_FOUND"},
			call{"PATCH", "/api/v1/instances/" + in, map[string]any{"name": "taken"}, 404, "NOT_FOUND"},
			call{"PUT", "/api/v1/instances/" + in + "/assistant", map[string]any{"enabled": false}, 404, "NOT_FOUND"},
			call{"POST", "/api/v1/instances/" + in + "/credentials", nil, 404, "NOT_FOUND"},
			call{"DELETE", "/api/v1/instances/" + in, nil, 404, "NOT_FOUND"})
	}
	// Within its team: as before.
	calls = append(calls,
		call{"GET", "/api/v1/audit-log?team_id=" + w.team.ID, nil, 200, ""},
		call{"GET", "/api/v1/personal-access-tokens?team_id=" + w.team.ID, nil, 200, ""},
		call{"GET", "/api/v1/workspace/" + w.team.DefaultWorkspaceID, nil, 200, ""},
		call{"GET", "/api/v1/instances/" + w.teamInstance.ID, nil, 200, ""})
	for _, tc := range calls {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			w.expect(t, acmePAT, tc.method, tc.path, tc.body, tc.status, tc.reason)
		})
	}
	if got := decodeAs[map[string]any](t, w.expect(t, acmePAT, "GET", "/api/v1/team", nil, http.StatusOK, "")); got["id"] != w.team.ID {
		t.Errorf("the token's team: %v", got)
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
	// A share by email reaches only a verified address (and is answered
	// 202 whatever the address).
	markVerified(t, w.a, w.olga.ID)
	w.expect(t, w.annePAT, "POST", "/api/v1/instances/"+w.personal.ID+"/grants", map[string]any{"user_email": w.olga.Email}, http.StatusAccepted, "")
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
		{"bob, about anne's change of his role", w.bobPAT, "", audit.MemberRole, w.anne.ID, false},
		{"olga, about anne's share with her", w.olgaPAT, "", audit.Grant, w.anne.ID, false},
		{"bob, about his own team", w.bobPAT, "", audit.TeamCreate, w.bob.ID, true},
		{"anne, about her change of bob's role", w.annePAT, "", audit.MemberRole, w.anne.ID, true},
		{"anne, about her share", w.annePAT, "", audit.Grant, w.anne.ID, true},
		{"anne, in Acme's log", w.annePAT, "?team_id=" + w.team.ID, audit.MemberRole, w.anne.ID, true},
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
