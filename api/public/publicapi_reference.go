package public

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/teams"
)

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
