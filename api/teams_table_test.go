package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/audit"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/mail/mailtest"
	"github.com/caido-cloud/caido-cloud/pats"
)

// The behaviour of team administration, one table run through both
// surfaces that offer it: the team page (a signed-in browser's forms) and
// /api/v1/team/* (personal access tokens). Both call teams.Service, so each
// row must come out the same on both. Where the two must differ, it is said
// here and nowhere else:
//
//   - The API has no team in its URL: it acts on the current team, the
//     token's. Every member's calls are made with a token of the row's
//     team; the stranger, in no team, has a token of none, so her 404 is
//     "you are not a member of any team" where the page says "No such
//     team".
//   - The owner stays: the page answers 400 (its form never offers it), the
//     API 409 CONFLICT, as each always has (teamsPage and teamsAPI read
//     both as ownerStaysOut).
//   - The team's audit log asked for by a stranger: the page's 404 "No such
//     team", the API's 403, as /api/v1/audit-log always answered a team one
//     is not in (row apiSays).
//   - A team's token exists on the API only: the row about one is the
//     API's alone (row apiOnly).

type teamsOutcome string

const (
	teamsOK         teamsOutcome = "done"
	teamsNotFound   teamsOutcome = "not found"
	teamsForbidden  teamsOutcome = "forbidden"
	teamsSeatsFull  teamsOutcome = "seats full"
	ownerStaysOut   teamsOutcome = "the owner stays"
	teamsMailFailed teamsOutcome = "mail failed"
)

// teamsOp is one thing asked of a team. down sends it to the replica whose
// mail server is gone.
type teamsOp struct {
	kind                string // invite, withdraw, update, remove, audit, members
	email, role, userID string
	invitationID        string
	seat, down          bool
}

type teamsSurface struct {
	name string
	do   func(t *testing.T, w *teamsWorld, as *teamsUser, r *teamsRow, op teamsOp) (teamsOutcome, string)
}

type teamsUser struct {
	id, email string
	browser   *webBrowser
	csrf      string
}

type teamsWorld struct {
	*apiWorld
	// down is a second replica on the same database whose mail server has
	// gone away; browsers' cookies hold there too (they ignore ports).
	down string
	mail *mailtest.Server
	// Anne owns every row's team, Carl is an admin of it and Bob a member
	// without a seat; Olga is in no team at all.
	anne, carl, bob, olga *teamsUser
	olgaPAT               string
	// other is another team of Anne's, with her token for it.
	other, otherPAT string
}

// teamsRow is a row's own team, so that rows do not see each other.
type teamsRow struct {
	team string
	// tokens are each member's token for the team.
	tokens map[string]string
	// invitation is one made by setup.
	invitation access.Invitation
}

func newTeamsWorld(t *testing.T) *teamsWorld {
	t.Helper()
	cfg := testenv.Config(t)
	cfg.DevicePollInterval = time.Second
	w := &teamsWorld{apiWorld: &apiWorld{logs: &testenv.Buffer{}}, mail: mailtest.Start(t, mailtest.Options{})}
	w.a, w.base = testenv.Serve(t, cfg, testenv.Options{Log: w.logs, Mail: w.mail})
	gone := mailtest.Start(t, mailtest.Options{})
	gone.Close()
	_, w.down = testenv.Serve(t, cfg, testenv.Options{NoMigrate: true, Mail: gone, PublicURL: w.base})
	w.loadDocuments(t)
	w.anne, w.carl, w.bob, w.olga = w.user(t, "Anne"), w.user(t, "Carl"), w.user(t, "Bob"), w.user(t, "Olga")
	w.olgaPAT = w.pat(t, w.olga.id, "")
	ctx := context.Background()
	other, _, err := w.a.Access.CreateTeam(ctx, w.anne.id, "Anne's other team", "anne@example.test")
	testenv.Must(t, err)
	w.other, w.otherPAT = other.ID, w.pat(t, w.anne.id, other.ID)
	return w
}

func (w *teamsWorld) user(t *testing.T, name string) *teamsUser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	testenv.Must(t, err)
	email := strings.ToLower(name) + "@example.test"
	b := &webBrowser{t: t, base: w.base, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	b.signUp(name, email)
	acc, err := w.a.Access.AccountByEmail(context.Background(), email)
	testenv.Must(t, err)
	return &teamsUser{id: acc.ID, email: email, browser: b, csrf: b.csrf("/")}
}

