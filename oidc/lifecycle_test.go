package oidc_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-jose/go-jose/v4"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/internal/openapitest"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc/signing"
)

const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

// signIn runs a device flow over HTTP for user at inst, approving it
// directly as the dashboard will, and returns the token response.
func signIn(t *testing.T, a *app.App, base string, inst registered, userID, scope string) map[string]any {
	t.Helper()
	creds := url.Values{"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}}
	start := url.Values{"scope": {scope}}
	for k, v := range creds {
		start[k] = v
	}
	status, da := postForm(t, base+"/oauth2/device/authorize", start)
	if status != 200 {
		t.Fatalf("device authorize: %d %v", status, da)
	}
	testenv.Must(t, a.Devices.Approve(context.Background(), da["user_code"].(string), userID, strings.Fields(scope)))
	poll := url.Values{"grant_type": {deviceGrant}, "device_code": {da["device_code"].(string)}}
	for k, v := range creds {
		poll[k] = v
	}
	status, tok := postForm(t, base+"/oauth2/token", poll)
	if status != 200 {
		t.Fatalf("device token: %d %v", status, tok)
	}
	return tok
}

func introspect(t *testing.T, base string, as registered, token string) map[string]any {
	t.Helper()
	_, body := postForm(t, base+"/oauth2/introspect", url.Values{"token": {token}, "client_id": {as.ClientID}, "client_secret": {as.ClientSecret}})
	return body
}

// claimed registers an instance for user sign-in and claims it for owner.
func claimed(t *testing.T, a *app.App, base, ownerID, workspaceID string) registered {
	t.Helper()
	inst := register(t, base, "profile:read assistant offline openid", "client_credentials", deviceGrant, "refresh_token")
	c, err := a.Clients.Get(context.Background(), inst.ClientID)
	testenv.Must(t, err)
	_, err = a.Access.ClaimInstance(context.Background(), c.InstanceID, ownerID, workspaceID, "box")
	testenv.Must(t, err)
	return inst
}

// TestUserTokensAreForOneInstance: a token minted for instance A is refused
// where instance B's audience is required, and B cannot introspect it.
func TestUserTokensAreForOneInstance(t *testing.T) {
	ctx := context.Background()
	a, base := server(t)
	anne := testenv.User(t, a, "anne@example.test")
	instA := claimed(t, a, base, anne.ID, anne.DefaultWorkspaceID)
	instB := claimed(t, a, base, anne.ID, anne.DefaultWorkspaceID)
	tok := signIn(t, a, base, instA, anne.ID, "profile:read")
	access := tok["access_token"].(string)
	if _, ok := tok["refresh_token"]; ok {
		t.Fatal("a refresh token without offline")
	}
	if _, ok := tok["id_token"]; ok {
		t.Fatal("an ID token without openid")
	}

	provider, err := gooidc.NewProvider(ctx, base)
	testenv.Must(t, err)
	if _, err := provider.Verifier(&gooidc.Config{ClientID: instA.ClientID}).Verify(ctx, access); err != nil {
		t.Fatalf("A's verifier refuses A's token: %v", err)
	}
	if _, err := provider.Verifier(&gooidc.Config{ClientID: instB.ClientID}).Verify(ctx, access); err == nil {
		t.Fatal("B's verifier accepts a token minted for A")
	}
	if body := introspect(t, base, instB, access); body["active"] != false {
		t.Fatalf("B introspects A's user token as %v", body)
	}
	if body := introspect(t, base, instA, access); body["active"] != true || body["sub"] != anne.ID {
		t.Fatalf("A introspects its user token as %v", body)
	}
}

// TestAccessRemovedEndsTokens: a user token is active only while its user
// may use the instance; the refresh then fails and ends the session.
func TestAccessRemovedEndsTokens(t *testing.T) {
	ctx := context.Background()
	a, base := server(t)
	anne := testenv.User(t, a, "anne@example.test")
	bob := testenv.User(t, a, "bob@example.test")
	inst := claimed(t, a, base, anne.ID, anne.DefaultWorkspaceID)
	c, err := a.Clients.Get(ctx, inst.ClientID)
	testenv.Must(t, err)
	_, err = a.Access.Grant(ctx, c.InstanceID, access.Grantee{UserID: bob.ID}, nil, anne.ID)
	testenv.Must(t, err)
	tok := signIn(t, a, base, inst, bob.ID, "profile:read offline")
	if introspect(t, base, inst, tok["access_token"].(string))["active"] != true {
		t.Fatal("bob's token is not active")
	}
	_, err = a.Access.Revoke(ctx, c.InstanceID, access.Grantee{UserID: bob.ID})
	testenv.Must(t, err)
	if body := introspect(t, base, inst, tok["access_token"].(string)); body["active"] != false {
		t.Fatalf("after the grant was revoked, bob's token introspects as %v", body)
	}
	// The session ended with the grant, not only at the next refresh.
	var ended string
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT coalesce(revoked_reason, '') FROM sessions WHERE user_id = $1`, bob.ID).Scan(&ended))
	if ended != "access_removed" {
		t.Fatalf("bob's session after the grant was revoked: ended for %q", ended)
	}
	status, body := postForm(t, base+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)},
		"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}})
	if status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("refresh after access was removed: %d %v", status, body)
	}
	var reason string
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT revoked_reason FROM sessions WHERE user_id = $1`, bob.ID).Scan(&reason))
	if reason != "access_removed" {
		t.Fatalf("session ended for %q", reason)
	}
}

