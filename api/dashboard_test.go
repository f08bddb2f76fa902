package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/audit"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/mail/mailtest"
	"github.com/caido-cloud/caido-cloud/pats"
	"github.com/caido-cloud/caido-cloud/regkeys"
)

// dashWorld is a webWorld whose mail (verifications, the team pages'
// invitations, shares) goes to a test SMTP server; the invitations' links
// are to its pages, its public URL.
type dashWorld struct {
	*webWorld
	mail *mailtest.Server
}

func newDashWorld(t testing.TB) *dashWorld {
	t.Helper()
	cfg := testenv.Config(t)
	cfg.DevicePollInterval = time.Second
	smtp := mailtest.Start(t, mailtest.Options{})
	return &dashWorld{webWorld: serveWebWorld(t, cfg, testenv.Options{Mail: smtp}), mail: smtp}
}

// dashUser is a signed-up user with a browser of their own.
type dashUser struct {
	*webBrowser
	id, email, workspace string
	token                string // the session's CSRF token
}

func (w *dashWorld) user(t testing.TB, name, email string) *dashUser {
	t.Helper()
	b := w.browser(t)
	b.signUp(name, email)
	u := &dashUser{webBrowser: b, email: email}
	testenv.Must(t, w.a.DB.QueryRow(context.Background(), `SELECT u.id::text, w.id::text FROM users u
		JOIN workspaces w ON w.owner_user_id = u.id AND w.is_default WHERE u.email = $1`, email).Scan(&u.id, &u.workspace))
	u.token = b.csrf("/")
	return u
}

// form posts a dashboard form with the session's CSRF token.
func (u *dashUser) form(path string, form url.Values) (*http.Response, string) {
	u.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", u.token)
	return u.post(path, form)
}

// dashState is every row that says who may use what, so that a refused
// form can be shown to have changed nothing (the audit log included).
func dashState(t testing.TB, w *dashWorld) string {
	t.Helper()
	var b strings.Builder
	for _, table := range []string{"users", "teams", "team_members", "team_invitations", "team_subscriptions", "workspaces",
		"instances", "instance_grants", "oauth_clients", "registration_keys", "personal_access_tokens", "audit_log", "authz_outbox"} {
		var n int
		var sum string
		testenv.Must(t, w.a.DB.QueryRow(context.Background(),
			`SELECT count(*), md5(coalesce(string_agg(r::text, ',' ORDER BY r::text), '')) FROM `+table+` r`).Scan(&n, &sum))
		fmt.Fprintf(&b, "%s %d %s\n", table, n, sum)
	}
	return b.String()
}

