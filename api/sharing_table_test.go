package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// The behaviour of sharing, one table run through both surfaces that offer
// each action: the dashboard's forms and /api/v1. Both call sharing.Service,
// so each row comes out the same on both, but for two refusals whose words
// differ by surface (below, shareOutcomeOn).

type shareOutcome string

const (
	shareDone      shareOutcome = "done"
	shareNotFound  shareOutcome = "not found"
	shareForbidden shareOutcome = "forbidden"
	shareInvalid   shareOutcome = "invalid"
)

// shareOutcomeOn is where the two surfaces must differ. A move to a
// workspace the manager may not add instances to, and a share with a team
// they are not in, are forbidden and not found on /api/v1 (the status says
// which right is missing), and the page's own form error on the page,
// which only offers allowed workspaces and the viewer's teams ("Pick
// another workspace", "Pick one of your teams").
func shareOutcomeOn(surface string, api, page shareOutcome) shareOutcome {
	if surface == "page" {
		return page
	}
	return api
}

// shareTableWorld: Anne manages the rows' instances (her Default
// workspace) and is in team Red with Dave; Bob has a share of each; Carl
// is a stranger; Vera has verified her address, Uma has not; Blue is
// Carol's team, which Anne is not in.
type shareTableWorld struct {
	*shareWorld
	anne, bob, carl, dave *sharer
	vera, uma             string
	red, blue, redWS      string
}

func newShareTableWorld(t *testing.T) *shareTableWorld {
	ctx := context.Background()
	w := &shareTableWorld{shareWorld: newShareWorld(t)}
	w.anne = w.user(t, "Anne", "anne@example.test")
	w.bob = w.user(t, "Bob", "bob@example.test")
	w.carl = w.user(t, "Carl", "carl@example.test")
	w.dave = w.user(t, "Dave", "dave@example.test")
	carol := w.user(t, "Carol", "carol@example.test")
	vera := w.user(t, "Vera", "vera@example.test")
	w.user(t, "Uma", "uma@example.test")
	w.vera, w.uma = vera.id, "uma@example.test"
	markVerified(t, w.dash.a, w.bob.id, w.carl.id, w.dave.id, vera.id)
	w.red = w.dash.createTeam(t, w.anne.dashUser, "Red")
	w.redWS = w.dash.teamWorkspace(t, w.red)
	_, err := w.dash.a.Access.SetTeamMember(ctx, w.red, w.dave.id, access.RoleMember, false)
	testenv.Must(t, err)
	// Using a team's instances takes a seat (a share with the team does not).
	testenv.Seat(t, w.dash.a, w.red, w.anne.id, w.dave.id)
	w.blue = w.dash.createTeam(t, carol.dashUser, "Blue")
	return w
}

// shareAction is one action, as each surface offers it.
type shareAction struct {
	page func(w *shareTableWorld, in string) (path string, form url.Values)
	api  func(w *shareTableWorld, in string) (method, path string, body any)
	// registered: the action needs client credentials, so the row's
	// instance registers (registrations are limited per address: the
	// others are made in the database).
	registered bool
}

var (
	renameTo = func(name string) shareAction {
		return shareAction{
			page: func(_ *shareTableWorld, in string) (string, url.Values) {
				return "/instances/" + in + "/rename", url.Values{"name": {name}}
			},
			api: func(_ *shareTableWorld, in string) (string, string, any) {
				return "PATCH", "/api/v1/instances/" + in, map[string]any{"name": name}
			},
		}
	}
	moveTo = func(ws func(w *shareTableWorld) string) shareAction {
		return shareAction{
			page: func(w *shareTableWorld, in string) (string, url.Values) {
				return "/instances/" + in + "/move", url.Values{"workspace_id": {ws(w)}}
			},
			api: func(w *shareTableWorld, in string) (string, string, any) {
				return "PATCH", "/api/v1/instances/" + in, map[string]any{"workspace_id": ws(w)}
			},
		}
	}
	assistantOff = shareAction{
		page: func(_ *shareTableWorld, in string) (string, url.Values) {
			return "/instances/" + in + "/assistant", url.Values{"enabled": {"false"}}
		},
		api: func(_ *shareTableWorld, in string) (string, string, any) {
			return "PUT", "/api/v1/instances/" + in + "/assistant", map[string]any{"enabled": false}
		},
	}
	resetCredentials = shareAction{
		registered: true,
		page: func(_ *shareTableWorld, in string) (string, url.Values) {
			return "/instances/" + in + "/credentials", nil
		},
		api: func(_ *shareTableWorld, in string) (string, string, any) {
			return "POST", "/api/v1/instances/" + in + "/credentials", nil
		},
	}
	deleteInstance = shareAction{
		page: func(_ *shareTableWorld, in string) (string, url.Values) {
			return "/instances/" + in + "/delete", url.Values{"confirm": {"yes"}}
		},
		api: func(_ *shareTableWorld, in string) (string, string, any) {
			return "DELETE", "/api/v1/instances/" + in, nil
		},
	}
	shareByEmail = func(email func(w *shareTableWorld) string) shareAction {
		return shareAction{
			page: func(w *shareTableWorld, in string) (string, url.Values) {
				return "/instances/" + in + "/grants", url.Values{"email": {email(w)}}
			},
			api: func(w *shareTableWorld, in string) (string, string, any) {
				return "POST", "/api/v1/instances/" + in + "/grants", map[string]any{"user_email": email(w)}
			},
		}
	}
	shareWithTeam = func(team func(w *shareTableWorld) string) shareAction {
		return shareAction{
			page: func(w *shareTableWorld, in string) (string, url.Values) {
				return "/instances/" + in + "/grants/team", url.Values{"team_id": {team(w)}}
			},
			api: func(w *shareTableWorld, in string) (string, string, any) {
				return "POST", "/api/v1/instances/" + in + "/grants", map[string]any{"team_id": team(w)}
			},
		}
	}
	revokeBob = shareAction{
		page: func(w *shareTableWorld, in string) (string, url.Values) {
			return "/instances/" + in + "/grants/revoke", url.Values{"user_id": {w.bob.id}}
		},
		api: func(w *shareTableWorld, in string) (string, string, any) {
			return "DELETE", "/api/v1/instances/" + in + "/grants/" + w.bob.id, nil
		},
	}
)

