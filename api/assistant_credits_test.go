package api_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/assistant"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestAssistantConcurrentSpending: 50 simultaneous completions by one user
// whose month covers a few: what is spent never exceeds the allowance by
// more than one reservation, the rest are refused with QUOTA_EXCEEDED, and
// the ledger equals the usage rows with nothing left reserved.
func TestAssistantConcurrentSpending(t *testing.T) {
	w := newAssistantWorld(t, testenv.Options{})
	const allowance = 500
	w.setPlan(t, allowance)
	w.up.Delay = 50 * time.Millisecond // calls overlap
	body := ask("test-ok", "hello")
	// The reservation of this body: (prompt bound + max output tokens) × credit.
	reservation := int64((8 + len("user") + len("hello") + 8 + 100) * 2)

	statuses := make(chan int, 50)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			status, _, resp := w.do(t, "POST", "/instance/assistant/complete", w.token, body)
			if status != 200 && errorCode(resp) != "QUOTA_EXCEEDED" {
				t.Errorf("a concurrent call: %d %s", status, resp)
			}
			statuses <- status
		})
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	spent, reserved, usageCredits, rows := w.ledger(t)
	t.Logf("answered %v; spent %d of %d", counts, spent, allowance)
	if counts[200] == 0 || counts[http.StatusPaymentRequired] == 0 {
		t.Fatalf("want some calls through and some refused: %v", counts)
	}
	if spent > allowance+reservation {
		t.Fatalf("spent %d: more than the allowance %d plus one reservation %d", spent, allowance, reservation)
	}
	if reserved != 0 || spent != usageCredits || rows != int64(counts[200]) {
		t.Fatalf("ledger spent %d reserved %d; usage rows %d summing %d; %d calls through",
			spent, reserved, rows, usageCredits, counts[200])
	}
}

// TestAssistantUpstreamFailuresRefund: a 500, a 429 and a timeout upstream
// are 503 UPSTREAM_UNAVAILABLE (with the upstream's Retry-After when it gave
// one), and the reservation is released: no credit spent, no usage row.
func TestAssistantUpstreamFailuresRefund(t *testing.T) {
	w := newAssistantWorld(t, testenv.Options{})
	w.setPlan(t, 100_000)
	for _, c := range []struct{ model, retryAfter string }{
		{"test-broken", ""},
		{"test-rate-limited", "7"},
		{"test-slow", ""},
	} {
		start := time.Now()
		status, header, body := w.do(t, "POST", "/instance/assistant/complete", w.token, ask(c.model, "hi"))
		if status != http.StatusServiceUnavailable || errorCode(body) != "UPSTREAM_UNAVAILABLE" || header.Get("Retry-After") != c.retryAfter {
			t.Fatalf("%s: %d Retry-After %q %s", c.model, status, header.Get("Retry-After"), body)
		}
		if c.model == "test-slow" && time.Since(start) > 3*assistantTimeout {
			t.Fatalf("the timeout took %s", time.Since(start))
		}
		spent, reserved, _, rows := w.ledger(t)
		if spent != 0 || reserved != 0 || rows != 0 {
			t.Fatalf("after %s: spent %d reserved %d usage rows %d, want nothing", c.model, spent, reserved, rows)
		}
		_, _, body = w.do(t, "GET", "/instance/assistant/usage", w.token, nil)
		if string(body) != `{"balance":100000}` {
			t.Fatalf("after %s the usage is %s", c.model, body)
		}
	}
}

// TestAssistantRefusals: the request-level errors and their stable bodies.
func TestAssistantRefusals(t *testing.T) {
	ctx := context.Background()
	w := newAssistantWorld(t, testenv.Options{})
	complete := func(body any) (int, string) {
		status, _, resp := w.do(t, "POST", "/instance/assistant/complete", w.token, body)
		return status, errorCode(resp)
	}
	// Basic: no credits.
	if status, code := complete(ask("test-ok", "hi")); status != http.StatusPaymentRequired || code != "QUOTA_EXCEEDED" {
		t.Fatalf("a Basic user: %d %s", status, code)
	}
	w.setPlan(t, 100_000)
	if status, code := complete(ask("no-such-model", "hi")); status != 400 || code != "INVALID_MODEL" {
		t.Fatalf("an unknown model: %d %s", status, code)
	}
	if status, code := complete(ask("test-context", "a very long conversation")); status != 400 || code != "CONTEXT_EXCEEDED" {
		t.Fatalf("too long: %d %s", status, code)
	}
	if status, code := complete(map[string]any{"model": "test-ok", "messages": []any{}}); status != 400 || code != "INVALID_REQUEST" {
		t.Fatalf("no messages: %d %s", status, code)
	}
	if status, _, resp := w.do(t, "POST", "/instance/assistant/complete/stream", w.token, ask("test-context", "long")); status != 400 || errorCode(resp) != "CONTEXT_EXCEEDED" {
		t.Fatalf("too long, streamed: %d %s", status, resp)
	}
	spent, reserved, _, rows := w.ledger(t)
	if spent != 0 || reserved != 0 || rows != 0 {
		t.Fatalf("refused calls left spent %d reserved %d usage rows %d", spent, reserved, rows)
	}

	_, err := w.a.Access.SetAssistantEnabled(ctx, w.in.ID, false)
	testenv.Must(t, err)
	if status, code := complete(ask("test-ok", "hi")); status != 403 || code != "ASSISTANT_FORBIDDEN" {
		t.Fatalf("the assistant switched off on the instance: %d %s", status, code)
	}
	_, err = w.a.Access.SetAssistantEnabled(ctx, w.in.ID, true)
	testenv.Must(t, err)

	// No upstream configured: completions are unavailable, models still list.
	w.url = w.serveAssistant(t, assistant.New(w.a.DB, w.a.Authz, assistant.Options{}))
	if status, code := complete(ask("test-ok", "hi")); status != 503 || code != "ASSISTANT_UNAVAILABLE" {
		t.Fatalf("no upstream: %d %s", status, code)
	}
	if status, _, body := w.do(t, "GET", "/instance/assistant/models", w.token, nil); status != 200 {
		t.Fatalf("models with no upstream: %d %s", status, body)
	}
}
