package authz_test

import (
	"context"
	"strings"
	"testing"

	fgaclient "github.com/openfga/go-sdk/client"

	caidocloud "github.com/caido-cloud/caido-cloud"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestEnsureModelWritesOnlyWhatChanged: a second migrate writes nothing; a
// changed model.fga is written as a new model in the same store; a store
// OpenFGA lost is created anew.
func TestEnsureModelWritesOnlyWhatChanged(t *testing.T) {
	ctx := context.Background()
	a := testenv.App(t, testenv.Config(t), testenv.Options{NoMigrate: true})
	testenv.Must(t, a.Migrate(ctx))
	cfg := authz.Config{APIURL: a.Config.OpenFGAURL, APIToken: a.Config.OpenFGAToken, StoreName: "test"}

	first, err := authz.EnsureModel(ctx, a.DB, cfg, caidocloud.AuthorizationModel)
	testenv.Must(t, err)
	if first.StoreCreated || first.ModelWritten {
		t.Fatalf("second ensure changed something: %+v", first)
	}

	changed := strings.Replace(caidocloud.AuthorizationModel, "type user\n", "type user\n\ntype extra\n", 1)
	second, err := authz.EnsureModel(ctx, a.DB, cfg, changed)
	testenv.Must(t, err)
	if second.StoreCreated || !second.ModelWritten || second.StoreID != first.StoreID || second.ModelID == first.ModelID {
		t.Fatalf("a changed model: got %+v after %+v", second, first)
	}
	// The binary's own model is still the one its checks use.
	testenv.Must(t, a.Authz.Ready(ctx))

	testenv.Must(t, deleteStore(ctx, t, a.Config.OpenFGAURL, a.Config.OpenFGAToken, first.StoreID))
	third, err := authz.EnsureModel(ctx, a.DB, cfg, caidocloud.AuthorizationModel)
	testenv.Must(t, err)
	if !third.StoreCreated || !third.ModelWritten || third.StoreID == first.StoreID {
		t.Fatalf("after the store was lost: %+v", third)
	}
}

func TestEnsureModelRefusesAnInvalidModel(t *testing.T) {
	ctx := context.Background()
	a := testenv.App(t, testenv.Config(t), testenv.Options{})
	cfg := authz.Config{APIURL: a.Config.OpenFGAURL, APIToken: a.Config.OpenFGAToken, StoreName: "test"}
	_, err := authz.EnsureModel(ctx, a.DB, cfg, "model\n  schema 1.1\ntype user\n  relations\n    define x: [nonexistent]\n")
	if err == nil || !strings.Contains(err.Error(), "model") {
		t.Fatalf("want an error about the model, got %v", err)
	}
}

func deleteStore(ctx context.Context, t *testing.T, apiURL, token, storeID string) error {
	t.Helper()
	c, err := fgaclient.NewSdkClient(&fgaclient.ClientConfiguration{
		ApiUrl: apiURL, StoreId: storeID,
		DefaultHeaders: map[string]string{"Authorization": "Bearer " + token},
	})
	if err != nil {
		return err
	}
	_, err = c.DeleteStore(ctx).Execute()
	return err
}
