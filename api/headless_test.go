package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/openapitest"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/pats"
)

// headlessWorld is the real server: registration, device authorization,
// the token endpoint and the headless routes, on the test's clock.
type headlessWorld struct {
	a     *app.App
	base  string
	clock *testenv.Clock
	doc   *openapi3.T
	logs  *testenv.Buffer
	// secrets are every PAT made, to check they never reach a log.
	secrets []string
}

func newHeadlessWorld(t *testing.T) *headlessWorld {
	t.Helper()
	cfg := testenv.Config(t)
	// The device flows pace polls by the clock too, which stands still: a
	// test waits this interval out by moving the clock on.
	cfg.DevicePollInterval = time.Second
	w := &headlessWorld{logs: &testenv.Buffer{}, clock: testenv.NewClock(time.Now())}
	w.a, w.base = testenv.Serve(t, cfg, testenv.Options{Log: w.logs, Clock: w.clock})
	doc, err := openapi3.NewLoader().LoadFromFile(openapitest.Reference(t, "public-api.openapi.yaml"))
	testenv.Must(t, err)
	w.doc = doc
	t.Cleanup(func() {
		if !strings.Contains(w.logs.String(), "/oauth2/device/") {
			t.Errorf("the headless requests were not logged, so the check below proves nothing:\n%s", w.logs.String())
		}
		for _, s := range w.secrets {
			if strings.Contains(w.logs.String(), s) || strings.Contains(w.logs.String(), strings.TrimPrefix(s, "caido_")) {
				t.Errorf("a personal access token is in the logs:\n%s", w.logs.String())
			}
		}
	})
	return w
}

// pat makes a token for the user.
func (w *headlessWorld) pat(t *testing.T, n pats.NewToken) string {
	t.Helper()
	if n.Name == "" {
		n.Name = "ci"
	}
	n.Via = pats.ViaOperator
	secret, _, err := w.a.PATs.Create(context.Background(), n)
	testenv.Must(t, err)
	w.secrets = append(w.secrets, secret)
	return secret
}

// register registers an instance at the server.
func (w *headlessWorld) register(t *testing.T) testenv.Instance {
	t.Helper()
	return testenv.RegisterInstance(t, w.a, w.base, "profile:read assistant offline")
}

// pollError polls and fails unless the answer is the OAuth error want.
func (w *headlessWorld) pollError(t *testing.T, in testenv.Instance, deviceCode, want string) {
	t.Helper()
	status, out, body := in.PollDevice(t, deviceCode)
	if status != http.StatusBadRequest || out["error"] != want {
		t.Fatalf("poll: %d %s, want 400 %s", status, body, want)
	}
}

// call makes a headless request; the approver sends exactly these headers.
func (w *headlessWorld) call(t *testing.T, method, path string, query url.Values, auth string) (int, http.Header, []byte) {
	t.Helper()
	u := w.base + path
	if query != nil {
		u += "?" + query.Encode()
	}
	req, _ := http.NewRequest(method, u, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Accept", "application/json")
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header, buf.Bytes()
}

func (w *headlessWorld) information(t *testing.T, pat, userCode string) (int, []byte) {
	t.Helper()
	status, _, body := w.call(t, "GET", "/oauth2/device/information", url.Values{"user_code": {userCode}}, "Bearer "+pat)
	return status, body
}

func (w *headlessWorld) approve(t *testing.T, pat, userCode, scope string) (int, []byte) {
	t.Helper()
	status, _, body := w.call(t, "POST", "/oauth2/device/approve", url.Values{"user_code": {userCode}, "scope": {scope}}, "Bearer "+pat)
	return status, body
}

func (w *headlessWorld) deny(t *testing.T, pat, userCode string) (int, []byte) {
	t.Helper()
	status, _, body := w.call(t, "POST", "/oauth2/device/deny", url.Values{"user_code": {userCode}}, "Bearer "+pat)
	return status, body
}

// validate checks body against a schema of the public API reference.
func (w *headlessWorld) validate(t *testing.T, schema string, body []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", schema, err, body)
	}
	if err := w.doc.Components.Schemas[schema].Value.VisitJSON(v); err != nil {
		t.Fatalf("%s does not match the reference: %v\n%s", schema, err, body)
	}
}

