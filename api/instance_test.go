package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/instanceapi"
	"github.com/caido-cloud/caido-cloud/internal/openapitest"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc"
)

// world is a running server with a claimed instance, its token, and a
// user signed in at it.
type world struct {
	a                  *app.App
	base               string
	in                 testenv.Instance
	owner              access.User
	instanceToken      string
	userToken, refresh string
	doc                *openapi3.T
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx := context.Background()
	cfg := testenv.Config(t)
	cfg.DevicePollInterval = time.Second
	w := &world{}
	w.a, w.base = testenv.Serve(t, cfg, testenv.Options{})
	doc, err := openapi3.NewLoader().LoadFromFile(openapitest.Reference(t, "instance-api.openapi.yaml"))
	testenv.Must(t, err)
	w.doc = doc
	w.in = testenv.RegisterInstance(t, w.a, w.base, "profile:read assistant offline")
	w.owner = testenv.User(t, w.a, "anne@example.test")
	_, err = w.a.Access.ClaimInstance(ctx, w.in.ID, w.owner.ID, w.owner.DefaultWorkspaceID, "laptop")
	testenv.Must(t, err)
	w.instanceToken = w.in.Token(t)
	tok := w.in.SignIn(t, w.a, w.owner.ID, "profile:read offline")
	w.userToken, w.refresh = tok.AccessToken, tok.RefreshToken
	if w.refresh == "" {
		t.Fatalf("no refresh token for the offline scope: %+v", tok)
	}
	return w
}

