package oidc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// registered is an instance as it sees itself after registration.
type registered struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func register(t testing.TB, base string, scope string, grants ...string) registered {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"scope": scope, "grant_types": grants})
	resp, err := http.Post(base+"/oauth2/register", "application/json", bytes.NewReader(body))
	testenv.Must(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %s", resp.Status)
	}
	var r registered
	testenv.Must(t, json.NewDecoder(resp.Body).Decode(&r))
	return r
}

// server is a running caido-cloud with a fast device flow for tests.
func server(t *testing.T) (*app.App, string) {
	t.Helper()
	cfg := testenv.Config(t)
	cfg.DevicePollInterval = time.Second
	return testenv.Serve(t, cfg, testenv.Options{})
}

func postForm(t testing.TB, u string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	testenv.Must(t, err)
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// TestInstanceAuthenticatesAsItself: discovery through go-oidc, then the
// client-credentials grant through golang.org/x/oauth2, and the token's
// signature checked against our JWKS by go-oidc.
func TestInstanceAuthenticatesAsItself(t *testing.T) {
	ctx := context.Background()
	_, base := server(t)
	provider, err := gooidc.NewProvider(ctx, base) // fetches discovery, checks the issuer
	testenv.Must(t, err)
	var meta struct {
		Registration string `json:"registration_endpoint"`
		Device       string `json:"device_authorization_endpoint"`
		Introspect   string `json:"introspection_endpoint"`
		Revoke       string `json:"revocation_endpoint"`
	}
	testenv.Must(t, provider.Claims(&meta))
	if meta.Registration != base+"/oauth2/register" || meta.Device != base+"/oauth2/device/authorize" ||
		meta.Introspect != base+"/oauth2/introspect" || meta.Revoke != base+"/oauth2/revoke" {
		t.Fatalf("discovery: %+v", meta)
	}

	inst := register(t, base, "", "client_credentials")
	cc := clientcredentials.Config{
		ClientID: inst.ClientID, ClientSecret: inst.ClientSecret,
		TokenURL: provider.Endpoint().TokenURL, AuthStyle: oauth2.AuthStyleInParams,
	}
	tok, err := cc.Token(ctx)
	testenv.Must(t, err)
	if tok.TokenType != "Bearer" || time.Until(tok.Expiry) < 6*24*time.Hour {
		t.Fatalf("instance token: type %q, expires %s", tok.TokenType, tok.Expiry)
	}
	// Signed with a key of our JWKS; aud is our issuer, sub the client.
	verifier := provider.Verifier(&gooidc.Config{ClientID: base})
	idt, err := verifier.Verify(ctx, tok.AccessToken)
	testenv.Must(t, err)
	var claims struct {
		Kind       string `json:"kind"`
		InstanceID string `json:"instance_id"`
	}
	testenv.Must(t, idt.Claims(&claims))
	if idt.Subject != inst.ClientID || claims.Kind != "instance" || claims.InstanceID == "" {
		t.Fatalf("instance token claims: sub %q %+v", idt.Subject, claims)
	}

	// Basic authentication works too.
	cc.AuthStyle = oauth2.AuthStyleInHeader
	_, err = cc.Token(ctx)
	testenv.Must(t, err)

	// Introspection by the instance itself: active, with meta.
	status, body := postForm(t, base+"/oauth2/introspect", url.Values{
		"token": {tok.AccessToken}, "client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret},
	})
	if status != 200 || body["active"] != true || body["meta"].(map[string]any)["kind"] != "instance" {
		t.Fatalf("introspect: %d %v", status, body)
	}
	// Revoked, it is inactive.
	status, _ = postForm(t, base+"/oauth2/revoke", url.Values{
		"token": {tok.AccessToken}, "client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret},
	})
	if status != 200 {
		t.Fatalf("revoke: %d", status)
	}
	_, body = postForm(t, base+"/oauth2/introspect", url.Values{
		"token": {tok.AccessToken}, "client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret},
	})
	if body["active"] != false {
		t.Fatalf("a revoked token introspects as %v", body)
	}
}

// TestUserSignsInWithTheDeviceFlow drives the device flow with
// golang.org/x/oauth2 as the instance, approves it as the dashboard will,
// checks the ID token with go-oidc, refreshes, and shows that a reused
// refresh token ends the session.
func TestUserSignsInWithTheDeviceFlow(t *testing.T) {
	ctx := context.Background()
	a, base := server(t)
	inst := register(t, base, "profile:read assistant offline openid",
		"client_credentials", "urn:ietf:params:oauth:grant-type:device_code", "refresh_token")
	client, err := a.Clients.Get(ctx, inst.ClientID)
	testenv.Must(t, err)
	anne := testenv.User(t, a, "anne@example.test")
	_, err = a.Access.ClaimInstance(ctx, client.InstanceID, anne.ID, anne.DefaultWorkspaceID, "anne's laptop")
	testenv.Must(t, err)

	conf := oauth2.Config{
		ClientID: inst.ClientID, ClientSecret: inst.ClientSecret,
		Endpoint: oauth2.Endpoint{
			DeviceAuthURL: base + "/oauth2/device/authorize",
			TokenURL:      base + "/oauth2/token",
			AuthStyle:     oauth2.AuthStyleInParams,
		},
		Scopes: []string{"profile:read", "offline", "openid", "assistant"},
	}
	// x/oauth2 treats the device as a public client; ours are confidential
	// (the reference sends the secret), so the secret rides along as a parameter.
	da, err := conf.DeviceAuth(ctx, oauth2.SetAuthURLParam("client_secret", inst.ClientSecret))
	testenv.Must(t, err)
	if len(da.UserCode) != 9 || da.UserCode[4] != '-' || !strings.HasPrefix(da.VerificationURIComplete, base+"/device?user_code=") {
		t.Fatalf("device authorization: %+v", da)
	}

	// The user approves on the dashboard, granting all but the assistant.
	go func() {
		time.Sleep(1500 * time.Millisecond)
		if err := a.Devices.Approve(ctx, strings.ToLower(da.UserCode), anne.ID, []string{"profile:read", "offline", "openid"}); err != nil {
			t.Errorf("approve: %v", err)
		}
	}()
	tok, err := conf.DeviceAccessToken(ctx, da)
	testenv.Must(t, err)
	if tok.RefreshToken == "" || tok.Extra("scope") != "profile:read offline openid" {
		t.Fatalf("device token: refresh %q scope %v", tok.RefreshToken, tok.Extra("scope"))
	}

	provider, err := gooidc.NewProvider(ctx, base)
	testenv.Must(t, err)
	idToken, err := provider.Verifier(&gooidc.Config{ClientID: inst.ClientID}).Verify(ctx, tok.Extra("id_token").(string))
	testenv.Must(t, err)
	var profile struct {
		Email string `json:"email"`
		SID   string `json:"sid"`
	}
	testenv.Must(t, idToken.Claims(&profile))
	if idToken.Subject != anne.ID || profile.Email != "anne@example.test" || profile.SID == "" {
		t.Fatalf("ID token: sub %q %+v", idToken.Subject, profile)
	}
	// The access token is for this instance only: aud is its client id.
	access, err := provider.Verifier(&gooidc.Config{ClientID: inst.ClientID}).Verify(ctx, tok.AccessToken)
	testenv.Must(t, err)
	if access.Subject != anne.ID {
		t.Fatalf("access token sub %q", access.Subject)
	}
	// Userinfo with the access token.
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	testenv.Must(t, err)
	if info.Email != "anne@example.test" {
		t.Fatalf("userinfo: %+v", info)
	}

	// Refresh rotates the refresh token.
	first := tok.RefreshToken
	tok.Expiry = time.Now().Add(-time.Minute)
	refreshed, err := conf.TokenSource(ctx, tok).Token()
	testenv.Must(t, err)
	if refreshed.RefreshToken == "" || refreshed.RefreshToken == first || refreshed.AccessToken == tok.AccessToken {
		t.Fatal("refresh did not rotate")
	}
	// The old one again: reuse, invalid_grant, and the session is over.
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: first, Expiry: time.Now().Add(-time.Minute)}).Token()
	assertOAuthError(t, err, "invalid_grant")
	refreshed.Expiry = time.Now().Add(-time.Minute)
	_, err = conf.TokenSource(ctx, refreshed).Token()
	assertOAuthError(t, err, "invalid_grant")
	status, body := postForm(t, base+"/oauth2/introspect", url.Values{
		"token": {refreshed.AccessToken}, "client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret},
	})
	if status != 200 || body["active"] != false {
		t.Fatalf("an access token of a revoked session introspects as %d %v", status, body)
	}
}

