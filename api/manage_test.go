package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/audit"

	"github.com/google/uuid"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/pats"
)

// manageWorld: anne owns the team Acme, bob is a member of it, olga is in
// no team. anne has a registered instance in her Default workspace
// (personal) and a claimed one in Acme's (team).
type manageWorld struct {
	*apiWorld
	anne, bob, olga          access.User
	team                     access.Team
	annePAT, bobPAT, olgaPAT string
	personal                 testenv.Instance
	teamInstance             access.Instance
}

func newManageWorld(t *testing.T) *manageWorld {
	t.Helper()
	ctx := context.Background()
	w := &manageWorld{apiWorld: newAPIWorld(t)}
	w.anne = testenv.User(t, w.a, "anne@example.test")
	w.bob = testenv.User(t, w.a, "bob@example.test")
	w.olga = testenv.User(t, w.a, "olga@example.test")
	var err error
	w.team, _, err = w.a.Access.CreateTeam(ctx, w.anne.ID, "Acme", "billing@example.test")
	testenv.Must(t, err)
	_, err = w.a.Access.SetTeamMember(ctx, w.team.ID, w.bob.ID, access.RoleMember, false)
	testenv.Must(t, err)
	w.annePAT, w.bobPAT, w.olgaPAT = w.pat(t, w.anne.ID, ""), w.pat(t, w.bob.ID, ""), w.pat(t, w.olga.ID, "")
	w.personal = w.register(t)
	_, err = w.a.Access.ClaimInstance(ctx, w.personal.ID, w.anne.ID, w.anne.DefaultWorkspaceID, "laptop")
	testenv.Must(t, err)
	w.teamInstance = testenv.ClaimedInstance(t, w.a, w.anne.ID, w.team.DefaultWorkspaceID, "shared-box")
	return w
}

func ids(list []map[string]any) []string {
	var out []string
	for _, m := range list {
		out = append(out, fmt.Sprint(m["id"]))
	}
	return out
}

