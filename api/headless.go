package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/oidc/clients"
	"github.com/caido-cloud/caido-cloud/oidc/device"
	"github.com/caido-cloud/caido-cloud/pats"
)

// Headless device approval: the public API's /oauth2/device/information,
// /approve and /deny, called with a personal access token (caido_…) by
// scripts such as @caido/server-auth's PATApprover, so that an instance
// started in CI signs in with no browser.

// requiredScope must be among the scopes an approval grants: an instance
// cannot tell who signed in without it.
const requiredScope = "profile:read"

// patKey is where the authenticated token lives in the gin context.
const patKey = "caido.pat"

// mountHeadless routes the three device calls behind requirePAT.
func mountHeadless(r *gin.Engine, d Deps) {
	h := headlessHandlers{db: d.DB, authz: d.Authz, pats: d.PATs, devices: d.Devices, access: d.Access, accounts: d.Accounts, clients: d.Clients, log: d.Log}
	auth := requirePAT(d.PATs)
	r.GET("/oauth2/device/information", auth, h.information)
	r.POST("/oauth2/device/approve", auth, h.approve)
	r.POST("/oauth2/device/deny", auth, h.deny)
}

// headlessAbort answers an error with a body that is both the public API's
// ErrorResponse (code, error, message) and the OAuth form (error,
// error_description) PATApprover reads.
func headlessAbort(c *gin.Context, status int, code, description string) {
	c.AbortWithStatusJSON(status, headlessError{Status: status, Code: code, Description: description, Message: description})
}

type headlessError struct {
	Status      int    `json:"code"`
	Code        string `json:"error"`
	Description string `json:"error_description"`
	Message     string `json:"message"`
	// Ask says who can give access, on a 403 for a claimed instance.
	Ask *workspaceOwner `json:"ask,omitempty"`
}

// requirePAT authenticates the Authorization header's personal access
// token. Missing, malformed, unknown, revoked and expired tokens all get
// the same 401.
func requirePAT(svc *pats.Service) gin.HandlerFunc {
	return func(c *gin.Context) {
		raw, ok := bearer(c)
		if !ok {
			c.Header("WWW-Authenticate", `Bearer realm="caido-cloud"`)
			headlessAbort(c, http.StatusUnauthorized, "invalid_token", "a personal access token (Authorization: Bearer caido_…) is required")
			return
		}
		tok, err := svc.Authenticate(c.Request.Context(), raw)
		switch {
		case errors.Is(err, pats.ErrInvalidToken):
			c.Header("WWW-Authenticate", `Bearer realm="caido-cloud", error="invalid_token"`)
			headlessAbort(c, http.StatusUnauthorized, "invalid_token", "the personal access token is invalid, expired or revoked")
			return
		case err != nil:
			c.Error(err) //nolint:errcheck // logged by the access log
			headlessAbort(c, http.StatusServiceUnavailable, "temporarily_unavailable", "could not check the token; retry")
			return
		}
		c.Set(patKey, tok)
		c.Next()
	}
}

type headlessHandlers struct {
	db       *pgxpool.Pool
	authz    *authz.Client
	pats     *pats.Service
	devices  *device.Service
	access   *access.Service
	accounts *accounts.Service
	clients  *clients.Service
	log      *slog.Logger
}

// unknownCode is the one answer to a code that is not pending, whatever the
// reason, so that nobody learns whether a code ever existed.
const unknownCode = "the user code is unknown, expired or already used; start a new sign-in at the instance"

func (h headlessHandlers) fail(c *gin.Context, what string, err error) {
	h.log.ErrorContext(c.Request.Context(), "headless device approval", "step", what, "err", err)
	headlessAbort(c, http.StatusServiceUnavailable, "temporarily_unavailable", "could not answer now; retry")
}

// lookup checks the request's user code under the token's guess limit and
// returns its pending flow; ok is false when it has answered.
func (h headlessHandlers) lookup(c *gin.Context) (device.Pending, bool) {
	ctx := c.Request.Context()
	code := c.Query("user_code")
	if strings.TrimSpace(code) == "" {
		headlessAbort(c, http.StatusBadRequest, "invalid_request", "the user_code query parameter is required")
		return device.Pending{}, false
	}
	tok := c.MustGet(patKey).(pats.Token)
	guess, err := h.pats.ReserveGuess(ctx, tok.ID)
	var limited *pats.GuessLimitError
	if errors.As(err, &limited) {
		c.Header("Retry-After", strconv.Itoa(int(limited.RetryAfter/time.Second)))
		headlessAbort(c, http.StatusTooManyRequests, "rate_limited",
			fmt.Sprintf("too many wrong user codes with this token; retry in %d seconds", int(limited.RetryAfter/time.Second)))
		return device.Pending{}, false
	}
	if err != nil {
		h.fail(c, "count guess", err)
		return device.Pending{}, false
	}
	p, err := h.devices.Lookup(ctx, code)
	if errors.Is(err, device.ErrUnknownUserCode) {
		headlessAbort(c, http.StatusNotFound, "invalid_user_code", unknownCode)
		return device.Pending{}, false
	}
	if err != nil {
		h.fail(c, "look up user code", err)
		return device.Pending{}, false
	}
	// A live code is no guess.
	if err := h.pats.RefundGuess(ctx, guess); err != nil {
		h.log.WarnContext(ctx, "refund user code guess", "err", err)
	}
	return p, true
}

