package authz

import (
	"context"
	"fmt"
	"strconv"

	fgaclient "github.com/openfga/go-sdk/client"
)

// CheckItem is one question of a BatchCheck: has User Relation to Object?
type CheckItem struct {
	User, Relation, Object string
}

// BatchCheck answers many checks with OpenFGA's own BatchCheck (the SDK
// sends them in requests of up to 50, the server's default limit, a few
// at a time), in the order asked: a page listing a thousand instances with
// their rights costs a few round trips, not a Check per right. An item
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
	resp, err := sdk.BatchCheck(ctx).Body(fgaclient.ClientBatchCheckRequest{Checks: checks}).Execute()
	if err != nil {
		return nil, fmt.Errorf("OpenFGA batch check of %d: %w", len(items), err)
	}
	results := resp.GetResult()
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