// TestManageInstances: listing, reading, renaming, moving, the assistant
// switch, credentials, grants and deletion through /api/v1/instances, each
// allowed or refused as OpenFGA decides.
func TestManageInstances(t *testing.T) {
	w := newManageWorld(t)
	ctx := context.Background()
	// Both use the team's instance, so both hold a seat.
	testenv.Seat(t, w.a, w.team.ID, w.anne.ID, w.bob.ID)
	p, ti := w.personal.ID, w.teamInstance.ID

	list := decodeAs[[]map[string]any](t, w.expect(t, w.annePAT, "GET", "/api/v1/instances", nil, http.StatusOK, ""))
	if len(list) != 2 {
		t.Fatalf("anne's instances: %v", list)
	}
	for _, in := range list {
		r := in["rights"].(map[string]any)
		if in["object"] != "instance" || r["use"] != true || r["manage"] != true || r["use_assistant"] != true {
			t.Fatalf("anne's instance: %v", in)
		}
	}
	list = decodeAs[[]map[string]any](t, w.expect(t, w.bobPAT, "GET", "/api/v1/instances", nil, http.StatusOK, ""))
	if len(list) != 1 || list[0]["id"] != ti || list[0]["rights"].(map[string]any)["manage"] != false {
		t.Fatalf("bob's instances: %v", list)
	}
	if list := w.expect(t, w.olgaPAT, "GET", "/api/v1/instances", nil, http.StatusOK, ""); string(list) != "[]" {
		t.Fatalf("olga's instances: %s", list)
	}

	// Reading one: 404 for who may not use it; managing: 403 for users.
	got := decodeAs[map[string]any](t, w.expect(t, w.bobPAT, "GET", "/api/v1/instances/"+ti, nil, http.StatusOK, ""))
	if got["name"] != "shared-box" || got["workspace_id"] != w.team.DefaultWorkspaceID {
		t.Fatalf("instance: %v", got)
	}
	w.expect(t, w.bobPAT, "GET", "/api/v1/instances/"+p, nil, http.StatusNotFound, "NOT_FOUND")
	w.expect(t, w.olgaPAT, "GET", "/api/v1/instances/"+ti, nil, http.StatusNotFound, "NOT_FOUND")
	w.expect(t, w.annePAT, "GET", "/api/v1/instances/"+uuid.NewString(), nil, http.StatusNotFound, "NOT_FOUND")
	w.expect(t, w.bobPAT, "PATCH", "/api/v1/instances/"+ti, map[string]any{"name": "mine"}, http.StatusForbidden, "FORBIDDEN")
	w.expect(t, w.bobPAT, "DELETE", "/api/v1/instances/"+ti, nil, http.StatusForbidden, "FORBIDDEN")
	w.expect(t, w.bobPAT, "GET", "/api/v1/instances/"+ti+"/grants", nil, http.StatusForbidden, "FORBIDDEN")
	w.expect(t, w.bobPAT, "PUT", "/api/v1/instances/"+ti+"/assistant", map[string]any{"enabled": false}, http.StatusForbidden, "FORBIDDEN")
	w.expect(t, w.bobPAT, "POST", "/api/v1/instances/"+ti+"/credentials", nil, http.StatusForbidden, "FORBIDDEN")
	w.expect(t, w.olgaPAT, "DELETE", "/api/v1/instances/"+p, nil, http.StatusNotFound, "NOT_FOUND")

	// Rename; move the team's instance into anne's own workspace (bob
	// loses it); a move into a workspace one does not manage is refused.
	got = decodeAs[map[string]any](t, w.expect(t, w.annePAT, "PATCH", "/api/v1/instances/"+p, map[string]any{"name": "  renamed "}, http.StatusOK, ""))
	if got["name"] != "renamed" {
		t.Fatalf("renamed: %v", got)
	}
	w.expect(t, w.annePAT, "PATCH", "/api/v1/instances/"+p, map[string]any{"workspace_id": w.olga.DefaultWorkspaceID}, http.StatusForbidden, "FORBIDDEN")
	got = decodeAs[map[string]any](t, w.expect(t, w.annePAT, "PATCH", "/api/v1/instances/"+ti,
		map[string]any{"name": "moved", "workspace_id": w.anne.DefaultWorkspaceID}, http.StatusOK, ""))
	if got["name"] != "moved" || got["workspace_id"] != w.anne.DefaultWorkspaceID || got["workspace_name"] != "Default" {
		t.Fatalf("moved: %v", got)
	}
	w.expect(t, w.bobPAT, "GET", "/api/v1/instances/"+ti, nil, http.StatusNotFound, "NOT_FOUND")

	// The assistant switch.
	got = decodeAs[map[string]any](t, w.expect(t, w.annePAT, "PUT", "/api/v1/instances/"+p+"/assistant", map[string]any{"enabled": false}, http.StatusOK, ""))
	if got["assistant_enabled"] != false || got["rights"].(map[string]any)["use_assistant"] != false {
		t.Fatalf("assistant off: %v", got)
	}
	testenv.AssertCheck(t, w.a, w.anne.ID, "can_use_assistant", "instance:"+p, false)
	w.expect(t, w.annePAT, "PUT", "/api/v1/instances/"+p+"/assistant", map[string]any{"enabled": true}, http.StatusOK, "")
	testenv.AssertCheck(t, w.a, w.anne.ID, "can_use_assistant", "instance:"+p, true)

	// New credentials: the old secret stops working, the new one works.
	creds := decodeAs[map[string]any](t, w.expect(t, w.annePAT, "POST", "/api/v1/instances/"+p+"/credentials", nil, http.StatusOK, ""))
	if creds["client_id"] != w.personal.ClientID || creds["client_secret"] == "" || creds["client_secret"] == w.personal.Secret {
		t.Fatalf("credentials: %v", creds)
	}
	if status, _ := w.personal.PostForm(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}); status != http.StatusUnauthorized {
		t.Fatalf("the old secret still works: %d", status)
	}
	fresh := w.personal
	fresh.Secret = creds["client_secret"].(string)
	if status, body := fresh.PostForm(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}); status != http.StatusOK {
		t.Fatalf("the new secret: %d %v", status, body)
	}
	w.expect(t, w.annePAT, "POST", "/api/v1/instances/"+ti+"/credentials", nil, http.StatusNotFound, "NOT_FOUND") // no client

	// Grants to a user and to a team, then their revocation. A share by
	// email reaches only a verified address (and is answered 202 alike
	// whatever the address: TestShareByEmailNeedsVerifiedAddress); Olga
	// has verified hers.
	markVerified(t, w.a, w.olga.ID)
	g := decodeAs[map[string]any](t, w.expect(t, w.annePAT, "POST", "/api/v1/instances/"+p+"/grants", map[string]any{"user_email": "OLGA@example.test"}, http.StatusAccepted, ""))
	if g["object"] != "instance_share" || g["instance_id"] != p || g["expires_at"] != nil || g["user_email"] != "OLGA@example.test" {
		t.Fatalf("share by email: %v", g)
	}
	g = decodeAs[[]map[string]any](t, w.expect(t, w.annePAT, "GET", "/api/v1/instances/"+p+"/grants", nil, http.StatusOK, ""))[0]
	if g["object"] != "instance_grant" || g["grantee_type"] != "user" || g["grantee_id"] != w.olga.ID || g["expires_at"] != nil || g["user_email"] != "olga@example.test" || g["pending"] != false {
		t.Fatalf("grant: %v", g)
	}
	got = decodeAs[map[string]any](t, w.expect(t, w.olgaPAT, "GET", "/api/v1/instances/"+p, nil, http.StatusOK, ""))
	if got["rights"].(map[string]any)["manage"] != false {
		t.Fatalf("a grantee manages: %v", got)
	}
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	g = decodeAs[map[string]any](t, w.expect(t, w.annePAT, "POST", "/api/v1/instances/"+p+"/grants",
		map[string]any{"team_id": w.team.ID, "expires_at": until.Format(time.RFC3339)}, http.StatusCreated, ""))
	if g["grantee_type"] != "team" || g["grantee_id"] != w.team.ID || g["team_name"] != "Acme" || g["expires_at"] != float64(until.Unix()) {
		t.Fatalf("team grant: %v", g)
	}
	w.expect(t, w.bobPAT, "GET", "/api/v1/instances/"+p, nil, http.StatusOK, "")
	grants := decodeAs[[]map[string]any](t, w.expect(t, w.annePAT, "GET", "/api/v1/instances/"+p+"/grants", nil, http.StatusOK, ""))
	if len(grants) != 2 {
		t.Fatalf("grants: %v", grants)
	}
	// An address of no account: the share waits for one to verify it; its
	// managers see it and may withdraw it.
	w.expect(t, w.annePAT, "POST", "/api/v1/instances/"+p+"/grants", map[string]any{"user_email": "nobody@example.test"}, http.StatusAccepted, "")
	grants = decodeAs[[]map[string]any](t, w.expect(t, w.annePAT, "GET", "/api/v1/instances/"+p+"/grants", nil, http.StatusOK, ""))
	if len(grants) != 3 || grants[2]["grantee_type"] != "email" || grants[2]["pending"] != true || grants[2]["user_email"] != "nobody@example.test" {
		t.Fatalf("grants with a pending share: %v", grants)
	}
	w.expect(t, w.annePAT, "DELETE", "/api/v1/instances/"+p+"/grants/"+grants[2]["grantee_id"].(string), nil, http.StatusOK, "")
	w.expect(t, w.annePAT, "DELETE", "/api/v1/instances/"+p+"/grants/"+grants[2]["grantee_id"].(string), nil, http.StatusNotFound, "NOT_FOUND")
	w.expect(t, w.annePAT, "POST", "/api/v1/instances/"+p+"/grants", map[string]any{"team_id": uuid.NewString()}, http.StatusNotFound, "NOT_FOUND")
	w.expect(t, w.annePAT, "DELETE", "/api/v1/instances/"+p+"/grants/"+w.olga.ID, nil, http.StatusOK, "")
	w.expect(t, w.annePAT, "DELETE", "/api/v1/instances/"+p+"/grants/"+w.team.ID, nil, http.StatusOK, "")
	w.expect(t, w.annePAT, "DELETE", "/api/v1/instances/"+p+"/grants/"+w.team.ID, nil, http.StatusNotFound, "NOT_FOUND")
	w.expect(t, w.olgaPAT, "GET", "/api/v1/instances/"+p, nil, http.StatusNotFound, "NOT_FOUND")
	w.expect(t, w.bobPAT, "GET", "/api/v1/instances/"+p, nil, http.StatusNotFound, "NOT_FOUND")

	// Workspaces, with the caller's rights.
	ws := decodeAs[[]map[string]any](t, w.expect(t, w.bobPAT, "GET", "/api/v1/workspaces", nil, http.StatusOK, ""))
	if len(ws) != 2 || ws[0]["id"] != w.bob.DefaultWorkspaceID || ws[0]["can_manage"] != true || ws[0]["owner_type"] != "user" ||
		ws[1]["id"] != w.team.DefaultWorkspaceID || ws[1]["can_add_instance"] != false || ws[1]["owner_type"] != "team" || ws[1]["owner_id"] != w.team.ID {
		t.Fatalf("bob's workspaces: %v", ws)
	}

	// Deletion.
	d := decodeAs[map[string]any](t, w.expect(t, w.annePAT, "DELETE", "/api/v1/instances/"+ti, nil, http.StatusOK, ""))
	if d["object"] != "instance" || d["id"] != ti || d["deleted"] != true {
		t.Fatalf("deleted: %v", d)
	}
	w.expect(t, w.annePAT, "GET", "/api/v1/instances/"+ti, nil, http.StatusNotFound, "NOT_FOUND")

	// Every change is in the audit log with its actor and address.
	entries := decodeAs[[]map[string]any](t, w.expect(t, w.annePAT, "GET", "/api/v1/audit-log?limit=500", nil, http.StatusOK, ""))
	seen := map[string]int{}
	for _, e := range entries {
		if e["actor_user_id"] == w.anne.ID && e["actor"] == "anne@example.test" && e["ip"] == "127.0.0.1" {
			seen[e["action"].(string)]++
		}
	}
	for _, action := range []string{audit.InstanceRename, audit.InstanceMove, audit.AssistantToggle,
		audit.CredentialsReset, audit.Grant, audit.Revoke, audit.InstanceDelete} {
		if seen[action] == 0 {
			t.Errorf("no %s entry by anne from 127.0.0.1 in %v", action, entries)
		}
	}
	_ = ctx
}

