// Package assistanttest is a stand-in for an OpenAI-compatible API that
// behaves like the real one on the wire, for the assistant's tests.
package assistanttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/assistant"
)

// APIKey is the key the stand-in accepts.
const APIKey = "sk-test-assistant"

// Usage the stand-in reports for every answer.
const (
	PromptTokens     = 10
	CompletionTokens = 20
)

// Upstream model names, each a behaviour of the stand-in.
const (
	OK          = "ok"           // answers "You said: " + the last message, with usage
	Gated       = "gated"        // streams a first chunk, then waits for Release before the rest
	Hang        = "hang"         // streams a first chunk, then waits until the client leaves; never reports usage
	Context     = "context"      // 400 context_length_exceeded, quoting the prompt like some servers do
	RateLimited = "rate-limited" // 429 with Retry-After: 7
	Broken      = "broken"       // 500
	Slow        = "slow"         // answers after a minute, unless the client leaves first
)

// Seen is what the stand-in noticed of one request, content aside.
type Seen struct {
	Model        string
	MaxTokens    int
	Stream       bool
	IncludeUsage bool
}

// Upstream is a running stand-in.
type Upstream struct {
	*httptest.Server
	// Delay is added before every answer, so that concurrent calls overlap.
	Delay time.Duration

	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	seen    []Seen
}

// New starts a stand-in, closed when the test ends.
func New(t testing.TB) *Upstream {
	u := &Upstream{release: make(chan struct{})}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(func() {
		u.Release()
		u.Close()
	})
	return u
}

// BaseURL is the API's base, version path included, like https://api.openai.com/v1.
func (u *Upstream) BaseURL() string { return u.URL + "/v1" }

// Release lets Gated streams finish.
func (u *Upstream) Release() { u.once.Do(func() { close(u.release) }) }

// Seen lists the requests so far.
func (u *Upstream) Seen() []Seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Seen(nil), u.seen...)
}

// Models is a model table with one model per behaviour: id "test-" + the
// behaviour, 2 credits a token, at most 100 output tokens.
func Models() []assistant.Model {
	var out []assistant.Model
	for _, b := range []string{OK, Gated, Hang, Context, RateLimited, Broken, Slow} {
		out = append(out, assistant.Model{ID: "test-" + b, Name: "Test " + b, UpstreamModel: b,
			TokenCredit: 2, MaxOutputTokens: 100, Enabled: true})
	}
	return out
}

type chatRequest struct {
	Model               string `json:"model"`
	MaxTokens           int    `json:"max_tokens"`
	MaxCompletionTokens int    `json:"max_completion_tokens"`
	Stream              bool   `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
		apiError(w, http.StatusNotFound, "not_found", "no such path")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+APIKey {
		apiError(w, http.StatusUnauthorized, "invalid_api_key", "Incorrect API key provided")
		return
	}
	var req chatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
		apiError(w, http.StatusBadRequest, "invalid_request", "bad body")
		return
	}
	include := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	u.mu.Lock()
	u.seen = append(u.seen, Seen{Model: req.Model, MaxTokens: max(req.MaxTokens, req.MaxCompletionTokens), Stream: req.Stream, IncludeUsage: include})
	u.mu.Unlock()
	select {
	case <-time.After(u.Delay):
	case <-r.Context().Done():
		return
	}
	last := req.Messages[len(req.Messages)-1].Content
	switch req.Model {
	case Context:
		apiError(w, http.StatusBadRequest, "context_length_exceeded",
			fmt.Sprintf("This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens (%.40q...)", last))
		return
	case RateLimited:
		w.Header().Set("Retry-After", "7")
		apiError(w, http.StatusTooManyRequests, "rate_limit_exceeded", "Rate limit reached for requests")
		return
	case Broken:
		apiError(w, http.StatusInternalServerError, "server_error", "The server had an error while processing your request")
		return
	case Slow:
		select {
		case <-time.After(time.Minute):
		case <-r.Context().Done():
			return
		}
	}
	answer := "You said: " + last
	if !req.Stream {
		writeJSON(w, http.StatusOK, map[string]any{
			"id": "chatcmpl-test", "object": "chat.completion", "created": time.Now().Unix(), "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": answer}}},
			"usage": usage(),
		})
		return
	}
	u.stream(w, r, req.Model, answer, include)
}

func (u *Upstream) stream(w http.ResponseWriter, r *http.Request, model, answer string, includeUsage bool) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	chunk := func(delta map[string]any, finish any) {
		c := map[string]any{"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": time.Now().Unix(), "model": model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
		if includeUsage {
			c["usage"] = nil
		}
		event(w, c)
	}
	half := len(answer) / 2
	chunk(map[string]any{"role": "assistant", "content": answer[:half]}, nil)
	switch model {
	case Gated:
		select {
		case <-u.release:
		case <-r.Context().Done():
			return
		}
	case Hang:
		<-r.Context().Done()
		return
	}
	chunk(map[string]any{"content": answer[half:]}, nil)
	chunk(map[string]any{}, "stop")
	if includeUsage {
		event(w, map[string]any{"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": time.Now().Unix(),
			"model": model, "choices": []any{}, "usage": usage()})
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	w.(http.Flusher).Flush()
}

func usage() map[string]any {
	return map[string]any{"prompt_tokens": PromptTokens, "completion_tokens": CompletionTokens,
		"total_tokens": PromptTokens + CompletionTokens}
}

func event(w http.ResponseWriter, v any) {
	raw, _ := json.Marshal(v)
	fmt.Fprintf(w, "data: %s\n\n", raw)
	w.(http.Flusher).Flush()
}

func apiError(w http.ResponseWriter, status int, code, message string) {
	typ := "invalid_request_error"
	if status >= 500 {
		typ = "server_error"
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": message, "type": typ, "param": nil, "code": code}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
