package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/audit"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/sharing"
)

// shareWorld is one running caido-cloud (the app's own router: pages and
// /api/v1 on one server, its mail going to the test's SMTP server), seen
// through both surfaces that share instances: the dashboard's forms (dash)
// and /api/v1 (api, whose answers are checked against openapi.yaml).
type shareWorld struct {
	dash *dashWorld
	api  *apiWorld
}

func newShareWorld(t *testing.T) *shareWorld {
	t.Helper()
	ww, smtp := newMailWorld(t)
	aw := &apiWorld{a: ww.a, base: ww.base, logs: &testenv.Buffer{}}
	aw.loadDocuments(t)
	return &shareWorld{dash: &dashWorld{webWorld: ww, mail: smtp}, api: aw}
}

// sharer is a signed-up user with a browser and a PAT of no team.
type sharer struct {
	*dashUser
	pat string
}

func (w *shareWorld) user(t *testing.T, name, email string) *sharer {
	t.Helper()
	u := w.dash.user(t, name, email)
	return &sharer{dashUser: u, pat: w.api.pat(t, u.id, "")}
}

// instance claims a registered instance into the user's Default workspace.
func (w *shareWorld) instance(t *testing.T, u *sharer, name string) string {
	t.Helper()
	reg := w.dash.register(t)
	_, err := w.dash.a.Access.ClaimInstance(context.Background(), reg.ID, u.id, u.workspace, name)
	testenv.Must(t, err)
	return reg.ID
}

