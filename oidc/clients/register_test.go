package clients_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc/clients"
)

// TestRegister: an instance registers as a Caido instance does, gets an
// answer the reference document accepts, and can then authenticate as
// itself; an unclaimed instance row stands behind the client.
func TestRegister(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, clients.Options{})
	before := time.Now().Add(-time.Minute) // the database's clock may lag a little
	x := f.postJSON(t, instanceBody)
	if x.resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", x.resp.StatusCode, x.body)
	}
	conforms(t, x)
	if got := x.resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}
	p := decode[payload](t, x)
	if !strings.HasPrefix(p.ClientSecret, "cs_") || len(p.ClientSecret) < len("cs_")+43 {
		t.Errorf("secret %q: want cs_ and at least 256 bits in base64url", p.ClientSecret)
	}
	if len(p.ClientID) < 22 || strings.ContainsAny(p.ClientID, "+/=") {
		t.Errorf("client id %q: want at least 128 bits, URL-safe", p.ClientID)
	}
	if p.TokenEndpointAuthMethod != "client_secret_post" || p.ClientSecretExpiresAt != 0 {
		t.Errorf("auth method %q, secret expiry %d: want client_secret_post and 0", p.TokenEndpointAuthMethod, p.ClientSecretExpiresAt)
	}
	if issued := time.Unix(p.ClientIDIssuedAt, 0); issued.Before(before) || issued.After(time.Now().Add(time.Minute)) {
		t.Errorf("issued at %v, want about now", issued)
	}
	if p.Scope != "profile:read assistant offline" || len(p.GrantTypes) != 3 {
		t.Errorf("scope %q, grant types %v: want what was asked for", p.Scope, p.GrantTypes)
	}

	c, err := f.svc.Authenticate(ctx, p.ClientID, p.ClientSecret)
	testenv.Must(t, err)
	if c.ID != p.ClientID || c.WorkspaceID != "" || !c.AllowsGrant(clients.GrantClientCredentials) ||
		!slices.Equal(c.Scopes, []string{"profile:read", "assistant", "offline"}) {
		t.Errorf("authenticated as %+v", c)
	}
	var workspace, name *string
	testenv.Must(t, f.db.QueryRow(ctx, `SELECT workspace_id::text, name FROM instances WHERE id = $1`, c.InstanceID).Scan(&workspace, &name))
	if workspace != nil || name != nil {
		t.Errorf("instance %s: workspace %v, name %v; want unclaimed", c.InstanceID, workspace, name)
	}
	if got := rowCounts(t, f.db)["authz_outbox"]; got != 0 {
		t.Errorf("%d outbox entries: an unclaimed instance implies no tuple", got)
	}
	got, err := f.svc.Get(ctx, p.ClientID)
	testenv.Must(t, err)
	if got.InstanceID != c.InstanceID {
		t.Errorf("Get: instance %s, want %s", got.InstanceID, c.InstanceID)
	}

	for name, creds := range map[string][2]string{
		"wrong secret":            {p.ClientID, p.ClientSecret + "x"},
		"empty secret":            {p.ClientID, ""},
		"unknown id":              {"AAAAAAAAAAAAAAAAAAAAAA", p.ClientSecret},
		"malformed id":            {"nul\x00byte", p.ClientSecret},
		"other client's secret":   {p.ClientID, f.register(t, instanceBody).ClientSecret},
		"secret as id, id as key": {p.ClientSecret, p.ClientID},
	} {
		if _, err := f.svc.Authenticate(ctx, creds[0], creds[1]); !errors.Is(err, clients.ErrInvalidClient) {
			t.Errorf("%s: Authenticate = %v, want ErrInvalidClient", name, err)
		}
	}
	// Callers that only know OAuth's invalid_client may test for either.
	if _, err := f.svc.Get(ctx, "AAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, clients.ErrNotFound) || !errors.Is(err, clients.ErrInvalidClient) {
		t.Errorf("Get of an unknown id = %v, want ErrNotFound, also matching ErrInvalidClient", err)
	}
}

// TestRegisterWithoutScope: scope is a required string in the reference, but
// an instance that only authenticates as itself needs no user scope; an empty
// (or, as RFC 7591 allows, missing) scope registers with none.
func TestRegisterWithoutScope(t *testing.T) {
	f := newFixture(t, clients.Options{})
	p := f.register(t, `{"scope":"","grant_types":["client_credentials"]}`)
	if p.Scope != "" || !slices.Equal(p.GrantTypes, []string{"client_credentials"}) {
		t.Errorf("scope %q, grant types %v", p.Scope, p.GrantTypes)
	}
	x := f.postJSON(t, `{"grant_types":["client_credentials","client_credentials"],"software_id":"ignored"}`)
	if x.resp.StatusCode != http.StatusCreated {
		t.Fatalf("missing scope, duplicate grant, unknown field: %d %s", x.resp.StatusCode, x.body)
	}
	if p := decode[payload](t, x); p.Scope != "" || !slices.Equal(p.GrantTypes, []string{"client_credentials"}) {
		t.Errorf("scope %q, grant types %v: want none and one", p.Scope, p.GrantTypes)
	}
}

// TestNoPlaintextSecretStored: the database holds a hash, never the secret.
func TestNoPlaintextSecretStored(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, clients.Options{})
	p := f.register(t, instanceBody)
	var row string
	testenv.Must(t, f.db.QueryRow(ctx, `SELECT t::text FROM oauth_clients t WHERE client_id = $1`, p.ClientID).Scan(&row))
	secretBody := strings.TrimPrefix(p.ClientSecret, "cs_")
	if strings.Contains(row, p.ClientSecret) || strings.Contains(row, secretBody) {
		t.Fatalf("the stored row %s holds the secret", row)
	}
	var dump string
	testenv.Must(t, f.db.QueryRow(ctx, `SELECT string_agg(t::text, ' ') FROM oauth_clients t`).Scan(&dump))
	if strings.Contains(dump, secretBody) {
		t.Fatal("a stored row holds the secret")
	}
}

// TestRegistrationLogsNoSecret: logging a Registration leaves the secret out.
func TestRegistrationLogsNoSecret(t *testing.T) {
	var buf strings.Builder
	reg := clients.Registration{ClientID: "id", Secret: "cs_very-secret", InstanceID: "in"}
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("registered", "client", reg)
	if strings.Contains(buf.String(), "very-secret") || !strings.Contains(buf.String(), `"client_id":"id"`) {
		t.Fatalf("log line %s", buf.String())
	}
}