// workspaceOwner is who to ask for access to a claimed instance.
type workspaceOwner struct {
	// Kind is "user" (a personal workspace) or "team".
	Kind  string `json:"kind"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	// Workspace is the workspace's name.
	Workspace string `json:"workspace"`
}

// ownerOf is whom to ask for access to an instance's workspace.
func ownerOf(in accounts.Instance) workspaceOwner {
	o := workspaceOwner{Kind: "user", Name: in.Workspace.OwnerName, Email: in.Workspace.OwnerEmail, Workspace: in.Workspace.Name}
	if in.Workspace.Team {
		o = workspaceOwner{Kind: "team", Name: in.Workspace.OwnerName, Workspace: in.Workspace.Name}
	}
	return o
}

// deviceInformation is the reference's DeviceInformationPayload; the
// instance's workspace is ours, beyond it.
type deviceInformation struct {
	// Scope is the deprecated space-separated form of Scopes.
	Scope  string        `json:"scope"`
	Scopes []deviceScope `json:"scopes"`
	Client deviceClient  `json:"client"`
}

type deviceScope struct {
	Name string `json:"name"`
	// Requirement: profile:read is required, the rest optional.
	Requirement string `json:"requirement"`
}

type deviceClient struct {
	ID           string          `json:"id"`
	RegisteredAt int64           `json:"registered_at"`
	Instance     *deviceInstance `json:"instance,omitempty"`
}

// deviceInstance is present once the instance is claimed (it has a name).
type deviceInstance struct {
	ID           string           `json:"id"`
	Name         string           `json:"name"`
	RegisteredAt int64            `json:"registered_at"`
	Workspace    *deviceWorkspace `json:"workspace,omitempty"`
}

type deviceWorkspace struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// client is the instance client of a pending flow. One deleted since the
// flow started makes its code as good as unknown. When ok is false the
// answer has been written.
func (h headlessHandlers) client(c *gin.Context, p device.Pending) (clients.Client, bool) {
	cl, err := h.clients.Get(c.Request.Context(), p.ClientID)
	if errors.Is(err, clients.ErrNotFound) {
		headlessAbort(c, http.StatusNotFound, "invalid_user_code", unknownCode)
		return cl, false
	}
	if err != nil {
		h.fail(c, "read client", err)
		return cl, false
	}
	return cl, true
}

// information says which instance asks and for what.
func (h headlessHandlers) information(c *gin.Context) {
	ctx := c.Request.Context()
	p, ok := h.lookup(c)
	if !ok {
		return
	}
	cl, ok := h.client(c, p)
	if !ok {
		return
	}
	in, err := h.accounts.Instance(ctx, cl.InstanceID)
	if err != nil {
		h.fail(c, "read instance", err)
		return
	}
	out := deviceInformation{
		Scope:  strings.Join(p.Scopes, " "),
		Scopes: make([]deviceScope, 0, len(p.Scopes)),
		Client: deviceClient{ID: cl.ID, RegisteredAt: cl.IssuedAt.Unix()},
	}
	for _, sc := range p.Scopes {
		req := "optional"
		if sc == requiredScope {
			req = "required"
		}
		out.Scopes = append(out.Scopes, deviceScope{Name: sc, Requirement: req})
	}
	if in.Claimed {
		out.Client.Instance = &deviceInstance{ID: in.ID, Name: in.Name, RegisteredAt: in.RegisteredAt.Unix(),
			Workspace: &deviceWorkspace{ID: in.Workspace.ID, Name: in.Workspace.Name}}
	}
	c.JSON(http.StatusOK, out)
}

// grantedScopes reads the approval's scope parameters: comma-separated as
// PATApprover sends them (spaces are accepted too; no scope token holds
// either), repeats dropped.
func grantedScopes(c *gin.Context) []string {
	var out []string
	for _, v := range c.QueryArray("scope") {
		for _, sc := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			if !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		}
	}
	return out
}

// approve grants the scopes asked for on the token owner's behalf. An
// unclaimed instance is claimed first; a claimed one must be one the owner
// may use.
func (h headlessHandlers) approve(c *gin.Context) {
	ctx := c.Request.Context()
	tok := c.MustGet(patKey).(pats.Token)
	granted := grantedScopes(c)
	p, ok := h.lookup(c)
	if !ok {
		return
	}
	if !slices.Contains(granted, requiredScope) {
		headlessAbort(c, http.StatusBadRequest, "invalid_scope",
			"the scope parameter must include "+requiredScope+" (comma-separated scopes, e.g. scope="+requiredScope+")")
		return
	}
	var extra []string
	for _, sc := range granted {
		if !slices.Contains(p.Scopes, sc) {
			extra = append(extra, sc)
		}
	}
	if len(extra) > 0 {
		headlessAbort(c, http.StatusBadRequest, "invalid_scope",
			"the instance did not ask for "+strings.Join(extra, ", ")+"; it asked for "+strings.Join(p.Scopes, ", "))
		return
	}
	cl, ok := h.client(c, p)
	if !ok {
		return
	}
	var err error
	claimedNow := false
	if cl.WorkspaceID == "" {
		// When another user claims it first, claimedNow stays false and the
		// instance is decided as any claimed one.
		if claimedNow, err = h.claim(actorContext(c, tok.UserID), tok, cl.InstanceID); err != nil {
			h.fail(c, "claim instance", err)
			return
		}
	}
	if !claimedNow && !h.mayUse(c, tok.UserID, cl.InstanceID) {
		return
	}
	switch err := h.devices.Approve(ctx, p.UserCode, tok.UserID, granted); {
	case errors.Is(err, device.ErrUnknownUserCode):
		headlessAbort(c, http.StatusNotFound, "invalid_user_code", unknownCode)
	case errors.Is(err, device.ErrScopeNotRequested):
		headlessAbort(c, http.StatusBadRequest, "invalid_scope", "the instance did not ask for every scope granted")
	case err != nil:
		h.fail(c, "approve", err)
	default:
		c.Status(http.StatusOK)
	}
}

// mayUse answers 403 (saying whom to ask) unless OpenFGA says the user may
// use the instance.
func (h headlessHandlers) mayUse(c *gin.Context, userID, instanceID string) bool {
	ctx := c.Request.Context()
	ok, err := h.authz.Check(ctx, authz.UserObject(userID), "can_use", authz.InstanceObject(instanceID))
	if err != nil {
		h.fail(c, "access check", err)
		return false
	}
	if ok {
		return true
	}
	in, err := h.accounts.Instance(ctx, instanceID)
	if err != nil {
		h.fail(c, "read instance", err)
		return false
	}
	owner := ownerOf(in)
	ask := "an admin of team " + strconv.Quote(owner.Name)
	if owner.Kind == "user" {
		ask = owner.Name
		if owner.Email != "" {
			ask += " <" + owner.Email + ">"
		}
	}
	msg := fmt.Sprintf("you may not use instance %q: it belongs to workspace %q; ask %s to share it with you", in.Name, in.Workspace.Name, ask)
	c.AbortWithStatusJSON(http.StatusForbidden, headlessError{
		Status: http.StatusForbidden, Code: "access_denied", Description: msg, Message: msg, Ask: &owner,
	})
	return false
}

// claim puts an unclaimed instance into the token's team's Default
// workspace when the token names a team and its owner may add instances
// there (OpenFGA can_add_instance), else into the owner's own Default
// workspace, named "Instance " and the first 8 characters of its id
// (renamed later on the dashboard). claimed is false when another user
// claimed it first.
func (h headlessHandlers) claim(ctx context.Context, tok pats.Token, instanceID string) (claimed bool, err error) {
	workspaceID, err := h.claimWorkspace(ctx, tok)
	if err != nil {
		return false, err
	}
	name := "Instance " + instanceID[:min(8, len(instanceID))]
	_, err = h.access.ClaimInstance(ctx, instanceID, tok.UserID, workspaceID, name)
	if errors.Is(err, access.ErrConflict) {
		return false, nil
	}
	// A Change still pending in OpenFGA is fine: the device's first poll
	// comes an interval later, and the token endpoint checks again then.
	return err == nil, err
}

func (h headlessHandlers) claimWorkspace(ctx context.Context, tok pats.Token) (string, error) {
	if tok.TeamID != "" {
		var teamWorkspace string
		err := h.db.QueryRow(ctx, `SELECT id::text FROM workspaces WHERE owner_team_id = $1 AND is_default`, tok.TeamID).Scan(&teamWorkspace)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return "", fmt.Errorf("the default workspace of team %s: %w", tok.TeamID, err)
		}
		if err == nil {
			ok, err := h.authz.Check(ctx, authz.UserObject(tok.UserID), "can_add_instance", authz.WorkspaceObject(teamWorkspace))
			if err != nil {
				return "", err
			}
			if ok {
				return teamWorkspace, nil
			}
		}
	}
	var own string
	err := h.db.QueryRow(ctx, `SELECT id::text FROM workspaces WHERE owner_user_id = $1 AND is_default`, tok.UserID).Scan(&own)
	if err != nil {
		return "", fmt.Errorf("the default workspace of user %s: %w", tok.UserID, err)
	}
	return own, nil
}

// deny refuses the flow; the device's next poll gets access_denied.
func (h headlessHandlers) deny(c *gin.Context) {
	p, ok := h.lookup(c)
	if !ok {
		return
	}
	switch err := h.devices.Deny(c.Request.Context(), p.UserCode); {
	case errors.Is(err, device.ErrUnknownUserCode):
		headlessAbort(c, http.StatusNotFound, "invalid_user_code", unknownCode)
	case err != nil:
		h.fail(c, "deny", err)
	default:
		c.Status(http.StatusOK)
	}
}