// unchanged runs a refused request and checks that it changed nothing.
func unchanged(t testing.TB, w *dashWorld, do func()) {
	t.Helper()
	before := dashState(t, w)
	do()
	if after := dashState(t, w); after != before {
		t.Fatalf("a refused request changed rows:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// dashExpect is webExpect where a text may also span table cells and
// other blocks (tags read as spaces).
func dashExpect(t testing.TB, resp *http.Response, body string, status int, texts ...string) {
	t.Helper()
	spaced := strings.Join(strings.Fields(html.UnescapeString(webTags.ReplaceAllString(body, " "))), " ")
	var rest []string
	for _, s := range texts {
		if !strings.Contains(spaced, s) {
			rest = append(rest, s)
		}
	}
	webExpect(t, resp, body, status, rest...)
}

func dashLocation(t testing.TB, resp *http.Response, body, prefix string) string {
	t.Helper()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, prefix) {
		t.Fatalf("want a redirect to %s…, got %d to %q\n%s", prefix, resp.StatusCode, loc, body)
	}
	return loc
}

func (w *dashWorld) createTeam(t testing.TB, u *dashUser, name string) string {
	t.Helper()
	resp, body := u.form("/teams", url.Values{"name": {name}, "billing_email": {u.email}})
	loc := dashLocation(t, resp, body, "/teams/")
	id, _, _ := strings.Cut(strings.TrimPrefix(loc, "/teams/"), "?")
	return id
}

func (w *dashWorld) teamWorkspace(t testing.TB, teamID string) string {
	t.Helper()
	var ws string
	testenv.Must(t, w.a.DB.QueryRow(context.Background(), `SELECT id::text FROM workspaces WHERE owner_team_id = $1 AND is_default`, teamID).Scan(&ws))
	return ws
}

var dashInvitationLink = regexp.MustCompile(`http://\S+/invitations/accept\?token=\S+`)

// invitationLink waits for the invitation mail to `to` and returns its link.
func (w *dashWorld) invitationLink(t testing.TB, to string) string {
	t.Helper()
	for {
		m := w.mail.WaitFor(t, to, 15*time.Second)
		if !strings.HasPrefix(m.Subject, "You are invited") {
			continue // a verification mail
		}
		link := dashInvitationLink.FindString(m.Text)
		if link == "" {
			t.Fatalf("no link in the invitation mail:\n%s", m.Text)
		}
		return link
	}
}

// TestDashboardSignedOut: every page sends a signed-out browser to sign in
// and back; every form does too, and changes nothing.
func TestDashboardSignedOut(t *testing.T) {
	w := newDashWorld(t)
	b := w.browser(t)
	id := "0b5e6a2e-4f7c-4f43-9d39-0f3c2a7d9e11"
	for _, path := range []string{"/", "/instances", "/instances/" + id, "/teams/" + id, "/teams/" + id + "/audit",
		"/keys", "/developer", "/settings", "/settings/export"} {
		resp, body := b.get(path)
		dashLocation(t, resp, body, "/signin?next=")
	}
	unchanged(t, w, func() {
		for path, back := range map[string]string{
			"/teams":                          "/",
			"/teams/" + id + "/invitations":   "/teams/" + id,
			"/teams/" + id + "/members/" + id: "/teams/" + id,
			"/instances/" + id + "/rename":    "/instances/" + id,
			"/instances/" + id + "/grants":    "/instances/" + id,
			"/instances/" + id + "/delete":    "/instances/" + id,
			"/keys":                           "/keys",
			"/developer/tokens":               "/developer",
			"/settings/delete":                "/settings",
			"/invitations/accept":             "/invitations/accept",
		} {
			resp, body := b.post(path, url.Values{"name": {"x"}, "token": {"abc"}})
			loc := dashLocation(t, resp, body, "/signin?next=")
			if next, _ := url.QueryUnescape(strings.TrimPrefix(loc, "/signin?next=")); !strings.HasPrefix(next, back) {
				t.Fatalf("POST %s: back to %q, want %q", path, next, back)
			}
		}
	})
}

// TestDashboardCSRF: a form without the session's token is refused with
// 403 and changes nothing.
func TestDashboardCSRF(t *testing.T) {
	ctx := context.Background()
	w := newDashWorld(t)
	anne := w.user(t, "Anne", "anne@example.test")
	bob := w.user(t, "Bob", "bob@example.test")
	team := w.createTeam(t, anne, "Red")
	in := testenv.ClaimedInstance(t, w.a, anne.id, anne.workspace, "laptop")
	_, err := w.a.Access.Grant(ctx, in.ID, access.Grantee{UserID: bob.id}, nil, anne.id)
	testenv.Must(t, err)
	_, tok, err := w.a.PATs.Create(ctx, pats.NewToken{UserID: anne.id, Name: "ci", Via: pats.ViaOperator})
	testenv.Must(t, err)
	_, key, err := w.a.RegKeys.Create(ctx, regkeys.NewKey{WorkspaceID: anne.workspace, CreatedBy: anne.id, NamePrefix: "ci"})
	testenv.Must(t, err)
	inv, invToken, err := w.a.Access.Invite(ctx, team, "carol@example.test", access.RoleMember, false, 0)
	testenv.Must(t, err)
	_, err = w.a.Access.SetTeamMember(ctx, team, bob.id, access.RoleMember, false)
	testenv.Must(t, err)
	forms := map[string]url.Values{
		"/teams":                          {"name": {"Blue"}, "billing_email": {"b@example.test"}},
		"/teams/" + team + "/invitations": {"email": {"dan@example.test"}, "role": {"member"}},
		"/teams/" + team + "/invitations/" + inv.ID + "/delete": {},
		"/teams/" + team + "/members/" + bob.id:                 {"role": {"admin"}},
		"/teams/" + team + "/members/" + bob.id + "/remove":     {},
		"/instances/" + in.ID + "/rename":                       {"name": {"renamed"}},
		"/instances/" + in.ID + "/move":                         {"workspace_id": {w.teamWorkspace(t, team)}},
		"/instances/" + in.ID + "/credentials":                  {},
		"/instances/" + in.ID + "/assistant":                    {"enabled": {"false"}},
		"/instances/" + in.ID + "/delete":                       {"confirm": {"yes"}},
		"/instances/" + in.ID + "/grants":                       {"email": {"bob@example.test"}},
		"/instances/" + in.ID + "/grants/revoke":                {"user_id": {bob.id}},
		"/keys":                                                 {"workspace_id": {anne.workspace}, "name_prefix": {"x"}},
		"/keys/" + key.ID + "/revoke":                           {},
		"/developer/tokens":                                     {"name": {"x"}},
		"/developer/tokens/" + tok.ID + "/revoke":               {},
		"/settings/delete":                                      {"password": {webPassword}},
		"/invitations/accept":                                   {"token": {invToken}},
	}
	for path, form := range forms {
		unchanged(t, w, func() {
			resp, body := anne.post(path, form) // no csrf field
			dashExpect(t, resp, body, http.StatusForbidden, "This form has expired")
			form.Set("csrf", "not-the-token-"+strings.Repeat("x", 29))
			resp, body = anne.post(path, form)
			dashExpect(t, resp, body, http.StatusForbidden, "This form has expired")
		})
	}
}

// TestDashboardHome: the plan, workspaces and teams, and creating a team.
func TestDashboardHome(t *testing.T) {
	ctx := context.Background()
	w := newDashWorld(t)
	anne := w.user(t, "Anne", "anne@example.test")
	resp, body := anne.get("/")
	dashExpect(t, resp, body, http.StatusOK, "signed in as", "Your plan: Basic", "Default (yours) · you manage it",
		"You are in no team yet", `href="/instances"`, `href="/keys"`, `href="/developer"`, `href="/settings"`, `href="/settings/password"`)

	unchanged(t, w, func() {
		resp, body = anne.form("/teams", url.Values{"name": {"  "}, "billing_email": {"anne@example.test"}})
		dashExpect(t, resp, body, http.StatusBadRequest, "Name the team", "No team was created")
		resp, body = anne.form("/teams", url.Values{"name": {strings.Repeat("n", 201)}, "billing_email": {"anne@example.test"}})
		dashExpect(t, resp, body, http.StatusBadRequest, "Name the team")
		resp, body = anne.form("/teams", url.Values{"name": {"Red Team"}, "billing_email": {"not an address"}})
		// What was typed comes back.
		dashExpect(t, resp, body, http.StatusBadRequest, "Enter the billing email", `value="Red Team"`, `value="not an address"`)
	})
	team := w.createTeam(t, anne, "Red Team")
	resp, body = anne.get("/teams/" + team + "?done=team-created")
	dashExpect(t, resp, body, http.StatusOK, "The team is created", "Your role in this team: owner", "No subscription")
	// ?done= only picks one of the fixed notices.
	resp, body = anne.get("/teams/" + team + "?done=%3Cscript%3E")
	dashExpect(t, resp, body, http.StatusOK)
	if strings.Contains(body, "<script>") || strings.Contains(body, `id="notice"`) {
		t.Fatal("?done= put text on the page")
	}
	testenv.AssertCheck(t, w.a, anne.id, "can_manage_members", authz.TeamObject(team), true)
	entries, err := w.a.Audit.Entries(ctx, audit.Filter{TeamID: team, ViewerID: anne.id})
	testenv.Must(t, err)
	if len(entries) != 1 || entries[0].Action != audit.TeamCreate || entries[0].ActorLabel != "anne@example.test" ||
		entries[0].IP == nil || *entries[0].IP != "127.0.0.1" {
		t.Fatalf("audit of the creation: %+v", entries)
	}
	// A seat of a subscription gives its plan (the user_plans view).
	_, err = w.a.Access.SetTeamSubscription(ctx, team, "team", 2, false, nil)
	testenv.Must(t, err)
	_, err = w.a.DB.Exec(ctx, `UPDATE team_members SET use_seat = true WHERE team_id = $1 AND user_id = $2`, team, anne.id)
	testenv.Must(t, err)
	resp, body = anne.get("/")
	dashExpect(t, resp, body, http.StatusOK, "Your plan: Team", "Red Team: owner, with a seat", "Default (team Red Team) · you manage it")
}

// TestDashboardTeam: invitations (mailed), seats, roles, removal, the audit
// log, and who may do which.
func TestDashboardTeam(t *testing.T) {
	ctx := context.Background()
	w := newDashWorld(t)
	anne := w.user(t, "Anne", "anne@example.test")
	team := w.createTeam(t, anne, "Red")
	teamPage := "/teams/" + team

	// Without a subscription there is no seat to give.
	unchanged(t, w, func() {
		resp, body := anne.form(teamPage+"/invitations", url.Values{"email": {"bob@example.test"}, "role": {"member"}, "use_seat": {"on"}})
		dashExpect(t, resp, body, http.StatusConflict, "The team has no subscription, so no seats", "No invitation was sent")
	})
	_, err := w.a.Access.SetTeamSubscription(ctx, team, "team", 1, false, nil)
	testenv.Must(t, err)
	resp, body := anne.get(teamPage)
	dashExpect(t, resp, body, http.StatusOK, "Team: 0 of 1 seats used", "No open invitation")

	unchanged(t, w, func() {
		for _, tc := range []struct {
			form   url.Values
			status int
			says   string
		}{
			{url.Values{"email": {"bob"}, "role": {"member"}}, http.StatusBadRequest, "Enter one email address"},
			{url.Values{"email": {"Bob <bob@example.test>"}, "role": {"member"}}, http.StatusBadRequest, "Enter one email address"},
			{url.Values{"email": {"bob@example.test"}, "role": {"owner"}}, http.StatusBadRequest, "Pick the role"},
			{url.Values{"email": {"anne@example.test"}, "role": {"member"}}, http.StatusConflict, "anne@example.test is already a member"},
		} {
			resp, body := anne.form(teamPage+"/invitations", tc.form)
			dashExpect(t, resp, body, tc.status, tc.says, `id="invite-form"`)
		}
	})

	// Bob is invited with the one seat; Carol then cannot have one.
	resp, body = anne.form(teamPage+"/invitations", url.Values{"email": {"bob@example.test"}, "role": {"member"}, "use_seat": {"on"}})
	dashLocation(t, resp, body, teamPage+"?done=invited")
	bobLink := w.invitationLink(t, "bob@example.test")
	unchanged(t, w, func() {
		resp, body := anne.form(teamPage+"/invitations", url.Values{"email": {"carol@example.test"}, "role": {"admin"}, "use_seat": {"on"}})
		dashExpect(t, resp, body, http.StatusConflict, "All 1 seats of the team's subscription are taken", `value="carol@example.test"`)
	})
	resp, body = anne.form(teamPage+"/invitations", url.Values{"email": {"carol@example.test"}, "role": {"admin"}})
	dashLocation(t, resp, body, teamPage+"?done=invited")
	carolLink := w.invitationLink(t, "carol@example.test")
	resp, body = anne.get(teamPage)
	dashExpect(t, resp, body, http.StatusOK, "bob@example.test member yes", "carol@example.test admin no",
		"0 of 1 seats used, 1 more held by open invitations")

	// The link, signed out: the invitation and where to sign in or up.
	bobLinkURL, err := url.Parse(bobLink)
	testenv.Must(t, err)
	bobPath := bobLinkURL.RequestURI()
	bob := w.browser(t)
	resp, body = bob.get(bobPath)
	dashExpect(t, resp, body, http.StatusOK, "Red", "member", "bob@example.test", "Link works until")
	for _, id := range []string{"to-signup", "to-signin"} {
		m := regexp.MustCompile(`href="([^"]+)" id="` + id + `"`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no %s link:\n%s", id, body)
		}
		u, err := url.Parse(html.UnescapeString(m[1]))
		testenv.Must(t, err)
		if u.Query().Get("next") != bobPath {
			t.Fatalf("%s goes to %s, want next=%s", id, m[1], bobPath)
		}
	}
	if strings.Contains(body, `id="accept"`) {
		t.Fatal("a signed-out browser is offered to accept")
	}
	// Someone else signed in: told so, and refused.
	dan := w.user(t, "Dan", "dan@example.test")
	resp, body = dan.get(bobPath)
	dashExpect(t, resp, body, http.StatusOK, "This invitation is for bob@example.test, and you are signed in as dan@example.test")
	unchanged(t, w, func() {
		resp, body := dan.form("/invitations/accept", url.Values{"token": {bobLinkURL.Query().Get("token")}})
		dashExpect(t, resp, body, http.StatusForbidden, "This invitation is for bob@example.test")
		resp, body = dan.form("/invitations/accept", url.Values{"token": {"no-such-token"}})
		dashExpect(t, resp, body, http.StatusNotFound, "This invitation link does not work")
		resp, body = dan.get("/invitations/accept?token=no-such-token")
		dashExpect(t, resp, body, http.StatusNotFound, "This invitation link does not work")
		resp, body = dan.get("/invitations/accept")
		dashExpect(t, resp, body, http.StatusNotFound, "This invitation link does not work")
	})
	// Bob signs up with the address and accepts.
	bobUser := w.user(t, "Bob", "bob@example.test")
	resp, body = bobUser.get(bobPath)
	dashExpect(t, resp, body, http.StatusOK, `id="accept"`, "Join Red as member?")
	resp, body = bobUser.form("/invitations/accept", url.Values{"token": {bobLinkURL.Query().Get("token")}})
	dashLocation(t, resp, body, teamPage+"?done=joined")
	testenv.AssertCheck(t, w.a, bobUser.id, "member", authz.TeamObject(team), true)
	resp, body = bobUser.get(teamPage)
	dashExpect(t, resp, body, http.StatusOK, "Your role in this team: member", "Team: 1 of 1 seats used", "Bob bob@example.test member yes")
	if strings.Contains(body, `id="invite-form"`) || strings.Contains(body, "class=\"remove-member\"") {
		t.Fatal("a member is offered the admins' forms")
	}
	// The link worked once.
	resp, body = bobUser.get(bobPath)
	dashExpect(t, resp, body, http.StatusNotFound, "This invitation link does not work")

	// A member may not change the team; someone else may not even see it.
	unchanged(t, w, func() {
		resp, body := bobUser.form(teamPage+"/invitations", url.Values{"email": {"eve@example.test"}, "role": {"member"}})
		dashExpect(t, resp, body, http.StatusForbidden, "Only the team's admins may change")
		resp, body = bobUser.form(teamPage+"/members/"+anne.id+"/remove", nil)
		dashExpect(t, resp, body, http.StatusForbidden, "Only the team's admins")
		resp, body = bobUser.get(teamPage + "/audit")
		dashExpect(t, resp, body, http.StatusForbidden, "Only admins see the audit log")
		for _, path := range []string{teamPage, teamPage + "/audit", "/teams/not-a-uuid", "/teams/0b5e6a2e-4f7c-4f43-9d39-0f3c2a7d9e11"} {
			resp, body = dan.get(path)
			dashExpect(t, resp, body, http.StatusNotFound, "No such team")
		}
		resp, body = dan.form(teamPage+"/invitations", url.Values{"email": {"eve@example.test"}, "role": {"member"}})
		dashExpect(t, resp, body, http.StatusNotFound, "No such team")
	})

	// Roles and seats.
	unchanged(t, w, func() {
		for _, tc := range []struct {
			user   string
			form   url.Values
			status int
			says   string
		}{
			{bobUser.id, url.Values{"role": {"owner"}}, http.StatusBadRequest, "Pick the role"},
			{anne.id, url.Values{"role": {"admin"}}, http.StatusBadRequest, "The team's owner keeps the owner role"},
			{dan.id, url.Values{"role": {"member"}}, http.StatusNotFound, "not a member of the team"},
			{"not-a-uuid", url.Values{"role": {"member"}}, http.StatusNotFound, "not a member of the team"},
		} {
			resp, body := anne.form(teamPage+"/members/"+tc.user, tc.form)
			dashExpect(t, resp, body, tc.status, tc.says)
		}
		resp, body := anne.form(teamPage+"/members/"+anne.id+"/remove", nil)
		dashExpect(t, resp, body, http.StatusBadRequest, "The team's owner cannot be removed")
		resp, body = anne.form(teamPage+"/members/"+dan.id+"/remove", nil)
		dashExpect(t, resp, body, http.StatusNotFound, "not a member of the team")
	})
	// Carol accepts; the one seat is Bob's, so hers cannot be given.
	carolURL, err := url.Parse(carolLink)
	testenv.Must(t, err)
	carol := w.user(t, "Carol", "carol@example.test")
	resp, body = carol.form("/invitations/accept", url.Values{"token": {carolURL.Query().Get("token")}})
	dashLocation(t, resp, body, teamPage+"?done=joined")
	unchanged(t, w, func() {
		resp, body := anne.form(teamPage+"/members/"+carol.id, url.Values{"role": {"admin"}, "use_seat": {"on"}})
		dashExpect(t, resp, body, http.StatusConflict, "All 1 seats of the team's subscription are taken")
	})
	resp, body = anne.form(teamPage+"/members/"+bobUser.id, url.Values{"role": {"admin"}})
	dashLocation(t, resp, body, teamPage+"?done=member-updated")
	resp, body = anne.form(teamPage+"/members/"+carol.id, url.Values{"role": {"member"}, "use_seat": {"on"}})
	dashLocation(t, resp, body, teamPage+"?done=member-updated")
	testenv.AssertCheck(t, w.a, bobUser.id, "can_manage_members", authz.TeamObject(team), true)
	testenv.AssertCheck(t, w.a, carol.id, "can_manage_members", authz.TeamObject(team), false)

	// Bob, admin now, sees the team's tokens and removes Carol.
	_, _, err = w.a.PATs.Create(ctx, pats.NewToken{UserID: carol.id, Name: "carol's script", TeamID: team, Via: pats.ViaOperator})
	testenv.Must(t, err)
	resp, body = bobUser.get(teamPage)
	dashExpect(t, resp, body, http.StatusOK, "carol's script carol@example.test", `id="invite-form"`)
	resp, body = bobUser.form(teamPage+"/members/"+carol.id+"/remove", nil)
	dashLocation(t, resp, body, teamPage+"?done=member-removed")
	testenv.AssertCheck(t, w.a, carol.id, "member", authz.TeamObject(team), false)

	// An expired invitation, and one for someone who is a member already.
	inv, token, err := w.a.Access.Invite(ctx, team, "dan@example.test", access.RoleMember, false, 0)
	testenv.Must(t, err)
	_, err = w.a.DB.Exec(ctx, `UPDATE team_invitations SET expires_at = now() - interval '1 hour' WHERE id = $1`, inv.ID)
	testenv.Must(t, err)
	unchanged(t, w, func() {
		resp, body := dan.get("/invitations/accept?token=" + url.QueryEscape(token))
		dashExpect(t, resp, body, http.StatusGone, "This invitation expired on")
		resp, body = dan.form("/invitations/accept", url.Values{"token": {token}})
		dashExpect(t, resp, body, http.StatusGone, "This invitation expired on")
	})
	_, token, err = w.a.Access.Invite(ctx, team, "carol@example.test", access.RoleMember, false, 0)
	testenv.Must(t, err)
	_, err = w.a.Access.SetTeamMember(ctx, team, carol.id, access.RoleMember, false)
	testenv.Must(t, err)
	resp, body = carol.get("/invitations/accept?token=" + url.QueryEscape(token))
	dashExpect(t, resp, body, http.StatusOK, "You are already a member of Red")
	unchanged(t, w, func() {
		resp, body := carol.form("/invitations/accept", url.Values{"token": {token}})
		dashExpect(t, resp, body, http.StatusConflict, "You are already a member of Red")
	})
	// Withdrawing an invitation.
	invs, err := w.a.Access.Invitations(ctx, team)
	testenv.Must(t, err)
	for _, i := range invs {
		resp, body = anne.form(teamPage+"/invitations/"+i.ID+"/delete", nil)
		dashLocation(t, resp, body, teamPage+"?done=invitation-deleted")
	}
	unchanged(t, w, func() {
		resp, body := anne.form(teamPage+"/invitations/"+invs[0].ID+"/delete", nil)
		dashExpect(t, resp, body, http.StatusNotFound, "That invitation is no longer open")
	})

	// The audit log: who did what, to whom, from where.
	resp, body = anne.get(teamPage + "/audit")
	dashExpect(t, resp, body, http.StatusOK, "team.create", "invitation.create", "invitation.accept", "member.role",
		"member.remove", "invitation.delete", "anne@example.test", "bob@example.test", "127.0.0.1",
		"email: carol@example.test, role: admin, use seat: false")
	entries, err := w.a.Audit.Entries(ctx, audit.Filter{TeamID: team, ViewerID: anne.id, Limit: 500})
	testenv.Must(t, err)
	for _, e := range entries {
		if e.ActorLabel == "operator" {
			continue // the test's own setup
		}
		if e.IP == nil || *e.IP != "127.0.0.1" || e.ActorUserID == nil {
			t.Fatalf("a page's change without its actor or address: %+v", e)
		}
	}
}

// TestDashboardShareWithTeam: a manager shares an instance with every
// member of one of their own teams, and takes it back; other teams are
// neither offered nor taken.
func TestDashboardShareWithTeam(t *testing.T) {
	ctx := context.Background()
	w := newDashWorld(t)
	anne := w.user(t, "Anne", "anne@example.test")
	bob := w.user(t, "Bob", "bob@example.test")
	carol := w.user(t, "Carol", "carol@example.test")
	red := w.createTeam(t, anne, "Red")
	blue := w.createTeam(t, carol, "Blue")
	_, err := w.a.Access.SetTeamMember(ctx, red, bob.id, access.RoleMember, false)
	testenv.Must(t, err)
	reg := w.register(t)
	_, err = w.a.Access.ClaimInstance(ctx, reg.ID, anne.id, anne.workspace, "build box")
	testenv.Must(t, err)
	page := "/instances/" + reg.ID

	resp, body := anne.get(page)
	dashExpect(t, resp, body, http.StatusOK, `id="grant-team-form"`, `<option value="`+red+`">Red</option>`)
	if strings.Contains(body, blue) {
		t.Fatal("the page offers a team the viewer is not in")
	}
	unchanged(t, w, func() {
		for _, tc := range []struct {
			form url.Values
			says string
		}{
			{url.Values{"team_id": {blue}}, "Pick one of your teams"},
			{url.Values{"team_id": {""}}, "Pick one of your teams"},
			{url.Values{"team_id": {"not-a-uuid"}}, "Pick one of your teams"},
			{url.Values{"team_id": {red}, "until": {"2001-01-01"}}, "Give the end of the share as a date"},
		} {
			resp, body := anne.form(page+"/grants/team", tc.form)
			dashExpect(t, resp, body, http.StatusBadRequest, tc.says, "Nothing was shared")
		}
		// Bob, who may not manage it, may not share it either.
		resp, body := bob.form(page+"/grants/team", url.Values{"team_id": {red}})
		dashExpect(t, resp, body, http.StatusNotFound, "No such instance")
	})
	testenv.AssertCheck(t, w.a, bob.id, "can_use", authz.InstanceObject(reg.ID), false)

	resp, body = anne.form(page+"/grants/team", url.Values{"team_id": {red}})
	dashLocation(t, resp, body, page+"?done=shared")
	testenv.AssertCheck(t, w.a, bob.id, "can_use", authz.InstanceObject(reg.ID), true)
	testenv.AssertCheck(t, w.a, carol.id, "can_use", authz.InstanceObject(reg.ID), false)
	resp, body = anne.get(page)
	dashExpect(t, resp, body, http.StatusOK, "every member of the team Red", "no end")
	resp, body = bob.get("/instances")
	dashExpect(t, resp, body, http.StatusOK, "build box", "(shared with you)")

	resp, body = anne.form(page+"/grants/revoke", url.Values{"team_id": {red}})
	dashLocation(t, resp, body, page+"?done=revoked")
	testenv.AssertCheck(t, w.a, bob.id, "can_use", authz.InstanceObject(reg.ID), false)
	entries, err := w.a.Audit.Entries(ctx, audit.Filter{TeamID: red})
	testenv.Must(t, err)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	if !slices.Contains(actions, audit.Grant) || !slices.Contains(actions, audit.Revoke) {
		t.Fatalf("Red's audit log: %v; want the share and its revocation", actions)
	}
}

// TestDashboardInstances: the list, an instance's page, its management and
// its sharing, each refused without the right and with bad input.
func TestDashboardInstances(t *testing.T) {
	ctx := context.Background()
	w := newDashWorld(t)
	anne := w.user(t, "Anne", "anne@example.test")
	bob := w.user(t, "Bob", "bob@example.test")
	reg := w.register(t)
	_, err := w.a.Access.ClaimInstance(ctx, reg.ID, anne.id, anne.workspace, "build box")
	testenv.Must(t, err)
	_, err = w.a.DB.Exec(ctx, `INSERT INTO instance_last_seen (instance_id, seen_at, version, os_name, os_version) VALUES ($1, now(), '0.48.1', 'Debian', '13')`, reg.ID)
	testenv.Must(t, err)
	page := "/instances/" + reg.ID

	resp, body := anne.get("/instances")
	dashExpect(t, resp, body, http.StatusOK, "build box", "Default (yours)", "anne@example.test", `href="`+page+`"`, "online", "0.48.1", "Debian 13",
		"nobody in 30 days")
	resp, body = anne.get(page)
	dashExpect(t, resp, body, http.StatusOK, "build box", "Claimed by anne@example.test", "Only those who may use its workspace",
		`id="grant-form"`, `id="rename-form"`, `id="credentials-form"`, `id="delete-form"`, "Assistant on")
	// Bob may not use it: not found, like an instance that does not exist.
	resp, body = bob.get("/instances")
	dashExpect(t, resp, body, http.StatusOK, "No instance yet")
	unchanged(t, w, func() {
		for _, p := range []string{page, "/instances/not-a-uuid", "/instances/0b5e6a2e-4f7c-4f43-9d39-0f3c2a7d9e11"} {
			resp, body := bob.get(p)
			dashExpect(t, resp, body, http.StatusNotFound, "No such instance")
		}
		resp, body := bob.form(page+"/rename", url.Values{"name": {"mine"}})
		dashExpect(t, resp, body, http.StatusNotFound, "No such instance")
	})

	// Sharing, refused.
	unchanged(t, w, func() {
		for _, tc := range []struct {
			form   url.Values
			status int
			says   string
		}{
			{url.Values{"email": {""}}, http.StatusBadRequest, "Enter the email address"},
			{url.Values{"email": {"bob@example.test"}, "until": {"tomorrow"}}, http.StatusBadRequest, "Give the end of the share as a date"},
			{url.Values{"email": {"bob@example.test"}, "until": {"2001-01-01"}}, http.StatusBadRequest, "Give the end of the share as a date"},
			{url.Values{"email": {"anne@example.test"}}, http.StatusBadRequest, "share it with someone else"},
		} {
			resp, body := anne.form(page+"/grants", tc.form)
			dashExpect(t, resp, body, tc.status, tc.says, "Nothing was shared")
		}
	})
	// Shared with Bob until a date: the grant's tuple carries the expiry.
	// Bob has verified his address: a share by email reaches only that
	// (TestShareByEmailNeedsVerifiedAddress; an unknown address is no
	// longer refused, it waits for an account to verify it).
	markVerified(t, w.a, bob.id)
	until := time.Now().AddDate(0, 1, 0).UTC().Format(time.DateOnly)
	resp, body = anne.form(page+"/grants", url.Values{"email": {"BOB@example.test"}, "until": {until}})
	dashLocation(t, resp, body, page+"?done=shared")
	testenv.AssertCheck(t, w.a, bob.id, "can_use", authz.InstanceObject(reg.ID), true)
	var expires time.Time
	testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT expires_at FROM instance_grants WHERE instance_id = $1 AND user_id = $2`, reg.ID, bob.id).Scan(&expires))
	if want, _ := time.Parse(time.DateOnly, until); !expires.Equal(want.AddDate(0, 0, 1)) {
		t.Fatalf("grant expires at %v, want the end of %s", expires, until)
	}
	resp, body = anne.get(page)
	dashExpect(t, resp, body, http.StatusOK, "bob@example.test", `class="revoke-grant"`)
	resp, body = bob.get("/instances")
	dashExpect(t, resp, body, http.StatusOK, "build box", "(shared with you)", "Default (Anne)")
	resp, body = bob.get(page)
	dashExpect(t, resp, body, http.StatusOK, "build box", "You may use this instance")
	if strings.Contains(body, `id="grant-form"`) || strings.Contains(body, `id="delete-form"`) {
		t.Fatal("a grantee is offered the managers' forms")
	}
	// A grantee may not manage it.
	unchanged(t, w, func() {
		for _, p := range []string{"/rename", "/move", "/credentials", "/assistant", "/delete", "/grants", "/grants/revoke"} {
			resp, body := bob.form(page+p, url.Values{"name": {"mine"}, "confirm": {"yes"}, "enabled": {"false"}, "email": {"dan@example.test"}, "user_id": {bob.id}})
			dashExpect(t, resp, body, http.StatusForbidden, "Only those who manage the instance's workspace may change it: ask Anne")
		}
	})

	// Rename, move, the assistant: refused input, then done.
	team := w.createTeam(t, anne, "Red")
	teamWS := w.teamWorkspace(t, team)
	unchanged(t, w, func() {
		resp, body := anne.form(page+"/rename", url.Values{"name": {"  "}})
		dashExpect(t, resp, body, http.StatusBadRequest, "Name the instance")
		resp, body = anne.form(page+"/rename", url.Values{"name": {strings.Repeat("x", 201)}})
		dashExpect(t, resp, body, http.StatusBadRequest, "Name the instance")
		for _, ws := range []string{"", anne.workspace, bob.workspace, "not-a-uuid"} {
			resp, body = anne.form(page+"/move", url.Values{"workspace_id": {ws}})
			dashExpect(t, resp, body, http.StatusBadRequest, "Pick another workspace that you may add instances to")
		}
		resp, body = anne.form(page+"/assistant", url.Values{"enabled": {"maybe"}})
		dashExpect(t, resp, body, http.StatusBadRequest, "Say whether to switch the assistant on or off")
		resp, body = anne.form(page+"/delete", nil)
		dashExpect(t, resp, body, http.StatusBadRequest, "Tick the box", "Nothing was deleted")
		resp, body = anne.form(page+"/grants/revoke", url.Values{"user_id": {anne.id}})
		dashExpect(t, resp, body, http.StatusNotFound, "not shared with them")
		resp, body = anne.form(page+"/grants/revoke", nil)
		dashExpect(t, resp, body, http.StatusNotFound, "not shared with them")
	})
	resp, body = anne.form(page+"/rename", url.Values{"name": {"ci box"}})
	dashLocation(t, resp, body, page+"?done=renamed")
	resp, body = anne.form(page+"/assistant", url.Values{"enabled": {"false"}})
	dashLocation(t, resp, body, page+"?done=assistant-off")
	testenv.AssertCheck(t, w.a, anne.id, "can_use_assistant", authz.InstanceObject(reg.ID), false)
	resp, body = anne.form(page+"/move", url.Values{"workspace_id": {teamWS}})
	dashLocation(t, resp, body, page+"?done=moved")
	resp, body = anne.get(page + "?done=moved")
	dashExpect(t, resp, body, http.StatusOK, "The instance is moved", "ci box", "Default", "Assistant off")
	var ws, name string
	testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT workspace_id::text, name FROM instances WHERE id = $1`, reg.ID).Scan(&ws, &name))
	if ws != teamWS || name != "ci box" {
		t.Fatalf("instance in %s named %q", ws, name)
	}

	// Credentials: the new secret shown once works, the old one no longer.
	resp, body = anne.form(page+"/credentials", nil)
	dashExpect(t, resp, body, http.StatusOK, "shown this once", reg.ClientID)
	secret := regexp.MustCompile(`id="secret">([^<]+)<`).FindStringSubmatch(body)
	if secret == nil {
		t.Fatalf("no secret on the page:\n%s", body)
	}
	if _, err := w.a.Clients.Authenticate(ctx, reg.ClientID, secret[1]); err != nil {
		t.Fatalf("the new secret: %v", err)
	}
	if _, err := w.a.Clients.Authenticate(ctx, reg.ClientID, reg.Secret); err == nil {
		t.Fatal("the old secret still works")
	}
	resp, body = anne.get(page)
	if strings.Contains(body, secret[1]) {
		t.Fatal("the secret is shown again")
	}

	// Revoking Bob's share: gone from his list, and from OpenFGA.
	resp, body = anne.form(page+"/grants/revoke", url.Values{"user_id": {bob.id}})
	dashLocation(t, resp, body, page+"?done=revoked")
	testenv.AssertCheck(t, w.a, bob.id, "can_use", authz.InstanceObject(reg.ID), false)
	resp, body = bob.get("/instances")
	dashExpect(t, resp, body, http.StatusOK, "No instance yet")
	resp, body = bob.get(page)
	dashExpect(t, resp, body, http.StatusNotFound, "No such instance")

	// The audit log has each change with its actor and address.
	entries, err := w.a.Audit.Entries(ctx, audit.Filter{TeamID: team, ViewerID: anne.id, Limit: 500})
	testenv.Must(t, err)
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.Action] = true
		if e.Action == audit.CredentialsReset && (e.IP == nil || *e.IP != "127.0.0.1" || e.ActorLabel != "anne@example.test") {
			t.Fatalf("credentials reset audit: %+v", e)
		}
	}
	for _, a := range []string{audit.InstanceMove, audit.CredentialsReset, audit.Revoke} {
		if !seen[a] {
			t.Fatalf("no %s in the team's audit log: %v", a, seen)
		}
	}

	// Deleting.
	resp, body = anne.form(page+"/delete", url.Values{"confirm": {"yes"}})
	dashLocation(t, resp, body, "/instances?done=deleted")
	testenv.AssertCheck(t, w.a, anne.id, "can_use", authz.InstanceObject(reg.ID), false)
	resp, body = anne.get(page)
	dashExpect(t, resp, body, http.StatusNotFound, "No such instance")
	if _, err := w.a.Clients.Authenticate(ctx, reg.ClientID, secret[1]); err == nil {
		t.Fatal("a deleted instance's secret still works")
	}
}

