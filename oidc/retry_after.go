package oidc

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// zitadel's op writes an error answer itself, from the error alone, with
// no header of ours; RFC 9110 §10.2.3 has a 429 or 503 say when to come
// back. retryAfter does both ways it can be said: a refusal that knows when
// (setRetryAfter) sets it on the answer's headers, handed down in the
// request's context, and any other 503 of ours gets RetryAfter.

// RetryAfter is what a 503 of ours tells a client to wait, in seconds:
// longer than a dependency's bound, so that a retry does not land on the
// same stall.
const RetryAfter = "5"

type answerHeaderKey struct{}

func retryAfter(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(retryAfterWriter{w}, r.WithContext(context.WithValue(r.Context(), answerHeaderKey{}, w.Header())))
	})
}

type retryAfterWriter struct{ http.ResponseWriter }

func (w retryAfterWriter) WriteHeader(status int) {
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", RetryAfter)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w retryAfterWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// setRetryAfter puts Retry-After, in whole seconds rounded up, on the
// answer to the request of ctx.
func setRetryAfter(ctx context.Context, d time.Duration) {
	if h, ok := ctx.Value(answerHeaderKey{}).(http.Header); ok {
		h.Set("Retry-After", strconv.Itoa(int(max(time.Second, d+time.Second-1)/time.Second)))
	}
}
