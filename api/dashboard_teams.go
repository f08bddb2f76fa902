package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/pats"
)

// dashTeamView is a team's page: its members, subscription, invitations
// and tokens.
type dashTeamView struct {
	Team access.TeamInfo
	// Role is the viewer's; Admin is whether OpenFGA lets them manage the
	// members (can_manage_members).
	Role        access.Role
	Admin       bool
	Me          string
	Members     []access.Member
	Sub         *access.Subscription
	Invitations []access.Invitation
	Tokens      []pats.Token
	Now         time.Time
	// What was typed in the invitation form.
	InviteEmail string
	InviteRole  access.Role
	InviteSeat  bool
}

// Held is how many seats open invitations hold.
func (v *dashTeamView) Held() int {
	n := 0
	for _, i := range v.Invitations {
		if i.UseSeat && !i.Expired(v.Now) {
			n++
		}
	}
	return n
}

// SeatsFull says whether every seat is taken.
func (v *dashTeamView) SeatsFull() bool {
	return v.Sub == nil || v.Sub.SeatsUsed+v.Held() >= v.Sub.Seats
}

// Email names a member by id (a token's owner), or says they left.
func (v *dashTeamView) Email(userID string) string {
	for _, m := range v.Members {
		if m.UserID == userID {
			return m.Email
		}
	}
	return "a former member"
}

// team finds the team of the URL and the viewer's place in it. A team the
// viewer is not a member of is not found, whether it exists or not. When
// ok is false the answer has been written.
func (h *dashHandlers) team(c *gin.Context, sess accounts.Session) (v *dashTeamView, ok bool) {
	id := c.Param("id")
	if _, err := uuid.Parse(id); err != nil {
		h.noTeam(c)
		return nil, false
	}
	member, err := h.can(c, sess, "member", authz.TeamObject(id))
	if err != nil {
		h.unavailable(c, err)
		return nil, false
	}
	if !member {
		h.noTeam(c)
		return nil, false
	}
	ms, err := h.access.Memberships(c.Request.Context(), sess.Account.ID)
	if err != nil {
		h.unavailable(c, err)
		return nil, false
	}
	v = &dashTeamView{Me: sess.Account.ID, Now: time.Now(), InviteRole: access.RoleMember}
	for _, m := range ms {
		if m.Team.ID == id {
			v.Team, v.Role = m.Team, m.Role
		}
	}
	if v.Team.ID == "" { // OpenFGA still has a membership that has just ended
		h.noTeam(c)
		return nil, false
	}
	if v.Admin, err = h.can(c, sess, "can_manage_members", authz.TeamObject(id)); err != nil {
		h.unavailable(c, err)
		return nil, false
	}
	return v, true
}

func (h *dashHandlers) noTeam(c *gin.Context) {
	h.message(c, http.StatusNotFound, "No such team",
		"There is no team of yours here. If you were removed from it, ask one of its admins.")
}

// admin is team for the team's changes: only its admins may make them.
func (h *dashHandlers) admin(c *gin.Context) (accounts.Session, *dashTeamView, bool) {
	sess, ok := h.form(c, "/teams/"+url.PathEscape(c.Param("id")))
	if !ok {
		return sess, nil, false
	}
	v, ok := h.team(c, sess)
	if !ok {
		return sess, nil, false
	}
	if !v.Admin {
		h.bad(c, http.StatusForbidden, "Only admins may do this",
			"Only the team's admins may change its members and invitations: ask one of them.")
		return sess, nil, false
	}
	return sess, v, true
}

func (h *dashHandlers) teamPage(c *gin.Context) {
	sess, ok := h.signedIn(c, "")
	if !ok {
		return
	}
	v, ok := h.team(c, sess)
	if !ok {
		return
	}
	h.renderTeam(c, http.StatusOK, v, "")
}

