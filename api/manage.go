package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caido-cloud/caido-cloud/audit"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/pats"
	"github.com/caido-cloud/caido-cloud/regkeys"
	"github.com/caido-cloud/caido-cloud/sharing"
	"github.com/caido-cloud/caido-cloud/teams"
)

// Our own JSON endpoints under /api/v1, beyond the reference: instances and
// their grants, workspaces, registration keys, personal access tokens,
// member roles, team creation and the audit log. Same authentication and
// error body as the reference's endpoints (publicapi.go); every decision is
// OpenFGA's, and every change runs with actorContext so that the audit log
// records who made it and from where. Input is checked before anything
// changes: a 4xx leaves everything as it was.

func (p *publicAPI) mountManage(v1 *gin.RouterGroup, pat gin.HandlerFunc) {
	v1.GET("/instances", pat, p.listInstances)
	v1.GET("/instances/:id", pat, p.getInstance)
	v1.PATCH("/instances/:id", pat, p.patchInstance)
	v1.DELETE("/instances/:id", pat, p.deleteInstance)
	v1.GET("/instances/:id/grants", pat, p.listGrants)
	v1.POST("/instances/:id/grants", pat, p.createGrant)
	v1.DELETE("/instances/:id/grants/:user_id", pat, p.deleteGrant)
	v1.POST("/instances/:id/credentials", pat, p.resetCredentials)
	v1.PUT("/instances/:id/assistant", pat, p.setAssistant)
	v1.GET("/workspaces", pat, p.listWorkspaces)
	v1.GET("/registration-keys", pat, p.listRegistrationKeys)
	v1.POST("/registration-keys", pat, p.createRegistrationKey)
	v1.DELETE("/registration-keys/:id", pat, p.revokeRegistrationKey)
	v1.GET("/personal-access-tokens", pat, p.listPATs)
	v1.POST("/personal-access-tokens", pat, p.createPAT)
	v1.DELETE("/personal-access-tokens/:id", pat, p.revokePAT)
	v1.PATCH("/team/users/:user_id", pat, p.patchTeamUser)
	v1.POST("/teams", pat, p.createTeam)
	v1.GET("/audit-log", pat, p.auditLog)
}

// parseTime reads an optional time: unix seconds (a number) or RFC 3339 (a
// string); absent or null is none.
func parseTime(field string, raw json.RawMessage) (*time.Time, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		at, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return nil, fmt.Errorf("%s must be unix seconds or an RFC 3339 time such as 2030-01-02T15:04:05Z, not %q", field, s)
		}
		return &at, nil
	}
	var n float64
	if err := json.Unmarshal(raw, &n); err != nil || n < 0 || n > 1e11 {
		return nil, fmt.Errorf("%s must be unix seconds or an RFC 3339 time such as 2030-01-02T15:04:05Z", field)
	}
	at := time.Unix(0, int64(n*1e9)).UTC()
	return &at, nil
}

// futureTime is parseTime that also wants the time to be in the future; when
// ok is false the answer (400) has been written.
func futureTime(c *gin.Context, field string, raw json.RawMessage) (*time.Time, bool) {
	at, err := parseTime(field, raw)
	if err != nil {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, err.Error())
		return nil, false
	}
	if at != nil && !at.After(time.Now()) {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, field+" must be in the future")
		return nil, false
	}
	return at, true
}

// ---- Instances.

type instanceRights struct {
	Use          bool `json:"use"`
	Manage       bool `json:"manage"`
	UseAssistant bool `json:"use_assistant"`
}

type instanceBody struct {
	Object           string         `json:"object"`
	ID               string         `json:"id"`
	Name             string         `json:"name"`
	WorkspaceID      string         `json:"workspace_id"`
	WorkspaceName    string         `json:"workspace_name"`
	ClaimedBy        string         `json:"claimed_by"`
	ClaimedAt        int64          `json:"claimed_at"`
	AssistantEnabled bool           `json:"assistant_enabled"`
	LastSeenAt       *int64         `json:"last_seen_at"`
	Version          string         `json:"version"`
	OS               string         `json:"os"`
	RecentUsers      []string       `json:"recent_users"`
	Rights           instanceRights `json:"rights"`
}