// headlessFailure checks an error answer: status, ErrorResponse shape,
// error code; it returns the message.
func (w *headlessWorld) headlessFailure(t *testing.T, status int, body []byte, wantStatus int, wantCode string) string {
	t.Helper()
	e := errorResponseOf(body)
	if status != wantStatus || e.Error != wantCode || !e.wellFormed(wantStatus) {
		t.Fatalf("got %d %s, want %d %s with the code repeated and a message", status, body, wantStatus, wantCode)
	}
	w.validate(t, "ErrorResponse", body)
	return e.Message
}

// instanceRow is what the instance's row says, to check nothing changed.
func (w *headlessWorld) instanceRow(t *testing.T, instanceID string) string {
	t.Helper()
	var s string
	testenv.Must(t, w.a.DB.QueryRow(context.Background(), `SELECT i::text FROM instances i WHERE id = $1`, instanceID).Scan(&s))
	return s
}

// TestHeadlessPATRequired: every route refuses a request without a live
// PAT alike, and takes one.
func TestHeadlessPATRequired(t *testing.T) {
	w := newHeadlessWorld(t)
	ctx := context.Background()
	anne := testenv.User(t, w.a, "anne@example.test")
	live := w.pat(t, pats.NewToken{UserID: anne.ID})
	revoked, rt, err := w.a.PATs.Create(ctx, pats.NewToken{UserID: anne.ID, Name: "old", Via: pats.ViaOperator})
	testenv.Must(t, err)
	w.secrets = append(w.secrets, revoked)
	testenv.Must(t, w.a.PATs.Revoke(ctx, anne.ID, rt.ID))
	soon := w.clock.Now().Add(time.Hour)
	expired := w.pat(t, pats.NewToken{UserID: anne.ID, ExpiresAt: &soon})
	w.clock.Advance(time.Hour)
	in := w.register(t)
	userCode := in.StartDeviceFlow(t, "profile:read").UserCode

	for _, route := range []struct{ method, path string }{
		{"GET", "/oauth2/device/information"}, {"POST", "/oauth2/device/approve"}, {"POST", "/oauth2/device/deny"},
	} {
		for name, auth := range map[string]string{
			"no header":         "",
			"empty bearer":      "Bearer ",
			"basic":             "Basic " + live,
			"garbage":           "Bearer garbage",
			"unknown":           "Bearer caido_" + strings.Repeat("b", 52),
			"revoked":           "Bearer " + revoked,
			"expired":           "Bearer " + expired,
			"an instance token": "Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln",
		} {
			t.Run(route.path+"/"+name, func(t *testing.T) {
				status, header, body := w.call(t, route.method, route.path, url.Values{"user_code": {userCode}, "scope": {"profile:read"}}, auth)
				w.headlessFailure(t, status, body, http.StatusUnauthorized, "invalid_token")
				if !strings.HasPrefix(header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("no Bearer challenge: %v", header)
				}
			})
		}
	}
	// None of that decided the flow; a live token, with "bearer" in any case, does.
	status, _, body := w.call(t, "GET", "/oauth2/device/information", url.Values{"user_code": {userCode}}, "bearer "+live)
	if status != http.StatusOK {
		t.Fatalf("information with a live token: %d %s", status, body)
	}
}

