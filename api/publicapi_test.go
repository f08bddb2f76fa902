package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/api/public"
	"github.com/caido-cloud/caido-cloud/audit"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/uuid"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/config"
	"github.com/caido-cloud/caido-cloud/internal/openapitest"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/mail/mailtest"
	"github.com/caido-cloud/caido-cloud/oidc"
	"github.com/caido-cloud/caido-cloud/pats"
)

// apiWorld is the whole service, served, for the /api/v1 tests (public
// API, management endpoints, authorization matrix). Every answer it gets is
// validated against our OpenAPI document and, for the reference's
// endpoints, against public-api.openapi.yaml.
type apiWorld struct {
	a         *app.App
	base      string
	ours, ref *openapi3.T
	refRouter routers.Router
	logs      *testenv.Buffer
}

func newAPIWorld(t testing.TB) *apiWorld {
	t.Helper()
	return newAPIWorldWith(t, testenv.Options{})
}

// newAPIWorldWith is newAPIWorld with options (its Log is the world's).
func newAPIWorldWith(t testing.TB, opts testenv.Options) *apiWorld {
	t.Helper()
	return newAPIWorldConfig(t, opts, func(*config.Config) {})
}

// newAPIWorldConfig is newAPIWorldWith with the configuration changed by
// set.
func newAPIWorldConfig(t testing.TB, opts testenv.Options, set func(*config.Config)) *apiWorld {
	t.Helper()
	cfg := testenv.Config(t)
	cfg.DevicePollInterval = time.Second
	set(&cfg)
	w := &apiWorld{logs: &testenv.Buffer{}}
	opts.Log = w.logs
	w.a, w.base = testenv.Serve(t, cfg, opts)
	w.loadDocuments(t)
	return w
}

// loadDocuments loads the documents answers are validated against.
func (w *apiWorld) loadDocuments(t testing.TB) {
	t.Helper()
	var err error
	w.ours, err = public.OpenAPIDocument()
	testenv.Must(t, err)
	w.ref = loadReference(t, "public-api.openapi.yaml")
	w.refRouter, err = gorillamux.NewRouter(w.ref)
	testenv.Must(t, err)
}

// pat makes a personal access token for userID (of teamID when set).
func (w *apiWorld) pat(t testing.TB, userID, teamID string) string {
	t.Helper()
	secret, _, err := w.a.PATs.Create(context.Background(), pats.NewToken{UserID: userID, TeamID: teamID, Name: "test", Via: pats.ViaOperator})
	testenv.Must(t, err)
	return secret
}

// call sends a request with a bearer token (none when empty) and a body
// (a string is sent as is, anything else as JSON), and validates the
// answer against the documents.
func (w *apiWorld) call(t testing.TB, token, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		testenv.Must(t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, w.base+path, rd)
	testenv.Must(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	testenv.Must(t, err)
	w.validate(t, method, path, resp.StatusCode, out)
	return resp.StatusCode, out
}

var upperSnake = regexp.MustCompile(`^[A-Z][A-Z_]*[A-Z]$`)

// validate checks an answer of /api/v1 against our document, against the
// reference for its endpoints (the documented status's schema, or its
// ErrorResponse for an error status it does not list), and that an error
// is an ErrorResponse whose code is the status and whose error is an
// UPPER_SNAKE reason.
func (w *apiWorld) validate(t testing.TB, method, path string, status int, body []byte) {
	t.Helper()
	p, _, _ := strings.Cut(path, "?")
	openapitest.ValidateResponse(t, w.ours, method, p, status, body)
	if route, _, err := w.refRouter.FindRoute(httptest.NewRequest(method, p, nil)); err == nil {
		switch {
		case route.Operation.Responses.Status(status) != nil:
			openapitest.ValidateResponse(t, w.ref, method, p, status, body)
		case status >= 400:
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Errorf("%s %s %d: not JSON: %s", method, p, status, body)
			} else if err := w.ref.Components.Schemas["ErrorResponse"].Value.VisitJSON(v); err != nil {
				t.Errorf("%s %s %d: not the reference's ErrorResponse: %v\n%s", method, p, status, err, body)
			}
		default:
			t.Errorf("%s %s: success status %d is not the reference's", method, p, status)
		}
	}
	if status >= 400 {
		if e := errorResponseOf(body); !e.wellFormed(status) || !upperSnake.MatchString(e.Error) {
			t.Errorf("%s %s %d: want an ErrorResponse with code %d, an UPPER_SNAKE error and a message: %s", method, p, status, status, body)
		}
	}
}