func (h *dashHandlers) renderTeam(c *gin.Context, status int, v *dashTeamView, errMsg string) {
	ctx := c.Request.Context()
	var err error
	if v.Members, err = h.access.Members(ctx, v.Team.ID); err != nil {
		h.unavailable(c, err)
		return
	}
	sub, err := h.access.TeamSubscription(ctx, v.Team.ID)
	switch {
	case errors.Is(err, access.ErrNotFound):
	case err != nil:
		h.unavailable(c, err)
		return
	default:
		v.Sub = &sub
	}
	if v.Admin {
		if v.Invitations, err = h.access.Invitations(ctx, v.Team.ID); err != nil {
			h.unavailable(c, err)
			return
		}
		if h.deps.PATs != nil {
			v.Tokens, err = h.deps.PATs.ListForTeam(ctx, v.Me, v.Team.ID)
			if err != nil && !errors.Is(err, pats.ErrForbidden) {
				h.unavailable(c, err)
				return
			}
		}
	}
	h.page(c, status, "team", v.Team.Name, v, errMsg)
}

func (h *dashHandlers) invite(c *gin.Context) {
	sess, v, ok := h.admin(c)
	if !ok {
		return
	}
	v.InviteEmail = strings.TrimSpace(c.PostForm("email"))
	v.InviteRole = access.Role(c.PostForm("role"))
	v.InviteSeat = c.PostForm("use_seat") == "on"
	if v.InviteRole != access.RoleAdmin && v.InviteRole != access.RoleMember {
		h.renderTeam(c, http.StatusBadRequest, v, "Pick the role: admin or member. No invitation was sent.")
		return
	}
	_, err := inviteByMail(actorContext(c, sess.Account.ID), h.deps, v.Team.ID, v.InviteEmail, v.InviteRole, v.InviteSeat, sess.Account.Name)
	switch {
	case errors.Is(err, access.ErrInvalid):
		h.renderTeam(c, http.StatusBadRequest, v, "Enter one email address, like name@example.com. No invitation was sent.")
		return
	case errors.Is(err, access.ErrConflict):
		h.renderTeam(c, http.StatusConflict, v, v.InviteEmail+" is already a member of the team. No invitation was sent.")
		return
	case errors.Is(err, access.ErrNoSeat):
		h.renderTeam(c, http.StatusConflict, v, h.noSeat(c, v, "No invitation was sent: invite without a seat, or free a seat first (open invitations with a seat hold one)."))
		return
	case errors.Is(err, errInvitationNotSent):
		c.Header("Retry-After", "60")
		h.renderTeam(c, http.StatusServiceUnavailable, v, "The invitation mail could not be sent, so no invitation was made. Try again in a moment.")
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	dashDone(c, "/teams/"+v.Team.ID, "invited", access.Change{})
}

// noSeat says that the seats are full, with their count.
func (h *dashHandlers) noSeat(c *gin.Context, v *dashTeamView, then string) string {
	sub, err := h.access.TeamSubscription(c.Request.Context(), v.Team.ID)
	if err != nil {
		return "The team has no subscription, so no seats. " + then
	}
	return fmt.Sprintf("All %d seats of the team's subscription are taken. %s", sub.Seats, then)
}

func (h *dashHandlers) deleteInvitation(c *gin.Context) {
	sess, v, ok := h.admin(c)
	if !ok {
		return
	}
	err := h.access.DeleteInvitation(actorContext(c, sess.Account.ID), v.Team.ID, c.Param("invitation"))
	switch {
	case errors.Is(err, access.ErrNotFound):
		h.renderTeam(c, http.StatusNotFound, v, "That invitation is no longer open: it was accepted or withdrawn already. Nothing was changed.")
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	dashDone(c, "/teams/"+v.Team.ID, "invitation-deleted", access.Change{})
}

func (h *dashHandlers) updateMember(c *gin.Context) {
	sess, v, ok := h.admin(c)
	if !ok {
		return
	}
	role := access.Role(c.PostForm("role"))
	// The owner's row offers only the seat, and says role=owner.
	owner := false
	if role == access.RoleOwner {
		members, err := h.access.Members(c.Request.Context(), v.Team.ID)
		if err != nil {
			h.unavailable(c, err)
			return
		}
		owner = slices.ContainsFunc(members, func(m access.Member) bool { return m.UserID == c.Param("user") && m.Role == access.RoleOwner })
	}
	if role != access.RoleAdmin && role != access.RoleMember && !owner {
		h.renderTeam(c, http.StatusBadRequest, v, "Pick the role: admin or member (the owner stays owner). Nothing was changed.")
		return
	}
	ch, err := h.access.UpdateMember(actorContext(c, sess.Account.ID), v.Team.ID, c.Param("user"), role, c.PostForm("use_seat") == "on")
	switch {
	case errors.Is(err, access.ErrNotFound):
		h.renderTeam(c, http.StatusNotFound, v, "That person is not a member of the team. Nothing was changed.")
		return
	case errors.Is(err, access.ErrInvalid):
		h.renderTeam(c, http.StatusBadRequest, v, "The team's owner keeps the owner role. Nothing was changed.")
		return
	case errors.Is(err, access.ErrNoSeat):
		h.renderTeam(c, http.StatusConflict, v, h.noSeat(c, v, "Free a seat first; nothing was changed."))
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	dashDone(c, "/teams/"+v.Team.ID, "member-updated", ch)
}

func (h *dashHandlers) removeMember(c *gin.Context) {
	sess, v, ok := h.admin(c)
	if !ok {
		return
	}
	ch, err := h.access.RemoveTeamMember(actorContext(c, sess.Account.ID), v.Team.ID, c.Param("user"))
	switch {
	case errors.Is(err, access.ErrNotFound):
		h.renderTeam(c, http.StatusNotFound, v, "That person is not a member of the team. Nothing was changed.")
		return
	case errors.Is(err, access.ErrInvalid):
		h.renderTeam(c, http.StatusBadRequest, v, "The team's owner cannot be removed. Nothing was changed.")
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	if c.Param("user") == sess.Account.ID {
		// They left: the team's page is no longer theirs.
		dashDone(c, "/", "member-removed", ch)
		return
	}
	dashDone(c, "/teams/"+v.Team.ID, "member-removed", ch)
}

// dashAuditView is a team's audit log.
type dashAuditView struct {
	Team    access.TeamInfo
	Entries []access.AuditEntry
	members []access.Member
}

// Who names the user an entry concerns, when known.
func (v *dashAuditView) Who(id *string) string {
	if id == nil {
		return ""
	}
	for _, m := range v.members {
		if m.UserID == *id {
			return m.Email
		}
	}
	return ""
}

// Detail is an entry's detail as "key: value" pairs (it holds no secret).
func (v *dashAuditView) Detail(e access.AuditEntry) string {
	var d map[string]any
	if json.Unmarshal(e.Detail, &d) != nil {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(d)) {
		if d[k] == nil || d[k] == "" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %v", strings.ReplaceAll(k, "_", " "), d[k]))
	}
	return strings.Join(parts, ", ")
}

func (h *dashHandlers) auditPage(c *gin.Context) {
	sess, ok := h.signedIn(c, "")
	if !ok {
		return
	}
	t, ok := h.team(c, sess)
	if !ok {
		return
	}
	if !t.Admin {
		h.message(c, http.StatusForbidden, "Only admins see the audit log", "The team's audit log is for its admins: ask one of them.")
		return
	}
	ctx := c.Request.Context()
	v := &dashAuditView{Team: t.Team}
	var err error
	if v.Entries, err = h.access.AuditLog(ctx, access.AuditFilter{TeamID: t.Team.ID, Limit: 200}); err == nil {
		v.members, err = h.access.Members(ctx, t.Team.ID)
	}
	if err != nil {
		h.unavailable(c, err)
		return
	}
	h.page(c, http.StatusOK, "audit", "Audit log of "+t.Team.Name, v, "")
}

// dashInvitationView is the page of an invitation's link.
type dashInvitationView struct {
	Inv     access.Invitation
	Token   string
	Expired bool
	// Next is this page, for signing in or up and coming back.
	Next string
	// For a signed-in viewer: their address is not the invited one; they
	// are a member already.
	WrongEmail, Member bool
}

// invitation finds the invitation of the link's token. When ok is false
// the answer has been written.
func (h *dashHandlers) invitation(c *gin.Context, token string) (*dashInvitationView, bool) {
	if token == "" || len(token) > 100 {
		h.unknownInvitation(c)
		return nil, false
	}
	inv, err := h.access.InvitationByToken(c.Request.Context(), token)
	if errors.Is(err, access.ErrNotFound) {
		h.unknownInvitation(c)
		return nil, false
	}
	if err != nil {
		h.unavailable(c, err)
		return nil, false
	}
	return &dashInvitationView{Inv: inv, Token: token, Expired: inv.Expired(time.Now()),
		Next: invitationPath + "?token=" + url.QueryEscape(token)}, true
}

func (h *dashHandlers) unknownInvitation(c *gin.Context) {
	h.message(c, http.StatusNotFound, "This invitation link does not work",
		"The link is not a valid invitation: it may have been accepted already, withdrawn, replaced by a newer invitation, or copied incompletely. Ask the team's admin to invite you again.")
}

func (h *dashHandlers) invitationPage(c *gin.Context) {
	v, ok := h.invitation(c, c.Query("token"))
	if !ok {
		return
	}
	status := http.StatusOK
	if v.Expired {
		status = http.StatusGone
	}
	if sess, ok := webSession(c); ok {
		v.WrongEmail = !strings.EqualFold(sess.Account.Email, v.Inv.Email)
		member, err := h.can(c, sess, "member", authz.TeamObject(v.Inv.TeamID))
		if err != nil {
			h.unavailable(c, err)
			return
		}
		v.Member = member
	}
	h.page(c, status, "invitation", "Invitation to "+v.Inv.TeamName, v, "")
}

func (h *dashHandlers) acceptInvitation(c *gin.Context) {
	token := c.PostForm("token")
	sess, ok := h.form(c, invitationPath+"?token="+url.QueryEscape(token))
	if !ok {
		return
	}
	v, ok := h.invitation(c, token)
	if !ok {
		return
	}
	inv, ch, err := h.access.AcceptInvitation(actorContext(c, sess.Account.ID), token, sess.Account.ID)
	switch {
	case errors.Is(err, access.ErrNotFound):
		h.unknownInvitation(c)
		return
	case errors.Is(err, access.ErrExpired):
		v.Expired = true
		h.page(c, http.StatusGone, "invitation", "Invitation to "+v.Inv.TeamName, v, "")
		return
	case errors.Is(err, access.ErrInvalid):
		v.WrongEmail = true
		h.page(c, http.StatusForbidden, "invitation", "Invitation to "+v.Inv.TeamName, v,
			fmt.Sprintf("This invitation is for %s, and you are signed in as %s. Sign out, then sign in (or sign up) with %s to accept it.",
				v.Inv.Email, sess.Account.Email, v.Inv.Email))
		return
	case errors.Is(err, access.ErrConflict):
		v.Member = true
		h.page(c, http.StatusConflict, "invitation", "Invitation to "+v.Inv.TeamName, v, "You are already a member of "+v.Inv.TeamName+".")
		return
	case errors.Is(err, access.ErrNoSeat):
		h.page(c, http.StatusConflict, "invitation", "Invitation to "+v.Inv.TeamName, v,
			"The team has no seat left for you now. Ask its admin to free one, or to invite you without a seat. Nothing was changed.")
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	if ch.Pending {
		c.Header("Retry-After", "5")
		h.message(c, http.StatusAccepted, "Welcome to "+inv.TeamName,
			"You are now a member of "+inv.TeamName+", but your access is still being set up. The team's page opens from your account page in a few seconds.")
		return
	}
	dashDone(c, "/teams/"+inv.TeamID, "joined", ch)
}
