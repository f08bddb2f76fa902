package oidc

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// zitadel's op writes an error answer itself, from the error alone, with
// no header of ours. answerHeaders hands the answer's headers down in the
// request's context, so that a refusal that knows when to come back
// (setRetryAfter) says so, as RFC 9110 §10.2.3 has a 429 or 503 do.

type answerHeaderKey struct{}

func answerHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), answerHeaderKey{}, w.Header())))
	})
}

// setRetryAfter puts Retry-After, in whole seconds rounded up, on the
// answer to the request of ctx.
func setRetryAfter(ctx context.Context, d time.Duration) {
	if h, ok := ctx.Value(answerHeaderKey{}).(http.Header); ok {
		h.Set("Retry-After", strconv.Itoa(int(max(time.Second, d+time.Second-1)/time.Second)))
	}
}