// TestDashboardKeys: registration keys per workspace, shown once, revoked.
func TestDashboardKeys(t *testing.T) {
	ctx := context.Background()
	w := newDashWorld(t)
	anne := w.user(t, "Anne", "anne@example.test")
	bob := w.user(t, "Bob", "bob@example.test")
	resp, body := anne.get("/keys")
	dashExpect(t, resp, body, http.StatusOK, "Default", "No key for this workspace", `id="key-form"`)
	unchanged(t, w, func() {
		for _, tc := range []struct {
			form   url.Values
			status int
			says   string
		}{
			{url.Values{"workspace_id": {anne.workspace}, "name_prefix": {""}}, http.StatusBadRequest, "Give a name prefix"},
			{url.Values{"workspace_id": {anne.workspace}, "name_prefix": {strings.Repeat("p", 101)}}, http.StatusBadRequest, "Give a name prefix"},
			{url.Values{"workspace_id": {anne.workspace}, "name_prefix": {"ci"}, "description": {strings.Repeat("d", 501)}}, http.StatusBadRequest, "500 characters"},
			{url.Values{"workspace_id": {anne.workspace}, "name_prefix": {"ci"}, "expires": {"2001-01-01"}}, http.StatusBadRequest, "Give the expiry"},
			{url.Values{"workspace_id": {anne.workspace}, "name_prefix": {"ci"}, "expires": {"soon"}}, http.StatusBadRequest, "Give the expiry"},
			{url.Values{"workspace_id": {bob.workspace}, "name_prefix": {"ci"}}, http.StatusBadRequest, "Pick a workspace you may add instances to"},
			{url.Values{"workspace_id": {"not-a-uuid"}, "name_prefix": {"ci"}}, http.StatusBadRequest, "Pick a workspace"},
		} {
			resp, body := anne.form("/keys", tc.form)
			dashExpect(t, resp, body, tc.status, tc.says, "No key was made")
		}
	})
	expires := time.Now().AddDate(0, 0, 10).UTC().Format(time.DateOnly)
	resp, body = anne.form("/keys", url.Values{"workspace_id": {anne.workspace}, "name_prefix": {"ci"}, "description": {"CI runners"},
		"expires": {expires}, "reusable": {"on"}})
	dashExpect(t, resp, body, http.StatusOK, "shown this once", "CI runners", "reusable", "0 times")
	key := regexp.MustCompile(`id="secret">(ckey_[^<]+)<`).FindStringSubmatch(body)
	if key == nil {
		t.Fatalf("no key on the page:\n%s", body)
	}
	keys, err := w.a.RegKeys.List(ctx, anne.workspace)
	testenv.Must(t, err)
	if len(keys) != 1 || !keys[0].Reusable || keys[0].NamePrefix != "ci" || keys[0].ExpiresAt == nil {
		t.Fatalf("keys: %+v", keys)
	}
	resp, body = anne.get("/keys")
	dashExpect(t, resp, body, http.StatusOK, keys[0].Hint+"…")
	if strings.Contains(body, key[1]) {
		t.Fatal("the key is shown again")
	}
	// Bob cannot revoke Anne's key, nor list it.
	resp, body = bob.get("/keys")
	if strings.Contains(body, keys[0].Hint) {
		t.Fatal("Bob sees Anne's key")
	}
	unchanged(t, w, func() {
		resp, body := bob.form("/keys/"+keys[0].ID+"/revoke", nil)
		dashExpect(t, resp, body, http.StatusNotFound, "No such key")
		resp, body = anne.form("/keys/not-a-uuid/revoke", nil)
		dashExpect(t, resp, body, http.StatusNotFound, "No such key")
	})
	resp, body = anne.form("/keys/"+keys[0].ID+"/revoke", nil)
	dashLocation(t, resp, body, "/keys?done=key-revoked")
	resp, body = anne.get("/keys?done=key-revoked")
	dashExpect(t, resp, body, http.StatusOK, "The registration key is revoked", "revoked")
	unchanged(t, w, func() {
		resp, body := anne.form("/keys/"+keys[0].ID+"/revoke", nil)
		dashExpect(t, resp, body, http.StatusNotFound, "No such key")
	})
}

