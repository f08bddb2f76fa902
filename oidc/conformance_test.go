package oidc_test

import (
	"encoding/base64"
	"encoding/json"
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