// TestDeletedInstance: its tokens stop working and it gets invalid_client.
func TestDeletedInstance(t *testing.T) {
	ctx := context.Background()
	a, base := server(t)
	anne := testenv.User(t, a, "anne@example.test")
	inst := claimed(t, a, base, anne.ID, anne.DefaultWorkspaceID)
	other := register(t, base, "", "client_credentials")
	tok := signIn(t, a, base, inst, anne.ID, "profile:read")
	c, err := a.Clients.Get(ctx, inst.ClientID)
	testenv.Must(t, err)
	_, err = a.Access.DeleteInstance(ctx, c.InstanceID)
	testenv.Must(t, err)
	_, err = a.Provider.Active(ctx, tok["access_token"].(string))
	if err == nil {
		t.Fatal("a token of a deleted instance is still active")
	}
	status, body := postForm(t, base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}})
	if status != 401 || body["error"] != "invalid_client" {
		t.Fatalf("a deleted instance asks for a token: %d %v", status, body)
	}
	if status, _ := postForm(t, base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {other.ClientID}, "client_secret": {other.ClientSecret}}); status != 200 {
		t.Fatalf("another instance: %d", status)
	}
}

// TestKeyRotationWhileTokensAreInFlight: after a rotation at once
// (`keys rotate --now`), tokens signed before still verify (the old key
// stays in the JWKS) and new ones carry the new key.
func TestKeyRotationWhileTokensAreInFlight(t *testing.T) {
	ctx := context.Background()
	a, base := server(t)
	inst := register(t, base, "", "client_credentials")
	token := func() string {
		_, body := postForm(t, base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}})
		return body["access_token"].(string)
	}
	before := token()
	_, err := a.Keys.RotateNow(ctx, jose.ES256)
	testenv.Must(t, err)
	after := token()
	if kid(t, before) == kid(t, after) {
		t.Fatal("the token minted after rotation carries the old key")
	}
	provider, err := gooidc.NewProvider(ctx, base)
	testenv.Must(t, err)
	verifier := provider.Verifier(&gooidc.Config{ClientID: base})
	for name, tok := range map[string]string{"before": before, "after": after} {
		if _, err := verifier.Verify(ctx, tok); err != nil {
			t.Errorf("token minted %s rotation: %v", name, err)
		}
		if body := introspect(t, base, inst, tok); body["active"] != true {
			t.Errorf("token minted %s rotation introspects as %v", name, body)
		}
	}
}

