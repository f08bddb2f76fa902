package authz

import (
	"context"
	"fmt"
	"maps"
	"strconv"

	fga "github.com/openfga/go-sdk"
	fgaclient "github.com/openfga/go-sdk/client"
)

// batchChunk is how many checks go in one BatchCheck request.
const batchChunk = 10

// CheckItem is one question of a BatchCheck: has User Relation to Object?
type CheckItem struct {
	User, Relation, Object string
}

// BatchCheck answers many checks with OpenFGA's own BatchCheck, in
// requests of batchChunk, in the order asked: a page listing a hundred
// instances with their rights costs thirty round trips, not three hundred. An item
// OpenFGA could not decide fails the whole batch, as that one Check would
// have failed.
func (c *Client) BatchCheck(ctx context.Context, items []CheckItem) ([]bool, error) {
	if len(items) == 0 {
		return nil, nil
	}
	sdk, err := c.sdk(ctx)
	if err != nil {
		return nil, err
	}
	checkContext := c.checkContext()
	checks := make([]fgaclient.ClientBatchCheckItem, len(items))
	for i, it := range items {
		checks[i] = fgaclient.ClientBatchCheckItem{
			User: it.User, Relation: it.Relation, Object: it.Object,
			CorrelationId: strconv.Itoa(i), Context: &checkContext,
		}
	}
	// OpenFGA runs a request's checks at once, each holding datastore
	// connections while it resolves; more of them than its pool has
	// connections wait on each other until the request times out (seen
	// with 33 checks on a pool of 20). So a batch goes in requests of
	// batchChunk, one after another, each bounded on its own: a long list
	// takes as many round trips as it needs, a paused OpenFGA fails it
	// within one bound.
	results := map[string]fga.BatchCheckSingleResult{}
	for start := 0; start < len(checks); start += batchChunk {
		chunk := checks[start:min(start+batchChunk, len(checks))]
		resp, err := bounded(ctx, c.cfg.decisionTimeout(), func(ctx context.Context) (*fga.BatchCheckResponse, error) {
			return sdk.BatchCheck(ctx).Body(fgaclient.ClientBatchCheckRequest{Checks: chunk}).
				Options(fgaclient.BatchCheckOptions{MaxBatchSize: fga.PtrInt32(batchChunk), MaxParallelRequests: fga.PtrInt32(1)}).Execute()
		})
		if err != nil {
			return nil, fmt.Errorf("OpenFGA batch check of %d: %w", len(items), err)
		}
		maps.Copy(results, resp.GetResult())
	}
	out := make([]bool, len(items))
	for i, it := range items {
		r, ok := results[strconv.Itoa(i)]
		if !ok {
			return nil, fmt.Errorf("OpenFGA batch check: no answer for %s#%s@%s", it.Object, it.Relation, it.User)
		}
		if e, ok := r.GetErrorOk(); ok && e != nil {
			return nil, fmt.Errorf("OpenFGA batch check %s#%s@%s: %s", it.Object, it.Relation, it.User, e.GetMessage())
		}
		out[i] = r.GetAllowed()
	}
	return out, nil
}