// unchanged runs refused requests and checks that they changed no row that
// says who may use what (a PAT's last use aside: the API's calls use them).
func (w *shareWorld) unchanged(t *testing.T, do func()) {
	t.Helper()
	state := func() string {
		var keep []string
		for _, line := range strings.Split(dashState(t, w.dash), "\n") {
			if !strings.HasPrefix(line, "personal_access_tokens ") {
				keep = append(keep, line)
			}
		}
		return strings.Join(keep, "\n")
	}
	before := state()
	do()
	if after := state(); after != before {
		t.Fatalf("a refused request changed rows:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// markVerified sets the users' addresses verified, as following the mailed
// link does.
func markVerified(t testing.TB, a *app.App, userIDs ...string) {
	t.Helper()
	_, err := a.DB.Exec(context.Background(), `UPDATE users SET email_verified_at = now() WHERE id = ANY($1::uuid[])`, userIDs)
	testenv.Must(t, err)
}

// auditActions lists the actions in a team's audit log.
func (w *shareWorld) auditActions(t *testing.T, teamID string) []string {
	t.Helper()
	entries, err := w.dash.a.Audit.Entries(context.Background(), audit.Filter{TeamID: teamID, Limit: 500})
	testenv.Must(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Action)
	}
	return out
}

// TestShareWithTeamNeedsMembership: sharing with a team needs the sharer to
// manage the instance and to be a member of that team. A team of which the
// sharer is not a member is answered as a team that does not exist, through
// both surfaces, and nothing changes: no grant, no entry in that team's
// audit log, no access for its members.
func TestShareWithTeamNeedsMembership(t *testing.T) {
	ctx := context.Background()
	w := newShareWorld(t)
	anne := w.user(t, "Anne", "anne@example.test")
	carol := w.user(t, "Carol", "carol@example.test")
	dave := w.user(t, "Dave", "dave@example.test")
	red := w.dash.createTeam(t, anne.dashUser, "Red")
	blue := w.dash.createTeam(t, carol.dashUser, "Blue")
	_, err := w.dash.a.Access.SetTeamMember(ctx, blue, dave.id, access.RoleMember, false)
	testenv.Must(t, err)
	in := w.instance(t, anne, "build box")
	grants := "/api/v1/instances/" + in + "/grants"

	blueLog := w.auditActions(t, blue)
	w.unchanged(t, func() {
		// The API: Blue, whose id Anne knows, is answered as an unknown team.
		foreign := w.api.expect(t, anne.pat, "POST", grants, map[string]any{"team_id": blue}, http.StatusNotFound, "NOT_FOUND")
		unknown := "0b5e6a2e-4f7c-4f43-9d39-0f3c2a7d9e11"
		none := w.api.expect(t, anne.pat, "POST", grants, map[string]any{"team_id": unknown}, http.StatusNotFound, "NOT_FOUND")
		if got, want := strings.ReplaceAll(string(foreign), blue, "ID"), strings.ReplaceAll(string(none), unknown, "ID"); got != want {
			t.Errorf("a foreign team is answered %s, an unknown one %s", foreign, none)
		}
		if strings.Contains(string(foreign), "Blue") {
			t.Errorf("the answer names the team: %s", foreign)
		}
		// The page: not offered, and refused when forged.
		resp, body := anne.form("/instances/"+in+"/grants/team", url.Values{"team_id": {blue}})
		dashExpect(t, resp, body, http.StatusBadRequest, "Pick one of your teams", "Nothing was shared")
		if strings.Contains(body, "Blue") {
			t.Error("the page names the team")
		}
	})
	testenv.AssertCheck(t, w.dash.a, dave.id, "can_use", authz.InstanceObject(in), false)
	testenv.AssertCheck(t, w.dash.a, carol.id, "can_use", authz.InstanceObject(in), false)
	if after := w.auditActions(t, blue); len(after) != len(blueLog) {
		t.Fatalf("Blue's audit log went from %v to %v", blueLog, after)
	}
	resp, body := dave.get("/instances")
	if strings.Contains(body, "build box") {
		t.Fatalf("a member of Blue sees the instance:\n%d %s", resp.StatusCode, body)
	}

	// Her own team, through either surface: shared.
	g := decodeAs[map[string]any](t, w.api.expect(t, anne.pat, "POST", grants, map[string]any{"team_id": red}, http.StatusCreated, ""))
	if g["grantee_id"] != red || g["team_name"] != "Red" {
		t.Fatalf("grant: %v", g)
	}
	w.api.expect(t, anne.pat, "DELETE", grants+"/"+red, nil, http.StatusOK, "")
	resp, body = anne.form("/instances/"+in+"/grants/team", url.Values{"team_id": {red}})
	dashLocation(t, resp, body, "/instances/"+in+"?done=shared")

	// Once she joins Blue she may share with it.
	_, err = w.dash.a.Access.SetTeamMember(ctx, blue, anne.id, access.RoleMember, false)
	testenv.Must(t, err)
	w.api.expect(t, anne.pat, "POST", grants, map[string]any{"team_id": blue}, http.StatusCreated, "")
	testenv.AssertCheck(t, w.dash.a, dave.id, "can_use", authz.InstanceObject(in), true)
	// A team PAT shares within its team only.
	redPAT := w.api.pat(t, anne.id, red)
	w.api.expect(t, redPAT, "POST", grants, map[string]any{"team_id": blue}, http.StatusNotFound, "NOT_FOUND")
	// Leaving it again: no new shares with it.
	_, err = w.dash.a.Access.RemoveTeamMember(ctx, blue, anne.id)
	testenv.Must(t, err)
	w.api.expect(t, anne.pat, "POST", grants, map[string]any{"team_id": blue}, http.StatusNotFound, "NOT_FOUND")
	resp, body = anne.form("/instances/"+in+"/grants/team", url.Values{"team_id": {blue}})
	dashExpect(t, resp, body, http.StatusBadRequest, "Pick one of your teams")
}

// TestGranteeTeamAdminRevokes: an admin of the team an instance is shared
// with may end that share (their team's, and only that one) without
// managing the instance, through both surfaces; a plain member of the team
// may not, nor may the admin end a share to someone else.
func TestGranteeTeamAdminRevokes(t *testing.T) {
	ctx := context.Background()
	w := newShareWorld(t)
	anne := w.user(t, "Anne", "anne@example.test")
	bob := w.user(t, "Bob", "bob@example.test")
	carol := w.user(t, "Carol", "carol@example.test")
	dave := w.user(t, "Dave", "dave@example.test")
	blue := w.dash.createTeam(t, carol.dashUser, "Blue")
	for _, u := range []*sharer{anne, dave} {
		_, err := w.dash.a.Access.SetTeamMember(ctx, blue, u.id, access.RoleMember, false)
		testenv.Must(t, err)
	}
	in := w.instance(t, anne, "build box")
	grants := "/api/v1/instances/" + in + "/grants"
	page := "/instances/" + in
	_, err := w.dash.a.Access.Grant(ctx, in, access.Grantee{UserID: bob.id}, nil, anne.id)
	testenv.Must(t, err)

	share := func() {
		t.Helper()
		w.api.expect(t, anne.pat, "POST", grants, map[string]any{"team_id": blue}, http.StatusCreated, "")
		testenv.AssertCheck(t, w.dash.a, dave.id, "can_use", authz.InstanceObject(in), true)
	}
	share()
	w.unchanged(t, func() {
		// Dave, a member of Blue, may use it but not end the share.
		w.api.expect(t, dave.pat, "DELETE", grants+"/"+blue, nil, http.StatusForbidden, "FORBIDDEN")
		resp, body := dave.form(page+"/grants/revoke", url.Values{"team_id": {blue}})
		dashExpect(t, resp, body, http.StatusForbidden, "Only those who manage")
		// Carol, Blue's admin, may not end Bob's share.
		w.api.expect(t, carol.pat, "DELETE", grants+"/"+bob.id, nil, http.StatusForbidden, "FORBIDDEN")
		resp, body = carol.form(page+"/grants/revoke", url.Values{"user_id": {bob.id}})
		dashExpect(t, resp, body, http.StatusForbidden, "Only those who manage")
	})

	// Carol, Blue's admin, ends Blue's share through the API.
	w.api.expect(t, carol.pat, "DELETE", grants+"/"+blue, nil, http.StatusOK, "")
	testenv.AssertCheck(t, w.dash.a, dave.id, "can_use", authz.InstanceObject(in), false)
	testenv.AssertCheck(t, w.dash.a, bob.id, "can_use", authz.InstanceObject(in), true)

	// And through the page: it lists her team's share (and only it), as
	// the API does, and its form ends it.
	share()
	list := decodeAs[[]map[string]any](t, w.api.expect(t, carol.pat, "GET", grants, nil, http.StatusOK, ""))
	if len(list) != 1 || list[0]["grantee_id"] != blue {
		t.Fatalf("Blue's admin sees the grants %v; want Blue's only", list)
	}
	resp, body := carol.get(page)
	dashExpect(t, resp, body, http.StatusOK, "every member of the team Blue", `class="revoke-grant"`)
	if strings.Contains(body, "bob@example.test") {
		t.Fatal("Blue's admin is shown another grantee")
	}
	resp, body = carol.form(page+"/grants/revoke", url.Values{"team_id": {blue}})
	dashLocation(t, resp, body, "/instances?done=revoked")
	testenv.AssertCheck(t, w.dash.a, dave.id, "can_use", authz.InstanceObject(in), false)
	testenv.AssertCheck(t, w.dash.a, carol.id, "can_use", authz.InstanceObject(in), false)
	testenv.AssertCheck(t, w.dash.a, bob.id, "can_use", authz.InstanceObject(in), true)
	log := w.auditActions(t, blue)
	revokes := 0
	for _, a := range log {
		if a == audit.Revoke {
			revokes++
		}
	}
	if revokes != 2 {
		t.Fatalf("Blue's audit log: %v; want both revocations", log)
	}
}

// verify follows the verification link mailed to the user at sign-up.
func (w *shareWorld) verify(t *testing.T, u *sharer) {
	t.Helper()
	for {
		m := w.dash.mail.WaitFor(t, u.email, mailTimeout)
		if !verifyLink.MatchString(m.Text) {
			continue
		}
		resp, body := u.get(linkIn(t, w.dash.webWorld, m))
		webExpect(t, resp, body, http.StatusOK, "is verified")
		return
	}
}

// eventually waits for OpenFGA to say want (the outbox applies a change
// made in another's transaction, with no one waiting for it).
func (w *shareWorld) eventually(t *testing.T, userID, relation, object string, want bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := w.dash.a.Authz.Check(context.Background(), authz.UserObject(userID), relation, object)
		testenv.Must(t, err)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("check user:%s %s %s stays %v, want %v", userID, relation, object, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestShareByEmailNeedsVerifiedAddress: a share by email reaches only an
// account that has verified the address. Someone who signed up with
// another's address and never verified it gets nothing from shares to it,
// through either surface; the API answers every share by email alike
// (verified account, unverified one, no account), so that it tells nothing
// about the address; the address is told by mail, and the share takes
// effect once an account verifies it.
func TestShareByEmailNeedsVerifiedAddress(t *testing.T) {
	w := newShareWorld(t)
	anne := w.user(t, "Anne", "anne@example.test")
	bob := w.user(t, "Bob", "bob@example.test")
	w.verify(t, bob)
	mallory := w.user(t, "Mallory", "cfo@victim.example") // never verified
	box, lab := w.instance(t, anne, "build box"), w.instance(t, anne, "lab")
	grants := "/api/v1/instances/" + box + "/grants"

	// Through the API: the same answer whatever the address.
	answer := func(email string) map[string]any {
		t.Helper()
		body := decodeAs[map[string]any](t, w.api.expect(t, anne.pat, "POST", grants, map[string]any{"user_email": email}, http.StatusAccepted, ""))
		if body["user_email"] != email {
			t.Fatalf("share with %s answered %v", email, body)
		}
		delete(body, "user_email")
		delete(body, "created_at")
		return body
	}
	toMallory := answer("cfo@victim.example")
	toBob, toNobody := answer("bob@example.test"), answer("new@victim.example")
	if !reflect.DeepEqual(toMallory, toBob) || !reflect.DeepEqual(toMallory, toNobody) {
		t.Fatalf("the answers differ: unverified %v, verified %v, no account %v", toMallory, toBob, toNobody)
	}
	testenv.AssertCheck(t, w.dash.a, mallory.id, "can_use", authz.InstanceObject(box), false)
	testenv.AssertCheck(t, w.dash.a, bob.id, "can_use", authz.InstanceObject(box), true)
	resp, body := mallory.get("/instances")
	if strings.Contains(body, "build box") {
		t.Fatalf("the unverified account lists the instance:\n%d %s", resp.StatusCode, body)
	}
	// The address is told, by mail, in a few words.
	m := w.dash.mail.WaitFor(t, "new@victim.example", mailTimeout)
	if want := "Anne shared instance build box with you on caido-cloud; sign in or sign up with this address and verify it to use it."; !strings.Contains(m.Text, want) {
		t.Fatalf("the share mail says:\n%s\nwant %q", m.Text, want)
	}

	// Through the page: the same.
	page := "/instances/" + lab
	for _, email := range []string{"cfo@victim.example", "bob@example.test", "nobody@victim.example"} {
		resp, body := anne.form(page+"/grants", url.Values{"email": {email}})
		dashLocation(t, resp, body, page+"?done=shared")
	}
	testenv.AssertCheck(t, w.dash.a, mallory.id, "can_use", authz.InstanceObject(lab), false)
	testenv.AssertCheck(t, w.dash.a, bob.id, "can_use", authz.InstanceObject(lab), true)
	resp, body = mallory.get(page)
	dashExpect(t, resp, body, http.StatusNotFound, "No such instance")

	// Whoever signs up with the new address and verifies it gets the share.
	newcomer := w.user(t, "Nina", "new@victim.example")
	testenv.AssertCheck(t, w.dash.a, newcomer.id, "can_use", authz.InstanceObject(box), false)
	w.verify(t, newcomer)
	w.eventually(t, newcomer.id, "can_use", authz.InstanceObject(box), true)
	resp, body = newcomer.get("/instances")
	dashExpect(t, resp, body, http.StatusOK, "build box", "(shared with you)")
	testenv.AssertCheck(t, w.dash.a, newcomer.id, "can_use", authz.InstanceObject(lab), false)
}

// TestShareByEmailLimitedPerSharer: each share by email is a mail sent on
// the sharer's behalf, so a sharer may make sharing.DefaultMailLimit of them
// an hour, counted across both surfaces and whatever the addresses; beyond,
// both refuse (429) and nothing is shared. Another sharer is not held back.
// The page lists a share waiting for its address, and withdraws it.
func TestShareByEmailLimitedPerSharer(t *testing.T) {
	w := newShareWorld(t)
	anne := w.user(t, "Anne", "anne@example.test")
	bob := w.user(t, "Bob", "bob@example.test")
	box := w.instance(t, anne, "build box")
	page, grants := "/instances/"+box, "/api/v1/instances/"+box+"/grants"

	// The page shows a waiting share, and withdraws it (one mail spent).
	resp, body := anne.form(page+"/grants", url.Values{"email": {"later@example.test"}})
	dashLocation(t, resp, body, page+"?done=shared-by-email")
	resp, body = anne.get(page)
	dashExpect(t, resp, body, http.StatusOK, "later@example.test (waiting for the address to be verified)")
	resp, body = anne.form(page+"/grants/revoke", url.Values{"email": {"later@example.test"}})
	dashLocation(t, resp, body, page+"?done=revoked")
	resp, body = anne.get(page)
	dashExpect(t, resp, body, http.StatusOK, "Only those who may use its workspace")

	for i := 1; i < sharing.DefaultMailLimit; i++ {
		w.api.expect(t, anne.pat, "POST", grants, map[string]any{"user_email": fmt.Sprintf("a%d@example.test", i)}, http.StatusAccepted, "")
	}
	w.unchanged(t, func() {
		status, out := w.api.call(t, anne.pat, "POST", grants, map[string]any{"user_email": "one-more@example.test"})
		if status != http.StatusTooManyRequests || errorCode(out) != "RATE_LIMITED" {
			t.Fatalf("share past the limit: %d %s", status, out)
		}
		resp, body := anne.form(page+"/grants", url.Values{"email": {"one-more@example.test"}})
		dashExpect(t, resp, body, http.StatusTooManyRequests, "You have shared by email too often", "Nothing was shared")
	})
	// Team shares are no mail: not limited.
	red := w.dash.createTeam(t, anne.dashUser, "Red")
	w.api.expect(t, anne.pat, "POST", grants, map[string]any{"team_id": red}, http.StatusCreated, "")
	// Bob is not held back by Anne's shares.
	lab := w.instance(t, bob, "lab")
	w.api.expect(t, bob.pat, "POST", "/api/v1/instances/"+lab+"/grants", map[string]any{"user_email": "one-more@example.test"}, http.StatusAccepted, "")
}