// call makes a request with a bearer token and returns status and body.
func (w *world) call(t testing.TB, method, path, token string, body []byte, header ...string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, w.base+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

func (w *world) validate(t testing.TB, schema string, body []byte) {
	t.Helper()
	var v any
	testenv.Must(t, json.Unmarshal(body, &v))
	if err := w.doc.Components.Schemas[schema].Value.VisitJSON(v); err != nil {
		t.Fatalf("%s does not match the reference: %v\n%s", schema, err, body)
	}
}

// errorResponse is an error answer (ErrorResponse in the references): Error
// is the OAuth error, or the reason.
type errorResponse struct {
	Code        int    `json:"code"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Message     string `json:"message"`
}

// errorResponseOf reads an error answer; a body that is not one reads as
// empty.
func errorResponseOf(body []byte) errorResponse {
	var e errorResponse
	_ = json.Unmarshal(body, &e)
	return e
}

// wellFormed says whether e is an error answer of status as every one must
// be: the status repeated as its code, and a message, repeated as its
// description.
func (e errorResponse) wellFormed(status int) bool {
	return e.Code == status && e.Message != "" && e.Description == e.Message
}

// errorCode is the error of an error answer: the OAuth error, or the
// reason of an ErrorResponse.
func errorCode(body []byte) string {
	return errorResponseOf(body).Error
}

// TestTokensEachEndpointRefuses: every authenticated endpoint with no token,
// a malformed one, an expired one, one with the wrong audience, a revoked
// one, and one of the wrong kind.
func TestTokensEachEndpointRefuses(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	minter := w.a.Provider.Minter()
	expired, err := minter.Sign(ctx, oidc.Claims{Subject: w.owner.ID, Audience: w.in.ClientID, ClientID: w.in.ClientID, Kind: oidc.KindUser,
		SessionID: uuid.NewString(), InstanceID: w.in.ID, Expiry: time.Now().Add(-oidc.Leeway - time.Minute).Unix(), ID: uuid.NewString()})
	testenv.Must(t, err)
	wrongAudience, err := minter.Sign(ctx, oidc.Claims{Subject: w.in.ClientID, Audience: "https://elsewhere.example", ClientID: w.in.ClientID, Kind: oidc.KindInstance,
		InstanceID: w.in.ID, Expiry: time.Now().Add(time.Hour).Unix(), ID: uuid.NewString()})
	testenv.Must(t, err)
	revokedInstance := w.in.Token(t)
	w.in.PostForm(t, "/oauth2/revoke", url.Values{"token": {revokedInstance}})
	revokedUser := w.in.SignIn(t, w.a, w.owner.ID, "profile:read").AccessToken
	w.in.PostForm(t, "/oauth2/revoke", url.Values{"token": {revokedUser}})

	endpoints := []struct {
		method, path string
		kind         string
	}{
		{"POST", "/instance/alive", oidc.KindInstance},
		{"GET", "/instance/owner", oidc.KindInstance},
		{"GET", "/instance/workspace", oidc.KindInstance},
		{"GET", "/instance/user/session", oidc.KindUser},
		{"GET", "/instance/user/profile", oidc.KindUser},
		{"POST", "/instance/user/session/revoke", oidc.KindUser},
	}
	for _, e := range endpoints {
		revoked, wrongKind := revokedInstance, w.userToken
		if e.kind == oidc.KindUser {
			revoked, wrongKind = revokedUser, w.instanceToken
		}
		for _, tc := range []struct{ name, token, code string }{
			{"no token", "", "invalid_token"},
			{"malformed", "not.a.jwt", "invalid_token"},
			{"expired", expired, "invalid_token"},
			{"wrong audience", wrongAudience, "invalid_token"},
			{"revoked", revoked, "session_ended"},
			{"wrong kind", wrongKind, "wrong_token_kind"},
		} {
			t.Run(e.path+"/"+tc.name, func(t *testing.T) {
				status, body := w.call(t, e.method, e.path, tc.token, nil)
				if status != http.StatusUnauthorized || errorCode(body) != tc.code {
					t.Fatalf("got %d %s, want 401 %s", status, body, tc.code)
				}
			})
		}
	}
}

func TestInstanceCalls(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	status, _ := w.call(t, "POST", "/instance/alive", w.instanceToken, nil, "User-Agent", "caido/0.51.2 (linux; x86_64)")
	if status != 200 {
		t.Fatalf("alive without a body: %d", status)
	}
	status, _ = w.call(t, "POST", "/instance/alive", w.instanceToken, []byte(`{"os":{"kind":"linux","name":"Debian","version":"12"}}`),
		"User-Agent", "caido/0.51.3", "Content-Type", "application/json")
	if status != 200 {
		t.Fatalf("alive with a body: %d", status)
	}
	if status, body := w.call(t, "POST", "/instance/alive", w.instanceToken, []byte(`{"os":`), "Content-Type", "application/json"); status != 400 {
		t.Fatalf("alive with a broken body: %d %s", status, body)
	}
	var days int
	var version, osName string
	testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT (SELECT count(*) FROM instance_liveness WHERE instance_id = $1),
		version, os_name FROM instance_last_seen WHERE instance_id = $1`, w.in.ID).Scan(&days, &version, &osName))
	if days != 1 || version != "0.51.3" || osName != "Debian" {
		t.Fatalf("liveness: %d history rows, last seen version %q os %q", days, version, osName)
	}

	status, body := w.call(t, "GET", "/instance/workspace", w.instanceToken, nil)
	if status != 200 {
		t.Fatalf("workspace: %d %s", status, body)
	}
	w.validate(t, "InstanceWorkspacePayload", body)
	var ws instanceapi.Workspace
	testenv.Must(t, json.Unmarshal(body, &ws))
	if ws.ID != w.owner.DefaultWorkspaceID || ws.Name != "Default" || ws.Generation < 1 {
		t.Fatalf("workspace %+v", ws)
	}
	status, body = w.call(t, "GET", "/instance/owner", w.instanceToken, nil)
	w.validate(t, "InstanceOwnerPayload", body)
	if status != 200 || !strings.Contains(string(body), w.owner.ID) || !strings.Contains(string(body), `"user"`) {
		t.Fatalf("owner: %d %s", status, body)
	}

	// An unclaimed instance has neither.
	unclaimed := testenv.RegisterInstance(t, w.a, w.base, "", "client_credentials").Token(t)
	for _, path := range []string{"/instance/workspace", "/instance/owner"} {
		if status, body := w.call(t, "GET", path, unclaimed, nil); status != 404 || errorCode(body) != "not_found" {
			t.Fatalf("%s of an unclaimed instance: %d %s", path, status, body)
		}
	}
}