// TestScheduledRotationIsPublishedAhead: a rotation puts its new key in the
// JWKS at once but signs nothing with it until a verifier that cached the
// set just before (for the max-age the JWKS response allows) has had to
// refetch it, allowing for clocks that disagree: a client that honours the
// cache never meets an unknown kid. Then the new key signs, the old one's
// tokens still verify, and another replica on the same database agrees.
func TestScheduledRotationIsPublishedAhead(t *testing.T) {
	ctx := context.Background()
	clk := testenv.NewClock(time.Now())
	cfg := testenv.Config(t)
	a, base := testenv.Serve(t, cfg, testenv.Options{Clock: clk})
	_, baseTwo := testenv.Serve(t, cfg, testenv.Options{Clock: clk})
	inst := register(t, base, "", "client_credentials")
	token := func(base string) string {
		t.Helper()
		status, body := postForm(t, base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}})
		if status != 200 {
			t.Fatalf("client_credentials: %d %v", status, body)
		}
		return body["access_token"].(string)
	}
	before := token(base)
	oldKid := kid(t, before)

	newKid, err := a.Keys.Rotate(ctx, jose.ES256)
	testenv.Must(t, err)
	if newKid == oldKid {
		t.Fatal("the rotation kept the key")
	}
	kids, maxAge := jwks(t, base)
	if !slices.Contains(kids, newKid) || !slices.Contains(kids, oldKid) {
		t.Fatalf("JWKS right after the rotation = %v, want the new %s and the current %s", kids, newKid, oldKid)
	}
	if maxAge != signing.JWKSMaxAge {
		t.Fatalf("the JWKS may be cached for %s, the rotation schedule assumes %s", maxAge, signing.JWKSMaxAge)
	}
	// A verifier fetched the JWKS just before the rotation and keeps it
	// for maxAge; the replicas' clocks may disagree by ClockSkew. Until
	// then, on both replicas, no token carries the new kid, and the set
	// keeps listing it.
	ahead := maxAge + signing.ClockSkew
	for elapsed := time.Duration(0); elapsed <= ahead; elapsed += time.Minute {
		for name, b := range map[string]string{"one": base, "two": baseTwo} {
			if k := kid(t, token(b)); k != oldKid {
				t.Fatalf("replica %s signed with %s %s after a scheduled rotation; the JWKS may be cached for %s and clocks may differ by %s",
					name, k, elapsed, maxAge, signing.ClockSkew)
			}
			if kids, _ := jwks(t, b); !slices.Contains(kids, newKid) {
				t.Fatalf("replica %s: the JWKS %s after the rotation = %v, without the new key %s", name, elapsed, kids, newKid)
			}
		}
		clk.Advance(time.Minute)
	}

	// Once it has been published for PublishAhead, both replicas sign with
	// the new key (at that instant, not a refresh later); every token
	// verifies.
	clk.Advance(signing.PublishAhead - ahead)
	waitFor(t, "both replicas to sign with the new key", func() bool {
		return kid(t, token(base)) == newKid && kid(t, token(baseTwo)) == newKid
	})
	after := token(base)
	provider, err := gooidc.NewProvider(ctx, base)
	testenv.Must(t, err)
	verifier := provider.Verifier(&gooidc.Config{ClientID: base, Now: clk.Now})
	for name, tok := range map[string]string{"before": before, "after": after} {
		if _, err := verifier.Verify(ctx, tok); err != nil {
			t.Errorf("token minted %s the switch: %v", name, err)
		}
		if body := introspect(t, base, inst, tok); body["active"] != true {
			t.Errorf("token minted %s the switch introspects as %v", name, body)
		}
	}
}

// waitFor polls cond for a few seconds of real time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// jwks returns the kids the JWKS of base lists and the max-age its
// Cache-Control allows.
func jwks(t *testing.T, base string) ([]string, time.Duration) {
	t.Helper()
	resp, err := http.Get(base + "/.well-known/jwks.json")
	testenv.Must(t, err)
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&set) != nil {
		t.Fatalf("JWKS: %s", resp.Status)
	}
	cc := resp.Header.Get("Cache-Control")
	_, v, ok := strings.Cut(cc, "max-age=")
	secs, err := strconv.Atoi(strings.TrimSpace(strings.Split(v, ",")[0]))
	if !ok || err != nil {
		t.Fatalf("JWKS Cache-Control %q has no max-age", cc)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids, time.Duration(secs) * time.Second
}

func kid(t *testing.T, token string) string {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	testenv.Must(t, err)
	return jws.Signatures[0].Header.KeyID
}

