package oidc_test

import (
	"context"
	"net/http"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestUserInfoFollowsTheScopes: userinfo gives sub to any user token with
// openid or profile:read, and name and email only with profile:read; a
// token with neither is refused with insufficient_scope, an instance token
// with invalid_token. go-oidc reads the answers, as an instance would.
func TestUserInfoFollowsTheScopes(t *testing.T) {
	ctx := context.Background()
	a, base := server(t)
	anne := testenv.User(t, a, "anne@example.test")
	inst := claimed(t, a, base, anne.ID, anne.DefaultWorkspaceID)
	provider, err := gooidc.NewProvider(ctx, base)
	testenv.Must(t, err)

	for _, tc := range []struct {
		scope       string
		withProfile bool
	}{
		{"openid", false},
		{"openid offline assistant", false},
		{"profile:read", true},
		{"openid profile:read", true},
	} {
		t.Run(tc.scope, func(t *testing.T) {
			access := signIn(t, a, base, inst, anne.ID, tc.scope)["access_token"].(string)
			info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: access, TokenType: "Bearer"}))
			testenv.Must(t, err)
			var claims map[string]any
			testenv.Must(t, info.Claims(&claims))
			if info.Subject != anne.ID || claims["sub"] != anne.ID {
				t.Fatalf("userinfo sub %q, claims %v", info.Subject, claims)
			}
			_, hasName := claims["name"]
			_, hasEmail := claims["email"]
			if tc.withProfile {
				if info.Email != "anne@example.test" || !hasName {
					t.Fatalf("with profile:read, userinfo %v", claims)
				}
			} else if hasName || hasEmail || len(claims) != 1 {
				t.Fatalf("without profile:read, userinfo %v, want only sub", claims)
			}
		})
	}

	// Neither scope: 403 insufficient_scope (RFC 6750 §3.1).
	access := signIn(t, a, base, inst, anne.ID, "offline")["access_token"].(string)
	if status, body := bearerGet(t, base, "/oauth2/userinfo", access); status != http.StatusForbidden || body["error"] != "insufficient_scope" {
		t.Fatalf("userinfo without openid or profile:read: %d %v", status, body)
	}
	if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: access, TokenType: "Bearer"})); err == nil {
		t.Fatal("go-oidc got userinfo for a token without openid or profile:read")
	}
	// An instance token has no user.
	_, cc := postForm(t, base+"/oauth2/token", map[string][]string{"grant_type": {"client_credentials"},
		"client_id": {inst.ClientID}, "client_secret": {inst.ClientSecret}})
	if status, body := bearerGet(t, base, "/oauth2/userinfo", cc["access_token"].(string)); status != http.StatusUnauthorized {
		t.Fatalf("userinfo with an instance token: %d %v", status, body)
	}
}
