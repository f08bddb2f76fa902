package oidc_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/audit"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc"
	"github.com/caido-cloud/caido-cloud/pats"
)

// bearerGet is GET base+path with the token, and the answer's status.
func bearerGet(t *testing.T, base, path, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	testenv.Must(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// TestCredentialsResetEndsEveryTokenOfTheClient: resetting an instance's
// credentials through the public API ends, at once and on every replica,
// the instance's own token and its users' sessions (access and refresh
// tokens), while tokens got with the new secret work, and another
// instance's tokens are untouched.
func TestCredentialsResetEndsEveryTokenOfTheClient(t *testing.T) {
	ctx := context.Background()
	cfg := testenv.Config(t)
	cfg.DevicePollInterval = time.Second
	a, base := testenv.Serve(t, cfg, testenv.Options{})
	_, two := testenv.Serve(t, cfg, testenv.Options{PublicURL: base}) // another replica, same issuer
	anne := testenv.User(t, a, "anne@example.test")
	bob := testenv.User(t, a, "bob@example.test")
	inst := claimed(t, a, base, anne.ID, anne.DefaultWorkspaceID)
	other := claimed(t, a, base, anne.ID, anne.DefaultWorkspaceID)
	c, err := a.Clients.Get(ctx, inst.ClientID)
	testenv.Must(t, err)
	_, err = a.Access.Grant(ctx, c.InstanceID, access.Grantee{UserID: bob.ID}, nil, anne.ID)
	testenv.Must(t, err)

	// The instance's own token, through x/oauth2, and two users' sessions.
	cc := clientcredentials.Config{ClientID: inst.ClientID, ClientSecret: inst.ClientSecret,
		TokenURL: base + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}
	instTok, err := cc.Token(ctx)
	testenv.Must(t, err)
	annes := signIn(t, a, base, inst, anne.ID, "profile:read offline openid")
	bobs := signIn(t, a, base, inst, bob.ID, "profile:read offline")
	otherUser := signIn(t, a, base, other, anne.ID, "profile:read offline")
	_, otherInst := postForm(t, base+"/oauth2/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {other.ClientID}, "client_secret": {other.ClientSecret}})

	// Everything works before, on both replicas, which also fills their
	// caches (verified tokens, can_use decisions).
	for _, replica := range []string{base, two} {
		for name, tok := range map[string]string{"anne's": annes["access_token"].(string), "bob's": bobs["access_token"].(string)} {
			if status, body := bearerGet(t, replica, "/instance/user/session", tok); status != http.StatusOK {
				t.Fatalf("before the reset, %s session on %s: %d %v", name, replica, status, body)
			}
		}
		if status, body := bearerGet(t, replica, "/instance/workspace", instTok.AccessToken); status != http.StatusOK {
			t.Fatalf("before the reset, the instance token on %s: %d %v", replica, status, body)
		}
		if body := introspect(t, replica, inst, instTok.AccessToken); body["active"] != true {
			t.Fatalf("before the reset, the instance token introspects on %s as %v", replica, body)
		}
	}

	// The reset, as an admin makes it: POST /api/v1/instances/{id}/credentials.
	pat, _, err := a.PATs.Create(ctx, pats.NewToken{UserID: anne.ID, Name: "reset", Via: pats.ViaOperator})
	testenv.Must(t, err)
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/instances/"+c.InstanceID+"/credentials", nil)
	testenv.Must(t, err)
	req.Header.Set("Authorization", "Bearer "+pat)
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	var creds struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	testenv.Must(t, json.NewDecoder(resp.Body).Decode(&creds))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || creds.ClientID != inst.ClientID || creds.ClientSecret == "" || creds.ClientSecret == inst.ClientSecret {
		t.Fatalf("reset credentials: %d %+v", resp.StatusCode, creds)
	}
	fresh := registered{ClientID: inst.ClientID, ClientSecret: creds.ClientSecret}

	// At once, on both replicas (no waiting: nothing cached decides this),
	// every old token is refused.
	for _, replica := range []string{base, two} {
		for name, tok := range map[string]string{
			"the instance token": instTok.AccessToken, "anne's access token": annes["access_token"].(string),
			"bob's access token": bobs["access_token"].(string),
		} {
			if body := introspect(t, replica, fresh, tok); body["active"] != false {
				t.Errorf("after the reset, %s introspects on %s as %v", name, replica, body)
			}
		}
		for name, tok := range map[string]string{"anne's": annes["access_token"].(string), "bob's": bobs["access_token"].(string)} {
			if status, body := bearerGet(t, replica, "/instance/user/session", tok); status != http.StatusUnauthorized {
				t.Errorf("after the reset, %s old token on %s: /instance/user/session %d %v", name, replica, status, body)
			}
			if status, _ := bearerGet(t, replica, "/oauth2/userinfo", tok); status != http.StatusUnauthorized {
				t.Errorf("after the reset, %s old token on %s: userinfo %d", name, replica, status)
			}
		}
		if status, body := bearerGet(t, replica, "/instance/workspace", instTok.AccessToken); status != http.StatusUnauthorized {
			t.Errorf("after the reset, the old instance token on %s: /instance/workspace %d %v", replica, status, body)
		}
	}
	if _, err := a.Provider.Active(ctx, instTok.AccessToken); !errors.Is(err, oidc.ErrInactive) {
		t.Errorf("Active(old instance token) after the reset: %v, want ErrInactive", err)
	}
	// The old refresh tokens are dead, even with the new secret.
	conf := oauth2.Config{ClientID: fresh.ClientID, ClientSecret: fresh.ClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: base + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
	for _, tok := range []map[string]any{annes, bobs} {
		_, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok["refresh_token"].(string), Expiry: time.Now().Add(-time.Minute)}).Token()
		assertOAuthError(t, err, "invalid_grant")
	}
	// The sessions say why they ended.
	rows, err := a.DB.Query(ctx, `SELECT coalesce(revoked_reason, '') FROM sessions WHERE client_id = $1`, inst.ClientID)
	testenv.Must(t, err)
	n := 0
	for rows.Next() {
		var reason string
		testenv.Must(t, rows.Scan(&reason))
		if reason != oidc.ReasonCredentialsReset {
			t.Errorf("a session of the reset client ended for %q", reason)
		}
		n++
	}
	testenv.Must(t, rows.Err())
	if n != 2 {
		t.Errorf("%d sessions of the reset client, want 2", n)
	}
	// The audit entry names how many sessions ended.
	var ended float64
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT (detail->>'sessions_ended')::float FROM audit_log WHERE action = $1 AND target_id = $2`,
		audit.CredentialsReset, c.InstanceID).Scan(&ended))
	if ended != 2 {
		t.Errorf("audit: %v sessions ended, want 2", ended)
	}

	// The old secret gets nothing; the new one gets tokens that work.
	if _, err := cc.Token(ctx); err == nil {
		t.Error("the old secret still gets an instance token")
	}
	cc.ClientSecret = fresh.ClientSecret
	newInst, err := cc.Token(ctx)
	testenv.Must(t, err)
	newUser := signIn(t, a, base, fresh, anne.ID, "profile:read offline")
	for _, replica := range []string{base, two} {
		if body := introspect(t, replica, fresh, newInst.AccessToken); body["active"] != true {
			t.Errorf("a new instance token introspects on %s as %v", replica, body)
		}
		if status, body := bearerGet(t, replica, "/instance/workspace", newInst.AccessToken); status != http.StatusOK {
			t.Errorf("a new instance token on %s: /instance/workspace %d %v", replica, status, body)
		}
		if status, body := bearerGet(t, replica, "/instance/user/session", newUser["access_token"].(string)); status != http.StatusOK {
			t.Errorf("a new user token on %s: /instance/user/session %d %v", replica, status, body)
		}
	}
	refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: newUser["refresh_token"].(string), Expiry: time.Now().Add(-time.Minute)}).Token()
	testenv.Must(t, err)
	if body := introspect(t, base, fresh, refreshed.AccessToken); body["active"] != true {
		t.Errorf("a token refreshed after the reset introspects as %v", body)
	}

	// The other instance kept everything.
	if body := introspect(t, base, other, otherInst["access_token"].(string)); body["active"] != true {
		t.Errorf("another instance's token introspects as %v", body)
	}
	if status, _ := bearerGet(t, two, "/instance/user/session", otherUser["access_token"].(string)); status != http.StatusOK {
		t.Errorf("a session at another instance: %d", status)
	}
}

// TestCredentialsResetDuringASignIn: a device poll that authenticated with
// the old secret and reaches the session's creation after the reset gets
// invalid_client and opens no session.
func TestCredentialsResetDuringASignIn(t *testing.T) {
	ctx := context.Background()
	a, base := server(t)
	anne := testenv.User(t, a, "anne@example.test")
	inst := claimed(t, a, base, anne.ID, anne.DefaultWorkspaceID)
	authenticated, err := a.Clients.Authenticate(ctx, inst.ClientID, inst.ClientSecret) // as the poll did
	testenv.Must(t, err)
	_, err = a.Clients.ResetSecret(ctx, inst.ClientID)
	testenv.Must(t, err)
	if _, _, err := a.Sessions.Create(ctx, anne.ID, authenticated, []string{"profile:read"}, time.Hour); !errors.Is(err, oidc.ErrCredentialsReset) {
		t.Fatalf("a session for a request authenticated before the reset: %v, want ErrCredentialsReset", err)
	}
	var open int
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE client_id = $1`, inst.ClientID).Scan(&open))
	if open != 0 {
		t.Fatalf("%d sessions opened", open)
	}
	current, err := a.Clients.Get(ctx, inst.ClientID)
	testenv.Must(t, err)
	if _, _, err := a.Sessions.Create(ctx, anne.ID, current, []string{"profile:read"}, time.Hour); err != nil {
		t.Fatalf("a session of the current generation: %v", err)
	}
}