// TestHeadlessInformation: which instance asks and for what, for an
// unclaimed and a claimed instance; every code that is not pending gets
// one answer.
func TestHeadlessInformation(t *testing.T) {
	w := newHeadlessWorld(t)
	ctx := context.Background()
	anne := testenv.User(t, w.a, "anne@example.test")
	pat := w.pat(t, pats.NewToken{UserID: anne.ID})

	fresh := w.register(t)
	code := fresh.StartDeviceFlow(t, "assistant profile:read offline").UserCode
	status, body := w.information(t, pat, strings.ToLower(strings.ReplaceAll(code, "-", "")))
	if status != http.StatusOK {
		t.Fatalf("information: %d %s", status, body)
	}
	w.validate(t, "DeviceInformationPayload", body)
	var info struct {
		Scope  string `json:"scope"`
		Scopes []struct {
			Name, Requirement string
		} `json:"scopes"`
		Client struct {
			ID           string          `json:"id"`
			RegisteredAt int64           `json:"registered_at"`
			Instance     json.RawMessage `json:"instance"`
		} `json:"client"`
	}
	testenv.Must(t, json.Unmarshal(body, &info))
	var got []string
	for _, s := range info.Scopes {
		got = append(got, s.Name+"="+s.Requirement)
	}
	if strings.Join(got, " ") != "assistant=optional profile:read=required offline=optional" ||
		info.Scope != "assistant profile:read offline" {
		t.Fatalf("scopes %v (%q)", got, info.Scope)
	}
	if info.Client.ID != fresh.ClientID || time.Since(time.Unix(info.Client.RegisteredAt, 0)) > time.Minute || info.Client.Instance != nil {
		t.Fatalf("client of an unclaimed instance: %s", body)
	}

	claimed := w.register(t)
	_, err := w.a.Access.ClaimInstance(ctx, claimed.ID, anne.ID, anne.DefaultWorkspaceID, "laptop")
	testenv.Must(t, err)
	code = claimed.StartDeviceFlow(t, "profile:read").UserCode
	status, body = w.information(t, pat, code)
	if status != http.StatusOK {
		t.Fatalf("information: %d %s", status, body)
	}
	w.validate(t, "DeviceInformationPayload", body)
	var claimedInfo struct {
		Client struct {
			Instance struct {
				ID           string `json:"id"`
				Name         string `json:"name"`
				RegisteredAt int64  `json:"registered_at"`
				Workspace    struct{ ID, Name string }
			} `json:"instance"`
		} `json:"client"`
	}
	testenv.Must(t, json.Unmarshal(body, &claimedInfo))
	ci := claimedInfo.Client.Instance
	if ci.ID != claimed.ID || ci.Name != "laptop" || ci.RegisteredAt == 0 ||
		ci.Workspace.ID != anne.DefaultWorkspaceID || ci.Workspace.Name != "Default" {
		t.Fatalf("instance of a claimed one: %s", body)
	}

	// Wrong codes: never issued, malformed, decided, one answer for all.
	approved := claimed.StartDeviceFlow(t, "profile:read").UserCode
	testenv.Must(t, w.a.Devices.Approve(ctx, approved, anne.ID, []string{"profile:read"}))
	denied := claimed.StartDeviceFlow(t, "profile:read").UserCode
	testenv.Must(t, w.a.Devices.Deny(ctx, denied))
	var first string
	for name, code := range map[string]string{
		"never issued": "BCDF-GHJK", "malformed": "12", "approved": approved, "denied": denied,
	} {
		status, body := w.information(t, pat, code)
		msg := w.headlessFailure(t, status, body, http.StatusNotFound, "invalid_user_code")
		if first == "" {
			first = string(body)
		}
		if string(body) != first {
			t.Fatalf("%s: %s differs from %s", name, body, first)
		}
		_ = msg
	}
	status, _, body = w.call(t, "GET", "/oauth2/device/information", nil, "Bearer "+pat)
	w.headlessFailure(t, status, body, http.StatusBadRequest, "invalid_request")
}

