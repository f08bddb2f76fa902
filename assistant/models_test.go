package assistant_test

import (
	"context"
	"errors"
	"testing"

	"github.com/caido-cloud/caido-cloud/assistant"
	"github.com/caido-cloud/caido-cloud/assistant/assistanttest"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestModelTable: the operator's functions, and that a disabled or deleted
// model is refused while an upstream name is never what instances send.
func TestModelTable(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.plan(t, w.who.UserID, "big", 1_000_000)
	models, err := w.svc.Models(ctx)
	testenv.Must(t, err)
	if len(models) != len(assistanttest.Models()) {
		t.Fatalf("%d models, want %d", len(models), len(assistanttest.Models()))
	}
	if err := w.svc.UpsertModel(ctx, assistant.Model{ID: "x", Name: "X", UpstreamModel: "ok"}); !errors.Is(err, assistant.ErrInvalidRequest) {
		t.Fatalf("a model with no credit or cap: %v", err)
	}

	ok := assistanttest.Models()[0]
	ok.Enabled = false
	testenv.Must(t, w.svc.UpsertModel(ctx, ok))
	if _, err := w.complete(ok.ID); !errors.Is(err, assistant.ErrInvalidModel) {
		t.Fatalf("a disabled model: %v, want ErrInvalidModel", err)
	}
	if _, err := w.complete(assistanttest.OK); !errors.Is(err, assistant.ErrInvalidModel) {
		t.Fatalf("an upstream name as the model: %v, want ErrInvalidModel", err)
	}
	ok.Enabled, ok.TokenCredit = true, 3
	testenv.Must(t, w.svc.UpsertModel(ctx, ok))
	done, err := w.complete(ok.ID)
	testenv.Must(t, err)
	if done.Credits != (assistanttest.PromptTokens+assistanttest.CompletionTokens)*3 {
		t.Fatalf("credits at 3 a token: %d", done.Credits)
	}
	testenv.Must(t, w.svc.DeleteModel(ctx, ok.ID))
	testenv.Must(t, w.svc.DeleteModel(ctx, ok.ID)) // idempotent
	if _, err := w.complete(ok.ID); !errors.Is(err, assistant.ErrInvalidModel) {
		t.Fatalf("a deleted model: %v, want ErrInvalidModel", err)
	}
	var rows int
	testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT count(*) FROM assistant_usage WHERE model_id = $1`, ok.ID).Scan(&rows))
	if rows != 1 {
		t.Fatalf("the deleted model's usage rows: %d, want 1", rows)
	}
	if seen := w.up.Seen(); len(seen) != 1 || seen[0].Model != assistanttest.OK || seen[0].MaxTokens != ok.MaxOutputTokens {
		t.Fatalf("upstream saw %+v, want one call to %q capped at %d tokens", seen, assistanttest.OK, ok.MaxOutputTokens)
	}
}
