package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/oidc"
	"github.com/caido-cloud/caido-cloud/pats"
)

// The public API under /api/v1: the reference's team, user, voucher and
// workspace calls (this file, exactly as public-api.openapi.yaml says) and
// our own management endpoints (manage.go). Both take a personal access
// token (caido_…); GET /api/v1/user and the voucher claim also take a
// user's OAuth access token with the scope the reference names. Every
// error is the reference's ErrorResponse {code, error, message} (with
// error_description repeating message, so that OAuth-minded clients and our
// Error schema read it too), error being a stable UPPER_SNAKE reason.

// Stable reasons of the public API's errors.
const (
	reasonUnauthorized      = "UNAUTHORIZED"
	reasonForbidden         = "FORBIDDEN"
	reasonNotFound          = "NOT_FOUND"
	reasonInvalidInput      = "INVALID_INPUT"
	reasonConflict          = "CONFLICT"
	reasonSeatsFull         = "SEATS_FULL"
	reasonAlreadyMember     = "ALREADY_MEMBER"
	reasonInvalidCode       = "INVALID_CODE"
	reasonAlreadySubscribed = "ALREADY_SUBSCRIBED"
	reasonRateLimited       = "RATE_LIMITED"
	reasonInternal          = "INTERNAL_ERROR"
)

// principalKey is where the authenticated caller of /api/v1 lives.
const principalKey = "caido.api.principal"

// principal is who calls /api/v1.
type principal struct {
	UserID string
	// PAT is the personal access token used; nil with an OAuth access token.
	PAT *pats.Token
}

func principalFrom(c *gin.Context) principal { return c.MustGet(principalKey).(principal) }

// covers says whether the caller may act on something of teamID ("" for
// what belongs to no team): pats.Token.Covers for a personal access token;
// an OAuth access token is its user's, unscoped.
func (pr principal) covers(teamID string) bool { return pr.PAT == nil || pr.PAT.Covers(teamID) }

// scopeTeam is the team a team's personal access token is confined to; ""
// when the caller is not confined.
func (pr principal) scopeTeam() string {
	if pr.PAT == nil {
		return ""
	}
	return pr.PAT.TeamID
}

// outsideTeam answers 403 when a team's personal access token names a team
// other than its own, as the endpoints that take a team id answer a team
// the caller may not act on; the answer names neither team. When it
// returns true the answer has been written.
func outsideTeam(c *gin.Context, teamID string) bool {
	if principalFrom(c).covers(teamID) {
		return false
	}
	apiError(c, http.StatusForbidden, reasonForbidden,
		"this personal access token was created for one team and acts only within it: use a token of that team, or one of no team")
	return true
}

// publicAPI holds the handlers of /api/v1.
type publicAPI struct {
	d Deps
}

// mountPublicAPI routes /api/v1: the reference's endpoints and ours.
func mountPublicAPI(r *gin.Engine, d Deps) {
	p := &publicAPI{d: d}
	pat := p.authenticate("")
	v1 := r.Group("/api/v1")
	v1.GET("/team", pat, p.getTeam)
	v1.GET("/team/invitations", pat, p.listInvitations)
	v1.POST("/team/invitations", pat, p.createInvitation)
	v1.DELETE("/team/invitations/:invitation_id", pat, p.deleteInvitation)
	v1.GET("/team/subscription", pat, p.getSubscription)
	v1.GET("/team/users", pat, p.listTeamUsers)
	v1.DELETE("/team/users/:user_id", pat, p.deleteTeamUser)
	v1.GET("/user", p.authenticate("profile:read"), p.getUser)
	v1.POST("/user/billing/voucher-claims", p.authenticate("billing:write"), p.claimVoucher)
	v1.GET("/workspace/:workspace_id", pat, p.getWorkspace)
	p.mountManage(v1, pat)
}

// apiError answers an error with the reference's ErrorResponse.
func apiError(c *gin.Context, status int, reason, message string) {
	headlessAbort(c, status, reason, message)
}

// internal logs err and answers 500 without its detail.
func (p *publicAPI) internal(c *gin.Context, what string, err error) {
	p.d.Log.ErrorContext(c.Request.Context(), "public API", "route", c.FullPath(), "step", what, "err", err)
	apiError(c, http.StatusInternalServerError, reasonInternal, "could not answer now; retry")
}

