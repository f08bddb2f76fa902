package authz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	fga "github.com/openfga/go-sdk"
	fgaclient "github.com/openfga/go-sdk/client"

	caidocloud "github.com/caido-cloud/caido-cloud"
)

// ErrModelNotWritten means `caido-cloud migrate` has not yet written this
// binary's model.fga to OpenFGA.
var ErrModelNotWritten = errors.New("the authorization model of this version is not written to OpenFGA: run `caido-cloud migrate`")

// Config says how to reach OpenFGA.
type Config struct {
	APIURL   string
	APIToken string
	// StoreName names the store `migrate` creates when there is none.
	StoreName string
	// HTTPClient carries tracing; nil means http.DefaultClient.
	HTTPClient *http.Client
	// SeatsOff lets every team member use the team's instances without a
	// seat (CAIDO_CLOUD_SEATS=off, for self-hosters who do not bill). The
	// zero value enforces seats, as Caido does.
	SeatsOff bool
	// Timeout bounds every call a request waits on (checks, readiness;
	// CAIDO_CLOUD_OPENFGA_TIMEOUT); zero is DefaultTimeout. Past it the
	// call fails with ErrUnavailable.
	Timeout time.Duration
}

// Client answers checks against the store and the model of this binary's
// model.fga, both looked up in PostgreSQL on first use.
type Client struct {
	cfg Config
	db  *pgxpool.Pool
	now func() time.Time

	mu  sync.Mutex
	fga *fgaclient.OpenFgaClient // nil until the store and model are known
}

// NewClient returns a client; it touches neither OpenFGA nor PostgreSQL yet,
// so a server can start (and report not ready) before `migrate` has run.
func NewClient(db *pgxpool.Pool, cfg Config) *Client {
	return &Client{cfg: cfg, db: db, now: time.Now}
}

func (c *Client) sdk(ctx context.Context) (*fgaclient.OpenFgaClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fga != nil {
		return c.fga, nil
	}
	var storeID, modelID string
	err := c.db.QueryRow(ctx, `SELECT s.store_id, m.model_id FROM authz_store s, authz_models m WHERE m.model_sha256 = $1`,
		modelSHA256(caidocloud.AuthorizationModel)).Scan(&storeID, &modelID)
	var pgErr *pgconn.PgError
	if errors.Is(err, pgx.ErrNoRows) || errors.As(err, &pgErr) && pgErr.Code == "42P01" { // no rows, or no table yet
		return nil, ErrModelNotWritten
	}
	if err != nil {
		return nil, fmt.Errorf("read the OpenFGA store id: %w", err)
	}
	sdk, err := newSDK(c.cfg, storeID, modelID)
	if err != nil {
		return nil, err
	}
	c.fga = sdk
	return sdk, nil
}

func newSDK(cfg Config, storeID, modelID string) (*fgaclient.OpenFgaClient, error) {
	conf := &fgaclient.ClientConfiguration{
		ApiUrl:               cfg.APIURL,
		StoreId:              storeID,
		AuthorizationModelId: modelID,
		HTTPClient:           cfg.HTTPClient,
		// Our own callers retry (the outbox worker with backoff); retries in
		// the SDK would only hold a request longer.
		RetryParams: &fga.RetryParams{MaxRetry: 0, MinWaitInMs: 1},
	}
	if cfg.APIToken != "" {
		// Not the SDK's Credentials: it ignores them when given an HTTP
		// client, and we give one (for tracing).
		conf.DefaultHeaders = map[string]string{"Authorization": "Bearer " + cfg.APIToken}
	}
	sdk, err := fgaclient.NewSdkClient(conf)
	if err != nil {
		return nil, fmt.Errorf("OpenFGA client: %w", err)
	}
	return sdk, nil
}

// checkContext is what every check sends for the model's conditions: the
// current time (not_expired: grants and seats that end) and whether seats
// are enforced (seats_off).
func (c *Client) checkContext() map[string]any {
	return map[string]any{
		"current_time":   c.now().UTC().Format(time.RFC3339Nano),
		"seats_enforced": !c.cfg.SeatsOff,
	}
}

// Check asks whether user has relation to object now. Expiring grants and
// seats are decided by OpenFGA against the context sent with every check.
func (c *Client) Check(ctx context.Context, user, relation, object string) (bool, error) {
	sdk, err := c.sdk(ctx)
	if err != nil {
		return false, err
	}
	checkContext := c.checkContext()
	resp, err := bounded(ctx, c.cfg.decisionTimeout(), func(ctx context.Context) (*fgaclient.ClientCheckResponse, error) {
		return sdk.Check(ctx).Body(fgaclient.ClientCheckRequest{
			User: user, Relation: relation, Object: object, Context: &checkContext,
		}).Execute()
	})
	if err != nil {
		return false, fmt.Errorf("OpenFGA check %s#%s@%s: %w", object, relation, user, err)
	}
	return resp.GetAllowed(), nil
}

// Ready reports whether OpenFGA answers for this binary's store and model.
func (c *Client) Ready(ctx context.Context) error {
	sdk, err := c.sdk(ctx)
	if err != nil {
		return err
	}
	_, err = bounded(ctx, c.cfg.decisionTimeout(), func(ctx context.Context) (*fgaclient.ClientReadAuthorizationModelResponse, error) {
		return sdk.ReadAuthorizationModel(ctx).Execute()
	})
	if err != nil {
		return fmt.Errorf("OpenFGA: %w", err)
	}
	return nil
}

// write applies writes and deletes in one OpenFGA transaction.
func (c *Client) write(ctx context.Context, writes, deletes []Tuple) error {
	sdk, err := c.sdk(ctx)
	if err != nil {
		return err
	}
	req := fgaclient.ClientWriteRequest{}
	for _, t := range writes {
		req.Writes = append(req.Writes, t.toFGA())
	}
	for _, t := range deletes {
		req.Deletes = append(req.Deletes, t.toFGAKey())
	}
	_, err = bounded(ctx, c.cfg.backgroundTimeout(), func(ctx context.Context) (*fgaclient.ClientWriteResponse, error) {
		return sdk.Write(ctx).Body(req).Execute()
	})
	return err
}

// readAll pages through every tuple of the store.
func (c *Client) readAll(ctx context.Context) ([]Tuple, error) {
	sdk, err := c.sdk(ctx)
	if err != nil {
		return nil, err
	}
	var out []Tuple
	pageSize := int32(100)
	token := ""
	for {
		opts := fgaclient.ClientReadOptions{PageSize: &pageSize}
		if token != "" {
			opts.ContinuationToken = &token
		}
		resp, err := bounded(ctx, c.cfg.backgroundTimeout(), func(ctx context.Context) (*fgaclient.ClientReadResponse, error) {
			return sdk.Read(ctx).Body(fgaclient.ClientReadRequest{}).Options(opts).Execute()
		})
		if err != nil {
			return nil, fmt.Errorf("OpenFGA read: %w", err)
		}
		for _, t := range resp.Tuples {
			tuple, err := tupleFromFGA(t.Key)
			if err != nil {
				return nil, err
			}
			out = append(out, tuple)
		}
		if resp.ContinuationToken == "" {
			return out, nil
		}
		token = resp.ContinuationToken
	}
}
