package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/audit"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/config"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// matrixModel is the test's own account of who may use and manage what,
// kept from the setup and the changes the test makes, never read from the
// server. It restates model.fga: a workspace's instances may be used by its
// owning user, or by a member of its owning team who holds a seat of the
// team's subscription while it lasts (every member, with seats off); its
// managers are that user, or the team's owner and admins, seat or not; an
// instance may be used by those and by its live grantees (a user, or every
// member of a team: a share needs no seat), and managed by its workspace's
// managers.
type matrixModel struct {
	roles     map[string]map[string]access.Role // team → user → role
	seats     map[string]map[string]bool        // team → user → holds a seat (use_seat)
	subEnds   map[string]time.Time              // team → when its subscription ends (none: it does not)
	seatsOff  bool                              // CAIDO_CLOUD_SEATS=off
	wsUser    map[string]string                 // workspace → owning user
	wsTeam    map[string]string                 // workspace → owning team
	workspace map[string]string                 // instance → workspace
	grants    map[string][]matrixGrant          // instance → grants
}

type matrixGrant struct {
	user, team string
	expires    *time.Time
}

// usesInstancesOf: user may use the instances of workspace ws.
func (m *matrixModel) usesInstancesOf(user, ws string, now time.Time) bool {
	if m.wsUser[ws] == user {
		return true
	}
	team := m.wsTeam[ws]
	if team == "" || m.roles[team][user] == "" {
		return false
	}
	if m.seatsOff {
		return true
	}
	end, ends := m.subEnds[team]
	return m.seats[team][user] && (!ends || now.Before(end))
}

func (m *matrixModel) canUse(user, instance string, now time.Time) bool {
	if m.usesInstancesOf(user, m.workspace[instance], now) {
		return true
	}
	for _, g := range m.grants[instance] {
		if g.expires != nil && !now.Before(*g.expires) {
			continue
		}
		if g.user == user || g.team != "" && m.roles[g.team][user] != "" {
			return true
		}
	}
	return false
}

func (m *matrixModel) canManage(user, instance string) bool {
	ws := m.workspace[instance]
	if m.wsUser[ws] == user {
		return true
	}
	role := m.roles[m.wsTeam[ws]][user]
	return role == access.RoleOwner || role == access.RoleAdmin
}

func (m *matrixModel) grant(instance string, g matrixGrant) {
	m.revoke(instance, g.user+g.team)
	m.grants[instance] = append(m.grants[instance], g)
}

func (m *matrixModel) revoke(instance, grantee string) {
	m.grants[instance] = slices.DeleteFunc(m.grants[instance], func(g matrixGrant) bool { return g.user+g.team == grantee })
}

// TestAuthorizationMatrix: 3 teams, 9 users, 12 instances in personal and
// team workspaces, shared with users and teams (one grant expiring within
// seconds), members with and without seats (an admin without one in two
// teams, a team whose subscription ends within seconds); every (user,
// instance) pair is asked through the HTTP API with the user's PAT (GET
// /api/v1/instances/{id}: 200 with the right use and manage flags, or 404;
// 403 saying to ask for a seat, to a member without one) and through the
// dashboard with the user's browser session (the instance page shown, with
// the managers' forms to managers only);
// and each user's GET /api/v1/instances) against the expected table,
// before and after a round of grants, revocations, role changes, a seat
// released and one taken, member removals and a move made through the API.
// A removed member's session on a team instance ends, and so does the
// session of one whose seat was released. All of it twice: with seats
// enforced (the default) and with CAIDO_CLOUD_SEATS=off.
func TestAuthorizationMatrix(t *testing.T) {
	for _, seatsOff := range []bool{false, true} {
		name := "seats enforced"
		if seatsOff {
			name = "seats off"
		}
		t.Run(name, func(t *testing.T) { authorizationMatrix(t, seatsOff) })
	}
}

