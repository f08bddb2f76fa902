package oidc_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// The token endpoint and introspection as the RFCs word them, each case
// named by its section.

// TestEmptyScopeIsNoScope: RFC 6749 §3.3 defines scope as a list of one or
// more tokens, so `scope=` (what openid-client sends) asks for none: an
// instance gets its token; a named scope is still refused.
func TestEmptyScopeIsNoScope(t *testing.T) {
	_, base := server(t)
	inst := register(t, base, "", "client_credentials")
	for _, tc := range []struct {
		scope  string
		status int
	}{{"", 200}, {" ", 200}, {"openid", 400}} {
		status, body := postForm(t, base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {tc.scope},
			"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}})
		if status != tc.status || tc.status == 400 && body["error"] != "invalid_scope" || tc.status == 200 && body["access_token"] == nil {
			t.Errorf("scope=%q: %d %v, want %d", tc.scope, status, body, tc.status)
		}
	}
}

// TestRefreshChecksBeforeRotating: RFC 6749 §6 has the server check the
// asked scope against the grant, and §5.2 answer invalid_scope; a refused
// request changes nothing, so the client's refresh token still works after
// (before, the token was rotated first, and the client's next use of it
// was taken as reuse and ended the session).
func TestRefreshChecksBeforeRotating(t *testing.T) {
	a, base := server(t)
	anne := testenv.User(t, a, "anne@example.test")
	inst := claimed(t, a, base, anne.ID, anne.DefaultWorkspaceID)
	tok := signIn(t, a, base, inst, anne.ID, "profile:read offline")
	refresh := func(scope string) (int, map[string]any) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)},
			"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}}
		if scope != "" {
			form.Set("scope", scope)
		}
		return postForm(t, base+"/oauth2/token", form)
	}
	if status, body := refresh("profile:read assistant"); status != 400 || body["error"] != "invalid_scope" {
		t.Fatalf("a scope the session lacks: %d %v, want invalid_scope", status, body)
	}
	status, body := refresh("profile:read")
	if status != 200 || body["scope"] != "profile:read" || body["refresh_token"] == nil {
		t.Fatalf("the same refresh token after a refused request: %d %v, want new tokens", status, body)
	}
}

// TestRefreshKeepsAuthTime: OpenID Connect Core §12.2 has a refreshed ID
// token keep auth_time, the time of the original authentication.
func TestRefreshKeepsAuthTime(t *testing.T) {
	a, base := server(t)
	anne := testenv.User(t, a, "anne@example.test")
	inst := claimed(t, a, base, anne.ID, anne.DefaultWorkspaceID)
	tok := signIn(t, a, base, inst, anne.ID, "openid profile:read offline")
	first := authTime(t, tok["id_token"].(string))
	time.Sleep(1100 * time.Millisecond) // auth_time is in seconds
	status, body := postForm(t, base+"/oauth2/token", url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {tok["refresh_token"].(string)}, "client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}})
	if status != 200 {
		t.Fatalf("refresh: %d %v", status, body)
	}
	if again := authTime(t, body["id_token"].(string)); again != first {
		t.Fatalf("refreshed ID token: auth_time %d, want the sign-in's %d", again, first)
	}
}

func authTime(t *testing.T, idToken string) int64 {
	t.Helper()
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", idToken)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	testenv.Must(t, err)
	var claims struct {
		AuthTime int64 `json:"auth_time"`
	}
	testenv.Must(t, json.Unmarshal(raw, &claims))
	if claims.AuthTime == 0 {
		t.Fatalf("no auth_time in %s", raw)
	}
	return claims.AuthTime
}

// TestIntrospectionTokenType: RFC 7662 §2.2 gives token_type as the type
// of RFC 6749 §7.1 ("Bearer"), for an instance's token as for a user's.
func TestIntrospectionTokenType(t *testing.T) {
	a, base := server(t)
	anne := testenv.User(t, a, "anne@example.test")
	inst := claimed(t, a, base, anne.ID, anne.DefaultWorkspaceID)
	user := signIn(t, a, base, inst, anne.ID, "profile:read")
	_, own := postForm(t, base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}})
	for name, token := range map[string]string{"user": user["access_token"].(string), "instance": own["access_token"].(string)} {
		if body := introspect(t, base, inst, token); body["active"] != true || body["token_type"] != "Bearer" {
			t.Errorf("%s token introspects as %v, want active with token_type Bearer", name, body)
		}
	}
}