func instanceJSON(in sharing.Instance) instanceBody {
	i := in.InstanceSummary
	users := i.RecentUsers
	if users == nil {
		users = []string{}
	}
	return instanceBody{Object: "instance", ID: i.ID, Name: i.Name, WorkspaceID: i.WorkspaceID, WorkspaceName: i.WorkspaceName,
		ClaimedBy: i.ClaimedBy, ClaimedAt: unix(i.ClaimedAt), AssistantEnabled: i.AssistantEnabled, LastSeenAt: unixPtr(i.LastSeenAt),
		Version: i.Version, OS: i.OS, RecentUsers: users,
		Rights: instanceRights{Use: in.Rights.Use, Manage: in.Rights.Manage, UseAssistant: in.Rights.UseAssistant}}
}

// listInstances lists the instances the caller may use (sharing.List).
func (p *publicAPI) listInstances(c *gin.Context) {
	list, err := p.d.Sharing.List(c.Request.Context(), sharingActor(c))
	if err != nil {
		p.sharingFail(c, "list instances", err)
		return
	}
	c.JSON(http.StatusOK, mapJSON(list, instanceJSON))
}

func (p *publicAPI) getInstance(c *gin.Context) {
	in, err := p.d.Sharing.Get(c.Request.Context(), sharingActor(c), c.Param("id"))
	if err != nil {
		p.sharingFail(c, "read instance", err)
		return
	}
	c.JSON(http.StatusOK, instanceJSON(in))
}

// patchInstance renames and/or moves an instance (sharing.Update).
func (p *publicAPI) patchInstance(c *gin.Context) {
	var in struct {
		Name        *string `json:"name"`
		WorkspaceID *string `json:"workspace_id"`
	}
	if !readJSON(c, &in, true) {
		return
	}
	updated, err := p.d.Sharing.Update(httpx.ActorContext(c, principalFrom(c).UserID), sharingActor(c), c.Param("id"),
		sharing.InstanceChange{Name: in.Name, WorkspaceID: in.WorkspaceID})
	if err != nil {
		p.sharingFail(c, "update instance", err)
		return
	}
	c.JSON(http.StatusOK, instanceJSON(updated))
}

func (p *publicAPI) deleteInstance(c *gin.Context) {
	id := c.Param("id")
	if _, err := p.d.Sharing.Delete(httpx.ActorContext(c, principalFrom(c).UserID), sharingActor(c), id); err != nil {
		p.sharingFail(c, "delete instance", err)
		return
	}
	c.JSON(http.StatusOK, deletedBody{Object: "instance", ID: id, Deleted: true})
}

type grantBody struct {
	Object      string  `json:"object"`
	InstanceID  string  `json:"instance_id"`
	GranteeType string  `json:"grantee_type"`
	GranteeID   string  `json:"grantee_id"`
	UserEmail   *string `json:"user_email"`
	TeamName    *string `json:"team_name"`
	ExpiresAt   *int64  `json:"expires_at"`
	CreatedAt   int64   `json:"created_at"`
	Pending     bool    `json:"pending"`
}

func grantJSON(g access.GrantInfo) grantBody {
	b := grantBody{Object: "instance_grant", InstanceID: g.InstanceID, ExpiresAt: unixPtr(g.ExpiresAt), CreatedAt: unix(g.CreatedAt), Pending: g.Pending}
	if g.Pending {
		b.GranteeType, b.GranteeID, b.UserEmail = "email", g.PendingID, orNull(g.UserEmail)
	} else if g.TeamID != "" {
		b.GranteeType, b.GranteeID, b.TeamName = "team", g.TeamID, orNull(g.TeamName)
	} else {
		b.GranteeType, b.GranteeID, b.UserEmail = "user", g.UserID, orNull(g.UserEmail)
	}
	return b
}

// listGrants lists an instance's shares: all of them for its managers, its
// team's for an admin of a team it is shared with.
func (p *publicAPI) listGrants(c *gin.Context) {
	gs, err := p.d.Sharing.Grants(c.Request.Context(), sharingActor(c), c.Param("id"))
	if err != nil {
		p.sharingFail(c, "list grants", err)
		return
	}
	c.JSON(http.StatusOK, mapJSON(gs, grantJSON))
}

