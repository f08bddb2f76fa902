package assistant

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	openai "github.com/sashabaranov/go-openai"
)

// UpstreamError is a failed upstream call. Retryable ones (timeouts, 429,
// 5xx, network) are the upstream's trouble, not the request's; the others
// mean the upstream refused what we sent (a wrong key, a model it lacks).
// Its text never carries the upstream's message, which may quote content.
type UpstreamError struct {
	Retryable bool
	// Status is the upstream's HTTP status; 0 when it never answered.
	Status int
	// RetryAfter is the upstream's Retry-After header, as given.
	RetryAfter string
	// Code is the upstream's error code, if any (e.g. rate_limit_exceeded).
	Code string
	err  error
}

func (e *UpstreamError) Error() string {
	switch {
	case e.Status != 0:
		return fmt.Sprintf("assistant upstream answered %d %s", e.Status, e.Code)
	case e.err != nil:
		return "assistant upstream: " + e.err.Error()
	}
	return "assistant upstream failed"
}

// Unwrap lets errors.Is see context.DeadlineExceeded and the like.
func (e *UpstreamError) Unwrap() error { return e.err }

// upstreamHTTPClient copies base (or a plain client) with a transport that
// records the Retry-After of each answer for the call that made it.
func upstreamHTTPClient(base *http.Client) *http.Client {
	c := &http.Client{}
	if base != nil {
		*c = *base
	}
	c.Timeout = 0 // calls are bounded by their context: see Options.Timeout
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c.Transport = headerRecorder{next: next}
	return c
}

// answerHeaders is where headerRecorder leaves a call's response headers.
type answerHeaders struct {
	mu         sync.Mutex
	retryAfter string
}

func (h *answerHeaders) get() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.retryAfter
}

type answerHeadersKey struct{}

func withAnswerHeaders(ctx context.Context) (context.Context, *answerHeaders) {
	h := &answerHeaders{}
	return context.WithValue(ctx, answerHeadersKey{}, h), h
}

type headerRecorder struct{ next http.RoundTripper }

func (t headerRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if h, ok := req.Context().Value(answerHeadersKey{}).(*answerHeaders); ok && resp != nil {
		h.mu.Lock()
		h.retryAfter = resp.Header.Get("Retry-After")
		h.mu.Unlock()
	}
	return resp, err
}

// classify turns a go-openai error into ErrContextExceeded or an
// *UpstreamError.
func classify(err error, h *answerHeaders) error {
	if err == nil {
		return nil
	}
	ue := &UpstreamError{err: err, Retryable: true, RetryAfter: h.get()}
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	switch {
	case errors.As(err, &apiErr):
		ue.Status = apiErr.HTTPStatusCode
		ue.Code, _ = apiErr.Code.(string)
		if ue.Code == "context_length_exceeded" ||
			ue.Status == http.StatusBadRequest && strings.Contains(apiErr.Message, "context length") {
			return ErrContextExceeded
		}
		// The message may quote the prompt: keep only status and code.
		ue.err = nil
	case errors.As(err, &reqErr):
		ue.Status = reqErr.HTTPStatusCode
		ue.err = nil // its Body may quote the prompt
	}
	if ue.Status != 0 {
		ue.Retryable = ue.Status == http.StatusTooManyRequests || ue.Status == http.StatusRequestTimeout || ue.Status >= 500
	}
	return ue
}

// reasoningPrefixes name the models OpenAI takes max_completion_tokens for,
// and for which go-openai refuses max_tokens.
var reasoningPrefixes = []string{"o1", "o3", "o4", "gpt-5"}

// chatRequest is the upstream request for msgs on model, capped at
// maxTokens completion tokens.
func chatRequest(m Model, msgs []Message, maxTokens int) openai.ChatCompletionRequest {
	req := openai.ChatCompletionRequest{Model: m.UpstreamModel}
	for _, msg := range msgs {
		req.Messages = append(req.Messages, openai.ChatCompletionMessage{Role: msg.Role, Content: msg.Content})
	}
	req.MaxTokens = maxTokens
	for _, p := range reasoningPrefixes {
		if strings.HasPrefix(m.UpstreamModel, p) {
			req.MaxTokens, req.MaxCompletionTokens = 0, maxTokens
		}
	}
	return req
}