func TestReleasesAndPackages(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	store := instanceapi.New(w.a.DB)
	if status, body := w.call(t, "GET", "/store/packages", "", nil); status != 200 || string(body) != "[]" {
		t.Fatalf("no packages: %d %s", status, body)
	}
	if status, body := w.call(t, "GET", "/releases/latest", "", nil); status != 404 {
		t.Fatalf("no release: %d %s", status, body)
	}
	testenv.Must(t, store.PublishRelease(ctx, json.RawMessage(`{"id":"r1","version":"0.50.0","released_at":"2026-10-01T00:00:00Z","links":[]}`)))
	testenv.Must(t, store.PublishRelease(ctx, json.RawMessage(`{"id":"r2","version":"0.51.0","released_at":"2026-11-01T00:00:00Z",
		"links":[{"display":"Linux x86_64","platform":"linux-x86_64","kind":"desktop","link":"https://example.test/caido.AppImage","os":"linux","arch":"x86_64","format":"AppImage","hash":null}]}`)))
	status, body := w.call(t, "GET", "/releases/latest", "", nil)
	if status != 200 || !strings.Contains(string(body), `"0.51.0"`) {
		t.Fatalf("latest release: %d %s", status, body)
	}
	w.validate(t, "Release", body)
	testenv.Must(t, store.PublishPackage(ctx, json.RawMessage(`{"id":"p1","license":"MIT","version":"1.0.0","public_key":"pk","repository":"https://example.test/p1",
		"archive":"https://example.test/p1.zip","signature":"sig","quality":"gold","kind":"official","downloads":3,"name":"Plugin one","author":null}`)))
	status, body = w.call(t, "GET", "/store/packages?kind=official", "", nil)
	if status != 200 || !strings.Contains(string(body), `"p1"`) {
		t.Fatalf("packages: %d %s", status, body)
	}
	w.validate(t, "PackagesPayload", body)
	if status, body := w.call(t, "GET", "/store/packages?kind=community", "", nil); status != 200 || string(body) != "[]" {
		t.Fatalf("community packages: %d %s", status, body)
	}
	if status, _ := w.call(t, "GET", "/store/packages?kind=bogus", "", nil); status != 400 {
		t.Fatalf("a bad kind: %d", status)
	}
}

