package public

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/caido-cloud/caido-cloud/audit"
	"github.com/caido-cloud/caido-cloud/input"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/teams"
)

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
		if !input.ID(team) {
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