// newRow makes a team owned by Anne, with Carl its admin and Bob a member.
func (w *teamsWorld) newRow(t *testing.T) *teamsRow {
	t.Helper()
	ctx := context.Background()
	team, _, err := w.a.Access.CreateTeam(ctx, w.anne.id, "Row team", "anne@example.test")
	testenv.Must(t, err)
	_, err = w.a.Access.SetTeamMember(ctx, team.ID, w.carl.id, access.RoleAdmin, false)
	testenv.Must(t, err)
	_, err = w.a.Access.SetTeamMember(ctx, team.ID, w.bob.id, access.RoleMember, false)
	testenv.Must(t, err)
	r := &teamsRow{team: team.ID, tokens: map[string]string{}}
	for _, u := range []*teamsUser{w.anne, w.carl, w.bob} {
		secret, _, err := w.a.PATs.Create(ctx, pats.NewToken{UserID: u.id, TeamID: team.ID, Name: "row", Via: pats.ViaOperator})
		testenv.Must(t, err)
		r.tokens[u.id] = secret
	}
	return r
}

// state is what the row's team holds: members, invitations and audit
// entries, so that a refused request can be shown to change nothing.
func (w *teamsWorld) state(t *testing.T, r *teamsRow) string {
	t.Helper()
	var s string
	testenv.Must(t, w.a.DB.QueryRow(context.Background(), `SELECT
		(SELECT coalesce(string_agg(user_id::text || role || use_seat::text, ',' ORDER BY user_id), '') FROM team_members WHERE team_id = $1)
		|| '|' || (SELECT coalesce(string_agg(email || role || use_seat::text, ',' ORDER BY email), '') FROM team_invitations WHERE team_id = $1)
		|| '|' || (SELECT count(*) FROM audit_log WHERE team_id = $1)`, r.team).Scan(&s))
	return s
}

var teamsPage = teamsSurface{
	name: "page",
	do: func(t *testing.T, w *teamsWorld, as *teamsUser, r *teamsRow, op teamsOp) (teamsOutcome, string) {
		b := *as.browser
		if op.down {
			b.base = w.down
		}
		page := "/teams/" + r.team
		form := url.Values{"csrf": {as.csrf}}
		var resp *http.Response
		var body string
		switch op.kind {
		case "invite":
			form.Set("email", op.email)
			form.Set("role", op.role)
			if op.seat {
				form.Set("use_seat", "on")
			}
			resp, body = b.post(page+"/invitations", form)
		case "withdraw":
			resp, body = b.post(page+"/invitations/"+op.invitationID+"/delete", form)
		case "update":
			form.Set("role", op.role)
			if op.seat {
				form.Set("use_seat", "on")
			}
			resp, body = b.post(page+"/members/"+op.userID, form)
		case "remove":
			resp, body = b.post(page+"/members/"+op.userID+"/remove", form)
		case "audit":
			resp, body = b.get(page + "/audit")
		case "members":
			resp, body = b.get(page)
		default:
			t.Fatalf("no such op %q", op.kind)
		}
		switch s := resp.StatusCode; {
		case s == http.StatusSeeOther || s == http.StatusOK:
			return teamsOK, body
		case s == http.StatusNotFound:
			return teamsNotFound, body
		case s == http.StatusForbidden:
			return teamsForbidden, body
		case s == http.StatusConflict && strings.Contains(body, "seats"):
			return teamsSeatsFull, body
		case s == http.StatusBadRequest && strings.Contains(body, "owner"):
			return ownerStaysOut, body
		case s == http.StatusServiceUnavailable && strings.Contains(body, "The invitation mail could not be sent"):
			return teamsMailFailed, body
		}
		t.Fatalf("the page answered %d:\n%s", resp.StatusCode, body)
		return "", ""
	},
}

