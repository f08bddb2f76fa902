package instance

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/oidc"
)

// callerKey is where the authenticated caller's claims live in the gin context.
const callerKey = "caido.caller"

// Caller is who made an instance-API request: an instance as itself, or a
// user at one instance.
type Caller struct {
	oidc.Claims
}

// Scopes of a user token.
func (c Caller) Scopes() []string { return strings.Fields(c.Scope) }

// HasScope reports whether a user token carries scope.
func (c Caller) HasScope(scope string) bool { return slices.Contains(c.Scopes(), scope) }

// CallerFrom returns the caller set by requireInstance or requireUser.
func CallerFrom(c *gin.Context) Caller {
	return c.MustGet(callerKey).(Caller)
}

// unauthorized answers 401 with RFC 6750's challenge; reason is one of the
// stable codes an instance can act on (invalid_token, session_ended,
// access_revoked, wrong_token_kind).
func unauthorized(c *gin.Context, code, description string) {
	c.Header("WWW-Authenticate", `Bearer realm="caido-cloud", error="invalid_token", error_description="`+description+`"`)
	httpx.Abort(c, http.StatusUnauthorized, code, description)
}

// requireToken authenticates the bearer token as kind (oidc.KindInstance
// or oidc.KindUser) and checks that it is still active.
func requireToken(provider *oidc.Provider, kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		raw, ok := httpx.Bearer(c)
		if !ok {
			// RFC 6750 §3.1: no credentials, no error code in the challenge.
			c.Header("WWW-Authenticate", `Bearer realm="caido-cloud"`)
			httpx.Abort(c, http.StatusUnauthorized, "invalid_token", "a Bearer access token is required")
			return
		}
		claims, err := provider.Active(c.Request.Context(), raw)
		switch {
		case errors.Is(err, oidc.ErrInvalidToken):
			unauthorized(c, "invalid_token", "the access token is invalid or expired")
			return
		case errors.Is(err, oidc.ErrInactive):
			unauthorized(c, "session_ended", "the token was revoked, its session ended or its user lost access to this instance; sign in again")
			return
		case err != nil:
			// OpenFGA or PostgreSQL did not answer within its bound (or at
			// all): the token may well be good, so not a 401, which would
			// sign the user out; a retry after Retry-After may succeed.
			c.Error(err) //nolint:errcheck // logged by the access log
			httpx.Unavailable(c, "temporarily_unavailable", "could not check the token; retry")
			return
		case claims.Kind != kind:
			unauthorized(c, "wrong_token_kind", "this endpoint takes a "+kind+" token")
			return
		}
		c.Set(callerKey, Caller{claims})
		c.Next()
	}
}