// TestCredentialsNeverInTheURL: the token (RFC 6749 §3.2), device
// authorization (RFC 8628 §3.1), introspection (RFC 7662 §2.1) and
// revocation (RFC 7009 §2.1) endpoints take POST only, and a credential or
// token in a query string is refused even on POST (RFC 6749 §2.3.1: "MUST
// NOT be included in the request URI"); userinfo takes no access_token in
// its URL (RFC 6750 §2.3 is the method we do not offer).
func TestCredentialsNeverInTheURL(t *testing.T) {
	_, base := server(t)
	inst := register(t, base, "profile:read", "client_credentials", deviceGrant)
	creds := url.Values{"grant_type": {"client_credentials"}, "client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}}
	for _, path := range []string{"/oauth2/token", "/oauth2/device/authorize", "/oauth2/introspect", "/oauth2/revoke"} {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			req, err := http.NewRequest(method, base+path+"?"+creds.Encode(), nil)
			testenv.Must(t, err)
			resp, err := http.DefaultClient.Do(req)
			testenv.Must(t, err)
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
				t.Errorf("%s %s: %d, Allow %q; want 405, Allow POST", method, path, resp.StatusCode, resp.Header.Get("Allow"))
			}
		}
		// On POST, with the secret in the query and the rest in the body.
		resp, err := http.Post(base+path+"?client_secret="+url.QueryEscape(inst.ClientSecret), "application/x-www-form-urlencoded",
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "client_id": {inst.ClientID}, "token": {"x"}}.Encode()))
		testenv.Must(t, err)
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_request" {
			t.Errorf("POST %s with client_secret in the query: %d %v, want 400 invalid_request", path, resp.StatusCode, body)
		}
	}
	status, body := postForm(t, base+"/oauth2/token", creds)
	if status != 200 || body["access_token"] == nil {
		t.Fatalf("the same credentials in the body: %d %v", status, body)
	}
	resp, err := http.Get(base + "/oauth2/userinfo?access_token=" + url.QueryEscape(body["access_token"].(string)))
	testenv.Must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("userinfo with the token in the URL: %d, want 400", resp.StatusCode)
	}
}