// manageState is what the bad requests below must leave as it was.
func manageState(t testing.TB, w *manageWorld) string {
	t.Helper()
	var out strings.Builder
	for _, q := range []string{
		`SELECT id, name, workspace_id, assistant_enabled FROM instances ORDER BY id`,
		`SELECT instance_id, user_id, team_id, expires_at FROM instance_grants ORDER BY id`,
		`SELECT id, workspace_id, name_prefix, revoked_at FROM registration_keys ORDER BY id`,
		`SELECT id, user_id, team_id, name, expires_at, revoked_at FROM personal_access_tokens ORDER BY id`,
		`SELECT id, name, billing_email FROM teams ORDER BY id`,
		`SELECT team_id, user_id, role, use_seat FROM team_members ORDER BY team_id, user_id`,
		`SELECT id, email, role, use_seat FROM team_invitations ORDER BY id`,
		`SELECT secret_hash FROM oauth_clients ORDER BY client_id`,
		`SELECT plan, plan_ends_at FROM users ORDER BY id`,
		`SELECT count(*) FROM audit_log`,
	} {
		rows, err := w.a.DB.Query(context.Background(), q)
		testenv.Must(t, err)
		for rows.Next() {
			vals, err := rows.Values()
			testenv.Must(t, err)
			fmt.Fprintln(&out, vals...)
		}
		testenv.Must(t, rows.Err())
		out.WriteString("--\n")
	}
	return out.String()
}