func TestUserCalls(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	status, body := w.call(t, "GET", "/instance/user/session", w.userToken, nil)
	if status != 200 {
		t.Fatalf("session: %d %s", status, body)
	}
	w.validate(t, "UserSessionPayload", body)
	w.call(t, "GET", "/instance/user/session", w.userToken, nil)
	var pings int
	testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT count(*) FROM session_pings WHERE user_id = $1`, w.owner.ID).Scan(&pings))
	if pings != 1 {
		t.Fatalf("%d pings after two calls in a minute, want 1 (first interaction, then hourly)", pings)
	}
	// An hour later the next call records the next one.
	_, err := w.a.DB.Exec(ctx, `UPDATE sessions SET last_ping_at = last_ping_at - interval '61 minutes' WHERE user_id = $1`, w.owner.ID)
	testenv.Must(t, err)
	w.call(t, "GET", "/instance/user/session", w.userToken, nil)
	w.call(t, "GET", "/instance/user/session", w.userToken, nil)
	testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT count(*) FROM session_pings WHERE user_id = $1`, w.owner.ID).Scan(&pings))
	if pings != 2 {
		t.Fatalf("%d pings after an hour and two more calls, want 2", pings)
	}

	status, body = w.call(t, "GET", "/instance/user/profile", w.userToken, nil)
	w.validate(t, "UserProfilePayload", body)
	if status != 200 || !strings.Contains(string(body), `"Basic"`) || !strings.Contains(string(body), "anne@example.test") {
		t.Fatalf("profile: %d %s", status, body)
	}
	_, err = w.a.DB.Exec(ctx, `UPDATE users SET plan = 'team' WHERE id = $1`, w.owner.ID)
	testenv.Must(t, err)
	_, body = w.call(t, "GET", "/instance/user/profile", w.userToken, nil)
	if !strings.Contains(string(body), `"Team"`) || !strings.Contains(string(body), `{"name":"assistant"}`) {
		t.Fatalf("profile after a plan change: %s", body)
	}
	noProfile := w.in.SignIn(t, w.a, w.owner.ID, "offline").AccessToken
	if status, body := w.call(t, "GET", "/instance/user/profile", noProfile, nil); status != 403 || errorCode(body) != "insufficient_scope" {
		t.Fatalf("profile without profile:read: %d %s", status, body)
	}

	// The server routes the assistant too; this token lacks its scope.
	if status, body := w.call(t, "GET", "/instance/assistant/usage", w.userToken, nil); status != 403 || errorCode(body) != "insufficient_scope" {
		t.Fatalf("assistant usage without the assistant scope: %d %s", status, body)
	}

	// Logout ends the session's tokens at once, the refresh token included.
	if status, _ := w.call(t, "POST", "/instance/user/session/revoke", w.userToken, nil); status != 200 {
		t.Fatalf("revoke: %d", status)
	}
	if status, body := w.call(t, "GET", "/instance/user/session", w.userToken, nil); status != 401 || errorCode(body) != "session_ended" {
		t.Fatalf("after logout: %d %s", status, body)
	}
	if status, _ := w.in.PostForm(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {w.refresh}}); status != 400 {
		t.Fatalf("refresh after logout: %d", status)
	}
}

// TestRevocationIsSeenEverywhereWithinTheBound: a user's access is revoked
// through one replica; the next call on another replica, which had just
// cached the decision, is refused within oidc.DecisionTTL.
func TestRevocationIsSeenEverywhereWithinTheBound(t *testing.T) {
	ctx := context.Background()
	cfg := testenv.Config(t)
	cfg.DevicePollInterval = time.Second
	one, baseOne := testenv.Serve(t, cfg, testenv.Options{})
	_, baseTwo := testenv.Serve(t, cfg, testenv.Options{PublicURL: baseOne})
	in := testenv.RegisterInstance(t, one, baseOne, "profile:read", "urn:ietf:params:oauth:grant-type:device_code")
	anne := testenv.User(t, one, "anne@example.test")
	bob := testenv.User(t, one, "bob@example.test")
	_, err := one.Access.ClaimInstance(ctx, in.ID, anne.ID, anne.DefaultWorkspaceID, "laptop")
	testenv.Must(t, err)
	_, err = one.Access.Grant(ctx, in.ID, access.Grantee{UserID: bob.ID}, nil, anne.ID)
	testenv.Must(t, err)
	token := in.SignIn(t, one, bob.ID, "profile:read").AccessToken
	onTwo := &world{base: baseTwo}
	if status, body := onTwo.call(t, "GET", "/instance/user/session", token, nil); status != 200 {
		t.Fatalf("before the revocation, on two: %d %s", status, body)
	}
	ch, err := one.Access.Revoke(ctx, in.ID, access.Grantee{UserID: bob.ID})
	testenv.Must(t, err)
	if ch.Pending {
		t.Fatal("the revocation is still pending in OpenFGA")
	}
	revokedAt := time.Now()
	for {
		status, _ := onTwo.call(t, "GET", "/instance/user/session", token, nil)
		if status == http.StatusUnauthorized {
			break
		}
		if time.Since(revokedAt) > oidc.DecisionTTL {
			t.Fatalf("replica two still accepts the revoked user %s after the revocation (bound %s)", time.Since(revokedAt), oidc.DecisionTTL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