// TestEvery401Challenges: a failed client authentication is 401 with a
// Basic challenge (RFC 6749 §5.2); a bearer resource's 401 names the
// scheme and, when a token was sent, error="invalid_token", and a request
// with no credentials gets the challenge without an error code (RFC 6750
// §3, §3.1).
func TestEvery401Challenges(t *testing.T) {
	_, base := server(t)
	inst := register(t, base, "profile:read", "client_credentials")
	wrong := url.Values{"grant_type": {"client_credentials"}, "client_id": {inst.ClientID}, "client_secret": {"cs_wrong"}}
	for _, path := range []string{"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"} {
		form := wrong
		if path != "/oauth2/token" {
			form = url.Values{"token": {"x"}, "client_id": {inst.ClientID}, "client_secret": {"cs_wrong"}}
		}
		resp, err := http.PostForm(base+path, form)
		testenv.Must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%s with a wrong secret: %d, WWW-Authenticate %q; want 401 with a Basic challenge",
				path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	for _, tc := range []struct {
		name, authorization, want string
	}{
		{"no credentials", "", `Bearer realm="caido-cloud"`},
		{"a bad token", "Bearer nope", `Bearer realm="caido-cloud", error="invalid_token"`},
	} {
		for _, path := range []string{"/oauth2/userinfo", "/instance/user/session", "/api/v1/user"} {
			req, err := http.NewRequest(http.MethodGet, base+path, nil)
			testenv.Must(t, err)
			if tc.authorization != "" {
				req.Header.Set("Authorization", tc.authorization)
			}
			resp, err := http.DefaultClient.Do(req)
			testenv.Must(t, err)
			resp.Body.Close()
			got := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(got, tc.want) ||
				tc.authorization == "" && strings.Contains(got, "error=") {
				t.Errorf("%s, %s: %d, WWW-Authenticate %q; want 401, %q", tc.name, path, resp.StatusCode, got, tc.want)
			}
		}
	}
}

// TestRegistrationReadAndDelete: RFC 7592 §2.1 and §2.3 on
// /oauth2/register/{id}, authenticated by the client's own credentials.
// Deleting an instance's registration deletes the instance: its own
// token, its users' tokens and its claim end, audited with the instance as
// the actor.
func TestRegistrationReadAndDelete(t *testing.T) {
	a, base := server(t)
	anne := testenv.User(t, a, "anne@example.test")
	inst := claimed(t, a, base, anne.ID, anne.DefaultWorkspaceID)
	user := signIn(t, a, base, inst, anne.ID, "profile:read")
	do := func(method, id, secret string) (*http.Response, map[string]any) {
		req, err := http.NewRequest(method, base+"/oauth2/register/"+id, nil)
		testenv.Must(t, err)
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		resp, err := http.DefaultClient.Do(req)
		testenv.Must(t, err)
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp, body
	}
	resp, body := do(http.MethodGet, inst.ClientID, inst.ClientSecret)
	if resp.StatusCode != 200 || body["client_id"] != inst.ClientID || body["client_secret"] != inst.ClientSecret || body["scope"] == nil {
		t.Fatalf("GET its registration: %d %v", resp.StatusCode, body)
	}
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		resp, body = do(method, inst.ClientID, "cs_wrong")
		if resp.StatusCode != 401 || body["error"] != "invalid_client" || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Fatalf("%s with a wrong secret: %d %v %q", method, resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if resp, _ = do(http.MethodDelete, inst.ClientID, inst.ClientSecret); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE its registration: %d", resp.StatusCode)
	}
	status, body := postForm(t, base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}})
	if status != 401 || body["error"] != "invalid_client" {
		t.Errorf("client_credentials after the deletion: %d %v", status, body)
	}
	if status, _ := bearerGet(t, base, "/instance/user/session", user["access_token"].(string)); status != 401 {
		t.Errorf("the user's token after the deletion: %d, want 401", status)
	}
	var instances int
	var actor string
	testenv.Must(t, a.DB.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM instances WHERE claimed_by = $1),
		(SELECT actor_label FROM audit_log WHERE action = 'instance.delete' ORDER BY id DESC LIMIT 1)`, anne.ID).Scan(&instances, &actor))
	if instances != 0 || actor != "instance "+inst.ClientID {
		t.Errorf("after the deletion: %d instances claimed by anne, audit actor %q", instances, actor)
	}
}

// TestIntrospectRefreshTokens: RFC 7662 §2.1 has introspection take any
// token the server issued; a refresh token introspects, for its own client
// only, as active with its scope, exp, client_id and sub until it is
// rotated, and inactive after. Before, every refresh token was inactive.
func TestIntrospectRefreshTokens(t *testing.T) {
	a, base := server(t)
	anne := testenv.User(t, a, "anne@example.test")
	inst := claimed(t, a, base, anne.ID, anne.DefaultWorkspaceID)
	other := claimed(t, a, base, anne.ID, anne.DefaultWorkspaceID)
	tok := signIn(t, a, base, inst, anne.ID, "profile:read offline")
	refresh := tok["refresh_token"].(string)
	body := introspect(t, base, inst, refresh)
	if body["active"] != true || body["scope"] != "profile:read offline" || body["client_id"] != inst.ClientID ||
		body["sub"] != anne.ID || body["exp"] == nil {
		t.Fatalf("a live refresh token introspects as %v", body)
	}
	if body := introspect(t, base, other, refresh); body["active"] != false || len(body) != 1 {
		t.Fatalf("another client's refresh token introspects as %v, want only active: false", body)
	}
	status, _ := postForm(t, base+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh},
		"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}})
	if status != 200 {
		t.Fatalf("refresh: %d", status)
	}
	if body := introspect(t, base, inst, refresh); body["active"] != false {
		t.Fatalf("a rotated refresh token introspects as %v", body)
	}
}
