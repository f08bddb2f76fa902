package authz

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	fga "github.com/openfga/go-sdk"
	fgaclient "github.com/openfga/go-sdk/client"
	"github.com/openfga/language/pkg/go/transformer"

	"github.com/caido-cloud/caido-cloud/store"
)

// modelLock serialises replicas running `migrate` at once, so that only one
// creates the store or writes a new model.
const modelLock = 7_414_002

func modelSHA256(dsl string) string {
	sum := sha256.Sum256([]byte(dsl))
	return hex.EncodeToString(sum[:])
}

// ModelResult says what EnsureModel did.
type ModelResult struct {
	StoreID      string
	ModelID      string
	StoreCreated bool // a new, empty store: its tuples must be rebuilt (reconcile)
	ModelWritten bool // model.fga had changed (or was never written)
}

// EnsureModel creates the OpenFGA store when PostgreSQL names none (or names
// one OpenFGA no longer has) and writes dsl as a new authorization model only
// when no model with the same text was written before.
func EnsureModel(ctx context.Context, db *pgxpool.Pool, cfg Config, dsl string) (ModelResult, error) {
	var res ModelResult
	err := store.WithAdvisoryLock(ctx, db, modelLock, func(conn *pgxpool.Conn) error {
		var err error
		res, err = ensureModelLocked(ctx, conn, cfg, dsl)
		return err
	})
	return res, err
}

func ensureModelLocked(ctx context.Context, conn *pgxpool.Conn, cfg Config, dsl string) (ModelResult, error) {
	var res ModelResult
	err := conn.QueryRow(ctx, `SELECT store_id FROM authz_store`).Scan(&res.StoreID)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return res, err
	}
	if res.StoreID != "" {
		exists, err := storeExists(ctx, cfg, res.StoreID)
		if err != nil {
			return res, err
		}
		if !exists {
			res.StoreID = ""
		}
	}
	if res.StoreID == "" {
		if res.StoreID, err = createStore(ctx, cfg); err != nil {
			return res, err
		}
		res.StoreCreated = true
		// Models of a store that is gone are gone with it.
		if _, err := conn.Exec(ctx, `DELETE FROM authz_models`); err != nil {
			return res, err
		}
		if _, err := conn.Exec(ctx, `INSERT INTO authz_store (store_id) VALUES ($1)
			ON CONFLICT (singleton) DO UPDATE SET store_id = excluded.store_id, created_at = now()`, res.StoreID); err != nil {
			return res, err
		}
	}

	sha := modelSHA256(dsl)
	err = conn.QueryRow(ctx, `SELECT model_id FROM authz_models WHERE model_sha256 = $1`, sha).Scan(&res.ModelID)
	if err == nil {
		return res, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return res, err
	}
	if res.ModelID, err = writeModel(ctx, cfg, res.StoreID, dsl); err != nil {
		return res, err
	}
	res.ModelWritten = true
	_, err = conn.Exec(ctx, `INSERT INTO authz_models (model_sha256, model_id) VALUES ($1, $2)`, sha, res.ModelID)
	return res, err
}

func storeExists(ctx context.Context, cfg Config, storeID string) (bool, error) {
	sdk, err := newSDK(cfg, storeID, "")
	if err != nil {
		return false, err
	}
	_, err = bounded(ctx, cfg.backgroundTimeout(), func(ctx context.Context) (*fgaclient.ClientGetStoreResponse, error) {
		return sdk.GetStore(ctx).Execute()
	})
	var notFound fga.FgaApiNotFoundError
	var invalid fga.FgaApiValidationError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &notFound), errors.As(err, &invalid) && invalid.ResponseStatusCode() == http.StatusBadRequest:
		return false, nil
	default:
		return false, fmt.Errorf("OpenFGA get store: %w", err)
	}
}

func createStore(ctx context.Context, cfg Config) (string, error) {
	sdk, err := newSDK(cfg, "", "")
	if err != nil {
		return "", err
	}
	resp, err := bounded(ctx, cfg.backgroundTimeout(), func(ctx context.Context) (*fgaclient.ClientCreateStoreResponse, error) {
		return sdk.CreateStore(ctx).Body(fgaclient.ClientCreateStoreRequest{Name: cfg.StoreName}).Execute()
	})
	if err != nil {
		return "", fmt.Errorf("OpenFGA create store: %w", err)
	}
	return resp.Id, nil
}

// writeModel turns the DSL into the JSON model OpenFGA takes and writes it.
func writeModel(ctx context.Context, cfg Config, storeID, dsl string) (string, error) {
	modelJSON, err := transformer.TransformDSLToJSON(dsl)
	if err != nil {
		return "", fmt.Errorf("model.fga: %w", err)
	}
	var body fga.WriteAuthorizationModelRequest
	if err := json.Unmarshal([]byte(modelJSON), &body); err != nil {
		return "", fmt.Errorf("model.fga as JSON: %w", err)
	}
	sdk, err := newSDK(cfg, storeID, "")
	if err != nil {
		return "", err
	}
	resp, err := bounded(ctx, cfg.backgroundTimeout(), func(ctx context.Context) (*fgaclient.ClientWriteAuthorizationModelResponse, error) {
		return sdk.WriteAuthorizationModel(ctx).Body(body).Execute()
	})
	if err != nil {
		return "", fmt.Errorf("OpenFGA write model: %w", err)
	}
	return resp.AuthorizationModelId, nil
}