// do runs an action as u through one surface and reads its outcome.
func (w *shareTableWorld) do(t *testing.T, surface string, u *sharer, a shareAction, in string) (shareOutcome, string) {
	t.Helper()
	var status int
	var body string
	if surface == "page" {
		path, form := a.page(w, in)
		resp, b := u.form(path, form)
		status, body = resp.StatusCode, b
		if status == http.StatusSeeOther || status == http.StatusOK {
			return shareDone, body
		}
	} else {
		method, path, payload := a.api(w, in)
		st, b := w.api.call(t, u.pat, method, path, payload)
		status, body = st, string(b)
		if status >= 200 && status < 300 {
			return shareDone, body
		}
	}
	switch status {
	case http.StatusNotFound:
		return shareNotFound, body
	case http.StatusForbidden:
		return shareForbidden, body
	case http.StatusBadRequest:
		return shareInvalid, body
	}
	t.Fatalf("%s answered %d:\n%s", surface, status, body)
	return "", ""
}

func (w *shareTableWorld) can(t *testing.T, userID, relation, in string) bool {
	t.Helper()
	ok, err := w.dash.a.Authz.Check(context.Background(), authz.UserObject(userID), relation, authz.InstanceObject(in))
	testenv.Must(t, err)
	return ok
}

func (w *shareTableWorld) row(t *testing.T, in string) (name, workspace string, exists bool) {
	t.Helper()
	err := w.dash.a.DB.QueryRow(context.Background(), `SELECT name, workspace_id::text FROM instances WHERE id = $1`, in).Scan(&name, &workspace)
	return name, workspace, err == nil
}

type shareCase struct {
	name string
	as   func(w *shareTableWorld) *sharer
	do   shareAction
	// want is the outcome on both surfaces, or on each (shareOutcomeOn).
	want func(surface string) shareOutcome
	// then checks the effect (a refusal is checked to change nothing).
	then func(t *testing.T, w *shareTableWorld, in string)
}

func both(o shareOutcome) func(string) shareOutcome { return func(string) shareOutcome { return o } }

func asAnne(w *shareTableWorld) *sharer { return w.anne }
func asBob(w *shareTableWorld) *sharer  { return w.bob }
func asCarl(w *shareTableWorld) *sharer { return w.carl }