// createGrant shares an instance with a user (by email) or a team of the
// caller's (by id), until expires_at when given. Granting again replaces
// the expiry. A share by email is answered 202 alike whatever the address
// (sharing.Grant).
func (p *publicAPI) createGrant(c *gin.Context) {
	var in struct {
		UserEmail *string         `json:"user_email"`
		TeamID    *string         `json:"team_id"`
		ExpiresAt json.RawMessage `json:"expires_at"`
	}
	if !readJSON(c, &in, true) {
		return
	}
	if (in.UserEmail == nil) == (in.TeamID == nil) {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "give exactly one of user_email and team_id")
		return
	}
	if in.UserEmail != nil && strings.TrimSpace(*in.UserEmail) == "" {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "user_email must be an email address")
		return
	}
	if in.TeamID != nil && !validID(*in.TeamID) {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "team_id must be a team's id")
		return
	}
	expires, ok := futureTime(c, "expires_at", in.ExpiresAt)
	if !ok {
		return
	}
	var to sharing.Grantee
	if in.UserEmail != nil {
		to.UserEmail = strings.TrimSpace(*in.UserEmail)
	} else {
		to.TeamID = *in.TeamID
	}
	share, err := p.d.Sharing.Grant(httpx.ActorContext(c, principalFrom(c).UserID), sharingActor(c), c.Param("id"), to, expires)
	if err != nil {
		p.sharingFail(c, "grant", err)
		return
	}
	if share.ByEmail {
		// The same answer whatever the address: it must not tell whether
		// an account has (verified) it.
		c.JSON(http.StatusAccepted, emailShareBody{Object: "instance_share", InstanceID: share.Grant.InstanceID,
			UserEmail: share.Grant.UserEmail, ExpiresAt: unixPtr(share.Grant.ExpiresAt), CreatedAt: unix(share.Grant.CreatedAt)})
		return
	}
	c.JSON(http.StatusCreated, grantJSON(share.Grant))
}

// emailShareBody answers a share by email: accepted for the account that
// has verified the address, now or once one does.
type emailShareBody struct {
	Object     string `json:"object"`
	InstanceID string `json:"instance_id"`
	UserEmail  string `json:"user_email"`
	ExpiresAt  *int64 `json:"expires_at"`
	CreatedAt  int64  `json:"created_at"`
}

// deleteGrant ends the grant to a user, or to a team (the path's id is the
// grantee's: a user's or a team's). The grantee's sessions on the instance
// end with it.
func (p *publicAPI) deleteGrant(c *gin.Context) {
	grantee := c.Param("user_id")
	ch, err := p.d.Sharing.Revoke(httpx.ActorContext(c, principalFrom(c).UserID), sharingActor(c), c.Param("id"),
		sharing.Grantee{UserOrTeamID: grantee})
	if err != nil {
		p.sharingFail(c, "revoke", err)
		return
	}
	// pending tells the caller when the revocation bound starts: at once,
	// or once OpenFGA is back and the outbox has applied it.
	c.JSON(http.StatusOK, struct {
		deletedBody
		Pending bool `json:"pending"`
	}{deletedBody{Object: "instance_grant", ID: grantee, Deleted: true}, ch.Pending})
}

// sharingActor is the caller as the sharing use cases take them.
func sharingActor(c *gin.Context) sharing.Actor {
	pr := principalFrom(c)
	a := sharing.Actor{UserID: pr.UserID}
	if pr.PAT != nil {
		a.TeamID = pr.PAT.TeamID
	}
	return a
}

