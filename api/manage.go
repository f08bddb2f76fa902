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

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/oidc/clients"
	"github.com/caido-cloud/caido-cloud/pats"
	"github.com/caido-cloud/caido-cloud/regkeys"
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

func instanceJSON(i access.InstanceSummary, r instanceRights) instanceBody {
	users := i.RecentUsers
	if users == nil {
		users = []string{}
	}
	return instanceBody{Object: "instance", ID: i.ID, Name: i.Name, WorkspaceID: i.WorkspaceID, WorkspaceName: i.WorkspaceName,
		ClaimedBy: i.ClaimedBy, ClaimedAt: unix(i.ClaimedAt), AssistantEnabled: i.AssistantEnabled, LastSeenAt: unixPtr(i.LastSeenAt),
		Version: i.Version, OS: i.OS, RecentUsers: users, Rights: r}
}

// rights are the caller's rights on an instance, as OpenFGA decides them.
// Use and manage are apart: a team's admin without a seat manages the
// team's instances without using them.
func (p *publicAPI) rights(c *gin.Context, instanceID string) (instanceRights, error) {
	ctx, user, obj := c.Request.Context(), authz.UserObject(principalFrom(c).UserID), authz.InstanceObject(instanceID)
	var r instanceRights
	var err error
	if r.Manage, err = p.d.Authz.Check(ctx, user, "can_manage", obj); err != nil {
		return r, err
	}
	if r.Use, err = p.d.Authz.Check(ctx, user, "can_use", obj); err != nil || !r.Use {
		return r, err
	}
	r.UseAssistant, err = p.d.Authz.Check(ctx, user, "can_use_assistant", obj)
	return r, err
}

// instance checks the caller's right on the path's instance: "can_use"
// (here: to see it, which managing it gives too) or "can_manage". Those who
// may neither use nor manage it get 404, as for an instance that does not
// exist; users who may use but not manage it get 403. When ok is false the
// answer has been written.
func (p *publicAPI) instance(c *gin.Context, relation string) (string, bool) {
	id := c.Param("id")
	if !validID(id) {
		apiError(c, http.StatusNotFound, reasonNotFound, "no instance "+id+" that you may use")
		return id, false
	}
	manage, ok := p.check(c, "can_manage", authz.InstanceObject(id))
	if !ok || manage {
		return id, ok
	}
	use, ok := p.check(c, "can_use", authz.InstanceObject(id))
	if !ok {
		return id, false
	}
	if !use {
		apiError(c, http.StatusNotFound, reasonNotFound, "no instance "+id+" that you may use")
		return id, false
	}
	if relation == "can_use" {
		return id, true
	}
	apiError(c, http.StatusForbidden, reasonForbidden, "you may use instance "+id+" but not manage it: ask a manager of its workspace")
	return id, false
}

// writeInstance answers with the instance and the caller's rights on it.
func (p *publicAPI) writeInstance(c *gin.Context, status int, id string) {
	list, err := p.d.Access.InstancesByID(c.Request.Context(), []string{id})
	if err != nil {
		p.fail(c, "read instance", err)
		return
	}
	if len(list) == 0 {
		apiError(c, http.StatusNotFound, reasonNotFound, "no instance "+id+" that you may use")
		return
	}
	r, err := p.rights(c, id)
	if err != nil {
		p.internal(c, "access check", err)
		return
	}
	c.JSON(status, instanceJSON(list[0], r))
}

// listInstances lists the instances of the caller's workspaces (their own
// and their teams') and those shared with them, each with the caller's
// rights; only those OpenFGA lets them use or manage.
func (p *publicAPI) listInstances(c *gin.Context) {
	ctx, user := c.Request.Context(), principalFrom(c).UserID
	ws, err := p.d.Accounts.Workspaces(ctx, user)
	if err != nil {
		p.internal(c, "list workspaces", err)
		return
	}
	ids := make([]string, 0, len(ws))
	for _, w := range ws {
		ids = append(ids, w.ID)
	}
	own, err := p.d.Access.InstancesIn(ctx, ids)
	if err != nil {
		p.fail(c, "list instances", err)
		return
	}
	sharedIDs, err := p.d.Access.SharedWith(ctx, user)
	if err != nil {
		p.internal(c, "list shared instances", err)
		return
	}
	shared, err := p.d.Access.InstancesByID(ctx, sharedIDs)
	if err != nil {
		p.fail(c, "list shared instances", err)
		return
	}
	seen := map[string]bool{}
	out := []instanceBody{}
	for _, in := range append(own, shared...) {
		if seen[in.ID] {
			continue
		}
		seen[in.ID] = true
		r, err := p.rights(c, in.ID)
		if err != nil {
			p.internal(c, "access check", err)
			return
		}
		if r.Use || r.Manage {
			out = append(out, instanceJSON(in, r))
		}
	}
	c.JSON(http.StatusOK, out)
}