// TestTwoReplicas: a device flow started on one server is approved and
// redeemed on another, on the same database.
func TestTwoReplicas(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.DevicePollInterval = time.Second
	one, baseOne := testenv.Serve(t, cfg, testenv.Options{})
	two, baseTwo := testenv.Serve(t, cfg, testenv.Options{})
	anne := testenv.User(t, one, "anne@example.test")
	inst := claimed(t, one, baseOne, anne.ID, anne.DefaultWorkspaceID)
	status, da := postForm(t, baseOne+"/oauth2/device/authorize", url.Values{"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}, "scope": {"profile:read"}})
	if status != 200 {
		t.Fatalf("device authorize on one: %d %v", status, da)
	}
	testenv.Must(t, two.Devices.Approve(context.Background(), da["user_code"].(string), anne.ID, []string{"profile:read"}))
	status, tok := postForm(t, baseTwo+"/oauth2/token", url.Values{"grant_type": {deviceGrant}, "device_code": {da["device_code"].(string)},
		"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}})
	if status != 200 {
		t.Fatalf("redeem on two: %d %v", status, tok)
	}
	// Each replica has its own issuer URL here; the token names the one that minted it.
	if body := introspect(t, baseTwo, inst, tok["access_token"].(string)); body["active"] != true {
		t.Fatalf("introspect on two: %v", body)
	}
}

// TestResponsesMatchTheReference validates the bodies an instance reads
// against the published documents.
func TestResponsesMatchTheReference(t *testing.T) {
	instanceDoc := loadReference(t, "instance-api.openapi.yaml")
	publicDoc := loadReference(t, "public-api.openapi.yaml")
	a, base := server(t)
	anne := testenv.User(t, a, "anne@example.test")
	inst := claimed(t, a, base, anne.ID, anne.DefaultWorkspaceID)

	_, cc := postForm(t, base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}})
	validate(t, instanceDoc, "TokenPayload", cc)
	_, da := postForm(t, base+"/oauth2/device/authorize", url.Values{"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}, "scope": {"profile:read offline"}})
	validate(t, instanceDoc, "DeviceAuthorizePayload", da)
	user := signIn(t, a, base, inst, anne.ID, "profile:read offline openid")
	validate(t, instanceDoc, "TokenPayload", user)
	_, refreshed := postForm(t, base+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {user["refresh_token"].(string)},
		"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}})
	validate(t, instanceDoc, "TokenPayload", refreshed)
	validate(t, publicDoc, "IntrospectPayload", introspect(t, base, inst, cc["access_token"].(string)))
	validate(t, publicDoc, "IntrospectPayload", introspect(t, base, inst, user["access_token"].(string)))
	validate(t, publicDoc, "IntrospectPayload", introspect(t, base, inst, "garbage"))
}

func loadReference(t *testing.T, name string) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(openapitest.Reference(t, name))
	testenv.Must(t, err)
	return doc
}

func validate(t *testing.T, doc *openapi3.T, schema string, body map[string]any) {
	t.Helper()
	ref, ok := doc.Components.Schemas[schema]
	if !ok {
		t.Fatalf("no schema %s", schema)
	}
	// Round-trip through JSON so numbers are float64 as the validator expects.
	raw, _ := json.Marshal(body)
	var v any
	testenv.Must(t, json.Unmarshal(raw, &v))
	if err := ref.Value.VisitJSON(v); err != nil {
		t.Fatalf("%s does not match the reference: %v\n%s", schema, err, raw)
	}
}

// TestNoSecretInLogsOrSpans runs every grant with logs and spans captured,
// then looks for each secret and token in them.
func TestNoSecretInLogsOrSpans(t *testing.T) {
	var logs testenv.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	spans := tracetest.NewSpanRecorder()
	cfg := testenv.Config(t)
	cfg.DevicePollInterval = time.Second
	a, base := testenv.Serve(t, cfg, testenv.Options{Spans: spans, Log: &logs})
	anne := testenv.User(t, a, "anne@example.test")
	inst := claimed(t, a, base, anne.ID, anne.DefaultWorkspaceID)
	_, cc := postForm(t, base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}})
	user := signIn(t, a, base, inst, anne.ID, "profile:read offline openid")
	_, refreshed := postForm(t, base+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {user["refresh_token"].(string)},
		"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}})
	// A reuse and a wrong secret, so that error paths log too.
	postForm(t, base+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {user["refresh_token"].(string)},
		"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}})
	postForm(t, base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret + "x"}})
	introspect(t, base, inst, refreshed["access_token"].(string))

	var spanText strings.Builder
	for _, s := range spans.Ended() {
		spanText.WriteString(s.Name())
		for _, kv := range s.Attributes() {
			spanText.WriteString(" " + kv.Value.Emit())
		}
		for _, e := range s.Events() {
			spanText.WriteString(" " + e.Name)
			for _, kv := range e.Attributes {
				spanText.WriteString(" " + kv.Value.Emit())
			}
		}
		spanText.WriteString(" " + s.Status().Description + "\n")
	}
	if spans.Ended() == nil || logs.String() == "" {
		t.Fatal("nothing was recorded: the test would prove nothing")
	}
	secrets := map[string]string{
		"client secret":         inst.ClientSecret,
		"instance token":        cc["access_token"].(string),
		"user access token":     user["access_token"].(string),
		"refresh token":         user["refresh_token"].(string),
		"rotated refresh token": refreshed["refresh_token"].(string),
		"ID token":              user["id_token"].(string),
	}
	for what, secret := range secrets {
		if secret == "" {
			continue
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the logs contain the %s", what)
		}
		if strings.Contains(spanText.String(), secret) {
			t.Errorf("the spans contain the %s", what)
		}
	}
}

// TestIntrospectionShowsTheCurrentWorkspace: an instance token minted before
// its instance was claimed introspects with the workspace it is in now.
func TestIntrospectionShowsTheCurrentWorkspace(t *testing.T) {
	ctx := context.Background()
	a, base := server(t)
	inst := register(t, base, "", "client_credentials")
	_, cc := postForm(t, base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}})
	token := cc["access_token"].(string)
	meta := func() map[string]any {
		body := introspect(t, base, inst, token)
		if body["active"] != true {
			t.Fatalf("instance token inactive: %v", body)
		}
		return body["meta"].(map[string]any)
	}
	if m := meta(); m["workspace_id"] != "" || m["kind"] != "instance" {
		t.Fatalf("unclaimed: meta %v", m)
	}
	anne := testenv.User(t, a, "anne@example.test")
	c, err := a.Clients.Get(ctx, inst.ClientID)
	testenv.Must(t, err)
	_, err = a.Access.ClaimInstance(ctx, c.InstanceID, anne.ID, anne.DefaultWorkspaceID, "box")
	testenv.Must(t, err)
	if m := meta(); m["workspace_id"] != anne.DefaultWorkspaceID || m["instance_id"] != c.InstanceID {
		t.Fatalf("claimed: meta %v, want workspace %s", m, anne.DefaultWorkspaceID)
	}
}