// TestDashboardDeveloper: personal access tokens, shown once, revoked.
func TestDashboardDeveloper(t *testing.T) {
	ctx := context.Background()
	w := newDashWorld(t)
	anne := w.user(t, "Anne", "anne@example.test")
	bob := w.user(t, "Bob", "bob@example.test")
	team := w.createTeam(t, anne, "Red")
	bobTeam := w.createTeam(t, bob, "Blue")
	resp, body := anne.get("/developer")
	dashExpect(t, resp, body, http.StatusOK, "No token yet", "Red")
	unchanged(t, w, func() {
		for _, tc := range []struct {
			form url.Values
			says string
		}{
			{url.Values{"name": {" "}}, "Name the token"},
			{url.Values{"name": {strings.Repeat("n", 201)}}, "Name the token"},
			{url.Values{"name": {"ci"}, "expires": {"2001-01-01"}}, "Give the expiry"},
			{url.Values{"name": {"ci"}, "expires": {"31/12/2099"}}, "Give the expiry"},
			{url.Values{"name": {"ci"}, "team_id": {bobTeam}}, "Pick a team you are a member of"},
			{url.Values{"name": {"ci"}, "team_id": {"not-a-uuid"}}, "Pick a team you are a member of"},
		} {
			resp, body := anne.form("/developer/tokens", tc.form)
			dashExpect(t, resp, body, http.StatusBadRequest, tc.says, "No token was made")
		}
	})
	resp, body = anne.form("/developer/tokens", url.Values{"name": {"deploy"}, "team_id": {team},
		"expires": {time.Now().AddDate(1, 0, 0).UTC().Format(time.DateOnly)}})
	dashExpect(t, resp, body, http.StatusOK, "shown this once", "deploy", "Red")
	secret := regexp.MustCompile(`id="secret">(caido_[^<]+)<`).FindStringSubmatch(body)
	if secret == nil {
		t.Fatalf("no token on the page:\n%s", body)
	}
	tok, err := w.a.PATs.Authenticate(ctx, secret[1])
	testenv.Must(t, err)
	if tok.UserID != anne.id || tok.TeamID != team || tok.ExpiresAt == nil {
		t.Fatalf("token: %+v", tok)
	}
	unchanged(t, w, func() {
		resp, body := bob.form("/developer/tokens/"+tok.ID+"/revoke", nil)
		dashExpect(t, resp, body, http.StatusNotFound, "No such token")
		resp, body = anne.form("/developer/tokens/nope/revoke", nil)
		dashExpect(t, resp, body, http.StatusNotFound, "No such token")
	})
	resp, body = anne.form("/developer/tokens/"+tok.ID+"/revoke", nil)
	dashLocation(t, resp, body, "/developer?done=token-revoked")
	if _, err := w.a.PATs.Authenticate(ctx, secret[1]); err == nil {
		t.Fatal("a revoked token works")
	}
	resp, body = anne.get("/developer?done=token-revoked")
	dashExpect(t, resp, body, http.StatusOK, "The token is revoked", "No token yet")
}