func (p *publicAPI) getInstance(c *gin.Context) {
	id, ok := p.instance(c, "can_use")
	if !ok {
		return
	}
	p.writeInstance(c, http.StatusOK, id)
}

// patchInstance renames and/or moves an instance. Moving needs can_manage
// on the instance and can_add_instance on the target workspace.
func (p *publicAPI) patchInstance(c *gin.Context) {
	var in struct {
		Name        *string `json:"name"`
		WorkspaceID *string `json:"workspace_id"`
	}
	if !readJSON(c, &in, true) {
		return
	}
	if in.Name == nil && in.WorkspaceID == nil {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "give name, workspace_id or both")
		return
	}
	var name string
	if in.Name != nil {
		name = strings.TrimSpace(*in.Name)
		if name == "" || len(name) > 200 {
			apiError(c, http.StatusBadRequest, reasonInvalidInput, "name must be 1 to 200 characters")
			return
		}
	}
	if in.WorkspaceID != nil && !validID(*in.WorkspaceID) {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "workspace_id must be a workspace's id")
		return
	}
	id, ok := p.instance(c, "can_manage")
	if !ok {
		return
	}
	if in.WorkspaceID != nil {
		allowed, ok := p.check(c, "can_add_instance", authz.WorkspaceObject(*in.WorkspaceID))
		if !ok {
			return
		}
		if !allowed {
			apiError(c, http.StatusForbidden, reasonForbidden, "you may not add instances to workspace "+*in.WorkspaceID+" (or it does not exist)")
			return
		}
	}
	u := access.InstanceUpdate{WorkspaceID: in.WorkspaceID}
	if in.Name != nil {
		u.Name = &name
	}
	if _, err := p.d.Access.UpdateInstance(actorContext(c, principalFrom(c).UserID), id, u); err != nil {
		p.fail(c, "update instance", err)
		return
	}
	p.writeInstance(c, http.StatusOK, id)
}

func (p *publicAPI) deleteInstance(c *gin.Context) {
	id, ok := p.instance(c, "can_manage")
	if !ok {
		return
	}
	if _, err := p.d.Access.DeleteInstance(actorContext(c, principalFrom(c).UserID), id); err != nil {
		p.fail(c, "delete instance", err)
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
}

func grantJSON(g access.GrantInfo) grantBody {
	b := grantBody{Object: "instance_grant", InstanceID: g.InstanceID, ExpiresAt: unixPtr(g.ExpiresAt), CreatedAt: unix(g.CreatedAt)}
	if g.TeamID != "" {
		b.GranteeType, b.GranteeID, b.TeamName = "team", g.TeamID, orNull(g.TeamName)
	} else {
		b.GranteeType, b.GranteeID, b.UserEmail = "user", g.UserID, orNull(g.UserEmail)
	}
	return b
}

// listGrants lists an instance's shares, for its managers.
func (p *publicAPI) listGrants(c *gin.Context) {
	id, ok := p.instance(c, "can_manage")
	if !ok {
		return
	}
	gs, err := p.d.Access.Grants(c.Request.Context(), id)
	if err != nil {
		p.fail(c, "list grants", err)
		return
	}
	c.JSON(http.StatusOK, mapJSON(gs, grantJSON))
}

// createGrant shares an instance with a user (by email) or a team (by id),
// until expires_at when given. Granting again replaces the expiry.
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
	id, ok := p.instance(c, "can_manage")
	if !ok {
		return
	}
	var to access.Grantee
	if in.UserEmail != nil {
		a, err := p.d.Access.AccountByEmail(c.Request.Context(), strings.TrimSpace(*in.UserEmail))
		if errors.Is(err, access.ErrNotFound) {
			apiError(c, http.StatusNotFound, reasonNotFound, "no account has the email "+strings.TrimSpace(*in.UserEmail))
			return
		}
		if err != nil {
			p.fail(c, "find grantee", err)
			return
		}
		to.UserID = a.ID
	} else {
		to.TeamID = *in.TeamID
	}
	user := principalFrom(c).UserID
	_, err := p.d.Access.Grant(actorContext(c, user), id, to, expires, user)
	if errors.Is(err, access.ErrNotFound) && to.TeamID != "" {
		apiError(c, http.StatusNotFound, reasonNotFound, "no team "+to.TeamID)
		return
	}
	if err != nil {
		p.fail(c, "grant", err)
		return
	}
	gs, err := p.d.Access.Grants(c.Request.Context(), id)
	if err != nil {
		p.fail(c, "list grants", err)
		return
	}
	for _, g := range gs {
		if g.UserID == to.UserID && g.TeamID == to.TeamID {
			c.JSON(http.StatusCreated, grantJSON(g))
			return
		}
	}
	p.internal(c, "read grant", errors.New("the grant just made is not there"))
}