// TestHeadlessApproveClaimsUnclaimed: approving for an unclaimed instance
// claims it into the token owner's Default workspace; the instance's poll
// then gets tokens with exactly the scopes granted.
func TestHeadlessApproveClaimsUnclaimed(t *testing.T) {
	w := newHeadlessWorld(t)
	anne := testenv.User(t, w.a, "anne@example.test")
	pat := w.pat(t, pats.NewToken{UserID: anne.ID})
	in := w.register(t)
	da := in.StartDeviceFlow(t, "profile:read assistant offline")
	deviceCode, code := da.DeviceCode, da.UserCode
	w.pollError(t, in, deviceCode, "authorization_pending")

	status, body := w.approve(t, pat, code, "profile:read,offline")
	if status != http.StatusOK || len(body) != 0 {
		t.Fatalf("approve: %d %s", status, body)
	}
	var name, workspaceID, claimedBy string
	testenv.Must(t, w.a.DB.QueryRow(context.Background(), `SELECT name, workspace_id::text, claimed_by::text FROM instances WHERE id = $1`,
		in.ID).Scan(&name, &workspaceID, &claimedBy))
	if name != "Instance "+in.ID[:8] || workspaceID != anne.DefaultWorkspaceID || claimedBy != anne.ID {
		t.Fatalf("claimed as %q into %s by %s", name, workspaceID, claimedBy)
	}
	testenv.AssertCheck(t, w.a, anne.ID, "can_use", authz.InstanceObject(in.ID), true)
	var actor string
	testenv.Must(t, w.a.DB.QueryRow(context.Background(), `SELECT actor_label FROM audit_log WHERE action = 'instance.claim' AND target_id = $1`,
		in.ID).Scan(&actor))
	if actor != "anne@example.test" {
		t.Fatalf("the claim is audited as %q's, want the token owner's", actor)
	}

	status, tok, raw := in.PollDevice(t, deviceCode)
	if status != http.StatusOK || tok["scope"] != "profile:read offline" || tok["refresh_token"] == nil {
		t.Fatalf("poll after approval: %d %s", status, raw)
	}
	w.validate(t, "TokenPayload", raw)
	// The token works at the instance API.
	req, _ := http.NewRequest("GET", w.base+"/instance/user/profile", nil)
	req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("profile with the approved token: %d", resp.StatusCode)
	}
	// The code is used up.
	status, body = w.approve(t, pat, code, "profile:read")
	w.headlessFailure(t, status, body, http.StatusNotFound, "invalid_user_code")
}

// TestHeadlessApproveScopes: only scopes asked for may be granted, a
// refused approval changes nothing, and the required scopes come with any
// approval (approval's one scope policy, as on the device page).
func TestHeadlessApproveScopes(t *testing.T) {
	w := newHeadlessWorld(t)
	anne := testenv.User(t, w.a, "anne@example.test")
	pat := w.pat(t, pats.NewToken{UserID: anne.ID})
	in := w.register(t)
	da := in.StartDeviceFlow(t, "profile:read assistant")
	deviceCode, code := da.DeviceCode, da.UserCode
	before := w.instanceRow(t, in.ID)
	for _, scope := range []string{"offline", "profile:read,offline", "profile:read,billing:write"} {
		t.Run(scope, func(t *testing.T) {
			status, body := w.approve(t, pat, code, scope)
			msg := w.headlessFailure(t, status, body, http.StatusBadRequest, "invalid_scope")
			if !strings.Contains(msg, "profile:read, assistant") {
				t.Fatalf("the refusal does not say what was asked: %s", msg)
			}
			w.pollError(t, in, deviceCode, "authorization_pending")
			if after := w.instanceRow(t, in.ID); after != before {
				t.Fatalf("a refused approval changed the instance: %s -> %s", before, after)
			}
			w.clock.Advance(time.Second) // the poll interval
		})
	}
	// Spaces, repeats and several parameters are read too; profile:read,
	// required, comes without being named.
	status, _, body := w.call(t, "POST", "/oauth2/device/approve", url.Values{"user_code": {code}, "scope": {"assistant ", "assistant"}}, "Bearer "+pat)
	if status != http.StatusOK {
		t.Fatalf("approve: %d %s", status, body)
	}
	status, tok, raw := in.PollDevice(t, deviceCode)
	if status != http.StatusOK || tok["scope"] != "assistant profile:read" && tok["scope"] != "profile:read assistant" {
		t.Fatalf("poll: %d %s", status, raw)
	}
}