var teamsAPI = teamsSurface{
	name: "api",
	do: func(t *testing.T, w *teamsWorld, as *teamsUser, r *teamsRow, op teamsOp) (teamsOutcome, string) {
		token := r.tokens[as.id]
		if as == w.olga {
			token = w.olgaPAT
		}
		if op.kind == "audit-other-token" {
			token, op.kind = w.otherPAT, "audit"
		}
		base := w.base
		if op.down {
			base = w.down
		}
		var method, path string
		var body any
		switch op.kind {
		case "invite":
			method, path, body = "POST", "/api/v1/team/invitations", map[string]any{"email": op.email, "role": op.role, "use_seat": op.seat}
		case "withdraw":
			method, path = "DELETE", "/api/v1/team/invitations/"+op.invitationID
		case "update":
			method, path, body = "PATCH", "/api/v1/team/users/"+op.userID, map[string]any{"role": op.role, "use_seat": op.seat}
		case "remove":
			method, path = "DELETE", "/api/v1/team/users/"+op.userID
		case "audit":
			method, path = "GET", "/api/v1/audit-log?team_id="+r.team
		case "members":
			method, path = "GET", "/api/v1/team/users"
		default:
			t.Fatalf("no such op %q", op.kind)
		}
		// call (and its validation against the documents) goes to w.base.
		saved := w.base
		w.base = base
		status, out := w.call(t, token, method, path, body)
		w.base = saved
		switch reason := errorCode(out); {
		case status < 300:
			return teamsOK, string(out)
		case status == http.StatusNotFound && reason == "NOT_FOUND":
			return teamsNotFound, string(out)
		case status == http.StatusForbidden && reason == "FORBIDDEN":
			return teamsForbidden, string(out)
		case status == http.StatusConflict && reason == "SEATS_FULL":
			return teamsSeatsFull, string(out)
		case status == http.StatusConflict && reason == "CONFLICT":
			return ownerStaysOut, string(out)
		case status == http.StatusServiceUnavailable && reason == "MAIL_FAILED":
			return teamsMailFailed, string(out)
		}
		t.Fatalf("%s %s answered %d: %s", method, path, status, out)
		return "", ""
	},
}

type teamsCase struct {
	name string
	// setup prepares the row's team beyond newRow's.
	setup func(t *testing.T, w *teamsWorld, r *teamsRow)
	as    func(w *teamsWorld) *teamsUser
	op    func(w *teamsWorld, r *teamsRow, surface string) teamsOp
	want  teamsOutcome
	// apiWant, when set, is the API's outcome where it must differ (see
	// the top of this file).
	apiWant teamsOutcome
	// says is a text each surface's answer holds.
	says string
	// unchanged: the team's rows are as they were.
	unchanged bool
	// after checks what the action did, through the same surface.
	after   func(t *testing.T, w *teamsWorld, s teamsSurface, r *teamsRow)
	apiOnly bool
}

func annesAs(w *teamsWorld) *teamsUser { return w.anne }
func bobAs(w *teamsWorld) *teamsUser   { return w.bob }
func carlAs(w *teamsWorld) *teamsUser  { return w.carl }
func olgaAs(w *teamsWorld) *teamsUser  { return w.olga }

func invitee(r *teamsRow, surface string) string {
	return fmt.Sprintf("invitee.%s.%s@example.test", surface, r.team[:8])
}

func inviteOp(seat bool) func(w *teamsWorld, r *teamsRow, surface string) teamsOp {
	return func(w *teamsWorld, r *teamsRow, surface string) teamsOp {
		return teamsOp{kind: "invite", email: invitee(r, surface), role: "member", seat: seat}
	}
}

func withSeats(n int) func(t *testing.T, w *teamsWorld, r *teamsRow) {
	return func(t *testing.T, w *teamsWorld, r *teamsRow) {
		_, err := w.a.Access.SetTeamSubscription(context.Background(), r.team, "team", n, false, nil)
		testenv.Must(t, err)
	}
}

// openInvitations are the row's team's open invitations' addresses.
func (w *teamsWorld) openInvitations(t *testing.T, r *teamsRow) []string {
	t.Helper()
	invs, err := w.a.Access.Invitations(context.Background(), r.team)
	testenv.Must(t, err)
	var out []string
	for _, i := range invs {
		out = append(out, i.Email)
	}
	return out
}