// sharingFail answers a sharing use case's error: its refusals with their
// own words, anything else a 500.
func (p *publicAPI) sharingFail(c *gin.Context, what string, err error) {
	e, ok := sharing.AsError(err)
	if !ok {
		p.internal(c, what, err)
		return
	}
	switch e.Code {
	case sharing.NotFound:
		apiError(c, http.StatusNotFound, reasonNotFound, e.Message)
	case sharing.Forbidden:
		apiError(c, http.StatusForbidden, reasonForbidden, e.Message)
	case sharing.Limited:
		c.Header("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds()+0.999)))
		apiError(c, http.StatusTooManyRequests, reasonRateLimited, e.Message)
	default:
		apiError(c, http.StatusBadRequest, reasonInvalidInput, e.Message)
	}
}

type credentialsBody struct {
	Object       string `json:"object"`
	InstanceID   string `json:"instance_id"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// resetCredentials gives the instance's OAuth client a new secret, returned
// this once; the old one stops working at once.
func (p *publicAPI) resetCredentials(c *gin.Context) {
	id := c.Param("id")
	cr, err := p.d.Sharing.ResetCredentials(httpx.ActorContext(c, principalFrom(c).UserID), sharingActor(c), id)
	if err != nil {
		p.sharingFail(c, "reset secret", err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, credentialsBody{Object: "instance_credentials", InstanceID: id, ClientID: cr.ClientID, ClientSecret: cr.Secret})
}

// setAssistant switches the assistant on or off for everyone on the instance.
func (p *publicAPI) setAssistant(c *gin.Context) {
	var in struct {
		Enabled *bool `json:"enabled"`
	}
	if !readJSON(c, &in, true) {
		return
	}
	if in.Enabled == nil {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "enabled (true or false) is required")
		return
	}
	updated, _, err := p.d.Sharing.SetAssistant(httpx.ActorContext(c, principalFrom(c).UserID), sharingActor(c), c.Param("id"), *in.Enabled)
	if err != nil {
		p.sharingFail(c, "switch assistant", err)
		return
	}
	c.JSON(http.StatusOK, instanceJSON(updated))
}

// ---- Workspaces and registration keys.

type workspaceSummary struct {
	Object         string `json:"object"`
	ID             string `json:"id"`
	Name           string `json:"name"`
	OwnerType      string `json:"owner_type"`
	OwnerID        string `json:"owner_id"`
	OwnerName      string `json:"owner_name"`
	CanManage      bool   `json:"can_manage"`
	CanAddInstance bool   `json:"can_add_instance"`
}

// listWorkspaces lists the caller's workspaces with their rights
// (sharing.Workspaces).
func (p *publicAPI) listWorkspaces(c *gin.Context) {
	ws, err := p.d.Sharing.Workspaces(c.Request.Context(), sharingActor(c))
	if err != nil {
		p.sharingFail(c, "list workspaces", err)
		return
	}
	c.JSON(http.StatusOK, mapJSON(ws, func(w sharing.Workspace) workspaceSummary {
		s := workspaceSummary{Object: "workspace", ID: w.ID, Name: w.Name, OwnerType: "user", OwnerID: w.OwnerUserID, OwnerName: w.OwnerName,
			CanManage: w.CanManage, CanAddInstance: w.CanAddInstance}
		if w.Team {
			s.OwnerType, s.OwnerID = "team", w.TeamID
		}
		return s
	}))
}

type registrationKeyBody struct {
	Object      string `json:"object"`
	ID          string `json:"id"`
	Hint        string `json:"hint"`
	WorkspaceID string `json:"workspace_id"`
	CreatedBy   string `json:"created_by"`
	Description string `json:"description"`
	NamePrefix  string `json:"name_prefix"`
	Reusable    bool   `json:"reusable"`
	ExpiresAt   *int64 `json:"expires_at"`
	Uses        int    `json:"uses"`
	RevokedAt   *int64 `json:"revoked_at"`
	CreatedAt   int64  `json:"created_at"`
	// Key is the key itself, in the creation's answer only.
	Key string `json:"key,omitempty"`
}

func registrationKeyJSON(k regkeys.Key) registrationKeyBody {
	return registrationKeyBody{Object: "registration_key", ID: k.ID, Hint: k.Hint, WorkspaceID: k.WorkspaceID, CreatedBy: k.CreatedBy,
		Description: k.Description, NamePrefix: k.NamePrefix, Reusable: k.Reusable, ExpiresAt: unixPtr(k.ExpiresAt), Uses: k.Uses,
		RevokedAt: unixPtr(k.RevokedAt), CreatedAt: unix(k.CreatedAt)}
}

func (p *publicAPI) listRegistrationKeys(c *gin.Context) {
	ws := c.Query("workspace_id")
	if !validID(ws) {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "the workspace_id query parameter must be a workspace's id")
		return
	}
	keys, err := p.d.RegKeys.ListFor(c.Request.Context(), principalFrom(c).UserID, principalFrom(c).scopeTeam(), ws)
	switch {
	case errors.Is(err, regkeys.ErrViewOnly):
		apiError(c, http.StatusForbidden, reasonForbidden, "only the managers of workspace "+ws+" may see and revoke its registration keys")
		return
	case errors.Is(err, regkeys.ErrNotFound):
		apiError(c, http.StatusNotFound, reasonNotFound, "no workspace "+ws+" that you may view")
		return
	case err != nil:
		p.internal(c, "list registration keys", err)
		return
	}
	c.JSON(http.StatusOK, mapJSON(keys, registrationKeyJSON))
}

// createRegistrationKey makes a key for a workspace (the caller's Default
// one when none is named); the key is in this answer only.
func (p *publicAPI) createRegistrationKey(c *gin.Context) {
	var in struct {
		WorkspaceID *string         `json:"workspace_id"`
		NamePrefix  *string         `json:"name_prefix"`
		Description string          `json:"description"`
		Reusable    bool            `json:"reusable"`
		ExpiresAt   json.RawMessage `json:"expires_at"`
	}
	if !readJSON(c, &in, true) {
		return
	}
	if in.NamePrefix == nil || strings.TrimSpace(*in.NamePrefix) == "" || len(strings.TrimSpace(*in.NamePrefix)) > 100 {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "name_prefix must be 1 to 100 characters")
		return
	}
	if len(in.Description) > 500 {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "description must be at most 500 characters")
		return
	}
	if in.WorkspaceID != nil && !validID(*in.WorkspaceID) {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "workspace_id must be a workspace's id")
		return
	}
	expires, ok := futureTime(c, "expires_at", in.ExpiresAt)
	if !ok {
		return
	}
	user := principalFrom(c).UserID
	ctx := httpx.ActorContext(c, user)
	ws := "" // the creator's Default workspace
	if in.WorkspaceID != nil {
		ws = *in.WorkspaceID
	}
	key, k, err := p.d.RegKeys.Create(ctx, regkeys.NewKey{WorkspaceID: ws, CreatedBy: user, Description: in.Description,
		NamePrefix: *in.NamePrefix, Reusable: in.Reusable, ExpiresAt: expires})
	switch {
	case errors.Is(err, regkeys.ErrForbidden):
		apiError(c, http.StatusForbidden, reasonForbidden, "you may not add instances to workspace "+cmp.Or(ws, "Default")+" (or it does not exist)")
		return
	case errors.Is(err, regkeys.ErrInvalid):
		apiError(c, http.StatusBadRequest, reasonInvalidInput, say(err, regkeys.ErrInvalid))
		return
	case err != nil:
		p.internal(c, "create registration key", err)
		return
	}
	b := registrationKeyJSON(k)
	b.Key = key
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, b)
}

type revokedBody struct {
	Object  string `json:"object"`
	ID      string `json:"id"`
	Revoked bool   `json:"revoked"`
}

func (p *publicAPI) revokeRegistrationKey(c *gin.Context) {
	id := c.Param("id")
	notFound := func() {
		apiError(c, http.StatusNotFound, reasonNotFound, "no live registration key "+id+" that you manage")
	}
	if !validID(id) {
		notFound()
		return
	}
	err := p.d.RegKeys.RevokeFor(httpx.ActorContext(c, principalFrom(c).UserID), principalFrom(c).UserID, principalFrom(c).scopeTeam(), id)
	if errors.Is(err, regkeys.ErrNotFound) {
		notFound()
		return
	}
	if err != nil {
		p.internal(c, "revoke registration key", err)
		return
	}
	c.JSON(http.StatusOK, revokedBody{Object: "registration_key", ID: id, Revoked: true})
}

// ---- Personal access tokens.

type patBody struct {
	Object     string  `json:"object"`
	ID         string  `json:"id"`
	UserID     string  `json:"user_id"`
	TeamID     *string `json:"team_id"`
	Name       string  `json:"name"`
	CreatedAt  int64   `json:"created_at"`
	ExpiresAt  *int64  `json:"expires_at"`
	LastUsedAt *int64  `json:"last_used_at"`
	// Token is the token itself, in the creation's answer only.
	Token string `json:"token,omitempty"`
}

func patJSON(t pats.Token) patBody {
	return patBody{Object: "personal_access_token", ID: t.ID, UserID: t.UserID, TeamID: orNull(t.TeamID), Name: t.Name,
		CreatedAt: unix(t.CreatedAt), ExpiresAt: unixPtr(t.ExpiresAt), LastUsedAt: unixPtr(t.LastUsedAt)}
}

// listPATs lists the caller's live tokens, or with team_id the team's (for
// its admins; with a team's token, for its own team only).
func (p *publicAPI) listPATs(c *gin.Context) {
	ctx, user := c.Request.Context(), principalFrom(c).UserID
	var list []pats.Token
	var err error
	if team, ok := c.GetQuery("team_id"); ok {
		if !validID(team) {
			apiError(c, http.StatusBadRequest, reasonInvalidInput, "the team_id query parameter must be a team's id")
			return
		}
		if outsideTeam(c, team) {
			return
		}
		list, err = p.d.PATs.ListForTeam(ctx, user, team)
		if errors.Is(err, pats.ErrForbidden) {
			apiError(c, http.StatusForbidden, reasonForbidden, "only the team's admins may list its tokens")
			return
		}
	} else {
		list, err = p.d.PATs.List(ctx, user)
	}
	if err != nil {
		p.internal(c, "list tokens", err)
		return
	}
	c.JSON(http.StatusOK, mapJSON(list, patJSON))
}

// createPAT makes a token for the caller; the token is in this answer only.
// Every caller here holds a personal access token, which pats refuses to
// make tokens with (ErrMadeWithPAT): the endpoint stays so that scripts
// that call it learn where tokens are made.
func (p *publicAPI) createPAT(c *gin.Context) {
	var in struct {
		Name      *string         `json:"name"`
		TeamID    *string         `json:"team_id"`
		ExpiresAt json.RawMessage `json:"expires_at"`
	}
	if !readJSON(c, &in, true) {
		return
	}
	if in.Name == nil {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "name is required")
		return
	}
	if in.TeamID != nil && !validID(*in.TeamID) {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "team_id must be a team's id")
		return
	}
	expires, ok := futureTime(c, "expires_at", in.ExpiresAt)
	if !ok {
		return
	}
	pr := principalFrom(c)
	// The route takes personal access tokens only (authenticate("")).
	n := pats.NewToken{UserID: pr.UserID, Name: *in.Name, ExpiresAt: expires, Via: pats.ViaPAT}
	if in.TeamID != nil {
		n.TeamID = *in.TeamID
	}
	secret, t, err := p.d.PATs.Create(httpx.ActorContext(c, pr.UserID), n)
	if errors.Is(err, pats.ErrMadeWithPAT) {
		apiError(c, http.StatusForbidden, reasonForbidden, pats.ErrMadeWithPAT.Error())
		return
	}
	if errors.Is(err, pats.ErrInvalid) {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, strings.TrimPrefix(err.Error(), pats.ErrInvalid.Error()+": "))
		return
	}
	if err != nil {
		p.internal(c, "create token", err)
		return
	}
	b := patJSON(t)
	b.Token = secret
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, b)
}

func (p *publicAPI) revokePAT(c *gin.Context) {
	id := c.Param("id")
	user := principalFrom(c).UserID
	err := pats.ErrNotFound
	if validID(id) {
		err = p.d.PATs.Revoke(httpx.ActorContext(c, user), user, id)
	}
	if errors.Is(err, pats.ErrNotFound) {
		apiError(c, http.StatusNotFound, reasonNotFound, "you have no live personal access token "+id)
		return
	}
	if err != nil {
		p.internal(c, "revoke token", err)
		return
	}
	c.JSON(http.StatusOK, revokedBody{Object: "personal_access_token", ID: id, Revoked: true})
}

// ---- Teams.

// patchTeamUser changes a member's role (admin or member) and seat, for the
// team's admins. The owner keeps the owner role and is not changed here.
func (p *publicAPI) patchTeamUser(c *gin.Context) {
	var in struct {
		Role    *string `json:"role"`
		UseSeat *bool   `json:"use_seat"`
	}
	if !readJSON(c, &in, true) {
		return
	}
	change := teams.MemberChange{UseSeat: in.UseSeat}
	if in.Role != nil {
		role := access.Role(*in.Role)
		change.Role = &role
	}
	updated, _, err := p.d.Teams.UpdateMember(httpx.ActorContext(c, principalFrom(c).UserID), teamsActor(c), teams.CurrentTeam,
		c.Param("user_id"), change)
	if err != nil {
		p.teamFail(c, "update member", err)
		return
	}
	c.JSON(http.StatusOK, teamUserJSON(updated))
}

// createTeam creates a team owned by the caller, with its Default workspace.
func (p *publicAPI) createTeam(c *gin.Context) {
	var in struct {
		Name         *string `json:"name"`
		BillingEmail *string `json:"billing_email"`
	}
	if !readJSON(c, &in, true) {
		return
	}
	if in.Name == nil || in.BillingEmail == nil {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "name and billing_email are required")
		return
	}
	t, _, err := p.d.Teams.CreateTeam(httpx.ActorContext(c, principalFrom(c).UserID), teamsActor(c), *in.Name, *in.BillingEmail)
	if err != nil {
		p.teamFail(c, "create team", err)
		return
	}
	c.JSON(http.StatusCreated, teamJSON(t))
}

// ---- Audit log.

type auditBody struct {
	Object       string          `json:"object"`
	ID           int64           `json:"id"`
	TeamID       *string         `json:"team_id"`
	ActorUserID  *string         `json:"actor_user_id"`
	Actor        string          `json:"actor"`
	Action       string          `json:"action"`
	TargetType   string          `json:"target_type"`
	TargetID     string          `json:"target_id"`
	TargetUserID *string         `json:"target_user_id"`
	Detail       json.RawMessage `json:"detail"`
	IP           *string         `json:"ip"`
	CreatedAt    int64           `json:"created_at"`
}

// auditLog lists entries, newest first: with team_id the team's (for its
// admins), else those the caller made or that concern them; with a team's
// token, only that team's. Each carries the client address only where the
// caller may see it (audit.Filter.ViewerID).
func (p *publicAPI) auditLog(c *gin.Context) {
	pr := principalFrom(c)
	f := audit.Filter{UserID: pr.UserID, ViewerID: pr.UserID, WithinTeam: pr.scopeTeam(), Limit: 100}
	if s, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			apiError(c, http.StatusBadRequest, reasonInvalidInput, "limit must be a whole number from 1 to 500")
			return
		}
		f.Limit = n
	}
	var entries []audit.Entry
	var err error
	if team, ok := c.GetQuery("team_id"); ok {
		if !validID(team) {
			apiError(c, http.StatusBadRequest, reasonInvalidInput, "the team_id query parameter must be a team's id")
			return
		}
		var log teams.AuditLog
		log, err = p.d.Teams.AuditLog(c.Request.Context(), teamsActor(c), team, f.Limit)
		if errors.Is(err, teams.ErrNoTeam) {
			// This endpoint has always answered a team one is not in as a
			// team one does not administer: a 403 that names nothing.
			err = teams.ErrAuditAdminsOnly
		}
		if err != nil {
			p.teamFail(c, "read team audit log", err)
			return
		}
		entries = log.Entries
	} else if entries, err = p.d.Audit.Entries(c.Request.Context(), f); err != nil {
		p.fail(c, "read audit log", err)
		return
	}
	out := make([]auditBody, 0, len(entries))
	for _, e := range entries {
		detail := e.Detail
		if len(detail) == 0 {
			detail = json.RawMessage("{}")
		}
		out = append(out, auditBody{Object: "audit_entry", ID: e.ID, TeamID: e.TeamID, ActorUserID: e.ActorUserID, Actor: e.ActorLabel,
			Action: e.Action, TargetType: e.TargetType, TargetID: e.TargetID, TargetUserID: e.TargetUserID, Detail: detail,
			IP: e.IP, CreatedAt: unix(e.CreatedAt)})
	}
	c.JSON(http.StatusOK, out)
}