// fail answers a domain error: the access package's sentinels become 4xx
// answers with the error's own words; anything else is a 500.
func (p *publicAPI) fail(c *gin.Context, what string, err error) {
	switch {
	case errors.Is(err, access.ErrNoSeat):
		apiError(c, http.StatusConflict, reasonSeatsFull, say(err, access.ErrNoSeat))
	case errors.Is(err, access.ErrNotFound):
		apiError(c, http.StatusNotFound, reasonNotFound, say(err, access.ErrNotFound))
	case errors.Is(err, access.ErrInvalid):
		apiError(c, http.StatusBadRequest, reasonInvalidInput, say(err, access.ErrInvalid))
	case errors.Is(err, access.ErrExpired):
		apiError(c, http.StatusBadRequest, reasonInvalidInput, say(err, access.ErrExpired))
	case errors.Is(err, access.ErrConflict):
		apiError(c, http.StatusConflict, reasonConflict, say(err, access.ErrConflict))
	default:
		p.internal(c, what, err)
	}
}

// say is err's message without the sentinel's words at its end.
func say(err, sentinel error) string {
	msg := strings.TrimSuffix(err.Error(), ": "+sentinel.Error())
	if msg == sentinel.Error() || msg == "" {
		return sentinel.Error()
	}
	return msg
}

// authenticate takes a personal access token; with scope set, a user's
// OAuth access token carrying that scope too. Missing, malformed, unknown,
// revoked and expired tokens all get the same 401.
func (p *publicAPI) authenticate(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		raw, ok := httpx.Bearer(c)
		if !ok {
			c.Header("WWW-Authenticate", `Bearer realm="caido-cloud"`)
			apiError(c, http.StatusUnauthorized, reasonUnauthorized, "a personal access token (Authorization: Bearer caido_…) is required")
			return
		}
		if strings.HasPrefix(raw, pats.Prefix) || scope == "" {
			tok, err := p.d.PATs.Authenticate(ctx, raw)
			switch {
			case errors.Is(err, pats.ErrInvalidToken):
				c.Header("WWW-Authenticate", `Bearer realm="caido-cloud", error="invalid_token"`)
				apiError(c, http.StatusUnauthorized, reasonUnauthorized, "the personal access token is invalid, expired or revoked")
				return
			case err != nil:
				p.internal(c, "authenticate personal access token", err)
				return
			}
			c.Set(principalKey, principal{UserID: tok.UserID, PAT: &tok})
			c.Next()
			return
		}
		claims, err := p.d.Provider.Active(ctx, raw)
		switch {
		case errors.Is(err, oidc.ErrInvalidToken), errors.Is(err, oidc.ErrInactive):
			c.Header("WWW-Authenticate", `Bearer realm="caido-cloud", error="invalid_token"`)
			apiError(c, http.StatusUnauthorized, reasonUnauthorized, "the token is neither a live personal access token nor a live access token")
			return
		case err != nil:
			p.internal(c, "check access token", err)
			return
		case claims.Kind != oidc.KindUser:
			c.Header("WWW-Authenticate", `Bearer realm="caido-cloud", error="invalid_token"`)
			apiError(c, http.StatusUnauthorized, reasonUnauthorized, "this endpoint takes a personal access token or a user's access token, not an instance's")
			return
		case !slices.Contains(strings.Fields(claims.Scope), scope):
			c.Header("WWW-Authenticate", `Bearer realm="caido-cloud", error="insufficient_scope", scope="`+scope+`"`)
			apiError(c, http.StatusForbidden, reasonForbidden, "the access token lacks the scope "+scope)
			return
		}
		c.Set(principalKey, principal{UserID: claims.Subject})
		c.Next()
	}
}

// validID reports whether s is a canonical UUID, as every id we issue is.
func validID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && len(s) == 36 && u.String() == strings.ToLower(s)
}

// maxBody bounds a request body.
const maxBody = 64 << 10

// readJSON decodes the body into v; strict refuses unknown fields (our own
// endpoints; the reference's tolerate them). When ok is false the answer has
// been written.
func readJSON(c *gin.Context, v any, strict bool) bool {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxBody+1))
	if err != nil {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "could not read the body")
		return false
	}
	if len(body) > maxBody {
		apiError(c, http.StatusRequestEntityTooLarge, reasonInvalidInput, "the body is larger than 64 KiB")
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 || bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "the body must be a JSON object")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "the body is not the JSON object expected: "+strings.TrimPrefix(err.Error(), "json: "))
		return false
	}
	if dec.More() {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "the body must hold one JSON object only")
		return false
	}
	return true
}

// mapJSON turns a list into its JSON bodies; an empty list is [], never null.
func mapJSON[T, B any](items []T, body func(T) B) []B {
	out := make([]B, 0, len(items))
	for _, it := range items {
		out = append(out, body(it))
	}
	return out
}

func unix(t time.Time) int64 { return t.Unix() }

func unixPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	u := t.Unix()
	return &u
}
