package regkeys_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/regkeys"
)

// registerWith registers an instance with key and returns the status and
// body.
func registerWith(t *testing.T, base, key string) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"scope": "", "grant_types": []string{"client_credentials"}, "instance_registration_key": key})
	resp, err := http.Post(base+"/oauth2/register", "application/json", bytes.NewReader(body))
	testenv.Must(t, err)
	defer resp.Body.Close()
	var out map[string]any
	testenv.Must(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

func instanceOf(t *testing.T, a *app.App, clientID string) (id, name, workspace string) {
	t.Helper()
	testenv.Must(t, a.DB.QueryRow(context.Background(), `SELECT i.id::text, coalesce(i.name, ''), coalesce(i.workspace_id::text, '')
		FROM oauth_clients c JOIN instances i ON i.id = c.instance_id WHERE c.client_id = $1`, clientID).Scan(&id, &name, &workspace))
	return id, name, workspace
}

// TestRegistrationKeys: a key claims the instance into its workspace at
// registration; a single-use key dies on use; expired, revoked and unknown
// keys are refused with a clear error and change nothing.
func TestRegistrationKeys(t *testing.T) {
	ctx := context.Background()
	a, base := testenv.Serve(t, testenv.Config(t), testenv.Options{})
	anne := testenv.User(t, a, "anne@example.test")
	team, _, err := a.Access.CreateTeam(ctx, anne.ID, "Acme", "billing@acme.test")
	testenv.Must(t, err)
	testenv.Seat(t, a, team.ID, anne.ID) // she uses what the team's key registers

	reusable, _, err := a.RegKeys.Create(ctx, regkeys.NewKey{WorkspaceID: team.DefaultWorkspaceID, CreatedBy: anne.ID, NamePrefix: "ci", Reusable: true})
	testenv.Must(t, err)
	if !strings.HasPrefix(reusable, "ckey_") || len(reusable) < 40 {
		t.Fatalf("key %q", reusable)
	}
	for range 2 {
		status, body := registerWith(t, base, reusable)
		if status != http.StatusCreated {
			t.Fatalf("register with a reusable key: %d %v", status, body)
		}
		id, name, workspace := instanceOf(t, a, body["client_id"].(string))
		if workspace != team.DefaultWorkspaceID || !strings.HasPrefix(name, "ci-") {
			t.Fatalf("instance %s named %q in workspace %q, want ci-… in %s", id, name, workspace, team.DefaultWorkspaceID)
		}
		// The claim's tuples reach OpenFGA through the outbox.
		deadline := time.Now().Add(5 * time.Second)
		for {
			ok, err := a.Authz.Check(ctx, authz.UserObject(anne.ID), "can_use", authz.InstanceObject(id))
			testenv.Must(t, err)
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the team admin cannot use an instance registered with the team's key")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	single, _, err := a.RegKeys.Create(ctx, regkeys.NewKey{WorkspaceID: anne.DefaultWorkspaceID, CreatedBy: anne.ID, NamePrefix: "once"})
	testenv.Must(t, err)
	if status, _ := registerWith(t, base, single); status != http.StatusCreated {
		t.Fatalf("a single-use key's first use: %d", status)
	}
	soon := time.Now().Add(time.Second)
	expiring, _, err := a.RegKeys.Create(ctx, regkeys.NewKey{WorkspaceID: anne.DefaultWorkspaceID, CreatedBy: anne.ID, NamePrefix: "soon", Reusable: true, ExpiresAt: &soon})
	testenv.Must(t, err)
	revoked, k, err := a.RegKeys.Create(ctx, regkeys.NewKey{WorkspaceID: anne.DefaultWorkspaceID, CreatedBy: anne.ID, NamePrefix: "gone", Reusable: true})
	testenv.Must(t, err)
	testenv.Must(t, a.RegKeys.Revoke(ctx, k.ID))
	time.Sleep(time.Until(soon))

	var before int
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT count(*) FROM instances`).Scan(&before))
	for _, tc := range []struct{ name, key, says string }{
		{"used single-use key", single, "single use"},
		{"expired key", expiring, "expired"},
		{"revoked key", revoked, "revoked"},
		{"unknown key", "ckey_" + strings.Repeat("A", 43), "not valid"},
	} {
		status, body := registerWith(t, base, tc.key)
		if status != http.StatusBadRequest || body["error"] != "invalid_client_metadata" || !strings.Contains(body["error_description"].(string), tc.says) {
			t.Errorf("%s: %d %v", tc.name, status, body)
		}
	}
	var after int
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT count(*) FROM instances`).Scan(&after))
	if after != before {
		t.Fatalf("refused registrations created %d instances", after-before)
	}

	// Keys are stored hashed only.
	var dump string
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT string_agg(t::text, ' ') FROM registration_keys t`).Scan(&dump))
	for _, key := range []string{reusable, single, expiring, revoked} {
		if strings.Contains(dump, key) || strings.Contains(dump, key[5:]) {
			t.Fatal("a registration key is stored in the clear")
		}
	}
	keys, err := a.RegKeys.List(ctx, anne.DefaultWorkspaceID)
	testenv.Must(t, err)
	if len(keys) != 3 || keys[0].Uses != 0 {
		t.Fatalf("list: %+v", keys)
	}
}

func TestOnlyWorkspaceManagersCreateKeys(t *testing.T) {
	ctx := context.Background()
	a, _ := testenv.Serve(t, testenv.Config(t), testenv.Options{})
	anne := testenv.User(t, a, "anne@example.test")
	bob := testenv.User(t, a, "bob@example.test")
	if _, _, err := a.RegKeys.Create(ctx, regkeys.NewKey{WorkspaceID: anne.DefaultWorkspaceID, CreatedBy: bob.ID, NamePrefix: "x"}); !errors.Is(err, regkeys.ErrForbidden) {
		t.Fatalf("bob creating a key for anne's workspace: %v", err)
	}
	past := time.Now().Add(-time.Minute)
	for name, n := range map[string]regkeys.NewKey{
		"no prefix":   {WorkspaceID: anne.DefaultWorkspaceID, CreatedBy: anne.ID},
		"past expiry": {WorkspaceID: anne.DefaultWorkspaceID, CreatedBy: anne.ID, NamePrefix: "x", ExpiresAt: &past},
	} {
		if _, _, err := a.RegKeys.Create(ctx, n); !errors.Is(err, regkeys.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