// TestHeadlessApproveClaimedNotMine: an instance the token's owner may not
// use is refused with whom to ask, and nothing changes; once shared, it
// is approved.
func TestHeadlessApproveClaimedNotMine(t *testing.T) {
	w := newHeadlessWorld(t)
	ctx := context.Background()
	anne := testenv.User(t, w.a, "anne@example.test")
	bob := testenv.User(t, w.a, "bob@example.test")
	bobPAT := w.pat(t, pats.NewToken{UserID: bob.ID})
	in := w.register(t)
	_, err := w.a.Access.ClaimInstance(ctx, in.ID, anne.ID, anne.DefaultWorkspaceID, "anne's laptop")
	testenv.Must(t, err)
	da := in.StartDeviceFlow(t, "profile:read")
	deviceCode, code := da.DeviceCode, da.UserCode
	before := w.instanceRow(t, in.ID)

	status, body := w.approve(t, bobPAT, code, "profile:read")
	msg := w.headlessFailure(t, status, body, http.StatusForbidden, "access_denied")
	if !strings.Contains(msg, "anne@example.test") || !strings.Contains(msg, "anne's laptop") {
		t.Fatalf("the refusal does not say whom to ask: %s", msg)
	}
	var e struct {
		Ask struct{ Kind, Name, Email, Workspace string }
	}
	testenv.Must(t, json.Unmarshal(body, &e))
	if e.Ask.Kind != "user" || e.Ask.Email != "anne@example.test" || e.Ask.Workspace != "Default" {
		t.Fatalf("ask: %+v", e.Ask)
	}
	if after := w.instanceRow(t, in.ID); after != before {
		t.Fatalf("the refusal changed the instance: %s -> %s", before, after)
	}
	w.pollError(t, in, deviceCode, "authorization_pending")

	_, err = w.a.Access.Grant(ctx, in.ID, access.Grantee{UserID: bob.ID}, nil, anne.ID)
	testenv.Must(t, err)
	status, body = w.approve(t, bobPAT, code, "profile:read")
	if status != http.StatusOK {
		t.Fatalf("approve once shared: %d %s", status, body)
	}
	w.clock.Advance(time.Second)
	status, tok, raw := in.PollDevice(t, deviceCode)
	if status != http.StatusOK || tok["access_token"] == nil {
		t.Fatalf("poll: %d %s", status, raw)
	}
	if after := w.instanceRow(t, in.ID); after != before {
		t.Fatalf("approving changed the claimed instance: %s -> %s", before, after)
	}
}