// TestRemovedMemberLosesSessions: taking a user out of a team ends their
// sessions on the team's instances at once, and only there.
func TestRemovedMemberLosesSessions(t *testing.T) {
	ctx := context.Background()
	a, base := server(t)
	anne := testenv.User(t, a, "anne@example.test")
	bob := testenv.User(t, a, "bob@example.test")
	team, _, err := a.Access.CreateTeam(ctx, anne.ID, "Acme", "billing@acme.test")
	testenv.Must(t, err)
	_, err = a.Access.SetTeamMember(ctx, team.ID, bob.ID, access.RoleMember, false)
	testenv.Must(t, err)
	testenv.Seat(t, a, team.ID, bob.ID)
	teamBox := claimed(t, a, base, anne.ID, team.DefaultWorkspaceID)
	ownBox := claimed(t, a, base, bob.ID, bob.DefaultWorkspaceID)
	onTeam := signIn(t, a, base, teamBox, bob.ID, "profile:read")
	onOwn := signIn(t, a, base, ownBox, bob.ID, "profile:read")

	_, err = a.Access.RemoveTeamMember(ctx, team.ID, bob.ID)
	testenv.Must(t, err)
	ended := map[string]string{}
	rows, err := a.DB.Query(ctx, `SELECT c.client_id, coalesce(s.revoked_reason, '') FROM sessions s JOIN oauth_clients c ON c.instance_id = s.instance_id WHERE s.user_id = $1`, bob.ID)
	testenv.Must(t, err)
	for rows.Next() {
		var client, reason string
		testenv.Must(t, rows.Scan(&client, &reason))
		ended[client] = reason
	}
	testenv.Must(t, rows.Err())
	if ended[teamBox.ClientID] != "access_removed" || ended[ownBox.ClientID] != "" {
		t.Fatalf("sessions after leaving the team: %v", ended)
	}
	if introspect(t, base, teamBox, onTeam["access_token"].(string))["active"] != false ||
		introspect(t, base, ownBox, onOwn["access_token"].(string))["active"] != true {
		t.Fatal("the wrong tokens stopped working")
	}
}
