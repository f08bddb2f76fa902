package assistant_test

import (
	"context"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/assistant"
	"github.com/caido-cloud/caido-cloud/assistant/assistanttest"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// world is a migrated app with its outbox running, a user who claimed an
// instance, the stand-in upstream and the service on a fake clock.
type world struct {
	a     *app.App
	up    *assistanttest.Upstream
	clock *testenv.Clock
	svc   *assistant.Service
	who   assistant.Caller
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{up: assistanttest.New(t), clock: testenv.NewClock(time.Date(2026, time.March, 31, 22, 0, 0, 0, time.UTC))}
	cfg := testenv.Config(t)
	cfg.AssistantBaseURL, cfg.AssistantAPIKey, cfg.AssistantTimeout = w.up.BaseURL(), assistanttest.APIKey, 2*time.Second
	w.a = testenv.App(t, cfg, testenv.Options{Clock: w.clock})
	testenv.RunOutbox(t, w.a)
	w.svc = w.a.Assistant
	anne := testenv.User(t, w.a, "anne@example.test")
	inst := testenv.ClaimedInstance(t, w.a, anne.ID, anne.DefaultWorkspaceID, "box")
	w.who = assistant.Caller{UserID: anne.ID, InstanceID: inst.ID}
	for _, m := range assistanttest.Models() {
		testenv.Must(t, w.svc.UpsertModel(context.Background(), m))
	}
	return w
}

// plan creates a plan with credits a month and puts userID on it.
func (w *world) plan(t *testing.T, userID, name string, credits int64) {
	t.Helper()
	ctx := context.Background()
	_, err := w.a.DB.Exec(ctx, `INSERT INTO plans (name, display_name, monthly_credits) VALUES ($1, $1, $2)
		ON CONFLICT (name) DO UPDATE SET monthly_credits = $2`, name, credits)
	testenv.Must(t, err)
	_, err = w.a.DB.Exec(ctx, `UPDATE users SET plan = $2 WHERE id = $1`, userID, name)
	testenv.Must(t, err)
}

func (w *world) balance(t *testing.T) int64 {
	t.Helper()
	b, err := w.svc.Balance(context.Background(), w.who.UserID)
	testenv.Must(t, err)
	return b
}

func (w *world) complete(model string) (assistant.Completion, error) {
	return w.svc.Complete(context.Background(), w.who, assistant.Request{Model: model,
		Messages: []assistant.Message{{Role: "user", Content: "hello"}}})
}

// perCall is what one call to the stand-in costs: its usage at 2 credits a token.
const perCall = (assistanttest.PromptTokens + assistanttest.CompletionTokens) * 2
