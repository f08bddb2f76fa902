package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// sseEvent is one Server-Sent Event of the stream.
type sseEvent struct {
	name string
	data map[string]any
}

// openStream starts a streamed completion and returns the response and a
// channel of its events, closed at the end of the body.
func (w *assistantWorld) openStream(t testing.TB, ctx context.Context, body any) (*http.Response, <-chan sseEvent) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, "POST", w.url+"/instance/assistant/complete/stream", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+w.token)
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	events := make(chan sseEvent, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data)
			case line == "":
				events <- ev
				ev = sseEvent{}
			}
		}
	}()
	return resp, events
}

func next(t testing.TB, events <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the stream ended early")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s: the stream is buffered")
	}
	return sseEvent{}
}

// TestAssistantStreamPassesThrough: the first chunk reaches the client
// while the upstream still holds the rest, and the call is charged from the
// upstream's usage report, asked for with stream_options.include_usage.
func TestAssistantStreamPassesThrough(t *testing.T) {
	w := newAssistantWorld(t, testenv.Options{})
	w.setPlan(t, 100_000)
	resp, events := w.openStream(t, context.Background(), ask("test-gated", "tell me"))
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	first := next(t, events) // the upstream is blocked until Release
	if first.name != "delta" || first.data["role"] != "assistant" || first.data["content"] == "" {
		t.Fatalf("first event: %+v", first)
	}
	w.up.Release()
	var text strings.Builder
	text.WriteString(first.data["content"].(string))
	var done sseEvent
	for ev := range events {
		if ev.name == "delta" {
			text.WriteString(ev.data["content"].(string))
			continue
		}
		done = ev
	}
	if text.String() != "You said: tell me" {
		t.Fatalf("streamed text %q", text.String())
	}
	usage, _ := done.data["usage"].(map[string]any)
	if done.name != "done" || done.data["model"] != "test-gated" || usage["credits"] != 60.0 || usage["balance"] != 100_000.0-60 || usage["estimated"] != nil {
		t.Fatalf("last event: %+v", done)
	}
	seen := w.up.Seen()
	if len(seen) != 1 || !seen[0].Stream || !seen[0].IncludeUsage {
		t.Fatalf("upstream saw %+v, want one stream asking for usage", seen)
	}
	spent, reserved, usageCredits, rows := w.ledger(t)
	if spent != 60 || reserved != 0 || usageCredits != 60 || rows != 1 {
		t.Fatalf("ledger spent %d reserved %d, usage %d in %d rows", spent, reserved, usageCredits, rows)
	}
}

// TestAssistantStreamClientLeaves: a client that hangs up mid-stream, before
// any usage report, still pays for what was produced, estimated.
func TestAssistantStreamClientLeaves(t *testing.T) {
	w := newAssistantWorld(t, testenv.Options{})
	w.setPlan(t, 100_000)
	ctx, cancel := context.WithCancel(context.Background())
	resp, events := w.openStream(t, ctx, ask("test-hang", "0123456789abcdef"))
	first := next(t, events)
	if first.name != "delta" {
		t.Fatalf("first event: %+v", first)
	}
	cancel()
	resp.Body.Close()

	produced := len(first.data["content"].(string))
	prompt := int64((len("0123456789abcdef")+3)/4 + 4 + 3)
	want := (prompt + int64(produced+3)/4) * 2
	deadline := time.Now().Add(10 * time.Second)
	for {
		var credits int64
		var estimated bool
		err := w.a.DB.QueryRow(context.Background(), `SELECT credits, estimated FROM assistant_usage WHERE user_id = $1`, w.user.ID).Scan(&credits, &estimated)
		if err == nil {
			if credits != want || !estimated {
				t.Fatalf("charged %d (estimated %v), want %d estimated", credits, estimated, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no usage row 10s after the client left: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	spent, reserved, _, _ := w.ledger(t)
	if spent != want || reserved != 0 {
		t.Fatalf("ledger spent %d reserved %d, want %d and 0", spent, reserved, want)
	}
}
