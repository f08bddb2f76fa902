package clients_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc/clients"
)

func updateBody(id, secret, scope string, grantTypes string) string {
	return fmt.Sprintf(`{"client_id":%q,"client_secret":%q,"scope":%q,"grant_types":%s}`, id, secret, scope, grantTypes)
}

// TestUpdate: a client that proves its credentials in the body changes its
// scopes and grant types; the answer conforms to the reference and the
// secret keeps working.
func TestUpdate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, clients.Options{})
	p := f.register(t, `{"scope":"profile:read","grant_types":["client_credentials"]}`)

	x := f.putJSON(t, p.ClientID, updateBody(p.ClientID, p.ClientSecret, "profile:read assistant offline openid",
		`["client_credentials","urn:ietf:params:oauth:grant-type:device_code","refresh_token"]`))
	if x.resp.StatusCode != http.StatusOK {
		t.Fatalf("update: %d %s", x.resp.StatusCode, x.body)
	}
	conforms(t, x)
	if got := x.resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}
	u := decode[payload](t, x)
	if u.ClientID != p.ClientID || u.ClientSecret != p.ClientSecret || u.ClientIDIssuedAt != p.ClientIDIssuedAt ||
		u.Scope != "profile:read assistant offline openid" || len(u.GrantTypes) != 3 {
		t.Errorf("update answered %+v", u)
	}
	c, err := f.svc.Authenticate(ctx, p.ClientID, p.ClientSecret)
	testenv.Must(t, err)
	if !c.AllowsGrant(clients.GrantRefreshToken) || !slices.Contains(c.Scopes, clients.ScopeOffline) {
		t.Errorf("after update: %+v", c)
	}

	// Narrowing works too.
	x = f.putJSON(t, p.ClientID, updateBody(p.ClientID, p.ClientSecret, "", `["client_credentials"]`))
	if x.resp.StatusCode != http.StatusOK {
		t.Fatalf("narrowing update: %d %s", x.resp.StatusCode, x.body)
	}
	conforms(t, x)
	c, err = f.svc.Get(ctx, p.ClientID)
	testenv.Must(t, err)
	if len(c.Scopes) != 0 || !slices.Equal(c.GrantTypes, []string{"client_credentials"}) {
		t.Errorf("after narrowing: %+v", c)
	}
}

// TestUpdateRefusals: without the right credentials a PUT is 401
// invalid_client whatever it asks; with them, unsupported values are 400.
// Neither changes anything.
func TestUpdateRefusals(t *testing.T) {
	f := newFixture(t, clients.Options{})
	p := f.register(t, instanceBody)
	other := f.register(t, instanceBody)
	grants := `["client_credentials"]`
	tests := []struct {
		name, pathID, body string
		status             int
		code, description  string
	}{
		{"wrong secret", p.ClientID, updateBody(p.ClientID, p.ClientSecret+"x", "", grants),
			401, "invalid_client", ""},
		{"no secret", p.ClientID, fmt.Sprintf(`{"client_id":%q,"scope":"","grant_types":%s}`, p.ClientID, grants),
			401, "invalid_client", ""},
		{"another client's secret", p.ClientID, updateBody(p.ClientID, other.ClientSecret, "", grants),
			401, "invalid_client", ""},
		{"body id differs from the path", p.ClientID, updateBody(other.ClientID, other.ClientSecret, "", grants),
			401, "invalid_client", ""},
		{"unknown id", "AAAAAAAAAAAAAAAAAAAAAA", updateBody("AAAAAAAAAAAAAAAAAAAAAA", p.ClientSecret, "", grants),
			401, "invalid_client", ""},
		{"wrong secret and unknown values", p.ClientID, updateBody(p.ClientID, "cs_guess", "admin", `["password"]`),
			401, "invalid_client", ""},
		{"unknown scope", p.ClientID, updateBody(p.ClientID, p.ClientSecret, "profile:write", grants),
			400, "invalid_client_metadata", `"profile:write"`},
		{"unknown grant type", p.ClientID, updateBody(p.ClientID, p.ClientSecret, "", `["implicit"]`),
			400, "invalid_client_metadata", `"implicit"`},
		{"empty grant_types", p.ClientID, updateBody(p.ClientID, p.ClientSecret, "", `[]`),
			400, "invalid_client_metadata", "grant_types"},
		{"malformed JSON", p.ClientID, `{"client_id":`,
			400, "invalid_request", "JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := rowCounts(t, f.db)
			refused(t, f.putJSON(t, tc.pathID, tc.body), tc.status, tc.code, tc.description)
			sameCounts(t, before, rowCounts(t, f.db))
		})
	}
	if _, err := f.svc.Authenticate(context.Background(), p.ClientID, p.ClientSecret); err != nil {
		t.Fatalf("refused updates broke the client: %v", err)
	}
}
