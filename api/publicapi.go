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

// ---- Bodies of the reference (public-api.openapi.yaml).

type teamBody struct {
	Object    string `json:"object"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	CreatedAt int64  `json:"created_at"`
	UpdatedAt int64  `json:"updated_at"`
	// DefaultWorkspaceID is ours, beyond the reference.
	DefaultWorkspaceID string `json:"default_workspace_id,omitempty"`
}

func teamJSON(t access.TeamInfo) teamBody {
	return teamBody{Object: "team", ID: t.ID, Name: t.Name, Email: t.BillingEmail,
		CreatedAt: unix(t.CreatedAt), UpdatedAt: unix(t.UpdatedAt), DefaultWorkspaceID: t.DefaultWorkspaceID}
}

type invitationBody struct {
	Object    string `json:"object"`
	ID        string `json:"id"`
	Email     string `json:"email"`
	Role      string `json:"role"`
	UseSeat   bool   `json:"use_seat"`
	ExpiresAt int64  `json:"expires_at"`
	CreatedAt int64  `json:"created_at"`
	UpdatedAt int64  `json:"updated_at"`
}

func invitationJSON(i access.Invitation) invitationBody {
	return invitationBody{Object: "team_invitation", ID: i.ID, Email: i.Email, Role: referenceRole(i.Role), UseSeat: i.UseSeat,
		ExpiresAt: unix(i.ExpiresAt), CreatedAt: unix(i.CreatedAt), UpdatedAt: unix(i.UpdatedAt)}
}

// referenceRole is our role as the reference's TeamUserRole: the owner is
// an admin there.
func referenceRole(r access.Role) string {
	if r == access.RoleOwner {
		return string(access.RoleAdmin)
	}
	return string(r)
}

type teamUserBody struct {
	Object    string  `json:"object"`
	ID        string  `json:"id"`
	Email     *string `json:"email"`
	Name      *string `json:"name"`
	Role      string  `json:"role"`
	UseSeat   bool    `json:"use_seat"`
	CreatedAt int64   `json:"created_at"`
	UpdatedAt int64   `json:"updated_at"`
	// Owner is ours: the reference shows the owner as an admin.
	Owner bool `json:"owner"`
}

func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func teamUserJSON(m access.Member) teamUserBody {
	return teamUserBody{Object: "team_user", ID: m.UserID, Email: orNull(m.Email), Name: orNull(m.Name), Role: referenceRole(m.Role),
		UseSeat: m.UseSeat, CreatedAt: unix(m.CreatedAt), UpdatedAt: unix(m.UpdatedAt), Owner: m.Role == access.RoleOwner}
}

type deletedBody struct {
	Object  string `json:"object"`
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

type planBody struct {
	Object string `json:"object"`
	ID     string `json:"id"`
	Name   string `json:"name"`
}

type subscriptionBody struct {
	Object    string   `json:"object"`
	ID        string   `json:"id"`
	Trial     bool     `json:"trial"`
	StartsAt  int64    `json:"starts_at"`
	EndsAt    *int64   `json:"ends_at"`
	PausesAt  *int64   `json:"pauses_at"`
	Seats     int      `json:"seats"`
	SeatsUsed int      `json:"seats_used"`
	Plan      planBody `json:"plan"`
	CreatedAt int64    `json:"created_at"`
	UpdatedAt int64    `json:"updated_at"`
}

type userBody struct {
	Object    string  `json:"object"`
	ID        string  `json:"id"`
	Email     *string `json:"email"`
	Name      *string `json:"name"`
	CreatedAt int64   `json:"created_at"`
	UpdatedAt int64   `json:"updated_at"`
}

type workspaceBody struct {
	Object string `json:"object"`
	ID     string `json:"id"`
	Name   string `json:"name"`
}

// ---- The team endpoints: each calls one teams.Service method.

// teamsActor is the caller as teams.Service knows them: a team's token
// acts only within its team.
func teamsActor(c *gin.Context) teams.Actor {
	pr := principalFrom(c)
	return teams.Actor{UserID: pr.UserID, TeamID: pr.scopeTeam()}
}

// teamFail answers an error of teams.Service: its refusals become 4xx
// answers with the error's own words; anything else is a 500.
func (p *publicAPI) teamFail(c *gin.Context, what string, err error) {
	var (
		noCurrent *teams.NoCurrentTeamError
		noMember  *teams.NoMemberError
		noInv     *teams.NoInvitationError
		invalid   *teams.InvalidError
		already   *teams.AlreadyMemberError
		noSeat    *teams.NoSeatError
	)
	switch {
	case errors.As(err, &noCurrent), errors.Is(err, teams.ErrNoTeam), errors.As(err, &noMember), errors.As(err, &noInv):
		apiError(c, http.StatusNotFound, reasonNotFound, err.Error())
	case errors.Is(err, teams.ErrOutsideTeam), errors.Is(err, teams.ErrAdminsOnly), errors.Is(err, teams.ErrAuditAdminsOnly),
		errors.Is(err, teams.ErrTeamToken):
		apiError(c, http.StatusForbidden, reasonForbidden, err.Error())
	case errors.Is(err, teams.ErrRole), errors.Is(err, teams.ErrNoChange), errors.As(err, &invalid):
		apiError(c, http.StatusBadRequest, reasonInvalidInput, err.Error())
	case errors.As(err, &already):
		apiError(c, http.StatusConflict, reasonAlreadyMember, err.Error())
	case errors.As(err, &noSeat):
		apiError(c, http.StatusConflict, reasonSeatsFull, err.Error())
	case errors.Is(err, teams.ErrOwnerStays), errors.Is(err, teams.ErrOwnerNotRemoved):
		apiError(c, http.StatusConflict, reasonConflict, err.Error())
	case errors.Is(err, teams.ErrMailNotSent):
		// Ours and passing: retryable, and nothing was made.
		c.Header("Retry-After", "60")
		apiError(c, http.StatusServiceUnavailable, "MAIL_FAILED", err.Error()+"; retry")
	default:
		p.internal(c, what, err)
	}
}

// ---- Handlers of the reference. The team endpoints act on the current
// team (teams.CurrentTeam).

func (p *publicAPI) getTeam(c *gin.Context) {
	m, err := p.d.Teams.Team(c.Request.Context(), teamsActor(c), teams.CurrentTeam)
	if err != nil {
		p.teamFail(c, "read team", err)
		return
	}
	c.JSON(http.StatusOK, teamJSON(m.Team))
}

func (p *publicAPI) listInvitations(c *gin.Context) {
	invs, err := p.d.Teams.Invitations(c.Request.Context(), teamsActor(c), teams.CurrentTeam)
	if err != nil {
		p.teamFail(c, "list invitations", err)
		return
	}
	c.JSON(http.StatusOK, mapJSON(invs, invitationJSON))
}

// createInvitation invites an address and mails the link. A mail that
// cannot be sent withdraws the invitation again.
func (p *publicAPI) createInvitation(c *gin.Context) {
	var in struct {
		Email   *string `json:"email"`
		Role    *string `json:"role"`
		UseSeat *bool   `json:"use_seat"`
	}
	if !readJSON(c, &in, false) {
		return
	}
	if in.Email == nil || in.Role == nil || in.UseSeat == nil {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "email, role (admin or member) and use_seat are required")
		return
	}
	inv, err := p.d.Teams.Invite(httpx.ActorContext(c, principalFrom(c).UserID), teamsActor(c), teams.CurrentTeam,
		teams.NewInvitation{Email: *in.Email, Role: access.Role(*in.Role), UseSeat: *in.UseSeat})
	if err != nil {
		p.teamFail(c, "invite", err)
		return
	}
	c.JSON(http.StatusCreated, invitationJSON(inv))
}

func (p *publicAPI) deleteInvitation(c *gin.Context) {
	id := c.Param("invitation_id")
	if err := p.d.Teams.Withdraw(httpx.ActorContext(c, principalFrom(c).UserID), teamsActor(c), teams.CurrentTeam, id); err != nil {
		p.teamFail(c, "delete invitation", err)
		return
	}
	c.JSON(http.StatusOK, deletedBody{Object: "team_invitation", ID: id, Deleted: true})
}

func (p *publicAPI) getSubscription(c *gin.Context) {
	s, err := p.d.Teams.Subscription(c.Request.Context(), teamsActor(c), teams.CurrentTeam)
	if err != nil {
		p.teamFail(c, "read subscription", err)
		return
	}
	if s == nil {
		c.Data(http.StatusOK, "application/json; charset=utf-8", []byte("null"))
		return
	}
	c.JSON(http.StatusOK, subscriptionBody{Object: "team_subscription", ID: s.ID, Trial: s.Trial, StartsAt: unix(s.StartsAt),
		EndsAt: unixPtr(s.EndsAt), PausesAt: unixPtr(s.PausesAt), Seats: s.Seats, SeatsUsed: s.SeatsUsed,
		Plan:      planBody{Object: "plan", ID: s.Plan, Name: s.PlanName},
		CreatedAt: unix(s.CreatedAt), UpdatedAt: unix(s.UpdatedAt)})
}

func (p *publicAPI) listTeamUsers(c *gin.Context) {
	members, err := p.d.Teams.Members(c.Request.Context(), teamsActor(c), teams.CurrentTeam)
	if err != nil {
		p.teamFail(c, "list members", err)
		return
	}
	c.JSON(http.StatusOK, mapJSON(members, teamUserJSON))
}

// deleteTeamUser removes a member; their sessions on the team's instances
// end with the membership (access.RemoveTeamMember's hook). The owner stays.
func (p *publicAPI) deleteTeamUser(c *gin.Context) {
	id := c.Param("user_id")
	if _, err := p.d.Teams.RemoveMember(httpx.ActorContext(c, principalFrom(c).UserID), teamsActor(c), teams.CurrentTeam, id); err != nil {
		p.teamFail(c, "remove member", err)
		return
	}
	c.JSON(http.StatusOK, deletedBody{Object: "team_user", ID: id, Deleted: true})
}

func (p *publicAPI) getUser(c *gin.Context) {
	a, err := p.d.Access.Account(c.Request.Context(), principalFrom(c).UserID)
	if err != nil {
		p.fail(c, "read user", err)
		return
	}
	c.JSON(http.StatusOK, userBody{Object: "user", ID: a.ID, Email: orNull(a.Email), Name: orNull(a.Name),
		CreatedAt: unix(a.CreatedAt), UpdatedAt: unix(a.UpdatedAt)})
}

func (p *publicAPI) claimVoucher(c *gin.Context) {
	var in struct {
		Code *string `json:"code"`
	}
	if !readJSON(c, &in, false) {
		return
	}
	if in.Code == nil || strings.TrimSpace(*in.Code) == "" {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "code is required")
		return
	}
	err := p.d.Access.ClaimVoucher(httpx.ActorContext(c, principalFrom(c).UserID), principalFrom(c).UserID, *in.Code)
	switch {
	case errors.Is(err, access.ErrVoucherInvalid):
		apiError(c, http.StatusBadRequest, reasonInvalidCode, "the voucher code is unknown, expired or used up")
	case errors.Is(err, access.ErrAlreadySubscribed):
		apiError(c, http.StatusConflict, reasonAlreadySubscribed, "you already have a paid plan")
	case err != nil:
		p.fail(c, "claim voucher", err)
	default:
		c.Status(http.StatusNoContent)
	}
}

// getWorkspace answers 404 alike for a workspace that does not exist and
// one the caller may not view (sharing.Workspace).
func (p *publicAPI) getWorkspace(c *gin.Context) {
	w, err := p.d.Sharing.Workspace(c.Request.Context(), sharingActor(c), c.Param("workspace_id"))
	if err != nil {
		p.sharingFail(c, "read workspace", err)
		return
	}
	c.JSON(http.StatusOK, workspaceBody{Object: "workspace", ID: w.ID, Name: w.Name})
}