// deleteGrant ends the grant to a user, or to a team (the path's id is the
// grantee's: a user's or a team's). The grantee's sessions on the instance
// end with it.
func (p *publicAPI) deleteGrant(c *gin.Context) {
	id, ok := p.instance(c, "can_manage")
	if !ok {
		return
	}
	grantee := c.Param("user_id")
	notFound := func() {
		apiError(c, http.StatusNotFound, reasonNotFound, "instance "+id+" has no grant to user or team "+grantee)
	}
	if !validID(grantee) {
		notFound()
		return
	}
	ctx := actorContext(c, principalFrom(c).UserID)
	ch, err := p.d.Access.Revoke(ctx, id, access.Grantee{UserID: grantee})
	if errors.Is(err, access.ErrNotFound) {
		ch, err = p.d.Access.Revoke(ctx, id, access.Grantee{TeamID: grantee})
	}
	if errors.Is(err, access.ErrNotFound) {
		notFound()
		return
	}
	if err != nil {
		p.fail(c, "revoke", err)
		return
	}
	// pending tells the caller when the revocation bound starts: at once,
	// or once OpenFGA is back and the outbox has applied it.
	c.JSON(http.StatusOK, struct {
		deletedBody
		Pending bool `json:"pending"`
	}{deletedBody{Object: "instance_grant", ID: grantee, Deleted: true}, ch.Pending})
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
	id, ok := p.instance(c, "can_manage")
	if !ok {
		return
	}
	clientID, secret, err := p.d.Clients.ResetInstanceSecret(actorContext(c, principalFrom(c).UserID), id)
	if errors.Is(err, clients.ErrNotFound) {
		apiError(c, http.StatusNotFound, reasonNotFound, "instance "+id+" has no client credentials")
		return
	}
	if err != nil {
		p.internal(c, "reset secret", err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, credentialsBody{Object: "instance_credentials", InstanceID: id, ClientID: clientID, ClientSecret: secret})
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
	id, ok := p.instance(c, "can_manage")
	if !ok {
		return
	}
	if _, err := p.d.Access.SetAssistantEnabled(actorContext(c, principalFrom(c).UserID), id, *in.Enabled); err != nil {
		p.fail(c, "switch assistant", err)
		return
	}
	p.writeInstance(c, http.StatusOK, id)
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

// listWorkspaces lists the caller's workspaces: their own and their teams'.
func (p *publicAPI) listWorkspaces(c *gin.Context) {
	ctx, user := c.Request.Context(), principalFrom(c).UserID
	ws, err := p.d.Accounts.Workspaces(ctx, user)
	if err != nil {
		p.internal(c, "list workspaces", err)
		return
	}
	out := make([]workspaceSummary, 0, len(ws))
	for _, w := range ws {
		full, err := p.d.Access.Workspace(ctx, w.ID)
		if err != nil {
			p.fail(c, "read workspace", err)
			return
		}
		s := workspaceSummary{Object: "workspace", ID: w.ID, Name: w.Name, OwnerType: "user", OwnerID: full.OwnerUserID, OwnerName: w.OwnerName}
		if full.OwnerTeamID != "" {
			s.OwnerType, s.OwnerID = "team", full.OwnerTeamID
		}
		if s.CanManage, err = p.d.Authz.Check(ctx, authz.UserObject(user), "can_manage", authz.WorkspaceObject(w.ID)); err != nil {
			p.internal(c, "access check", err)
			return
		}
		if s.CanAddInstance, err = p.d.Authz.Check(ctx, authz.UserObject(user), "can_add_instance", authz.WorkspaceObject(w.ID)); err != nil {
			p.internal(c, "access check", err)
			return
		}
		out = append(out, s)
	}
	c.JSON(http.StatusOK, out)
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

// manageWorkspace checks that the caller manages the workspace: 404 for
// those who may not view it, 403 for those who may view only. When ok is
// false the answer has been written.
func (p *publicAPI) manageWorkspace(c *gin.Context, id string) bool {
	manage, ok := p.check(c, "can_manage", authz.WorkspaceObject(id))
	if !ok || manage {
		return manage
	}
	view, ok := p.check(c, "can_view", authz.WorkspaceObject(id))
	if !ok {
		return false
	}
	if view {
		apiError(c, http.StatusForbidden, reasonForbidden, "only the managers of workspace "+id+" may see and revoke its registration keys")
	} else {
		apiError(c, http.StatusNotFound, reasonNotFound, "no workspace "+id+" that you may view")
	}
	return false
}

func (p *publicAPI) listRegistrationKeys(c *gin.Context) {
	ws := c.Query("workspace_id")
	if !validID(ws) {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "the workspace_id query parameter must be a workspace's id")
		return
	}
	if !p.manageWorkspace(c, ws) {
		return
	}
	keys, err := p.d.RegKeys.List(c.Request.Context(), ws)
	if err != nil {
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
	ctx := actorContext(c, user)
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
	err := p.d.RegKeys.RevokeFor(actorContext(c, principalFrom(c).UserID), principalFrom(c).UserID, id)
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
// its admins).
func (p *publicAPI) listPATs(c *gin.Context) {
	ctx, user := c.Request.Context(), principalFrom(c).UserID
	var list []pats.Token
	var err error
	if team, ok := c.GetQuery("team_id"); ok {
		if !validID(team) {
			apiError(c, http.StatusBadRequest, reasonInvalidInput, "the team_id query parameter must be a team's id")
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
	user := principalFrom(c).UserID
	n := pats.NewToken{UserID: user, Name: *in.Name, ExpiresAt: expires}
	if in.TeamID != nil {
		n.TeamID = *in.TeamID
	}
	secret, t, err := p.d.PATs.Create(actorContext(c, user), n)
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
		err = p.d.PATs.Revoke(actorContext(c, user), user, id)
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
// team's admins. The owner keeps the owner role; their seat changes here
// like anyone's.
func (p *publicAPI) patchTeamUser(c *gin.Context) {
	var in struct {
		Role    *string `json:"role"`
		UseSeat *bool   `json:"use_seat"`
	}
	if !readJSON(c, &in, true) {
		return
	}
	if in.Role == nil && in.UseSeat == nil {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "give role (admin or member), use_seat or both")
		return
	}
	if in.Role != nil && *in.Role != string(access.RoleAdmin) && *in.Role != string(access.RoleMember) {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "role must be admin or member")
		return
	}
	m, ok := p.teamAdmin(c)
	if !ok {
		return
	}
	target, ok := p.member(c, m.Team.ID, c.Param("user_id"))
	if !ok {
		return
	}
	if target.Role == access.RoleOwner && in.Role != nil {
		apiError(c, http.StatusConflict, reasonConflict, "the team's owner keeps the owner role; only their seat (use_seat) changes here")
		return
	}
	role, useSeat := target.Role, target.UseSeat
	if in.Role != nil {
		role = access.Role(*in.Role)
	}
	if in.UseSeat != nil {
		useSeat = *in.UseSeat
	}
	if _, err := p.d.Access.UpdateMember(actorContext(c, principalFrom(c).UserID), m.Team.ID, target.UserID, role, useSeat); err != nil {
		p.fail(c, "update member", err)
		return
	}
	updated, ok := p.member(c, m.Team.ID, target.UserID)
	if !ok {
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
	user := principalFrom(c).UserID
	t, _, err := p.d.Access.CreateTeam(actorContext(c, user), user, *in.Name, *in.BillingEmail)
	if err != nil {
		p.fail(c, "create team", err)
		return
	}
	ms, err := p.d.Access.Memberships(c.Request.Context(), user)
	if err != nil {
		p.internal(c, "read memberships", err)
		return
	}
	for _, m := range ms {
		if m.Team.ID == t.ID {
			c.JSON(http.StatusCreated, teamJSON(m.Team))
			return
		}
	}
	p.internal(c, "read team", errors.New("the team just made is not among the caller's"))
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
// admins), else those the caller made or that concern them.
func (p *publicAPI) auditLog(c *gin.Context) {
	f := access.AuditFilter{UserID: principalFrom(c).UserID, Limit: 100}
	if s, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			apiError(c, http.StatusBadRequest, reasonInvalidInput, "limit must be a whole number from 1 to 500")
			return
		}
		f.Limit = n
	}
	if team, ok := c.GetQuery("team_id"); ok {
		if !validID(team) {
			apiError(c, http.StatusBadRequest, reasonInvalidInput, "the team_id query parameter must be a team's id")
			return
		}
		allowed, ok := p.check(c, "can_manage_members", authz.TeamObject(team))
		if !ok {
			return
		}
		if !allowed {
			apiError(c, http.StatusForbidden, reasonForbidden, "only the team's admins may read its audit log")
			return
		}
		f.TeamID = team
	}
	entries, err := p.d.Access.AuditLog(c.Request.Context(), f)
	if err != nil {
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