func authorizationMatrix(t *testing.T, seatsOff bool) {
	w := newAPIWorldConfig(t, testenv.Options{}, func(cfg *config.Config) { cfg.SeatsOff = seatsOff })
	ctx := context.Background()
	m := &matrixModel{roles: map[string]map[string]access.Role{}, seats: map[string]map[string]bool{}, subEnds: map[string]time.Time{},
		seatsOff: seatsOff, wsUser: map[string]string{}, wsTeam: map[string]string{},
		workspace: map[string]string{}, grants: map[string][]matrixGrant{}}

	// Users u0…u8, each with a PAT of no team.
	var users []access.User
	pat := map[string]string{}
	name := map[string]string{}
	for i := range 9 {
		u := testenv.User(t, w.a, fmt.Sprintf("m%d@example.test", i))
		users = append(users, u)
		pat[u.ID] = w.pat(t, u.ID, "")
		name[u.ID] = fmt.Sprintf("u%d", i)
		m.wsUser[u.DefaultWorkspaceID] = u.ID
	}
	// Every one has verified their address: shares by email reach only
	// verified accounts (TestShareByEmailNeedsVerifiedAddress).
	for _, u := range users {
		markVerified(t, w.a, u.ID)
	}
	u := func(i int) access.User { return users[i] }
	// Each also has a signed-in browser: the dashboard is asked every pair
	// too.
	page := map[string]func(path string) (int, string){}
	for _, usr := range users {
		sess, err := w.a.Accounts.StartSession(ctx, usr.ID)
		testenv.Must(t, err)
		page[usr.ID] = func(path string) (int, string) {
			req, _ := http.NewRequest(http.MethodGet, w.base+path, nil)
			req.AddCookie(&http.Cookie{Name: "cc_session", Value: sess.Token})
			resp, err := http.DefaultClient.Do(req)
			testenv.Must(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
	}

	// Teams: T1 (owner u0, admin u1, members u2 u3), T2 (owner u4, members
	// u5 u1), T3 (owner u6, member u7). u8 is in none.
	newTeam := func(owner int, tname string) access.Team {
		tm, _, err := w.a.Access.CreateTeam(ctx, u(owner).ID, tname, "billing@example.test")
		testenv.Must(t, err)
		m.roles[tm.ID] = map[string]access.Role{u(owner).ID: access.RoleOwner}
		m.seats[tm.ID] = map[string]bool{}
		m.wsTeam[tm.DefaultWorkspaceID] = tm.ID
		name[tm.ID] = tname
		return tm
	}
	addMember := func(tm access.Team, i int, role access.Role) {
		_, err := w.a.Access.SetTeamMember(ctx, tm.ID, u(i).ID, role, false)
		testenv.Must(t, err)
		m.roles[tm.ID][u(i).ID] = role
	}
	t1, t2, t3 := newTeam(0, "T1"), newTeam(4, "T2"), newTeam(6, "T3")
	addMember(t1, 1, access.RoleAdmin)
	addMember(t1, 2, access.RoleMember)
	addMember(t1, 3, access.RoleMember)
	addMember(t2, 5, access.RoleMember)
	addMember(t2, 1, access.RoleMember)
	addMember(t3, 7, access.RoleMember)
	// Seats: in T1 all but the admin u1 (three seats, all used); in T2 the
	// owner and u5, not u1; in T3 both (the round ends T3's subscription).
	seat := func(tm access.Team, is ...int) {
		var ids []string
		for _, i := range is {
			ids = append(ids, u(i).ID)
			m.seats[tm.ID][u(i).ID] = true
		}
		testenv.Seat(t, w.a, tm.ID, ids...)
	}
	seat(t1, 0, 2, 3)
	seat(t2, 4, 5)
	seat(t3, 6, 7)

	// Twelve instances; i5 is a registered one, for a real session.
	var instances []string
	claim := func(claimer int, ws, iname string) string {
		in := testenv.ClaimedInstance(t, w.a, u(claimer).ID, ws, iname)
		m.workspace[in.ID] = ws
		instances = append(instances, in.ID)
		name[in.ID] = iname
		return in.ID
	}
	i0 := claim(0, u(0).DefaultWorkspaceID, "i0")
	i1 := claim(2, u(2).DefaultWorkspaceID, "i1")
	i2 := claim(5, u(5).DefaultWorkspaceID, "i2")
	i3 := claim(8, u(8).DefaultWorkspaceID, "i3")
	i4 := claim(7, u(7).DefaultWorkspaceID, "i4")
	reg := w.register(t)
	_, err := w.a.Access.ClaimInstance(ctx, reg.ID, u(0).ID, t1.DefaultWorkspaceID, "i5")
	testenv.Must(t, err)
	i5 := reg.ID
	m.workspace[i5] = t1.DefaultWorkspaceID
	instances = append(instances, i5)
	name[i5] = "i5"
	i6 := claim(1, t1.DefaultWorkspaceID, "i6")
	i7 := claim(4, t2.DefaultWorkspaceID, "i7")
	i8 := claim(5, t2.DefaultWorkspaceID, "i8")
	i9 := claim(6, t3.DefaultWorkspaceID, "i9")
	i10 := claim(7, t3.DefaultWorkspaceID, "i10")
	i11 := claim(0, t1.DefaultWorkspaceID, "i11")

	// Shares made in the setup.
	inHour := time.Now().Add(time.Hour)
	for _, g := range []struct {
		instance string
		to       matrixGrant
	}{
		{i0, matrixGrant{user: u(8).ID}},
		{i3, matrixGrant{team: t3.ID}},
		{i5, matrixGrant{user: u(5).ID}},
		{i7, matrixGrant{team: t1.ID}},
		{i9, matrixGrant{user: u(2).ID, expires: &inHour}},
		{i2, matrixGrant{user: u(6).ID}},
	} {
		_, err := w.a.Access.Grant(ctx, g.instance, access.Grantee{UserID: g.to.user, TeamID: g.to.team}, g.to.expires, "")
		testenv.Must(t, err)
		m.grant(g.instance, g.to)
	}

	// u3 signs in at i5 through the device flow: a real session; so does
	// u2, whose seat the round releases.
	session := reg.SignIn(t, w.a, u(3).ID, "profile:read").AccessToken
	if status := w.sessionStatus(t, session); status != http.StatusOK {
		t.Fatalf("u3's session before the removal: %d", status)
	}
	seatSession := reg.SignIn(t, w.a, u(2).ID, "profile:read").AccessToken

	checkAll := func(phase string) {
		t.Helper()
		now := time.Now()
		pairs, mismatches := 0, 0
		var table []string
		for _, usr := range users {
			row := fmt.Sprintf("%-4s", name[usr.ID]+":")
			var want []string
			for _, in := range instances {
				use, manage := m.canUse(usr.ID, in, now), m.canManage(usr.ID, in)
				status, body := w.call(t, pat[usr.ID], "GET", "/api/v1/instances/"+in, nil)
				gotUse, gotManage := false, false
				if status == http.StatusOK {
					rights := decodeAs[map[string]any](t, body)["rights"].(map[string]any)
					gotUse, gotManage = rights["use"] == true, rights["manage"] == true
				} else if status != http.StatusNotFound && !(status == http.StatusForbidden && strings.Contains(string(body), "takes a seat")) {
					// 404, or for a member of the owning team without a
					// seat, 403 saying to ask for one (sharing.SubjectSeat).
					t.Errorf("%s: %s GET %s: %d %s", phase, name[usr.ID], name[in], status, body)
				}
				// The instance page: shown to whoever may use or manage it,
				// with the managers' forms to managers only.
				pageStatus, pageBody := page[usr.ID]("/instances/" + in)
				shown, forms := pageStatus == http.StatusOK, strings.Contains(pageBody, `id="delete-form"`)
				if pageStatus != http.StatusOK && pageStatus != http.StatusNotFound && !(pageStatus == http.StatusForbidden && strings.Contains(pageBody, "takes a seat")) {
					t.Errorf("%s: %s's page of %s: %d", phase, name[usr.ID], name[in], pageStatus)
				}
				if shown != (use || manage) || forms != manage {
					mismatches++
					t.Errorf("%s: %s's page of %s: shown %v with the managers' forms %v, want use %v manage %v",
						phase, name[usr.ID], name[in], shown, forms, use, manage)
				}
				pairs++
				if gotUse != use || gotManage != manage {
					mismatches++
					t.Errorf("%s: %s on %s: use %v manage %v, want use %v manage %v", phase, name[usr.ID], name[in], gotUse, gotManage, use, manage)
				}
				cell := "."
				if use || manage {
					want = append(want, in)
				}
				switch {
				case use && manage:
					cell = "M"
				case use:
					cell = "U"
				case manage:
					cell = "m" // manages without using: an admin without a seat
				}
				row += fmt.Sprintf("%4s", cell)
			}
			table = append(table, row)
			// The list says the same.
			var got []string
			for _, in := range decodeAs[[]map[string]any](t, w.expect(t, pat[usr.ID], "GET", "/api/v1/instances", nil, http.StatusOK, "")) {
				got = append(got, in["id"].(string))
			}
			sort.Strings(got)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				mismatches++
				t.Errorf("%s: %s's list %v, want %v", phase, name[usr.ID], got, want)
			}
		}
		header := fmt.Sprintf("%-4s", "")
		for _, in := range instances {
			header += fmt.Sprintf("%4s", name[in])
		}
		t.Logf("%s: %d (user, instance) pairs checked through the API and the dashboard (and %d lists), %d mismatches; U use, M use and manage, m manage only:\n%s\n%s",
			phase, pairs, len(users), mismatches, header, joinLines(table))
		if pairs != len(users)*len(instances) || mismatches != 0 {
			t.Fatalf("%s: %d pairs, %d mismatches", phase, pairs, mismatches)
		}
	}
	checkAll("before")

	// The round, through the API.
	teamPAT := func(i int, tm access.Team) string { return w.pat(t, u(i).ID, tm.ID) }
	// Grants: u2 shares personal i1 with u3 by email; u1 shares T1's i6
	// with the team T2 (u6, T3's owner, may not share i10 with it); u4
	// shares i8 with u1; u7 shares personal
	// i4 with u8 for eight seconds (time for the steps between on a loaded machine).
	w.expect(t, pat[u(2).ID], "POST", "/api/v1/instances/"+i1+"/grants", map[string]any{"user_email": u(3).Email}, http.StatusAccepted, "")
	m.grant(i1, matrixGrant{user: u(3).ID})
	// u6 manages i10 but is not in T2: T2 is answered as a team that does
	// not exist. u1, an admin of T1 and a member of T2, shares T1's i6 with T2.
	w.expect(t, pat[u(6).ID], "POST", "/api/v1/instances/"+i10+"/grants", map[string]any{"team_id": t2.ID}, http.StatusNotFound, "NOT_FOUND")
	w.expect(t, pat[u(1).ID], "POST", "/api/v1/instances/"+i6+"/grants", map[string]any{"team_id": t2.ID}, http.StatusCreated, "")
	m.grant(i6, matrixGrant{team: t2.ID})
	w.expect(t, pat[u(4).ID], "POST", "/api/v1/instances/"+i8+"/grants", map[string]any{"user_email": u(1).Email}, http.StatusAccepted, "")
	m.grant(i8, matrixGrant{user: u(1).ID})
	soon := time.Now().Add(8 * time.Second).Truncate(time.Second).Add(time.Second)
	w.expect(t, pat[u(7).ID], "POST", "/api/v1/instances/"+i4+"/grants", map[string]any{"user_email": u(8).Email, "expires_at": soon.Unix()}, http.StatusAccepted, "")
	m.grant(i4, matrixGrant{user: u(8).ID, expires: &soon})
	w.expect(t, pat[u(8).ID], "GET", "/api/v1/instances/"+i4, nil, http.StatusOK, "")
	// A user may not share, nor move what they do not manage.
	w.expect(t, pat[u(3).ID], "POST", "/api/v1/instances/"+i6+"/grants", map[string]any{"user_email": u(8).Email}, http.StatusForbidden, "FORBIDDEN")
	w.expect(t, pat[u(1).ID], "PATCH", "/api/v1/instances/"+i7, map[string]any{"workspace_id": t1.DefaultWorkspaceID}, http.StatusForbidden, "FORBIDDEN")
	// T3's subscription ends when that grant does (an operator's act): its
	// members' seats end with it.
	_, err = w.a.Access.SetTeamSubscription(ctx, t3.ID, "team", 2, false, &soon)
	testenv.Must(t, err)
	m.subEnds[t3.ID] = soon
	// Revocations: u0 takes back i0 from u8; u4 takes i7 back from T1.
	w.expect(t, pat[u(0).ID], "DELETE", "/api/v1/instances/"+i0+"/grants/"+u(8).ID, nil, http.StatusOK, "")
	m.revoke(i0, u(8).ID)
	w.expect(t, pat[u(4).ID], "DELETE", "/api/v1/instances/"+i7+"/grants/"+t1.ID, nil, http.StatusOK, "")
	m.revoke(i7, t1.ID)
	// Role changes in T1: u1 becomes a member, u2 an admin.
	u0T1 := teamPAT(0, t1)
	w.expect(t, u0T1, "PATCH", "/api/v1/team/users/"+u(1).ID, map[string]any{"role": "member"}, http.StatusOK, "")
	m.roles[t1.ID][u(1).ID] = access.RoleMember
	w.expect(t, u0T1, "PATCH", "/api/v1/team/users/"+u(2).ID, map[string]any{"role": "admin"}, http.StatusOK, "")
	m.roles[t1.ID][u(2).ID] = access.RoleAdmin
	// Seats in T1: u2 (an admin now) releases theirs, and u1 takes the seat
	// freed: u2 now manages T1's instances without using them.
	w.expect(t, u0T1, "PATCH", "/api/v1/team/users/"+u(2).ID, map[string]any{"use_seat": false}, http.StatusOK, "")
	m.seats[t1.ID][u(2).ID] = false
	w.expect(t, u0T1, "PATCH", "/api/v1/team/users/"+u(1).ID, map[string]any{"use_seat": true}, http.StatusOK, "")
	m.seats[t1.ID][u(1).ID] = true
	// u1, a member of T1 now, may not move T1's i6 any more.
	w.expect(t, pat[u(1).ID], "PATCH", "/api/v1/instances/"+i6, map[string]any{"workspace_id": u(1).DefaultWorkspaceID}, http.StatusForbidden, "FORBIDDEN")
	// Member removals: u2 (admin now) removes u3 from T1; u4 removes u5
	// from T2.
	w.expect(t, pat[u(2).ID], "DELETE", "/api/v1/team/users/"+u(3).ID, nil, http.StatusOK, "")
	delete(m.roles[t1.ID], u(3).ID)
	w.expect(t, pat[u(4).ID], "DELETE", "/api/v1/team/users/"+u(5).ID, nil, http.StatusOK, "")
	delete(m.roles[t2.ID], u(5).ID)
	// A move: u0 takes T1's i11 into their own workspace.
	w.expect(t, pat[u(0).ID], "PATCH", "/api/v1/instances/"+i11, map[string]any{"workspace_id": u(0).DefaultWorkspaceID}, http.StatusOK, "")
	m.workspace[i11] = u(0).DefaultWorkspaceID

	// The removed member's session on the team's instance has ended.
	if status := w.sessionStatus(t, session); status != http.StatusUnauthorized {
		t.Fatalf("u3's session on i5 after the removal: %d, want 401", status)
	}
	var open int
	testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE user_id = $1 AND instance_id = $2 AND revoked_at IS NULL`,
		u(3).ID, i5).Scan(&open))
	if open != 0 {
		t.Fatalf("%d open sessions of u3 on i5", open)
	}
	testenv.AssertCheck(t, w.a, u(3).ID, "can_use", authz.InstanceObject(i5), false)
	// So has the session of u2, whose seat was released, with seats
	// enforced; with seats off the seat changes nothing.
	wantSeat := http.StatusUnauthorized
	if seatsOff {
		wantSeat = http.StatusOK
	}
	if status := w.sessionStatus(t, seatSession); status != wantSeat {
		t.Fatalf("u2's session on i5 after the seat was released: %d, want %d", status, wantSeat)
	}

	// Past the short grant's expiry and the end of T3's subscription, then
	// everything again.
	time.Sleep(time.Until(soon.Add(200 * time.Millisecond)))
	checkAll("after")

	// The audit log has the grant, the revocation and the removal, each
	// with its actor and address, for whom it concerns.
	// The address is for the actor and the team's admins only: whom a
	// change concerns sees it without one.
	find := func(token, query, action, actor, target string, withIP bool) {
		t.Helper()
		ip := any(nil)
		if withIP {
			ip = "127.0.0.1"
		}
		for _, e := range decodeAs[[]map[string]any](t, w.expect(t, token, "GET", "/api/v1/audit-log"+query, nil, http.StatusOK, "")) {
			if e["action"] == action && e["actor_user_id"] == actor && e["target_id"] == target && e["ip"] == ip && e["actor"] != "" {
				return
			}
		}
		t.Errorf("no %s entry by %s on %s with address %v in the view %q", action, name[actor], name[target], ip, query)
	}
	find(pat[u(2).ID], "", audit.Grant, u(2).ID, i1, true)
	find(pat[u(3).ID], "", audit.Grant, u(2).ID, i1, false) // the grantee sees it too
	find(pat[u(0).ID], "", audit.Revoke, u(0).ID, i0, true)
	find(pat[u(8).ID], "", audit.Revoke, u(0).ID, i0, false)
	find(pat[u(4).ID], "?team_id="+t2.ID, audit.Revoke, u(4).ID, i7, true)
	find(u0T1, "?team_id="+t1.ID, audit.MemberRemove, u(2).ID, u(3).ID, true)
	find(pat[u(3).ID], "", audit.MemberRemove, u(2).ID, u(3).ID, false)
	find(u0T1, "?team_id="+t1.ID, audit.MemberRole, u(0).ID, u(1).ID, true)
	find(u0T1, "?team_id="+t1.ID, audit.InstanceMove, u(0).ID, i11, true)
}

func joinLines(lines []string) string {
	out := ""
	for _, l := range lines {
		out += l + "\n"
	}
	return out
}
