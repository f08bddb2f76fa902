package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/pats"
)

// The behaviour of device approval, one table run through both surfaces
// that offer it: the device page (a signed-in browser's forms) and headless
// approval (a personal access token). Both call approval.Service, so each
// row must come out the same on both; where the two must differ (the page
// always names the claim, a script takes the default rule; the bodies), the
// surface says so below, and nowhere else.

// approvalOutcome is what an approval came to, read off either surface's
// answer.
type approvalOutcome string

const (
	approvedOK      approvalOutcome = "approved"
	unknownCodeOut  approvalOutcome = "unknown code"
	notAllowedOut   approvalOutcome = "not allowed"
	scopeRefusedOut approvalOutcome = "scope refused"
	claimPendingOut approvalOutcome = "claim pending"
)

// approvalSurface is one way to decide a device flow. claimInto is where
// the page claims an unclaimed instance (a headless approval names no
// workspace: it takes the default rule, which the rows expect to land in
// the same place).
type approvalSurface struct {
	name    string
	approve func(t *testing.T, w *approvalWorld, base, code string, scopes []string, claimInto string) (approvalOutcome, string)
	deny    func(t *testing.T, w *approvalWorld, base, code string) (approvalOutcome, string)
}

type approvalWorld struct {
	a *app.App
	// base is the service; slow is a second replica on the same database
	// whose changes do not wait for OpenFGA (Outbox.AwaitFor 1 ms), so that
	// a claim made while the applier lock is held is pending.
	base, slow string
	// Anne approves; her browser is signed in on both replicas (cookies do
	// not tell ports apart).
	anne   access.Account
	anneWS string
	jar    http.CookieJar
	pat    string
	// teamID is a team Anne owns, teamPAT her team token for it
	// (annesTeam makes them).
	teamID, teamPAT string
	// seatlessPAT is Anne's token for a team of hers where she has no seat.
	seatlessPAT string
}

func newApprovalWorld(t *testing.T) *approvalWorld {
	t.Helper()
	ctx := context.Background()
	cfg := testenv.Config(t)
	cfg.DevicePollInterval = time.Second
	cfg.RegistrationLimit = 1000 // every row registers an instance
	w := &approvalWorld{}
	w.a, w.base = testenv.Serve(t, cfg, testenv.Options{})
	_, w.slow = testenv.Serve(t, cfg, testenv.Options{NoMigrate: true, NoWait: true, PublicURL: w.base})
	jar, err := cookiejar.New(nil)
	testenv.Must(t, err)
	w.jar = jar
	w.browser(t, w.base).signUp("Anne", "anne@example.test")
	w.anne, err = w.a.Access.AccountByEmail(ctx, "anne@example.test")
	testenv.Must(t, err)
	w.anneWS, err = w.a.Access.DefaultWorkspace(ctx, w.anne.ID)
	testenv.Must(t, err)
	w.pat = w.newPAT(t, "")
	return w
}