// expect is call that fails the test unless the answer has status and,
// when reason is set, that error reason; it returns the body.
func (w *apiWorld) expect(t testing.TB, token, method, path string, body any, status int, reason string) []byte {
	t.Helper()
	got, out := w.call(t, token, method, path, body)
	if got != status || reason != "" && errorCode(out) != reason {
		t.Fatalf("%s %s: %d %s, want %d %s", method, path, got, out, status, reason)
	}
	return out
}

// decodeAs decodes a JSON body into T.
func decodeAs[T any](t testing.TB, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, body)
	}
	return v
}

// register registers an instance as an instance does.
func (w *apiWorld) register(t testing.TB) testenv.Instance {
	t.Helper()
	return testenv.RegisterInstance(t, w.a, w.base, "profile:read offline")
}

// sessionStatus is the status of the instance API's session call with a
// user's token: 200 while the session is open.
func (w *apiWorld) sessionStatus(t testing.TB, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.base+"/instance/user/session", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// referenceEndpoints are the reference's /api/v1 operations, with a path
// to call each on.
func referenceEndpoints(someID string) []struct{ method, path string } {
	return []struct{ method, path string }{
		{"GET", "/api/v1/team"},
		{"GET", "/api/v1/team/invitations"},
		{"POST", "/api/v1/team/invitations"},
		{"DELETE", "/api/v1/team/invitations/" + someID},
		{"GET", "/api/v1/team/subscription"},
		{"GET", "/api/v1/team/users"},
		{"DELETE", "/api/v1/team/users/" + someID},
		{"GET", "/api/v1/user"},
		{"POST", "/api/v1/user/billing/voucher-claims"},
		{"GET", "/api/v1/workspace/" + someID},
	}
}

// TestPublicAPIUnauthorized: every reference endpoint (and ours) answers
// 401 UNAUTHORIZED alike to no token, a malformed one, an unknown one, a
// revoked and an expired personal access token, and an instance's access
// token; nothing is done.
func TestPublicAPIUnauthorized(t *testing.T) {
	w := newAPIWorld(t)
	ctx := context.Background()
	anne := testenv.User(t, w.a, "anne@example.test")
	team, _, err := w.a.Access.CreateTeam(ctx, anne.ID, "Acme", "billing@example.test")
	testenv.Must(t, err)
	live := w.pat(t, anne.ID, "")
	revoked, rt, err := w.a.PATs.Create(ctx, pats.NewToken{UserID: anne.ID, Name: "old", Via: pats.ViaOperator})
	testenv.Must(t, err)
	testenv.Must(t, w.a.PATs.Revoke(ctx, anne.ID, rt.ID))
	expired, et, err := w.a.PATs.Create(ctx, pats.NewToken{UserID: anne.ID, Name: "expired", Via: pats.ViaOperator})
	testenv.Must(t, err)
	_, err = w.a.DB.Exec(ctx, `UPDATE personal_access_tokens SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour' WHERE id = $1`, et.ID)
	testenv.Must(t, err)
	in := w.register(t)
	instanceToken := in.Token(t)
	unknown := pats.Prefix + strings.Repeat("a", 52)

	endpoints := append(referenceEndpoints(team.ID),
		struct{ method, path string }{"GET", "/api/v1/instances"},
		struct{ method, path string }{"POST", "/api/v1/teams"},
		struct{ method, path string }{"GET", "/api/v1/audit-log"})
	for _, e := range endpoints {
		for _, tc := range []struct{ name, token string }{
			{"no token", ""}, {"malformed", "not-a-token"}, {"unknown", unknown}, {"short", "caido_abc"},
			{"revoked", revoked}, {"expired", expired}, {"instance token", instanceToken},
		} {
			t.Run(e.method+" "+e.path+"/"+tc.name, func(t *testing.T) {
				w.expect(t, tc.token, e.method, e.path, `{"email":"x@example.test","role":"member","use_seat":false,"code":"x","name":"x","billing_email":"b@example.test"}`,
					http.StatusUnauthorized, "UNAUTHORIZED")
			})
		}
	}
	// The live token works, and the refusals changed nothing.
	w.expect(t, live, "GET", "/api/v1/team", nil, http.StatusOK, "")
	invs, err := w.a.Access.Invitations(ctx, team.ID)
	testenv.Must(t, err)
	if len(invs) != 0 {
		t.Fatalf("%d invitations after refused calls", len(invs))
	}
}

// TestPublicAPITeam: the team endpoints as a team's owner, a member and an
// outsider: team, users, subscription (null, then set), invitations with
// seats, member removal, the current-team rule, workspaces.
func TestPublicAPITeam(t *testing.T) {
	w := newAPIWorld(t)
	ctx := context.Background()
	anne := testenv.User(t, w.a, "anne@example.test")
	bob := testenv.User(t, w.a, "bob@example.test")
	olga := testenv.User(t, w.a, "olga@example.test")
	team, _, err := w.a.Access.CreateTeam(ctx, anne.ID, "Acme", "billing@example.test")
	testenv.Must(t, err)
	_, err = w.a.Access.SetTeamMember(ctx, team.ID, bob.ID, access.RoleMember, false)
	testenv.Must(t, err)
	annePAT, bobPAT, olgaPAT := w.pat(t, anne.ID, ""), w.pat(t, bob.ID, ""), w.pat(t, olga.ID, "")

	// The team, as its owner and as a member; an outsider has none.
	got := decodeAs[map[string]any](t, w.expect(t, annePAT, "GET", "/api/v1/team", nil, http.StatusOK, ""))
	if got["object"] != "team" || got["id"] != team.ID || got["name"] != "Acme" || got["email"] != "billing@example.test" {
		t.Fatalf("team: %v", got)
	}
	w.expect(t, bobPAT, "GET", "/api/v1/team", nil, http.StatusOK, "")
	w.expect(t, olgaPAT, "GET", "/api/v1/team", nil, http.StatusNotFound, "NOT_FOUND")
	w.expect(t, olgaPAT, "GET", "/api/v1/team/users", nil, http.StatusNotFound, "NOT_FOUND")

	users := decodeAs[[]map[string]any](t, w.expect(t, bobPAT, "GET", "/api/v1/team/users", nil, http.StatusOK, ""))
	if len(users) != 2 || users[0]["id"] != anne.ID || users[0]["role"] != "admin" || users[0]["object"] != "team_user" ||
		users[1]["id"] != bob.ID || users[1]["role"] != "member" || users[1]["email"] != "bob@example.test" {
		t.Fatalf("users: %v", users)
	}

	// No subscription: null, and no seat to invite onto.
	if body := w.expect(t, bobPAT, "GET", "/api/v1/team/subscription", nil, http.StatusOK, ""); string(body) != "null" {
		t.Fatalf("subscription: %s", body)
	}
	w.expect(t, annePAT, "POST", "/api/v1/team/invitations", map[string]any{"email": "carol@example.test", "role": "member", "use_seat": true},
		http.StatusConflict, "SEATS_FULL")
	_, err = w.a.Access.SetTeamSubscription(ctx, team.ID, "team", 2, true, nil)
	testenv.Must(t, err)
	sub := decodeAs[map[string]any](t, w.expect(t, bobPAT, "GET", "/api/v1/team/subscription", nil, http.StatusOK, ""))
	plan, _ := sub["plan"].(map[string]any)
	if sub["object"] != "team_subscription" || sub["seats"] != 2.0 || sub["seats_used"] != 0.0 || sub["trial"] != true ||
		sub["ends_at"] != nil || plan["object"] != "plan" || plan["id"] != "team" || plan["name"] != "Team" {
		t.Fatalf("subscription: %v", sub)
	}

	// Invitations: mailed; seats counted; members and bad input refused.
	inv := decodeAs[map[string]any](t, w.expect(t, annePAT, "POST", "/api/v1/team/invitations",
		map[string]any{"email": "carol@example.test", "role": "admin", "use_seat": true}, http.StatusCreated, ""))
	if inv["object"] != "team_invitation" || inv["email"] != "carol@example.test" || inv["role"] != "admin" || inv["use_seat"] != true ||
		inv["expires_at"].(float64) < float64(time.Now().Add(6*24*time.Hour).Unix()) {
		t.Fatalf("invitation: %v", inv)
	}
	if logs := w.logs.String(); !strings.Contains(logs, "carol@example.test") || !strings.Contains(logs, "/invitations/accept?token=") {
		t.Fatalf("no invitation mail was sent (the log sender writes it):\n%s", logs)
	}
	w.expect(t, annePAT, "POST", "/api/v1/team/invitations", map[string]any{"email": "erin@example.test", "role": "member", "use_seat": true},
		http.StatusCreated, "")
	w.expect(t, annePAT, "POST", "/api/v1/team/invitations", map[string]any{"email": "frank@example.test", "role": "member", "use_seat": true},
		http.StatusConflict, "SEATS_FULL")
	frank := decodeAs[map[string]any](t, w.expect(t, annePAT, "POST", "/api/v1/team/invitations",
		map[string]any{"email": "frank@example.test", "role": "member", "use_seat": false}, http.StatusCreated, ""))
	w.expect(t, annePAT, "POST", "/api/v1/team/invitations", map[string]any{"email": "BOB@example.test", "role": "member", "use_seat": false},
		http.StatusConflict, "ALREADY_MEMBER")
	for _, bad := range []any{
		map[string]any{"email": "not an address", "role": "member", "use_seat": false},
		map[string]any{"email": "gina@example.test", "role": "owner", "use_seat": false},
		map[string]any{"email": "gina@example.test", "role": "member"},
		`{"email":`, `[]`, ``,
	} {
		w.expect(t, annePAT, "POST", "/api/v1/team/invitations", bad, http.StatusBadRequest, "INVALID_INPUT")
	}
	invs := decodeAs[[]map[string]any](t, w.expect(t, annePAT, "GET", "/api/v1/team/invitations", nil, http.StatusOK, ""))
	if len(invs) != 3 {
		t.Fatalf("%d invitations, want carol, erin and frank: %v", len(invs), invs)
	}

	// A member may read but not manage.
	w.expect(t, bobPAT, "GET", "/api/v1/team/invitations", nil, http.StatusForbidden, "FORBIDDEN")
	w.expect(t, bobPAT, "POST", "/api/v1/team/invitations", map[string]any{"email": "gina@example.test", "role": "member", "use_seat": false},
		http.StatusForbidden, "FORBIDDEN")
	w.expect(t, bobPAT, "DELETE", "/api/v1/team/invitations/"+frank["id"].(string), nil, http.StatusForbidden, "FORBIDDEN")
	w.expect(t, bobPAT, "DELETE", "/api/v1/team/users/"+anne.ID, nil, http.StatusForbidden, "FORBIDDEN")

	// Withdrawing an invitation.
	del := decodeAs[map[string]any](t, w.expect(t, annePAT, "DELETE", "/api/v1/team/invitations/"+frank["id"].(string), nil, http.StatusOK, ""))
	if del["object"] != "team_invitation" || del["id"] != frank["id"] || del["deleted"] != true {
		t.Fatalf("deleted: %v", del)
	}
	w.expect(t, annePAT, "DELETE", "/api/v1/team/invitations/"+frank["id"].(string), nil, http.StatusNotFound, "NOT_FOUND")
	w.expect(t, annePAT, "DELETE", "/api/v1/team/invitations/nope", nil, http.StatusNotFound, "NOT_FOUND")
	w.expect(t, annePAT, "DELETE", "/api/v1/team/invitations/"+uuid.NewString(), nil, http.StatusNotFound, "NOT_FOUND")

	// Removing members: not the owner, not a stranger; bob goes.
	w.expect(t, annePAT, "DELETE", "/api/v1/team/users/"+anne.ID, nil, http.StatusConflict, "CONFLICT")
	w.expect(t, annePAT, "DELETE", "/api/v1/team/users/"+olga.ID, nil, http.StatusNotFound, "NOT_FOUND")
	w.expect(t, annePAT, "DELETE", "/api/v1/team/users/not-an-id", nil, http.StatusNotFound, "NOT_FOUND")
	gone := decodeAs[map[string]any](t, w.expect(t, annePAT, "DELETE", "/api/v1/team/users/"+bob.ID, nil, http.StatusOK, ""))
	if gone["object"] != "team_user" || gone["id"] != bob.ID || gone["deleted"] != true {
		t.Fatalf("deleted: %v", gone)
	}
	w.expect(t, bobPAT, "GET", "/api/v1/team", nil, http.StatusNotFound, "NOT_FOUND")
	testenv.AssertCheck(t, w.a, bob.ID, "member", "team:"+team.ID, false)

	// Workspaces: those one may view; the rest are 404 alike.
	ws := decodeAs[map[string]any](t, w.expect(t, annePAT, "GET", "/api/v1/workspace/"+team.DefaultWorkspaceID, nil, http.StatusOK, ""))
	if ws["object"] != "workspace" || ws["id"] != team.DefaultWorkspaceID || ws["name"] != "Default" {
		t.Fatalf("workspace: %v", ws)
	}
	w.expect(t, annePAT, "GET", "/api/v1/workspace/"+anne.DefaultWorkspaceID, nil, http.StatusOK, "")
	w.expect(t, bobPAT, "GET", "/api/v1/workspace/"+anne.DefaultWorkspaceID, nil, http.StatusNotFound, "NOT_FOUND")
	w.expect(t, bobPAT, "GET", "/api/v1/workspace/"+team.DefaultWorkspaceID, nil, http.StatusNotFound, "NOT_FOUND")
	w.expect(t, annePAT, "GET", "/api/v1/workspace/"+uuid.NewString(), nil, http.StatusNotFound, "NOT_FOUND")
	w.expect(t, annePAT, "GET", "/api/v1/workspace/nope", nil, http.StatusNotFound, "NOT_FOUND")

	// The current team: with a second team, a token of no team no longer
	// says which; one made for a team does.
	second := decodeAs[map[string]any](t, w.expect(t, annePAT, "POST", "/api/v1/teams",
		map[string]any{"name": "Beta", "billing_email": "beta@example.test"}, http.StatusCreated, ""))
	msg := decodeAs[map[string]any](t, w.expect(t, annePAT, "GET", "/api/v1/team", nil, http.StatusNotFound, "NOT_FOUND"))["message"].(string)
	if !strings.Contains(msg, "team_id") {
		t.Fatalf("the message does not say to make the token for a team: %q", msg)
	}
	forBeta := w.pat(t, anne.ID, second["id"].(string))
	if got := decodeAs[map[string]any](t, w.expect(t, forBeta, "GET", "/api/v1/team", nil, http.StatusOK, "")); got["name"] != "Beta" {
		t.Fatalf("team of the token: %v", got)
	}
	forAcme := w.pat(t, anne.ID, team.ID)
	if got := decodeAs[map[string]any](t, w.expect(t, forAcme, "GET", "/api/v1/team", nil, http.StatusOK, "")); got["name"] != "Acme" {
		t.Fatalf("team of the token: %v", got)
	}
	if body := w.expect(t, forBeta, "GET", "/api/v1/team/subscription", nil, http.StatusOK, ""); string(body) != "null" {
		t.Fatalf("Beta's subscription: %s", body)
	}
}

// TestPublicAPIUserAndVouchers: GET /api/v1/user and voucher claims with a
// PAT and with access tokens of each scope.
func TestPublicAPIUserAndVouchers(t *testing.T) {
	w := newAPIWorld(t)
	ctx := context.Background()
	anne := testenv.User(t, w.a, "anne@example.test")
	bob := testenv.User(t, w.a, "bob@example.test")
	carol := testenv.User(t, w.a, "carol@example.test")
	annePAT, bobPAT, carolPAT := w.pat(t, anne.ID, ""), w.pat(t, bob.ID, ""), w.pat(t, carol.ID, "")

	user := decodeAs[map[string]any](t, w.expect(t, annePAT, "GET", "/api/v1/user", nil, http.StatusOK, ""))
	if user["object"] != "user" || user["id"] != anne.ID || user["email"] != "anne@example.test" || user["name"] != "anne" {
		t.Fatalf("user: %v", user)
	}

	// Access tokens: profile:read reads the user; billing:write claims.
	in := w.register(t)
	_, err := w.a.Access.ClaimInstance(ctx, in.ID, anne.ID, anne.DefaultWorkspaceID, "laptop")
	testenv.Must(t, err)
	profile := in.SignIn(t, w.a, anne.ID, "profile:read").AccessToken
	offline := in.SignIn(t, w.a, anne.ID, "offline").AccessToken
	if got := decodeAs[map[string]any](t, w.expect(t, profile, "GET", "/api/v1/user", nil, http.StatusOK, "")); got["id"] != anne.ID {
		t.Fatalf("user with an access token: %v", got)
	}
	w.expect(t, offline, "GET", "/api/v1/user", nil, http.StatusForbidden, "FORBIDDEN")
	w.expect(t, profile, "POST", "/api/v1/user/billing/voucher-claims", map[string]any{"code": "x"}, http.StatusForbidden, "FORBIDDEN")
	// No client may register for billing:write: the token is minted on an
	// open session of anne's, as the token endpoint would.
	var sessionID string
	testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT id::text FROM sessions WHERE user_id = $1 AND revoked_at IS NULL LIMIT 1`, anne.ID).Scan(&sessionID))
	billing, err := w.a.Provider.Minter().Sign(ctx, oidc.Claims{Subject: anne.ID, Audience: in.ClientID, ClientID: in.ClientID, Kind: oidc.KindUser,
		Scope: "billing:write", SessionID: sessionID, InstanceID: in.ID, IssuedAt: time.Now().Unix(), Expiry: time.Now().Add(time.Hour).Unix(), ID: uuid.NewString()})
	testenv.Must(t, err)
	w.expect(t, billing, "GET", "/api/v1/user", nil, http.StatusForbidden, "FORBIDDEN")

	code, err := w.a.Access.CreateVoucher(ctx, "individual", 30, 2, nil)
	testenv.Must(t, err)
	w.expect(t, billing, "POST", "/api/v1/user/billing/voucher-claims", map[string]any{"code": "CVOU-AAAA-BBBB-CCCC-DDDD"}, http.StatusBadRequest, "INVALID_CODE")
	w.expect(t, billing, "POST", "/api/v1/user/billing/voucher-claims", map[string]any{}, http.StatusBadRequest, "INVALID_INPUT")
	w.expect(t, billing, "POST", "/api/v1/user/billing/voucher-claims", `nope`, http.StatusBadRequest, "INVALID_INPUT")
	if status, body := w.call(t, billing, "POST", "/api/v1/user/billing/voucher-claims", map[string]any{"code": strings.ToLower(code)}); status != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("claim: %d %s", status, body)
	}
	var plan string
	testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT plan FROM user_plans WHERE user_id = $1`, anne.ID).Scan(&plan))
	if plan != "individual" {
		t.Fatalf("plan after the claim: %s", plan)
	}
	w.expect(t, annePAT, "POST", "/api/v1/user/billing/voucher-claims", map[string]any{"code": code}, http.StatusConflict, "ALREADY_SUBSCRIBED")
	if status, body := w.call(t, bobPAT, "POST", "/api/v1/user/billing/voucher-claims", map[string]any{"code": code}); status != http.StatusNoContent {
		t.Fatalf("bob's claim: %d %s", status, body)
	}
	w.expect(t, carolPAT, "POST", "/api/v1/user/billing/voucher-claims", map[string]any{"code": code}, http.StatusBadRequest, "INVALID_CODE")

	// The claims are in the claimants' audit logs, with actor and address.
	entries := decodeAs[[]map[string]any](t, w.expect(t, bobPAT, "GET", "/api/v1/audit-log", nil, http.StatusOK, ""))
	if len(entries) == 0 || entries[0]["action"] != audit.VoucherClaim || entries[0]["actor_user_id"] != bob.ID || entries[0]["ip"] != "127.0.0.1" {
		t.Fatalf("bob's audit log: %v", entries)
	}
}

