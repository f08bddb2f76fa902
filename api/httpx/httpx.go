// Package httpx is the plumbing the HTTP surfaces share (api/…): the error
// body, the client address, the bearer token, the access log and panic
// recovery, the actor of a change. It decides nothing.
package httpx

import (
	"context"
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
func Abort(c *gin.Context, status int, code, description string) {
	c.AbortWithStatusJSON(status, Error{Code: code, Description: description})
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
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
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

// AccessLog logs one line per request. It logs the route template, never
// the raw path or query, which may carry codes or tokens.
func AccessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "(no route)"
		}
		level := slog.LevelDebug
		if c.Writer.Status() >= 500 {
			level = slog.LevelError
		}
		log.LogAttrs(c.Request.Context(), level, "request",
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.Int("status", c.Writer.Status()),
			slog.Duration("duration", time.Since(start)))
	}
}

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
