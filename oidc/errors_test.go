package oidc_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestTokenEndpointErrors walks the error responses of RFC 6749 §5.2 and
// RFC 8628 §3.5 that apply to us; each must carry its code and status, and
// none may be a 500.
func TestTokenEndpointErrors(t *testing.T) {
	ctx := context.Background()
	cfg := testenv.Config(t)
	a, base := testenv.Serve(t, cfg, testenv.Options{})
	full := register(t, base, "profile:read offline", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code", "refresh_token")
	ccOnly := register(t, base, "", "client_credentials")
	other := register(t, base, "profile:read offline", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code", "refresh_token")
	client, err := a.Clients.Get(ctx, full.ClientID)
	testenv.Must(t, err)
	anne := testenv.User(t, a, "anne@example.test")
	_, err = a.Access.ClaimInstance(ctx, client.InstanceID, anne.ID, anne.DefaultWorkspaceID, "laptop")
	testenv.Must(t, err)

	creds := func(r registered) url.Values {
		return url.Values{"client_id": {r.ClientID}, "client_secret": {r.ClientSecret}}
	}
	with := func(v url.Values, kv ...string) url.Values {
		out := url.Values{}
		for k, vs := range v {
			out[k] = vs
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	startDevice := func(r registered, scope string) (deviceCode, userCode string) {
		status, body := postForm(t, base+"/oauth2/device/authorize", with(creds(r), "scope", scope))
		if status != 200 {
			t.Fatalf("device authorize: %d %v", status, body)
		}
		return body["device_code"].(string), body["user_code"].(string)
	}
	denied, deniedUser := startDevice(full, "profile:read")
	testenv.Must(t, a.Devices.Deny(ctx, deniedUser))
	expiring, expiringUser := startDevice(full, "profile:read")
	pending, _ := startDevice(full, "profile:read")

	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"no grant type", creds(full), 400, "invalid_request"},
		{"unsupported grant type", with(creds(full), "grant_type", "password"), 400, "unsupported_grant_type"},
		{"authorization code is not offered", with(creds(full), "grant_type", "authorization_code", "code", "x", "redirect_uri", "http://x"), 400, "unsupported_grant_type"},
		{"wrong secret", with(creds(full), "grant_type", "client_credentials", "client_secret", "cs_wrong"), 401, "invalid_client"},
		{"unknown client", with(creds(full), "grant_type", "client_credentials", "client_id", "nobody"), 401, "invalid_client"},
		{"no secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {full.ClientID}}, 401, "invalid_client"},
		{"grant not registered", with(creds(ccOnly), "grant_type", "refresh_token", "refresh_token", "crt_x"), 400, "unauthorized_client"},
		{"scope on an instance token", with(creds(full), "grant_type", "client_credentials", "scope", "openid"), 400, "invalid_scope"},
		{"unknown refresh token", with(creds(full), "grant_type", "refresh_token", "refresh_token", "crt_unknown"), 400, "invalid_grant"},
		{"device code missing", with(creds(full), "grant_type", "urn:ietf:params:oauth:grant-type:device_code"), 400, "invalid_request"},
		{"unknown device code", with(creds(full), "grant_type", "urn:ietf:params:oauth:grant-type:device_code", "device_code", "nope"), 400, "invalid_grant"},
		{"another client's device code", with(creds(other), "grant_type", "urn:ietf:params:oauth:grant-type:device_code", "device_code", pending), 400, "invalid_grant"},
		{"pending", with(creds(full), "grant_type", "urn:ietf:params:oauth:grant-type:device_code", "device_code", pending), 400, "authorization_pending"},
		{"denied", with(creds(full), "grant_type", "urn:ietf:params:oauth:grant-type:device_code", "device_code", denied), 400, "access_denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := postForm(t, base+"/oauth2/token", tc.form)
			if status != tc.status || body["error"] != tc.code {
				t.Fatalf("got %d %v, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		// Its lifetime ended a second ago (set, rather than slept out, so
		// that no step above can overrun a short lifetime).
		_, err := a.DB.Exec(ctx, `UPDATE device_authorizations SET expires_at = now() - interval '1 second'
			WHERE user_code = replace($1, '-', '')`, expiringUser)
		testenv.Must(t, err)
		status, body := postForm(t, base+"/oauth2/token", with(creds(full), "grant_type", "urn:ietf:params:oauth:grant-type:device_code", "device_code", expiring))
		if status != 400 || body["error"] != "expired_token" {
			t.Fatalf("got %d %v, want expired_token", status, body)
		}
	})
}

// TestSlowDown: a poll sooner than the interval gets slow_down (and the
// interval grows); a poll on time never does.
func TestSlowDown(t *testing.T) {
	_, base := testenv.Serve(t, testenv.Config(t), testenv.Options{}) // interval 5 s
	inst := register(t, base, "profile:read", "urn:ietf:params:oauth:grant-type:device_code")
	status, body := postForm(t, base+"/oauth2/device/authorize", url.Values{
		"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}, "scope": {"profile:read"},
	})
	if status != 200 || body["interval"] != float64(5) || body["expires_in"] != float64(600) {
		t.Fatalf("device authorize: %d %v", status, body)
	}
	poll := url.Values{"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret},
		"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {body["device_code"].(string)}}
	if _, body := postForm(t, base+"/oauth2/token", poll); body["error"] != "authorization_pending" {
		t.Fatalf("first poll: %v", body)
	}
	if _, body := postForm(t, base+"/oauth2/token", poll); body["error"] != "slow_down" {
		t.Fatalf("an immediate second poll: %v, want slow_down", body)
	}
}

// TestDeviceAuthorizationErrors: the device endpoint's refusals.
func TestDeviceAuthorizationErrors(t *testing.T) {
	_, base := testenv.Serve(t, testenv.Config(t), testenv.Options{})
	inst := register(t, base, "profile:read", "urn:ietf:params:oauth:grant-type:device_code")
	ccOnly := register(t, base, "profile:read", "client_credentials")
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"unknown scope", url.Values{"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}, "scope": {"admin"}}, 400, "invalid_scope"},
		{"scope not registered", url.Values{"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}, "scope": {"assistant"}}, 400, "invalid_scope"},
		{"grant not registered", url.Values{"client_id": {ccOnly.ClientID}, "client_secret": {ccOnly.ClientSecret}, "scope": {"profile:read"}}, 400, "unauthorized_client"},
		{"wrong secret", url.Values{"client_id": {inst.ClientID}, "client_secret": {"cs_x"}, "scope": {"profile:read"}}, 401, "invalid_client"},
		{"no client", url.Values{"scope": {"profile:read"}}, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := postForm(t, base+"/oauth2/device/authorize", tc.form)
			if status != tc.status || body["error"] != tc.code {
				t.Fatalf("got %d %v, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
}

// TestIntrospectionAndRevocationErrors: RFC 7662 and RFC 7009 paths.
func TestIntrospectionAndRevocationErrors(t *testing.T) {
	_, base := testenv.Serve(t, testenv.Config(t), testenv.Options{})
	a := register(t, base, "", "client_credentials")
	b := register(t, base, "", "client_credentials")
	_, tok := postForm(t, base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {a.ClientID}, "client_secret": {a.ClientSecret}})
	token := tok["access_token"].(string)
	for _, path := range []string{"/oauth2/introspect", "/oauth2/revoke"} {
		t.Run(path, func(t *testing.T) {
			if status, body := postForm(t, base+path, url.Values{"client_id": {a.ClientID}, "client_secret": {a.ClientSecret}}); status != 400 || body["error"] != "invalid_request" {
				t.Errorf("no token: %d %v", status, body)
			}
			if status, body := postForm(t, base+path, url.Values{"token": {token}, "client_id": {a.ClientID}, "client_secret": {"cs_wrong"}}); status != 401 || body["error"] != "invalid_client" {
				t.Errorf("wrong secret: %d %v", status, body)
			}
			if status, body := postForm(t, base+path, url.Values{"token": {token}}); status != 400 && status != 401 {
				t.Errorf("no client: %d %v", status, body)
			}
		})
	}
	// Another instance learns nothing about A's token, and cannot revoke it.
	if _, body := postForm(t, base+"/oauth2/introspect", url.Values{"token": {token}, "client_id": {b.ClientID}, "client_secret": {b.ClientSecret}}); body["active"] != false || len(body) != 1 {
		t.Errorf("B introspecting A's token: %v", body)
	}
	if status, _ := postForm(t, base+"/oauth2/revoke", url.Values{"token": {token}, "client_id": {b.ClientID}, "client_secret": {b.ClientSecret}}); status != 200 {
		t.Errorf("B revoking A's token: %d, want 200 (RFC 7009 §2.2)", status)
	}
	for _, garbage := range []string{"not-a-token", "crt_unknown", strings.Repeat("a.", 3)} {
		if status, body := postForm(t, base+"/oauth2/introspect", url.Values{"token": {garbage}, "client_id": {a.ClientID}, "client_secret": {a.ClientSecret}}); status != 200 || body["active"] != false {
			t.Errorf("introspect %q: %d %v", garbage, status, body)
		}
		if status, _ := postForm(t, base+"/oauth2/revoke", url.Values{"token": {garbage}, "client_id": {a.ClientID}, "client_secret": {a.ClientSecret}}); status != 200 {
			t.Errorf("revoke %q: %d", garbage, status)
		}
	}
	if _, body := postForm(t, base+"/oauth2/introspect", url.Values{"token": {token}, "client_id": {a.ClientID}, "client_secret": {a.ClientSecret}}); body["active"] != true {
		t.Errorf("A's token after B's attempts: %v", body)
	}
	// Userinfo without a user token.
	req, _ := http.NewRequest(http.MethodGet, base+"/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo with an instance token: %d", resp.StatusCode)
	}
}