func teamsCases() []teamsCase {
	return []teamsCase{{
		name: "an admin invites: the mail arrives with the link",
		as:   carlAs, op: inviteOp(false), want: teamsOK,
		after: func(t *testing.T, w *teamsWorld, s teamsSurface, r *teamsRow) {
			to := invitee(r, s.name)
			m := w.mail.WaitFor(t, to, 15*time.Second)
			if !strings.HasPrefix(m.Subject, "You are invited to join Row team") ||
				!strings.Contains(m.Text, w.base+"/invitations/accept?token=") || !strings.Contains(m.Text, "Carl invited you") {
				t.Fatalf("the invitation mail:\n%s\n%s", m.Subject, m.Text)
			}
			if got := w.openInvitations(t, r); len(got) != 1 || got[0] != to {
				t.Fatalf("open invitations %v, want %s", got, to)
			}
		},
	}, {
		name: "a member who is no admin may not invite",
		as:   bobAs, op: inviteOp(false), want: teamsForbidden, says: "admins", unchanged: true,
	}, {
		name: "a stranger's team is not found",
		as:   olgaAs, op: inviteOp(false), want: teamsNotFound, unchanged: true,
	}, {
		name:  "an admin withdraws an invitation: its link no longer works",
		setup: inviteCarol,
		as:    annesAs,
		op: func(w *teamsWorld, r *teamsRow, _ string) teamsOp {
			return teamsOp{kind: "withdraw", invitationID: r.invitation.ID}
		},
		want: teamsOK,
		after: func(t *testing.T, w *teamsWorld, s teamsSurface, r *teamsRow) {
			if got := w.openInvitations(t, r); len(got) != 0 {
				t.Fatalf("open invitations after the withdrawal: %v", got)
			}
			if out, body := s.do(t, w, w.anne, r, teamsOp{kind: "withdraw", invitationID: r.invitation.ID}); out != teamsNotFound {
				t.Fatalf("withdrawing it again: %s\n%s", out, body)
			}
		},
	}, {
		name: "an admin makes a member an admin",
		as:   carlAs,
		op: func(w *teamsWorld, r *teamsRow, _ string) teamsOp {
			return teamsOp{kind: "update", userID: w.bob.id, role: "admin"}
		},
		want: teamsOK,
		after: func(t *testing.T, w *teamsWorld, s teamsSurface, r *teamsRow) {
			testenv.AssertCheck(t, w.a, w.bob.id, "can_manage_members", authz.TeamObject(r.team), true)
		},
	}, {
		name: "the owner cannot be demoted",
		as:   carlAs,
		op: func(w *teamsWorld, r *teamsRow, _ string) teamsOp {
			return teamsOp{kind: "update", userID: w.anne.id, role: "member"}
		},
		want: ownerStaysOut, says: "owner", unchanged: true,
	}, {
		name: "the owner cannot be removed",
		as:   carlAs,
		op: func(w *teamsWorld, r *teamsRow, _ string) teamsOp {
			return teamsOp{kind: "remove", userID: w.anne.id}
		},
		want: ownerStaysOut, says: "owner", unchanged: true,
	}, {
		name: "a member who is no admin may not remove another",
		as:   bobAs,
		op: func(w *teamsWorld, r *teamsRow, _ string) teamsOp {
			return teamsOp{kind: "remove", userID: w.carl.id}
		},
		want: teamsForbidden, unchanged: true,
	}, {
		name: "a removed member's access ends",
		as:   annesAs,
		op: func(w *teamsWorld, r *teamsRow, _ string) teamsOp {
			return teamsOp{kind: "remove", userID: w.bob.id}
		},
		want: teamsOK,
		after: func(t *testing.T, w *teamsWorld, s teamsSurface, r *teamsRow) {
			testenv.AssertCheck(t, w.a, w.bob.id, "member", authz.TeamObject(r.team), false)
			if out, body := s.do(t, w, w.bob, r, teamsOp{kind: "members"}); out != teamsNotFound {
				t.Fatalf("the removed member still sees the team: %s\n%s", out, body)
			}
		},
	}, {
		name: "a seat beyond the subscription's count is refused",
		setup: func(t *testing.T, w *teamsWorld, r *teamsRow) {
			withSeats(1)(t, w, r)
			// Carl has the one seat.
			_, err := w.a.Access.UpdateMember(context.Background(), r.team, w.carl.id, access.RoleAdmin, true)
			testenv.Must(t, err)
		},
		as: annesAs,
		op: func(w *teamsWorld, r *teamsRow, _ string) teamsOp {
			return teamsOp{kind: "update", userID: w.bob.id, role: "member", seat: true}
		},
		want: teamsSeatsFull, says: "1 seats", unchanged: true,
	}, {
		name: "an invitation with a seat is refused when the team has no subscription",
		as:   annesAs, op: inviteOp(true), want: teamsSeatsFull, unchanged: true,
	}, {
		name:  "a mail that cannot be sent withdraws its invitation, and its seat",
		setup: withSeats(1),
		as:    annesAs,
		op: func(w *teamsWorld, r *teamsRow, surface string) teamsOp {
			op := inviteOp(true)(w, r, surface)
			op.down = true
			return op
		},
		want: teamsMailFailed, says: "could not be sent",
		after: func(t *testing.T, w *teamsWorld, s teamsSurface, r *teamsRow) {
			if got := w.openInvitations(t, r); len(got) != 0 {
				t.Fatalf("open invitations after the mail failed: %v", got)
			}
			// The seat it held is free again.
			if out, body := s.do(t, w, w.anne, r, inviteOp(true)(w, r, s.name)); out != teamsOK {
				t.Fatalf("inviting with the seat again: %s\n%s", out, body)
			}
		},
	}, {
		name:  "an admin reads the team's audit log",
		setup: inviteCarol,
		as:    carlAs,
		op:    func(*teamsWorld, *teamsRow, string) teamsOp { return teamsOp{kind: "audit"} },
		want:  teamsOK, says: "invitation.create",
	}, {
		name:  "a member who is no admin may not read the audit log",
		setup: inviteCarol,
		as:    bobAs,
		op:    func(*teamsWorld, *teamsRow, string) teamsOp { return teamsOp{kind: "audit"} },
		want:  teamsForbidden, says: "audit log", unchanged: true,
	}, {
		name:  "a stranger reads no team's audit log",
		setup: inviteCarol,
		as:    olgaAs,
		op:    func(*teamsWorld, *teamsRow, string) teamsOp { return teamsOp{kind: "audit"} },
		want:  teamsNotFound, apiWant: teamsForbidden, unchanged: true,
	}, {
		name:    "a token of another team of the admin's is refused",
		apiOnly: true,
		as:      annesAs,
		op:      func(*teamsWorld, *teamsRow, string) teamsOp { return teamsOp{kind: "audit-other-token"} },
		want:    teamsForbidden, says: "acts only within it", unchanged: true,
	}}
}