// TestPublicAPIInvitationMailFails: when the mail server cannot be reached
// the invitation is withdrawn and the answer is a retryable 503, so no
// invitation exists that nobody received, and no seat is held by one.
func TestPublicAPIInvitationMailFails(t *testing.T) {
	smtp := mailtest.Start(t, mailtest.Options{})
	w := newAPIWorldWith(t, testenv.Options{Mail: smtp})
	smtp.Close() // nothing listens there any more
	ctx := context.Background()
	anne := testenv.User(t, w.a, "anne@example.test")
	team, _, err := w.a.Access.CreateTeam(ctx, anne.ID, "Acme", "billing@example.test")
	testenv.Must(t, err)
	_, err = w.a.Access.SetTeamSubscription(ctx, team.ID, "team", 1, false, nil)
	testenv.Must(t, err)
	annePAT := w.pat(t, anne.ID, team.ID)
	w.expect(t, annePAT, "POST", "/api/v1/team/invitations", map[string]any{"email": "carol@example.test", "role": "member", "use_seat": true},
		http.StatusServiceUnavailable, "MAIL_FAILED")
	invs, err := w.a.Access.Invitations(ctx, team.ID)
	testenv.Must(t, err)
	if len(invs) != 0 {
		t.Fatalf("invitations left after the mail failed: %+v", invs)
	}
	// The seat it held is free again: an invitation with a seat only fails on the mail.
	w.expect(t, annePAT, "POST", "/api/v1/team/invitations", map[string]any{"email": "dave@example.test", "role": "member", "use_seat": true},
		http.StatusServiceUnavailable, "MAIL_FAILED")
}
