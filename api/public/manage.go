package public

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/input"
	"github.com/caido-cloud/caido-cloud/sharing"
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
	// Seconds and nanoseconds apart: n*1e9 overflows int64 past 2262.
	sec, frac := math.Modf(n)
	at := time.Unix(int64(sec), int64(frac*1e9)).UTC()
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
	if in.TeamID != nil && !input.ID(*in.TeamID) {
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