func (w *approvalWorld) browser(t *testing.T, base string) *webBrowser {
	return &webBrowser{t: t, base: base, c: &http.Client{Jar: w.jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (w *approvalWorld) newPAT(t *testing.T, teamID string) string {
	t.Helper()
	secret, _, err := w.a.PATs.Create(context.Background(), pats.NewToken{UserID: w.anne.ID, Name: "ci", TeamID: teamID, Via: pats.ViaOperator})
	testenv.Must(t, err)
	return secret
}

// poll redeems the device code once: the token's scope, or the OAuth error.
func (w *approvalWorld) poll(t *testing.T, in testenv.Instance, deviceCode string) string {
	t.Helper()
	status, out, _ := in.PollDevice(t, deviceCode)
	if status == http.StatusOK {
		return "scope=" + fmt.Sprint(out["scope"])
	}
	return fmt.Sprint(out["error"])
}

// workspaceOf is the workspace an instance is claimed into ("" unclaimed).
func (w *approvalWorld) workspaceOf(t *testing.T, instanceID string) string {
	t.Helper()
	var ws *string
	testenv.Must(t, w.a.DB.QueryRow(context.Background(), `SELECT workspace_id::text FROM instances WHERE id = $1`, instanceID).Scan(&ws))
	if ws == nil {
		return ""
	}
	return *ws
}

var approvalPage = approvalSurface{
	name: "page",
	approve: func(t *testing.T, w *approvalWorld, base, code string, scopes []string, claimInto string) (approvalOutcome, string) {
		b := w.browser(t, base)
		form := url.Values{"csrf": {b.csrf("/")}, "user_code": {code}, "scope": scopes}
		if claimInto != "" {
			form.Set("instance_name", "Lab")
			form.Set("workspace_id", claimInto)
		}
		resp, body := b.post("/device/approve", form)
		return pageOutcome(t, resp.StatusCode, body), body
	},
	deny: func(t *testing.T, w *approvalWorld, base, code string) (approvalOutcome, string) {
		b := w.browser(t, base)
		resp, body := b.post("/device/deny", url.Values{"csrf": {b.csrf("/")}, "user_code": {code}})
		return pageOutcome(t, resp.StatusCode, body), body
	},
}

func pageOutcome(t *testing.T, status int, body string) approvalOutcome {
	t.Helper()
	switch {
	case status == http.StatusOK:
		return approvedOK
	case status == http.StatusBadRequest && strings.Contains(body, "That code is not valid"):
		return unknownCodeOut
	case status == http.StatusBadRequest && strings.Contains(body, "did not ask for"):
		return scopeRefusedOut
	case status == http.StatusForbidden && strings.Contains(body, "You may not use this instance"):
		return notAllowedOut
	case status == http.StatusServiceUnavailable && strings.Contains(body, "Almost there"):
		return claimPendingOut
	}
	t.Fatalf("the page answered %d:\n%s", status, body)
	return ""
}

// approvalHeadless is headless approval with Anne's token; teamPAT, when
// set, is used instead (a team token).
func approvalHeadless(teamPAT func(w *approvalWorld) string) approvalSurface {
	call := func(t *testing.T, w *approvalWorld, base, path string, q url.Values) (approvalOutcome, string) {
		t.Helper()
		pat := w.pat
		if teamPAT != nil {
			pat = teamPAT(w)
		}
		req, _ := http.NewRequest(http.MethodPost, base+path+"?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+pat)
		resp, err := http.DefaultClient.Do(req)
		testenv.Must(t, err)
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		code := errorCode(buf.Bytes())
		switch {
		case resp.StatusCode == http.StatusOK:
			return approvedOK, buf.String()
		case resp.StatusCode == http.StatusNotFound && code == "invalid_user_code":
			return unknownCodeOut, buf.String()
		case resp.StatusCode == http.StatusBadRequest && code == "invalid_scope":
			return scopeRefusedOut, buf.String()
		case resp.StatusCode == http.StatusForbidden && code == "access_denied":
			return notAllowedOut, buf.String()
		case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
			return claimPendingOut, buf.String()
		}
		t.Fatalf("headless %s answered %d: %s", path, resp.StatusCode, buf.String())
		return "", ""
	}
	return approvalSurface{
		name: "headless",
		approve: func(t *testing.T, w *approvalWorld, base, code string, scopes []string, _ string) (approvalOutcome, string) {
			return call(t, w, base, "/oauth2/device/approve", url.Values{"user_code": {code}, "scope": {strings.Join(scopes, ",")}})
		},
		deny: func(t *testing.T, w *approvalWorld, base, code string) (approvalOutcome, string) {
			return call(t, w, base, "/oauth2/device/deny", url.Values{"user_code": {code}})
		},
	}
}

// approvalCase is one row. Each row registers its own instance and starts
// its own flow, so rows do not see each other.
type approvalCase struct {
	name string
	// asked is the flow's scope; chosen what the approver grants.
	asked  string
	chosen []string
	// setup prepares the instance (claims, shares); it returns the workspace
	// the page claims an unclaimed instance into ("" for claimed ones).
	setup func(t *testing.T, w *approvalWorld, in testenv.Instance) string
	// act decides the flow (default: one approval) and returns its outcome.
	act func(t *testing.T, w *approvalWorld, s approvalSurface, code, claimInto string, chosen []string) (approvalOutcome, string)
	// headlessAs is the token a headless approval uses (default Anne's own).
	headlessAs func(w *approvalWorld) string
	want       approvalOutcome
	// headlessWant and headlessPoll, when set, are headless approval's
	// outcome and poll where it must differ from the page's (the instance
	// then stays where it was).
	headlessWant approvalOutcome
	headlessPoll string
	// says is a text the answer holds, on both surfaces.
	says string
	// poll is what the instance's first poll then gets.
	poll string
	// workspace is where the instance ends up ("" unclaimed).
	workspace func(w *approvalWorld) string
}

func anneClaims(t *testing.T, w *approvalWorld, in testenv.Instance) string {
	_, err := w.a.Access.ClaimInstance(context.Background(), in.ID, w.anne.ID, w.anneWS, "Lab")
	testenv.Must(t, err)
	return ""
}

func unclaimed(_ *testing.T, w *approvalWorld, _ testenv.Instance) string { return w.anneWS }

func annesWorkspace(w *approvalWorld) string { return w.anneWS }

// olgaClaims puts the instance into Olga's Default workspace.
func olgaClaims(t *testing.T, w *approvalWorld, in testenv.Instance) access.User {
	olga := testenv.User(t, w.a, fmt.Sprintf("olga.%s@example.test", in.ID[:8]))
	_, err := w.a.Access.ClaimInstance(context.Background(), in.ID, olga.ID, olga.DefaultWorkspaceID, "Olga's lab")
	testenv.Must(t, err)
	return olga
}

func approvalCases() []approvalCase {
	return []approvalCase{{
		name: "an unknown code", asked: "profile:read",
		setup: unclaimed,
		act: func(t *testing.T, w *approvalWorld, s approvalSurface, _, claimInto string, chosen []string) (approvalOutcome, string) {
			return s.approve(t, w, w.base, "BCDF-GHJK", chosen, claimInto)
		},
		want: unknownCodeOut, poll: "authorization_pending",
	}, {
		name: "an unclaimed instance is claimed into the approver's Default workspace", asked: "profile:read",
		setup: unclaimed, want: approvedOK, poll: "scope=profile:read", workspace: annesWorkspace,
	}, {
		name: "an instance of the approver's own workspace", asked: "profile:read",
		setup: anneClaims, want: approvedOK, poll: "scope=profile:read", workspace: annesWorkspace,
	}, {
		name: "someone else's instance is refused, saying whom to ask", asked: "profile:read",
		setup: func(t *testing.T, w *approvalWorld, in testenv.Instance) string {
			olgaClaims(t, w, in)
			return ""
		},
		want: notAllowedOut, says: "olga", poll: "authorization_pending",
	}, {
		name: "someone else's instance shared with the approver", asked: "profile:read",
		setup: func(t *testing.T, w *approvalWorld, in testenv.Instance) string {
			olgaClaims(t, w, in)
			_, err := w.a.Access.Grant(context.Background(), in.ID, access.Grantee{UserID: w.anne.ID}, nil, "")
			testenv.Must(t, err)
			return ""
		},
		want: approvedOK, poll: "scope=profile:read",
	}, {
		name: "a team instance, to a member of the team holding a seat", asked: "profile:read",
		setup: func(t *testing.T, w *approvalWorld, in testenv.Instance) string {
			team := tomsTeamInstance(t, w, in, access.RoleMember)
			testenv.Seat(t, w.a, team, w.anne.ID)
			return ""
		},
		want: approvedOK, poll: "scope=profile:read",
	}, {
		name: "a team instance, to a member without a seat, is refused: ask an admin for a seat", asked: "profile:read",
		setup: func(t *testing.T, w *approvalWorld, in testenv.Instance) string {
			tomsTeamInstance(t, w, in, access.RoleMember)
			return ""
		},
		want: notAllowedOut, says: "for a seat", poll: "authorization_pending",
	}, {
		name: "a team instance, to the team's admin without a seat, is refused too", asked: "profile:read",
		setup: func(t *testing.T, w *approvalWorld, in testenv.Instance) string {
			tomsTeamInstance(t, w, in, access.RoleAdmin)
			return ""
		},
		want: notAllowedOut, says: "for a seat", poll: "authorization_pending",
	}, {
		name: "a team instance, to a member whose seat's subscription has ended", asked: "profile:read",
		setup: func(t *testing.T, w *approvalWorld, in testenv.Instance) string {
			ctx := context.Background()
			team := tomsTeamInstance(t, w, in, access.RoleMember)
			testenv.Seat(t, w.a, team, w.anne.ID)
			ended := time.Now().Add(-time.Minute)
			_, err := w.a.Access.SetTeamSubscription(ctx, team, "team", 1, false, &ended)
			testenv.Must(t, err)
			return ""
		},
		want: notAllowedOut, says: "for a seat", poll: "authorization_pending",
	}, {
		name: "a team instance shared with a member without a seat", asked: "profile:read",
		setup: func(t *testing.T, w *approvalWorld, in testenv.Instance) string {
			tomsTeamInstance(t, w, in, access.RoleMember)
			_, err := w.a.Access.Grant(context.Background(), in.ID, access.Grantee{UserID: w.anne.ID}, nil, "")
			testenv.Must(t, err)
			return ""
		},
		want: approvedOK, poll: "scope=profile:read",
	}, {
		name: "openid and profile:read come with any approval", asked: "openid profile:read assistant",
		chosen: nil, setup: unclaimed, want: approvedOK, poll: "scope=openid profile:read", workspace: annesWorkspace,
	}, {
		name: "an optional scope the approver keeps", asked: "profile:read assistant offline",
		chosen: []string{"offline"}, setup: anneClaims, want: approvedOK, poll: "scope=profile:read offline",
	}, {
		name: "an instance that did not ask for profile:read", asked: "offline",
		chosen: []string{"offline"}, setup: anneClaims, want: approvedOK, poll: "scope=offline",
	}, {
		name: "a scope the instance did not ask for is refused, nothing claimed", asked: "profile:read",
		chosen: []string{"assistant"}, setup: unclaimed, want: scopeRefusedOut, says: "did not ask for assistant",
		poll: "authorization_pending",
	}, {
		name: "a denial", asked: "profile:read", setup: anneClaims,
		act: func(t *testing.T, w *approvalWorld, s approvalSurface, code, _ string, _ []string) (approvalOutcome, string) {
			return s.deny(t, w, w.base, code)
		},
		want: approvedOK, poll: "access_denied", workspace: annesWorkspace,
	}, {
		name: "a code approved once is unknown the second time", asked: "profile:read", setup: anneClaims,
		act: func(t *testing.T, w *approvalWorld, s approvalSurface, code, claimInto string, chosen []string) (approvalOutcome, string) {
			if out, body := s.approve(t, w, w.base, code, chosen, claimInto); out != approvedOK {
				t.Fatalf("first approval: %s\n%s", out, body)
			}
			return s.approve(t, w, w.base, code, chosen, claimInto)
		},
		want: unknownCodeOut, poll: "scope=profile:read", workspace: annesWorkspace,
	}, {
		name: "a denied code cannot be approved", asked: "profile:read", setup: anneClaims,
		act: func(t *testing.T, w *approvalWorld, s approvalSurface, code, claimInto string, chosen []string) (approvalOutcome, string) {
			if out, body := s.deny(t, w, w.base, code); out != approvedOK {
				t.Fatalf("denial: %s\n%s", out, body)
			}
			return s.approve(t, w, w.base, code, chosen, claimInto)
		},
		want: unknownCodeOut, poll: "access_denied", workspace: annesWorkspace,
	}, {
		// The claim is committed but OpenFGA does not know it yet, so the
		// device's poll would be refused: nothing is approved, the approver
		// is told to come back, and coming back approves it.
		name: "a claim still pending in OpenFGA is not approved until it is applied", asked: "profile:read",
		setup: unclaimed,
		act: func(t *testing.T, w *approvalWorld, s approvalSurface, code, claimInto string, chosen []string) (approvalOutcome, string) {
			ctx := context.Background()
			conn, err := w.a.DB.Acquire(ctx)
			testenv.Must(t, err)
			_, err = conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, authz.ApplierLock)
			testenv.Must(t, err)
			out, body := s.approve(t, w, w.slow, code, chosen, claimInto)
			_, err = conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, authz.ApplierLock)
			testenv.Must(t, err)
			conn.Release()
			if out != claimPendingOut {
				return out, body
			}
			// Once applied, the same approval again goes through.
			deadline := time.Now().Add(20 * time.Second)
			for {
				var pending int
				testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT count(*) FROM authz_outbox WHERE status = 'pending'`).Scan(&pending))
				if pending == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the outbox did not apply the claim")
				}
				time.Sleep(50 * time.Millisecond)
			}
			if again, body := s.approve(t, w, w.base, code, chosen, ""); again != approvedOK {
				t.Fatalf("approval after the claim was applied: %s\n%s", again, body)
			}
			return out, body
		},
		want: claimPendingOut, poll: "scope=profile:read", workspace: annesWorkspace,
	}, {
		// Claiming for a sign-in puts the instance where the approver will
		// use it: without a seat, not in the team's workspace.
		name: "an instance claimed with a team token but no seat", asked: "profile:read",
		setup: func(t *testing.T, w *approvalWorld, in testenv.Instance) string {
			ctx := context.Background()
			team, _, err := w.a.Access.CreateTeam(ctx, w.anne.ID, "Anne's seatless team "+in.ID[:8], "anne@example.test")
			testenv.Must(t, err)
			w.seatlessPAT = w.newPAT(t, team.ID)
			return w.anneWS
		},
		headlessAs: func(w *approvalWorld) string { return w.seatlessPAT },
		want:       approvedOK, poll: "scope=profile:read", workspace: annesWorkspace,
		// Where the surfaces differ: the page has no team token; a team's
		// token acts only within its team, where its user may not use an
		// instance, so it claims nothing.
		headlessWant: notAllowedOut, headlessPoll: "authorization_pending",
	}, {
		name: "an instance claimed with a team token goes to the team's Default workspace", asked: "profile:read",
		setup: func(t *testing.T, w *approvalWorld, in testenv.Instance) string {
			ws, err := w.a.Access.TeamDefaultWorkspace(context.Background(), w.annesTeam(t))
			testenv.Must(t, err)
			return ws
		},
		headlessAs: func(w *approvalWorld) string { return w.teamPAT },
		want:       approvedOK, poll: "scope=profile:read",
		workspace: func(w *approvalWorld) string {
			ws, _ := w.a.Access.TeamDefaultWorkspace(context.Background(), w.teamID)
			return ws
		},
	}}
}

// annesTeam is a team Anne owns and holds a seat of, with a team token of
// hers for it.
func (w *approvalWorld) annesTeam(t *testing.T) string {
	t.Helper()
	if w.teamID == "" {
		team, _, err := w.a.Access.CreateTeam(context.Background(), w.anne.ID, "Anne's team", "anne@example.test")
		testenv.Must(t, err)
		testenv.Seat(t, w.a, team.ID, w.anne.ID)
		w.teamID = team.ID
		w.teamPAT = w.newPAT(t, team.ID)
	}
	return w.teamID
}

// tomsTeamInstance makes Anne a member (with role) of a new team of Tom's,
// without a seat, and claims the instance into the team's workspace; it
// returns the team.
func tomsTeamInstance(t *testing.T, w *approvalWorld, in testenv.Instance, role access.Role) string {
	t.Helper()
	ctx := context.Background()
	tom := testenv.User(t, w.a, fmt.Sprintf("tom.%s@example.test", in.ID[:8]))
	team, _, err := w.a.Access.CreateTeam(ctx, tom.ID, "Blue "+in.ID[:8], "billing@example.test")
	testenv.Must(t, err)
	_, err = w.a.Access.SetTeamMember(ctx, team.ID, w.anne.ID, role, false)
	testenv.Must(t, err)
	_, err = w.a.Access.ClaimInstance(ctx, in.ID, tom.ID, team.DefaultWorkspaceID, "Blue lab")
	testenv.Must(t, err)
	return team.ID
}

func TestApprovalTable(t *testing.T) {
	w := newApprovalWorld(t)
	cases := approvalCases()
	if len(cases) < 12 {
		t.Fatalf("%d cases; the issue asks for at least 12", len(cases))
	}
	for _, tc := range cases {
		for _, s := range []approvalSurface{approvalPage, approvalHeadless(tc.headlessAs)} {
			t.Run(s.name+"/"+tc.name, func(t *testing.T) {
				in := testenv.RegisterInstance(t, w.a, w.base, "openid profile:read assistant offline")
				da := in.StartDeviceFlow(t, tc.asked)
				deviceCode, code := da.DeviceCode, da.UserCode
				claimInto := tc.setup(t, w, in)
				before := w.workspaceOf(t, in.ID)
				act := tc.act
				if act == nil {
					act = func(t *testing.T, w *approvalWorld, s approvalSurface, code, claimInto string, chosen []string) (approvalOutcome, string) {
						return s.approve(t, w, w.base, code, chosen, claimInto)
					}
				}
				want, wantPoll, wantWorkspace := tc.want, tc.poll, tc.workspace
				if s.name == "headless" && tc.headlessWant != "" {
					want, wantPoll, wantWorkspace = tc.headlessWant, tc.headlessPoll, nil
				}
				out, body := act(t, w, s, code, claimInto, tc.chosen)
				if out != want {
					t.Fatalf("outcome %q, want %q:\n%s", out, want, body)
				}
				if tc.says != "" && !strings.Contains(body, tc.says) {
					t.Fatalf("the answer does not say %q:\n%s", tc.says, body)
				}
				if got := w.poll(t, in, deviceCode); got != wantPoll {
					t.Fatalf("poll: %s, want %s", got, wantPoll)
				}
				ws := before
				if wantWorkspace != nil {
					ws = wantWorkspace(w)
				}
				if got := w.workspaceOf(t, in.ID); got != ws {
					t.Fatalf("instance in workspace %q, want %q", got, ws)
				}
			})
		}
	}
}