// TestManageBadInput: bad input on every endpoint is a 4xx with a clear
// message, validated against the documents, and changes nothing (the
// tables are compared before and after; e.g. a grant with a bad expiry
// leaves the grants as they were).
func TestManageBadInput(t *testing.T) {
	w := newManageWorld(t)
	ctx := context.Background()
	p, ti := w.personal.ID, w.teamInstance.ID
	_, err := w.a.Access.Grant(ctx, p, access.Grantee{UserID: w.bob.ID}, nil, w.anne.ID)
	testenv.Must(t, err)
	grantsBefore, err := w.a.Access.Grants(ctx, p)
	testenv.Must(t, err)
	other := testenv.User(t, w.a, "zed@example.test")
	otherTeam, _, err := w.a.Access.CreateTeam(ctx, other.ID, "Other", "o@example.test")
	testenv.Must(t, err)
	past := time.Now().Add(-time.Hour).Unix()
	before := manageState(t, w)

	for _, tc := range []struct {
		name, token, method, path string
		body                      any
		status                    int
		reason                    string
	}{
		{"grant expiry in the past", w.annePAT, "POST", "/api/v1/instances/" + p + "/grants", map[string]any{"user_email": "olga@example.test", "expires_at": past}, 400, "INVALID_INPUT"},
		{"grant expiry not a time", w.annePAT, "POST", "/api/v1/instances/" + p + "/grants", map[string]any{"user_email": "olga@example.test", "expires_at": "tomorrow"}, 400, "INVALID_INPUT"},
		{"grant expiry of the wrong type", w.annePAT, "POST", "/api/v1/instances/" + p + "/grants", map[string]any{"user_email": "olga@example.test", "expires_at": true}, 400, "INVALID_INPUT"},
		{"regrant with a past expiry", w.annePAT, "POST", "/api/v1/instances/" + p + "/grants", map[string]any{"user_email": "bob@example.test", "expires_at": past}, 400, "INVALID_INPUT"},
		{"grant to a user and a team", w.annePAT, "POST", "/api/v1/instances/" + p + "/grants", map[string]any{"user_email": "olga@example.test", "team_id": w.team.ID}, 400, "INVALID_INPUT"},
		{"grant to nobody", w.annePAT, "POST", "/api/v1/instances/" + p + "/grants", map[string]any{}, 400, "INVALID_INPUT"},
		{"grant with an unknown field", w.annePAT, "POST", "/api/v1/instances/" + p + "/grants", map[string]any{"user_email": "olga@example.test", "expires": 1}, 400, "INVALID_INPUT"},
		{"grant to a bad team id", w.annePAT, "POST", "/api/v1/instances/" + p + "/grants", map[string]any{"team_id": "acme"}, 400, "INVALID_INPUT"},
		{"grant body not JSON", w.annePAT, "POST", "/api/v1/instances/" + p + "/grants", "user_email=olga", 400, "INVALID_INPUT"},
		{"grant with no body", w.annePAT, "POST", "/api/v1/instances/" + p + "/grants", nil, 400, "INVALID_INPUT"},
		{"grant by a user", w.bobPAT, "POST", "/api/v1/instances/" + p + "/grants", map[string]any{"user_email": "olga@example.test"}, 403, "FORBIDDEN"},
		{"revoke by a user", w.bobPAT, "DELETE", "/api/v1/instances/" + p + "/grants/" + w.bob.ID, nil, 403, "FORBIDDEN"},
		{"revoke a bad id", w.annePAT, "DELETE", "/api/v1/instances/" + p + "/grants/bob", nil, 404, "NOT_FOUND"},
		{"empty name", w.annePAT, "PATCH", "/api/v1/instances/" + p, map[string]any{"name": "  "}, 400, "INVALID_INPUT"},
		{"long name", w.annePAT, "PATCH", "/api/v1/instances/" + p, map[string]any{"name": strings.Repeat("x", 201)}, 400, "INVALID_INPUT"},
		{"name of the wrong type", w.annePAT, "PATCH", "/api/v1/instances/" + p, map[string]any{"name": 5}, 400, "INVALID_INPUT"},
		{"nothing to change", w.annePAT, "PATCH", "/api/v1/instances/" + p, map[string]any{}, 400, "INVALID_INPUT"},
		{"bad workspace id", w.annePAT, "PATCH", "/api/v1/instances/" + p, map[string]any{"name": "ok", "workspace_id": "home"}, 400, "INVALID_INPUT"},
		{"move into someone else's workspace", w.annePAT, "PATCH", "/api/v1/instances/" + p, map[string]any{"name": "ok", "workspace_id": w.olga.DefaultWorkspaceID}, 403, "FORBIDDEN"},
		{"move into no workspace", w.annePAT, "PATCH", "/api/v1/instances/" + ti, map[string]any{"workspace_id": uuid.NewString()}, 403, "FORBIDDEN"},
		{"assistant without enabled", w.annePAT, "PUT", "/api/v1/instances/" + p + "/assistant", map[string]any{}, 400, "INVALID_INPUT"},
		{"assistant not a boolean", w.annePAT, "PUT", "/api/v1/instances/" + p + "/assistant", map[string]any{"enabled": "no"}, 400, "INVALID_INPUT"},
		{"key without a prefix", w.annePAT, "POST", "/api/v1/registration-keys", map[string]any{"name_prefix": ""}, 400, "INVALID_INPUT"},
		{"key expiring in the past", w.annePAT, "POST", "/api/v1/registration-keys", map[string]any{"name_prefix": "ci", "expires_at": past}, 400, "INVALID_INPUT"},
		{"key for someone else's workspace", w.annePAT, "POST", "/api/v1/registration-keys", map[string]any{"name_prefix": "ci", "workspace_id": w.olga.DefaultWorkspaceID}, 403, "FORBIDDEN"},
		{"key for a workspace one only views", w.bobPAT, "POST", "/api/v1/registration-keys", map[string]any{"name_prefix": "ci", "workspace_id": w.team.DefaultWorkspaceID}, 403, "FORBIDDEN"},
		{"keys without a workspace", w.annePAT, "GET", "/api/v1/registration-keys", nil, 400, "INVALID_INPUT"},
		{"revoke a key that is not there", w.annePAT, "DELETE", "/api/v1/registration-keys/" + uuid.NewString(), nil, 404, "NOT_FOUND"},
		{"token made with a token", w.annePAT, "POST", "/api/v1/personal-access-tokens", map[string]any{"name": "ci"}, 403, "FORBIDDEN"},
		{"token expiring in the past", w.annePAT, "POST", "/api/v1/personal-access-tokens", map[string]any{"name": "ci", "expires_at": 1}, 400, "INVALID_INPUT"},
		{"token for someone else's team", w.annePAT, "POST", "/api/v1/personal-access-tokens", map[string]any{"name": "ci", "team_id": otherTeam.ID}, 403, "FORBIDDEN"},
		{"tokens of a bad team id", w.annePAT, "GET", "/api/v1/personal-access-tokens?team_id=acme", nil, 400, "INVALID_INPUT"},
		{"tokens of a team one does not manage", w.bobPAT, "GET", "/api/v1/personal-access-tokens?team_id=" + w.team.ID, nil, 403, "FORBIDDEN"},
		{"revoke someone else's token", w.bobPAT, "DELETE", "/api/v1/personal-access-tokens/" + w.tokenID(t, w.anne.ID), nil, 404, "NOT_FOUND"},
		{"revoke a bad token id", w.annePAT, "DELETE", "/api/v1/personal-access-tokens/x", nil, 404, "NOT_FOUND"},
		{"team without a name", w.annePAT, "POST", "/api/v1/teams", map[string]any{"name": "", "billing_email": "b@example.test"}, 400, "INVALID_INPUT"},
		{"team with a bad billing email", w.annePAT, "POST", "/api/v1/teams", map[string]any{"name": "T", "billing_email": "nope"}, 400, "INVALID_INPUT"},
		{"team without a billing email", w.annePAT, "POST", "/api/v1/teams", map[string]any{"name": "T"}, 400, "INVALID_INPUT"},
		{"role owner", w.annePAT, "PATCH", "/api/v1/team/users/" + w.bob.ID, map[string]any{"role": "owner"}, 400, "INVALID_INPUT"},
		{"unknown role", w.annePAT, "PATCH", "/api/v1/team/users/" + w.bob.ID, map[string]any{"role": "boss"}, 400, "INVALID_INPUT"},
		{"no member change", w.annePAT, "PATCH", "/api/v1/team/users/" + w.bob.ID, map[string]any{}, 400, "INVALID_INPUT"},
		{"a seat with no subscription", w.annePAT, "PATCH", "/api/v1/team/users/" + w.bob.ID, map[string]any{"use_seat": true}, 409, "SEATS_FULL"},
		{"changing the owner", w.annePAT, "PATCH", "/api/v1/team/users/" + w.anne.ID, map[string]any{"role": "member"}, 409, "CONFLICT"},
		{"changing a stranger", w.annePAT, "PATCH", "/api/v1/team/users/" + w.olga.ID, map[string]any{"role": "member"}, 404, "NOT_FOUND"},
		{"role change by a member", w.bobPAT, "PATCH", "/api/v1/team/users/" + w.bob.ID, map[string]any{"role": "admin"}, 403, "FORBIDDEN"},
		{"invitation with a bad email", w.annePAT, "POST", "/api/v1/team/invitations", map[string]any{"email": "x", "role": "member", "use_seat": false}, 400, "INVALID_INPUT"},
		{"invitation as owner", w.annePAT, "POST", "/api/v1/team/invitations", map[string]any{"email": "x@example.test", "role": "owner", "use_seat": false}, 400, "INVALID_INPUT"},
		{"invitation without use_seat", w.annePAT, "POST", "/api/v1/team/invitations", map[string]any{"email": "x@example.test", "role": "member"}, 400, "INVALID_INPUT"},
		{"invitation not an object", w.annePAT, "POST", "/api/v1/team/invitations", `["x@example.test"]`, 400, "INVALID_INPUT"},
		{"voucher without a code", w.annePAT, "POST", "/api/v1/user/billing/voucher-claims", map[string]any{"code": " "}, 400, "INVALID_INPUT"},
		{"audit log limit not a number", w.annePAT, "GET", "/api/v1/audit-log?limit=lots", nil, 400, "INVALID_INPUT"},
		{"audit log limit too big", w.annePAT, "GET", "/api/v1/audit-log?limit=501", nil, 400, "INVALID_INPUT"},
		{"audit log of a bad team id", w.annePAT, "GET", "/api/v1/audit-log?team_id=acme", nil, 400, "INVALID_INPUT"},
		{"audit log of a team one does not manage", w.bobPAT, "GET", "/api/v1/audit-log?team_id=" + w.team.ID, nil, 403, "FORBIDDEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := w.expect(t, tc.token, tc.method, tc.path, tc.body, tc.status, tc.reason)
			if msg := decodeAs[map[string]any](t, body)["message"].(string); len(msg) < 10 {
				t.Errorf("message %q is not a clear sentence", msg)
			}
		})
	}
	if after := manageState(t, w); after != before {
		t.Fatalf("bad requests changed the state:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	grantsAfter, err := w.a.Access.Grants(ctx, p)
	testenv.Must(t, err)
	if len(grantsAfter) != 1 || len(grantsBefore) != 1 || grantsAfter[0].UserID != w.bob.ID || grantsAfter[0].ExpiresAt != nil ||
		!grantsAfter[0].CreatedAt.Equal(grantsBefore[0].CreatedAt) {
		t.Fatalf("grants before %+v, after %+v", grantsBefore, grantsAfter)
	}
}

// tokenID is the id of one of userID's live tokens.
func (w *manageWorld) tokenID(t testing.TB, userID string) string {
	t.Helper()
	list, err := w.a.PATs.List(context.Background(), userID)
	testenv.Must(t, err)
	if len(list) == 0 {
		t.Fatal("no token")
	}
	return list[0].ID
}

// TestManageKeysTokensTeams: registration keys, personal access tokens,
// team creation, member roles and seats, and the audit log.
func TestManageKeysTokensTeams(t *testing.T) {
	w := newManageWorld(t)
	ctx := context.Background()

	// Registration keys: made, listed (without the key), used, revoked.
	k := decodeAs[map[string]any](t, w.expect(t, w.annePAT, "POST", "/api/v1/registration-keys",
		map[string]any{"name_prefix": "ci", "description": "CI runners", "reusable": true}, http.StatusCreated, ""))
	key, _ := k["key"].(string)
	if k["object"] != "registration_key" || !strings.HasPrefix(key, "ckey_") || k["workspace_id"] != w.anne.DefaultWorkspaceID || k["reusable"] != true {
		t.Fatalf("key: %v", k)
	}
	keys := decodeAs[[]map[string]any](t, w.expect(t, w.annePAT, "GET", "/api/v1/registration-keys?workspace_id="+w.anne.DefaultWorkspaceID, nil, http.StatusOK, ""))
	if len(keys) != 1 || keys[0]["id"] != k["id"] || keys[0]["key"] != nil {
		t.Fatalf("keys: %v", keys)
	}
	w.expect(t, w.bobPAT, "GET", "/api/v1/registration-keys?workspace_id="+w.anne.DefaultWorkspaceID, nil, http.StatusNotFound, "NOT_FOUND")
	w.expect(t, w.bobPAT, "GET", "/api/v1/registration-keys?workspace_id="+w.team.DefaultWorkspaceID, nil, http.StatusForbidden, "FORBIDDEN")
	teamKey := decodeAs[map[string]any](t, w.expect(t, w.annePAT, "POST", "/api/v1/registration-keys",
		map[string]any{"name_prefix": "team", "workspace_id": w.team.DefaultWorkspaceID, "expires_at": time.Now().Add(time.Hour).Unix()}, http.StatusCreated, ""))
	if teamKey["workspace_id"] != w.team.DefaultWorkspaceID || teamKey["expires_at"] == nil {
		t.Fatalf("team key: %v", teamKey)
	}
	resp, err := http.Post(w.base+"/oauth2/register", "application/json", strings.NewReader(
		`{"scope":"profile:read","grant_types":["client_credentials"],"instance_registration_key":"`+key+`"}`))
	testenv.Must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("registration with the key: %d", resp.StatusCode)
	}
	w.expect(t, w.bobPAT, "DELETE", "/api/v1/registration-keys/"+k["id"].(string), nil, http.StatusNotFound, "NOT_FOUND")
	r := decodeAs[map[string]any](t, w.expect(t, w.annePAT, "DELETE", "/api/v1/registration-keys/"+k["id"].(string), nil, http.StatusOK, ""))
	if r["revoked"] != true {
		t.Fatalf("revoked: %v", r)
	}
	w.expect(t, w.annePAT, "DELETE", "/api/v1/registration-keys/"+k["id"].(string), nil, http.StatusNotFound, "NOT_FOUND")

	// Personal access tokens: made (on the dashboard: a token cannot make
	// one, TestPATCannotCreatePAT), listed, the team's for its admins,
	// revoked.
	soon := time.Now().Add(time.Hour)
	secret, made, err := w.a.PATs.Create(ctx, pats.NewToken{UserID: w.anne.ID, Name: "deploy", TeamID: w.team.ID, ExpiresAt: &soon, Via: pats.ViaSession})
	testenv.Must(t, err)
	tok := map[string]any{"id": made.ID}
	if got := decodeAs[map[string]any](t, w.expect(t, secret, "GET", "/api/v1/team", nil, http.StatusOK, "")); got["id"] != w.team.ID {
		t.Fatalf("the new token's team: %v", got)
	}
	mine := decodeAs[[]map[string]any](t, w.expect(t, w.annePAT, "GET", "/api/v1/personal-access-tokens", nil, http.StatusOK, ""))
	if len(mine) != 2 || mine[0]["id"] != tok["id"] || mine[0]["token"] != nil {
		t.Fatalf("anne's tokens: %v", mine)
	}
	teams := decodeAs[[]map[string]any](t, w.expect(t, w.annePAT, "GET", "/api/v1/personal-access-tokens?team_id="+w.team.ID, nil, http.StatusOK, ""))
	if len(teams) != 1 || teams[0]["id"] != tok["id"] {
		t.Fatalf("the team's tokens: %v", teams)
	}
	w.expect(t, w.annePAT, "DELETE", "/api/v1/personal-access-tokens/"+tok["id"].(string), nil, http.StatusOK, "")
	w.expect(t, secret, "GET", "/api/v1/team", nil, http.StatusUnauthorized, "UNAUTHORIZED")
	w.expect(t, w.annePAT, "DELETE", "/api/v1/personal-access-tokens/"+tok["id"].(string), nil, http.StatusNotFound, "NOT_FOUND")

	// Member roles and seats.
	_, err = w.a.Access.SetTeamSubscription(ctx, w.team.ID, "team", 1, false, nil)
	testenv.Must(t, err)
	u := decodeAs[map[string]any](t, w.expect(t, w.annePAT, "PATCH", "/api/v1/team/users/"+w.bob.ID, map[string]any{"role": "admin", "use_seat": true}, http.StatusOK, ""))
	if u["role"] != "admin" || u["use_seat"] != true || u["id"] != w.bob.ID {
		t.Fatalf("bob: %v", u)
	}
	testenv.AssertCheck(t, w.a, w.bob.ID, "can_manage_members", "team:"+w.team.ID, true)
	w.expect(t, w.bobPAT, "GET", "/api/v1/team/invitations", nil, http.StatusOK, "")
	carol := testenv.User(t, w.a, "carol@example.test")
	_, err = w.a.Access.SetTeamMember(ctx, w.team.ID, carol.ID, access.RoleMember, false)
	testenv.Must(t, err)
	w.expect(t, w.bobPAT, "PATCH", "/api/v1/team/users/"+carol.ID, map[string]any{"use_seat": true}, http.StatusConflict, "SEATS_FULL")
	u = decodeAs[map[string]any](t, w.expect(t, w.bobPAT, "PATCH", "/api/v1/team/users/"+carol.ID, map[string]any{"role": "admin"}, http.StatusOK, ""))
	if u["role"] != "admin" || u["use_seat"] != false {
		t.Fatalf("carol: %v", u)
	}

	// A new team, owned by its creator.
	nt := decodeAs[map[string]any](t, w.expect(t, w.olgaPAT, "POST", "/api/v1/teams", map[string]any{"name": "Olga's", "billing_email": "olga@example.test"}, http.StatusCreated, ""))
	if nt["object"] != "team" || nt["name"] != "Olga's" || nt["default_workspace_id"] == "" {
		t.Fatalf("team: %v", nt)
	}
	testenv.AssertCheck(t, w.a, w.olga.ID, "owner", "team:"+nt["id"].(string), true)
	testenv.AssertCheck(t, w.a, w.olga.ID, "can_add_instance", "workspace:"+nt["default_workspace_id"].(string), true)

	// The audit log: the team's for its admins, each with actor and address.
	entries := decodeAs[[]map[string]any](t, w.expect(t, w.bobPAT, "GET", "/api/v1/audit-log?team_id="+w.team.ID, nil, http.StatusOK, ""))
	var roleByAnne, roleByBob bool
	for _, e := range entries {
		if e["team_id"] != w.team.ID {
			t.Fatalf("another team's entry: %v", e)
		}
		if e["action"] == audit.MemberRole && e["ip"] == "127.0.0.1" {
			roleByAnne = roleByAnne || e["actor_user_id"] == w.anne.ID && e["target_user_id"] == w.bob.ID
			roleByBob = roleByBob || e["actor_user_id"] == w.bob.ID && e["target_user_id"] == carol.ID && e["actor"] == "bob@example.test"
		}
	}
	if !roleByAnne || !roleByBob {
		t.Fatalf("role changes missing from the team's log: %v", entries)
	}
	w.expect(t, w.olgaPAT, "GET", "/api/v1/audit-log?team_id="+w.team.ID, nil, http.StatusForbidden, "FORBIDDEN")
}