// inviteCarol has Anne invite carol (no mail is needed for the rows that
// only need an invitation to be there).
func inviteCarol(t *testing.T, w *teamsWorld, r *teamsRow) {
	inv, _, err := w.a.Access.Invite(audit.WithActor(context.Background(), audit.Actor{UserID: w.anne.id}),
		r.team, "carol."+r.team[:8]+"@example.test", access.RoleMember, false, 0)
	testenv.Must(t, err)
	r.invitation = inv
}

func TestTeamsTable(t *testing.T) {
	w := newTeamsWorld(t)
	cases := teamsCases()
	if len(cases) < 8 {
		t.Fatalf("%d cases; the issue asks for at least 8", len(cases))
	}
	for _, tc := range cases {
		for _, s := range []teamsSurface{teamsPage, teamsAPI} {
			if tc.apiOnly && s.name != "api" {
				continue
			}
			t.Run(s.name+"/"+tc.name, func(t *testing.T) {
				r := w.newRow(t)
				if tc.setup != nil {
					tc.setup(t, w, r)
				}
				before := w.state(t, r)
				out, body := s.do(t, w, tc.as(w), r, tc.op(w, r, s.name))
				want := tc.want
				if s.name == "api" && tc.apiWant != "" {
					want = tc.apiWant
				}
				if out != want {
					t.Fatalf("outcome %q, want %q:\n%s", out, want, body)
				}
				if tc.says != "" && !strings.Contains(body, tc.says) {
					t.Fatalf("the answer does not say %q:\n%s", tc.says, body)
				}
				if after := w.state(t, r); tc.unchanged && after != before {
					t.Fatalf("a refused request changed the team:\nbefore %s\nafter  %s", before, after)
				}
				if tc.after != nil {
					tc.after(t, w, s, r)
				}
			})
		}
	}
}
