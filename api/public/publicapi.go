package public

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/approval"
	"github.com/caido-cloud/caido-cloud/audit"
	"github.com/caido-cloud/caido-cloud/input"
	"github.com/caido-cloud/caido-cloud/oidc"
	"github.com/caido-cloud/caido-cloud/pats"
	"github.com/caido-cloud/caido-cloud/regkeys"
	"github.com/caido-cloud/caido-cloud/sharing"
	"github.com/caido-cloud/caido-cloud/teams"
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
	reasonUnavailable       = "UNAVAILABLE"
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

// Deps are what /api/v1, headless approval and /openapi.json call, all
// required.
type Deps struct {
	// PATs and Provider authenticate: personal access tokens, and users'
	// OAuth access tokens where the reference takes them.
	PATs     *pats.Service
	Provider *oidc.Provider
	Approval *approval.Service
	Sharing  *sharing.Service
	Teams    *teams.Service
	RegKeys  *regkeys.Service
	Access   *access.Service
	Audit    *audit.Log
	Log      *slog.Logger
}

// Mount routes the public API: /api/v1 (the reference's endpoints and
// ours), headless device approval and our OpenAPI document.
func Mount(r gin.IRouter, d Deps) error {
	for name, v := range map[string]any{"PATs": d.PATs, "Provider": d.Provider, "Approval": d.Approval, "Sharing": d.Sharing,
		"Teams": d.Teams, "RegKeys": d.RegKeys, "Access": d.Access, "Audit": d.Audit, "Log": d.Log} {
		if reflect.ValueOf(v).IsNil() {
			return fmt.Errorf("api/public: %s is required", name)
		}
	}
	r.GET("/openapi.json", openAPIHandler())
	p := &publicAPI{d: d}
	pat := p.authenticate("", apiReasons)
	v1 := r.Group("/api/v1")
	v1.GET("/team", pat, p.getTeam)
	v1.GET("/team/invitations", pat, p.listInvitations)
	v1.POST("/team/invitations", pat, p.createInvitation)
	v1.DELETE("/team/invitations/:invitation_id", pat, p.deleteInvitation)
	v1.GET("/team/subscription", pat, p.getSubscription)
	v1.GET("/team/users", pat, p.listTeamUsers)
	v1.DELETE("/team/users/:user_id", pat, p.deleteTeamUser)
	v1.GET("/user", p.authenticate("profile:read", apiReasons), p.getUser)
	v1.POST("/user/billing/voucher-claims", p.authenticate("billing:write", apiReasons), p.claimVoucher)
	v1.GET("/workspace/:workspace_id", pat, p.getWorkspace)
	p.mountManage(v1, pat)
	mountHeadless(r, p.authenticate("", oauthReasons), d)
	return nil
}

// publicAPI holds the handlers of /api/v1.
type publicAPI struct {
	d Deps
}

// apiError answers an error with the reference's ErrorResponse.
func apiError(c *gin.Context, status int, reason, message string) {
	headlessAbort(c, status, reason, message)
}

// internal logs err and answers 500 without its detail.
// A dependency past its bound (OpenFGA, PostgreSQL) is 503 UNAVAILABLE
// with Retry-After: the request may be retried, and nothing was changed.
func (p *publicAPI) internal(c *gin.Context, what string, err error) {
	if oidc.Unavailable(err) {
		p.d.Log.WarnContext(c.Request.Context(), "public API", "route", c.FullPath(), "step", what, "err", err)
		c.Header("Retry-After", oidc.RetryAfter)
		apiError(c, http.StatusServiceUnavailable, reasonUnavailable, "could not answer now; retry in a few seconds")
		return
	}
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

// reasons are the error codes a refused authentication answers with:
// /api/v1's stable UPPER_SNAKE reasons, or the OAuth codes headless
// approval's clients (PATApprover) read.
type reasons struct {
	unauthorized, forbidden, unavailable string
}

var (
	apiReasons   = reasons{unauthorized: reasonUnauthorized, forbidden: reasonForbidden, unavailable: reasonUnavailable}
	oauthReasons = reasons{unauthorized: "invalid_token", forbidden: "insufficient_scope", unavailable: "temporarily_unavailable"}
)

// authenticate takes a personal access token; with scope set, a user's
// OAuth access token carrying that scope too. Missing, malformed, unknown,
// revoked and expired tokens all get the same 401.
func (p *publicAPI) authenticate(scope string, why reasons) gin.HandlerFunc {
	refuse := func(c *gin.Context, challenge, msg string) {
		c.Header("WWW-Authenticate", `Bearer realm="caido-cloud"`+challenge)
		apiError(c, http.StatusUnauthorized, why.unauthorized, msg)
	}
	unavailable := func(c *gin.Context, what string, err error) {
		p.d.Log.WarnContext(c.Request.Context(), "public API", "route", c.FullPath(), "step", what, "err", err)
		c.Header("Retry-After", oidc.RetryAfter)
		apiError(c, http.StatusServiceUnavailable, why.unavailable, "could not check the token; retry")
	}
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		raw, ok := httpx.Bearer(c)
		if !ok {
			refuse(c, "", "a personal access token (Authorization: Bearer caido_…) is required")
			return
		}
		if strings.HasPrefix(raw, pats.Prefix) || scope == "" {
			tok, err := p.d.PATs.Authenticate(ctx, raw)
			switch {
			case errors.Is(err, pats.ErrInvalidToken):
				refuse(c, `, error="invalid_token"`, "the personal access token is invalid, expired or revoked")
				return
			case err != nil:
				unavailable(c, "authenticate personal access token", err)
				return
			}
			c.Set(principalKey, principal{UserID: tok.UserID, PAT: &tok})
			c.Next()
			return
		}
		claims, err := p.d.Provider.Active(ctx, raw)
		switch {
		case errors.Is(err, oidc.ErrInvalidToken), errors.Is(err, oidc.ErrInactive):
			refuse(c, `, error="invalid_token"`, "the token is neither a live personal access token nor a live access token")
			return
		case err != nil:
			unavailable(c, "check access token", err)
			return
		case claims.Kind != oidc.KindUser:
			refuse(c, `, error="invalid_token"`, "this endpoint takes a personal access token or a user's access token, not an instance's")
			return
		case !slices.Contains(strings.Fields(claims.Scope), scope):
			c.Header("WWW-Authenticate", `Bearer realm="caido-cloud", error="insufficient_scope", scope="`+scope+`"`)
			apiError(c, http.StatusForbidden, why.forbidden, "the access token lacks the scope "+scope)
			return
		}
		c.Set(principalKey, principal{UserID: claims.Subject})
		c.Next()
	}
}

// maxBody bounds a request body.
const maxBody = 64 << 10

// readJSON decodes the body into v; strict refuses unknown fields (our own
// endpoints; the reference's tolerate them). Every string of the body is
// one line of UTF-8 but the fields text names (input.CheckJSON's paths),
// which are free text. When ok is false the answer has been written.
func readJSON(c *gin.Context, v any, strict bool, text ...string) bool {
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
	if err := input.CheckJSON(body, text...); err != nil {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, err.Error())
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