func assertOAuthError(t *testing.T, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != code {
		t.Fatalf("want OAuth error %s, got %v", code, err)
	}
}

// TestMetadataAndKeys: RFC 8414 metadata is the discovery document, the
// JWKS is cacheable and holds both algorithms, and the registration update
// is routed.
func TestMetadataAndKeys(t *testing.T) {
	_, base := server(t)
	get := func(path string) (*http.Response, map[string]any) {
		resp, err := http.Get(base + path)
		testenv.Must(t, err)
		defer resp.Body.Close()
		var body map[string]any
		testenv.Must(t, json.NewDecoder(resp.Body).Decode(&body))
		return resp, body
	}
	_, oidcDoc := get("/.well-known/openid-configuration")
	_, asDoc := get("/.well-known/oauth-authorization-server")
	a, _ := json.Marshal(oidcDoc)
	b, _ := json.Marshal(asDoc)
	if string(a) != string(b) || oidcDoc["issuer"] != base {
		t.Fatalf("metadata differ or wrong issuer:\n%s\n%s", a, b)
	}
	resp, jwks := get("/.well-known/jwks.json")
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
		t.Fatalf("JWKS Cache-Control %q", cc)
	}
	algs := map[string]bool{}
	for _, k := range jwks["keys"].([]any) {
		key := k.(map[string]any)
		algs[key["alg"].(string)] = true
		if _, private := key["d"]; private {
			t.Fatal("the JWKS publishes a private key")
		}
	}
	if !algs["ES256"] || !algs["RS256"] {
		t.Fatalf("JWKS algorithms %v", algs)
	}

	inst := register(t, base, "profile:read", "urn:ietf:params:oauth:grant-type:device_code")
	body, _ := json.Marshal(map[string]any{"client_id": inst.ClientID, "client_secret": inst.ClientSecret,
		"scope": "profile:read offline", "grant_types": []string{"urn:ietf:params:oauth:grant-type:device_code", "refresh_token"}})
	req, _ := http.NewRequest(http.MethodPut, base+"/oauth2/register/"+inst.ClientID, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	put, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	put.Body.Close()
	if put.StatusCode != http.StatusOK {
		t.Fatalf("PUT /oauth2/register/{id}: %s", put.Status)
	}
}