func shareCases() []shareCase {
	return []shareCase{
		{"a manager renames", asAnne, renameTo("ci box"), both(shareDone), func(t *testing.T, w *shareTableWorld, in string) {
			if name, _, _ := w.row(t, in); name != "ci box" {
				t.Fatalf("named %q", name)
			}
		}},
		{"a grantee may not rename", asBob, renameTo("mine"), both(shareForbidden), nil},
		{"a stranger's rename finds nothing", asCarl, renameTo("mine"), both(shareNotFound), nil},
		{"a blank name is refused", asAnne, renameTo("  "), both(shareInvalid), nil},
		{"a name with a NUL is refused", asAnne, renameTo("a\x00b"), both(shareInvalid), nil},
		{"a manager moves it into her team's workspace", asAnne, moveTo(func(w *shareTableWorld) string { return w.redWS }), both(shareDone),
			func(t *testing.T, w *shareTableWorld, in string) {
				if _, ws, _ := w.row(t, in); ws != w.redWS {
					t.Fatalf("in workspace %s", ws)
				}
				if !w.can(t, w.dave.id, "can_use", in) {
					t.Fatal("a member of Red may not use it")
				}
			}},
		{"a move into a workspace she may not add to", asAnne, moveTo(func(w *shareTableWorld) string { return w.bob.workspace }),
			func(s string) shareOutcome { return shareOutcomeOn(s, shareForbidden, shareInvalid) }, nil},
		{"a manager switches the assistant off", asAnne, assistantOff, both(shareDone), func(t *testing.T, w *shareTableWorld, in string) {
			if w.can(t, w.bob.id, "can_use_assistant", in) {
				t.Fatal("the assistant is still on for the grantee")
			}
		}},
		{"a grantee may not switch the assistant", asBob, assistantOff, both(shareForbidden), nil},
		{"a manager resets the credentials", asAnne, resetCredentials, both(shareDone), nil},
		{"a grantee may not reset the credentials", asBob, resetCredentials, both(shareForbidden), nil},
		{"a stranger's delete finds nothing", asCarl, deleteInstance, both(shareNotFound), nil},
		{"a manager deletes", asAnne, deleteInstance, both(shareDone), func(t *testing.T, w *shareTableWorld, in string) {
			if _, _, exists := w.row(t, in); exists {
				t.Fatal("the instance is still there")
			}
		}},
		{"a share with her own team", asAnne, shareWithTeam(func(w *shareTableWorld) string { return w.red }), both(shareDone),
			func(t *testing.T, w *shareTableWorld, in string) {
				if !w.can(t, w.dave.id, "can_use", in) {
					t.Fatal("a member of Red may not use it")
				}
			}},
		{"a share with a team she is not in", asAnne, shareWithTeam(func(w *shareTableWorld) string { return w.blue }),
			func(s string) shareOutcome { return shareOutcomeOn(s, shareNotFound, shareInvalid) }, nil},
		{"a grantee may not share", asBob, shareByEmail(func(*shareTableWorld) string { return "carl@example.test" }), both(shareForbidden), nil},
		{"a share by email with a verified address", asAnne, shareByEmail(func(*shareTableWorld) string { return "vera@example.test" }), both(shareDone),
			func(t *testing.T, w *shareTableWorld, in string) {
				if !w.can(t, w.vera, "can_use", in) {
					t.Fatal("Vera may not use it")
				}
			}},
		{"a share by email with an unverified address is answered alike, and gives nothing yet", asAnne,
			shareByEmail(func(w *shareTableWorld) string { return w.uma }), both(shareDone),
			func(t *testing.T, w *shareTableWorld, in string) {
				uma, err := w.dash.a.Access.AccountByEmail(context.Background(), w.uma)
				testenv.Must(t, err)
				if w.can(t, uma.ID, "can_use", in) {
					t.Fatal("Uma, unverified, may use it")
				}
			}},
		{"a manager ends a share", asAnne, revokeBob, both(shareDone), func(t *testing.T, w *shareTableWorld, in string) {
			if w.can(t, w.bob.id, "can_use", in) {
				t.Fatal("Bob may still use it")
			}
		}},
		{"a grantee may not end a share", asBob, revokeBob, both(shareForbidden), nil},
	}
}

// TestSharingTable runs every row through the page and /api/v1, each on an
// instance of its own that Anne manages and Bob has a share of.
func TestSharingTable(t *testing.T) {
	w := newShareTableWorld(t)
	cases := shareCases()
	if len(cases) < 12 {
		t.Fatalf("%d cases; the issue asks for at least 12", len(cases))
	}
	for _, tc := range cases {
		for _, surface := range []string{"page", "api"} {
			t.Run(surface+"/"+tc.name, func(t *testing.T) {
				var in string
				if tc.do.registered {
					in = w.instance(t, w.anne, "build box")
				} else {
					in = testenv.ClaimedInstance(t, w.dash.a, w.anne.id, w.anne.workspace, "build box").ID
				}
				_, err := w.dash.a.Access.Grant(context.Background(), in, access.Grantee{UserID: w.bob.id}, nil, w.anne.id)
				testenv.Must(t, err)
				want := tc.want(surface)
				check := func() {
					got, body := w.do(t, surface, tc.as(w), tc.do, in)
					if got != want {
						t.Fatalf("%s, want %s:\n%s", got, want, body)
					}
					// An id the caller gave may come back; a name never.
					if want != shareDone && strings.Contains(body, "Blue") {
						t.Fatalf("a refusal names the team it is about:\n%s", body)
					}
				}
				if want == shareDone {
					check()
					if tc.then != nil {
						tc.then(t, w, in)
					}
					return
				}
				w.unchanged(t, check)
			})
		}
	}
}