// TestDashboardSettings: the profile, the export, and deleting the account
// as access.DeleteAccount decides.
func TestDashboardSettings(t *testing.T) {
	ctx := context.Background()
	w := newDashWorld(t)
	anne := w.user(t, "Anne", "anne@example.test")
	bob := w.user(t, "Bob", "bob@example.test")
	team := w.createTeam(t, anne, "Red")
	w.createTeam(t, anne, "Solo")
	_, err := w.a.Access.SetTeamMember(ctx, team, bob.id, access.RoleMember, false)
	testenv.Must(t, err)
	testenv.ClaimedInstance(t, w.a, anne.id, anne.workspace, "laptop")

	resp, body := anne.get("/settings")
	dashExpect(t, resp, body, http.StatusOK, "Anne", "anne@example.test", "Verified", `href="/settings/password"`, `href="/settings/export"`,
		"Instances in your own workspace are deleted", "Instances you claimed into a team's workspace stay the team's",
		"The team Solo, of which you are the only member, is deleted with its instances",
		"You own the team Red and it has no other admin")

	resp, body = anne.get("/settings/export")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d %v", resp.StatusCode, resp.Header)
	}
	var export map[string]any
	testenv.Must(t, json.Unmarshal([]byte(body), &export))
	if !strings.Contains(body, "anne@example.test") || export["teams"] == nil {
		t.Fatalf("export: %s", body)
	}

	unchanged(t, w, func() {
		resp, body := anne.form("/settings/delete", nil)
		dashExpect(t, resp, body, http.StatusBadRequest, "Enter your password", "Nothing was deleted")
		resp, body = anne.form("/settings/delete", url.Values{"password": {"not my password"}})
		dashExpect(t, resp, body, http.StatusBadRequest, "That is not your password", "Nothing was deleted")
		// Red has Bob and no admin to pass it to.
		resp, body = anne.form("/settings/delete", url.Values{"password": {webPassword}})
		dashExpect(t, resp, body, http.StatusConflict, "make one of them admin first", "Nothing was deleted")
	})
	_, err = w.a.Access.UpdateMember(ctx, team, bob.id, access.RoleAdmin, false)
	testenv.Must(t, err)
	resp, body = anne.get("/settings")
	dashExpect(t, resp, body, http.StatusOK, "The team Red, which you own, passes to its longest-standing admin, Bob (bob@example.test)")
	resp, body = anne.form("/settings/delete", url.Values{"password": {webPassword}})
	dashExpect(t, resp, body, http.StatusOK, "Your account and what was yours are deleted")
	if strings.Contains(body, `id="nav"`) {
		t.Fatal("the page after deletion shows the account")
	}
	if _, err := w.a.Access.AccountByEmail(ctx, "anne@example.test"); err == nil {
		t.Fatal("the account is still there")
	}
	resp, body = anne.get("/")
	dashLocation(t, resp, body, "/signin")
	testenv.AssertCheck(t, w.a, bob.id, "owner", authz.TeamObject(team), true)
}
