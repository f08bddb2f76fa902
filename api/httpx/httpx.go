// Package httpx is the plumbing the HTTP surfaces share (api/…): the error
// body, the client address, the bearer token, the access log and panic
// recovery, the actor of a change. It decides nothing.
package httpx

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/caido-cloud/caido-cloud/audit"

	"github.com/gin-gonic/gin"
)

// Error is the body of every error answer but the public API's: a stable
// machine-readable code (RFC 6749 style, so OAuth clients read it too) and
// a sentence for people.
type Error struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// Abort answers status with the Error body and stops the handler chain.
// When the client has already hung up there is no one to answer: the
// request is recorded as StatusClientClosedRequest (spans, metrics and the
// access log alike) and nothing is written.
func Abort(c *gin.Context, status int, code, description string) {
	if ClientGone(c.Request) {
		c.AbortWithStatus(StatusClientClosedRequest)
		return
	}
	c.AbortWithStatusJSON(status, Error{Code: code, Description: description})
}

// Unavailable answers 503 with the Error body and a Retry-After: a
// dependency (PostgreSQL, OpenFGA) could not answer within its bound, and a
// retry a few seconds later, past that bound, may well succeed.
func Unavailable(c *gin.Context, code, description string) {
	c.Header("Retry-After", "5")
	Abort(c, http.StatusServiceUnavailable, code, description)
}

// NotFound answers a path no route has.
func NotFound(c *gin.Context) {
	Abort(c, http.StatusNotFound, "not_found", "no such path: "+c.Request.URL.Path)
}

// MethodNotAllowed answers a method a path's routes do not take.
func MethodNotAllowed(c *gin.Context) {
	Abort(c, http.StatusMethodNotAllowed, "method_not_allowed", c.Request.Method+" is not allowed on this path")
}

// Bearer reads the token of the Authorization header.
func Bearer(c *gin.Context) (string, bool) {
	h := c.GetHeader("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// ClientAddr is ClientIP parsed, IPv4-mapped addresses unmapped; invalid
// when there is none.
func ClientAddr(r *http.Request) netip.Addr {
	ip, err := netip.ParseAddr(ClientIP(r))
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

// ActorContext is the request's context carrying who makes the change it
// asks for, so that the audit log records the user and the client address
// (ClientIP's: the socket's, unless a trusted proxy says otherwise).
func ActorContext(c *gin.Context, userID string) context.Context {
	return audit.WithActor(c.Request.Context(), audit.Actor{UserID: userID, IP: ClientAddr(c.Request)})
}

// StatusClientClosedRequest is the status a request is recorded with when
// its client hung up before the answer: nginx's 499, which log tools and
// dashboards already read as "the client went away". Not a 5xx: nothing on
// our side failed, and an operator's error rate and alerts must not count a
// client giving up (its cancellation is what made the dependency call fail
// with "context canceled"). Not a standard 4xx either: no client ever sees
// it, and none of them means "gone".
const StatusClientClosedRequest = 499

// ClientGone reports whether the client of r hung up (closed the connection
// or reset the HTTP/2 stream) before the answer.
func ClientGone(r *http.Request) bool {
	return errors.Is(r.Context().Err(), context.Canceled)
}

// requestKey marks a request's context for ClientGoneAtDebug with the
// request's own context, whose cancellation means the client went away
// (contexts derived from it may be cancelled by our own code).
type requestKey struct{}

// AccessLog logs one line per request. It logs the route template, never
// the raw path or query, which may carry codes or tokens. A request whose
// client hung up is logged at DEBUG with StatusClientClosedRequest, however
// the handler failed for it.
func AccessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		ctx := c.Request.Context()
		c.Request = c.Request.WithContext(context.WithValue(ctx, requestKey{}, ctx))
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "(no route)"
		}
		status := c.Writer.Status()
		level := slog.LevelDebug
		switch {
		case errors.Is(ctx.Err(), context.Canceled) && (status >= 500 || status == StatusClientClosedRequest):
			status = StatusClientClosedRequest
		case status >= 500:
			level = slog.LevelError
		}
		log.LogAttrs(ctx, level, "request",
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)))
	}
}

// ClientGoneAtDebug wraps a log handler so that what is logged for a
// request whose client has hung up goes to DEBUG: the handlers log a failed
// dependency call at ERROR, and a call fails with "context canceled" when
// the client goes away, which is no fault of ours nor of the dependency.
// Only records logged with a request's context (AccessLog marks them) are
// lowered, and only once that request's own context is cancelled.
func ClientGoneAtDebug(h slog.Handler) slog.Handler { return clientGone{h} }

type clientGone struct{ slog.Handler }

func (g clientGone) Handle(ctx context.Context, r slog.Record) error {
	if r.Level > slog.LevelDebug {
		if req, ok := ctx.Value(requestKey{}).(context.Context); ok && errors.Is(req.Err(), context.Canceled) {
			r.Level = slog.LevelDebug
			r.AddAttrs(slog.Bool("client_gone", true))
			if !g.Handler.Enabled(ctx, r.Level) {
				return nil
			}
		}
	}
	return g.Handler.Handle(ctx, r)
}

func (g clientGone) WithAttrs(attrs []slog.Attr) slog.Handler {
	return clientGone{g.Handler.WithAttrs(attrs)}
}

func (g clientGone) WithGroup(name string) slog.Handler { return clientGone{g.Handler.WithGroup(name)} }

// Recovery turns a panic into a 500 with the stable error body; the panic
// value is logged, not sent.
func Recovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(c.Request.Context(), "handler panicked", "route", c.FullPath(), "panic", v)
				Abort(c, http.StatusInternalServerError, "server_error", "an internal error occurred")
			}
		}()
		c.Next()
	}
}
