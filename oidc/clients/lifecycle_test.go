package clients_test

import (
	"context"
	"errors"
	"testing"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc/clients"
)

// TestResetSecret: the old secret is refused as soon as the new one exists.
func TestResetSecret(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, clients.Options{})
	p := f.register(t, instanceBody)
	before, err := f.svc.Get(ctx, p.ClientID)
	testenv.Must(t, err)

	secret, err := f.svc.ResetSecret(ctx, p.ClientID)
	testenv.Must(t, err)
	if secret == p.ClientSecret {
		t.Fatal("reset returned the old secret")
	}
	if _, err := f.svc.Authenticate(ctx, p.ClientID, p.ClientSecret); !errors.Is(err, clients.ErrInvalidClient) {
		t.Errorf("old secret after reset: %v, want ErrInvalidClient", err)
	}
	c, err := f.svc.Authenticate(ctx, p.ClientID, secret)
	testenv.Must(t, err)
	if c.SecretRotatedAt.Before(before.SecretRotatedAt) || c.InstanceID != before.InstanceID {
		t.Errorf("after reset: %+v, before: %+v", c, before)
	}
	// The old secret cannot update the client either.
	x := f.putJSON(t, p.ClientID, updateBody(p.ClientID, p.ClientSecret, "", `["client_credentials"]`))
	refused(t, x, 401, "invalid_client", "")

	if _, err := f.svc.ResetSecret(ctx, "AAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, clients.ErrNotFound) {
		t.Errorf("reset of an unknown client: %v, want ErrNotFound", err)
	}
	// By instance, as the dashboard does it.
	id, again, err := f.svc.ResetInstanceSecret(ctx, before.InstanceID)
	testenv.Must(t, err)
	if id != p.ClientID || again == secret {
		t.Errorf("reset by instance: client %s, same secret %v", id, again == secret)
	}
	if _, err := f.svc.Authenticate(ctx, p.ClientID, secret); !errors.Is(err, clients.ErrInvalidClient) {
		t.Errorf("the previous secret after a reset by instance: %v, want ErrInvalidClient", err)
	}
	for _, bad := range []string{"not-a-uuid", "00000000-0000-0000-0000-000000000000"} {
		if _, _, err := f.svc.ResetInstanceSecret(ctx, bad); !errors.Is(err, clients.ErrNotFound) {
			t.Errorf("reset of instance %q: %v, want ErrNotFound", bad, err)
		}
	}
}

// TestDeletingTheInstanceDeletesTheClient: the client's credentials die with
// its instance.
func TestDeletingTheInstanceDeletesTheClient(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, clients.Options{})
	p := f.register(t, instanceBody)
	keep := f.register(t, instanceBody)
	c, err := f.svc.Authenticate(ctx, p.ClientID, p.ClientSecret)
	testenv.Must(t, err)

	_, err = f.db.Exec(ctx, `DELETE FROM instances WHERE id = $1`, c.InstanceID)
	testenv.Must(t, err)
	if _, err := f.svc.Authenticate(ctx, p.ClientID, p.ClientSecret); !errors.Is(err, clients.ErrInvalidClient) {
		t.Errorf("after deleting the instance: %v, want ErrInvalidClient", err)
	}
	if _, err := f.svc.Get(ctx, p.ClientID); !errors.Is(err, clients.ErrNotFound) {
		t.Errorf("Get after deleting the instance: %v, want ErrNotFound", err)
	}
	if _, err := f.svc.Authenticate(ctx, keep.ClientID, keep.ClientSecret); err != nil {
		t.Errorf("another instance's client: %v", err)
	}
}