// TestHeadlessTeamPAT: a team token acts only within its team. It claims
// into the team's Default workspace when its owner may add instances there;
// a member who may not is refused (their own workspace is outside the
// token's team), and so is a claimed instance of a workspace outside it,
// even one its user may use.
func TestHeadlessTeamPAT(t *testing.T) {
	w := newHeadlessWorld(t)
	ctx := context.Background()
	anne := testenv.User(t, w.a, "anne@example.test")
	bob := testenv.User(t, w.a, "bob@example.test")
	team, _, err := w.a.Access.CreateTeam(ctx, anne.ID, "Acme", "billing@example.test")
	testenv.Must(t, err)
	_, err = w.a.Access.SetTeamMember(ctx, team.ID, bob.ID, access.RoleMember, false)
	testenv.Must(t, err)
	testenv.Seat(t, w.a, team.ID, anne.ID, bob.ID)

	annes := w.pat(t, pats.NewToken{UserID: anne.ID, TeamID: team.ID})
	in := w.register(t)
	da := in.StartDeviceFlow(t, "profile:read")
	deviceCode, code := da.DeviceCode, da.UserCode
	if status, body := w.approve(t, annes, code, "profile:read"); status != http.StatusOK {
		t.Fatalf("approve by anne: %d %s", status, body)
	}
	var workspaceID string
	testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT workspace_id::text FROM instances WHERE id = $1`, in.ID).Scan(&workspaceID))
	if workspaceID != team.DefaultWorkspaceID {
		t.Fatalf("anne's team token claimed into %s, want the team's %s", workspaceID, team.DefaultWorkspaceID)
	}
	if status, _, raw := in.PollDevice(t, deviceCode); status != http.StatusOK {
		t.Fatalf("poll: %d %s", status, raw)
	}

	bobs := w.pat(t, pats.NewToken{UserID: bob.ID, TeamID: team.ID})
	fresh := w.register(t)
	code = fresh.StartDeviceFlow(t, "profile:read").UserCode
	before := w.instanceRow(t, fresh.ID)
	status, body := w.approve(t, bobs, code, "profile:read")
	w.headlessFailure(t, status, body, http.StatusForbidden, "access_denied")
	if after := w.instanceRow(t, fresh.ID); after != before {
		t.Fatalf("a refused approval claimed the instance: %s -> %s", before, after)
	}

	// Anne's own instance: she may use it, but not with her team's token.
	own := w.register(t)
	_, err = w.a.Access.ClaimInstance(ctx, own.ID, anne.ID, anne.DefaultWorkspaceID, "laptop")
	testenv.Must(t, err)
	code = own.StartDeviceFlow(t, "profile:read").UserCode
	status, body = w.approve(t, annes, code, "profile:read")
	if msg := w.headlessFailure(t, status, body, http.StatusForbidden, "access_denied"); !strings.Contains(msg, "acts only within it") {
		t.Fatalf("the refusal does not say why: %s", msg)
	}
	if status, body := w.approve(t, w.pat(t, pats.NewToken{UserID: anne.ID}), code, "profile:read"); status != http.StatusOK {
		t.Fatalf("approve with anne's token of no team: %d %s", status, body)
	}
}

// TestHeadlessDeny: the device's next poll gets access_denied.
func TestHeadlessDeny(t *testing.T) {
	w := newHeadlessWorld(t)
	anne := testenv.User(t, w.a, "anne@example.test")
	pat := w.pat(t, pats.NewToken{UserID: anne.ID})
	in := w.register(t)
	da := in.StartDeviceFlow(t, "profile:read")
	deviceCode, code := da.DeviceCode, da.UserCode
	status, body := w.deny(t, pat, code)
	if status != http.StatusOK || len(body) != 0 {
		t.Fatalf("deny: %d %s", status, body)
	}
	w.pollError(t, in, deviceCode, "access_denied")
	status, body = w.deny(t, pat, code)
	w.headlessFailure(t, status, body, http.StatusNotFound, "invalid_user_code")
	status, body = w.approve(t, pat, code, "profile:read")
	w.headlessFailure(t, status, body, http.StatusNotFound, "invalid_user_code")
	var claimed bool
	testenv.Must(t, w.a.DB.QueryRow(context.Background(), `SELECT workspace_id IS NOT NULL FROM instances WHERE id = $1`, in.ID).Scan(&claimed))
	if claimed {
		t.Fatal("a denied instance was claimed")
	}
}

// TestHeadlessGuessLimit: ten wrong codes a minute per token, then 429
// with Retry-After, on every route and even for a right code; right codes
// do not count; other tokens are not held back.
func TestHeadlessGuessLimit(t *testing.T) {
	w := newHeadlessWorld(t)
	anne := testenv.User(t, w.a, "anne@example.test")
	guesser := w.pat(t, pats.NewToken{UserID: anne.ID, Name: "guesser"})
	honest := w.pat(t, pats.NewToken{UserID: anne.ID, Name: "honest"})
	in := w.register(t)
	da := in.StartDeviceFlow(t, "profile:read")
	deviceCode, code := da.DeviceCode, da.UserCode

	for range 15 {
		if status, body := w.information(t, honest, code); status != http.StatusOK {
			t.Fatalf("right codes should not count: %d %s", status, body)
		}
	}
	wrong := []string{"BCDF-GHJK", "BCDF-GHJL", "BCDF-GHJM", "BCDF-GHJN", "xx"}
	for i := range 10 {
		status, body := w.information(t, guesser, wrong[i%len(wrong)])
		w.headlessFailure(t, status, body, http.StatusNotFound, "invalid_user_code")
	}
	for _, try := range []func() (int, http.Header, []byte){
		func() (int, http.Header, []byte) {
			return w.call(t, "GET", "/oauth2/device/information", url.Values{"user_code": {"BCDF-GHJK"}}, "Bearer "+guesser)
		},
		func() (int, http.Header, []byte) {
			return w.call(t, "GET", "/oauth2/device/information", url.Values{"user_code": {code}}, "Bearer "+guesser)
		},
		func() (int, http.Header, []byte) {
			return w.call(t, "POST", "/oauth2/device/deny", url.Values{"user_code": {code}}, "Bearer "+guesser)
		},
	} {
		status, header, body := try()
		w.headlessFailure(t, status, body, http.StatusTooManyRequests, "rate_limited")
		if s, err := strconv.Atoi(header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
			t.Fatalf("Retry-After %q, want 1 to 60 seconds", header.Get("Retry-After"))
		}
	}
	w.pollError(t, in, deviceCode, "authorization_pending")
	if status, body := w.approve(t, honest, code, "profile:read"); status != http.StatusOK {
		t.Fatalf("another token: %d %s", status, body)
	}
	// A window later, the guesser may try again.
	w.clock.Advance(time.Minute)
	status, body := w.information(t, guesser, "BCDF-GHJK")
	w.headlessFailure(t, status, body, http.StatusNotFound, "invalid_user_code")
}
