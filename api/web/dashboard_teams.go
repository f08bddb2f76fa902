package web

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

	"github.com/caido-cloud/caido-cloud/audit"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/pats"
	"github.com/caido-cloud/caido-cloud/teams"
)

// invitationPath is the page where an invited person accepts: the link
// teams.Service mails.
const invitationPath = teams.InvitationPath

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

func newDashTeamView(sess accounts.Session, t teams.View) *dashTeamView {
	return &dashTeamView{Team: t.Team, Role: t.Role, Admin: t.Admin, Me: sess.Account.ID, Members: t.Members, Sub: t.Subscription,
		Invitations: t.Invitations, Tokens: t.Tokens, Now: time.Now(), InviteRole: access.RoleMember}
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

// teamActor is the signed-in user as teams.Service knows them: a browser
// session belongs to no team's token.
func teamActor(sess accounts.Session) teams.Actor { return teams.Actor{UserID: sess.Account.ID} }

// teamAnswer is how the pages answer an error of teams.Service: a message
// page (Heading set), or the form's page again with Text above it. A zero
// Status is no refusal but a failure of ours.
type teamAnswer struct {
	Status        int
	Heading, Text string
	RetryAfter    string
}

// teamRefusal is the pages' one mapping of teams.Service's errors; action
// ("invite", "update", "create", or "" for the others) picks the words that
// say what was not done.
func teamRefusal(action string, err error) teamAnswer {
	var (
		noCurrent *teams.NoCurrentTeamError
		noMember  *teams.NoMemberError
		noInv     *teams.NoInvitationError
		invalid   *teams.InvalidError
		already   *teams.AlreadyMemberError
		noSeat    *teams.NoSeatError
	)
	switch {
	case errors.Is(err, teams.ErrNoTeam), errors.As(err, &noCurrent), errors.Is(err, teams.ErrOutsideTeam):
		return teamAnswer{Status: http.StatusNotFound, Heading: "No such team",
			Text: "There is no team of yours here. If you were removed from it, ask one of its admins."}
	case errors.Is(err, teams.ErrAdminsOnly):
		return teamAnswer{Status: http.StatusForbidden, Heading: "Only admins may do this",
			Text: "Only the team's admins may change its members and invitations: ask one of them. Nothing was changed."}
	case errors.Is(err, teams.ErrAuditAdminsOnly):
		return teamAnswer{Status: http.StatusForbidden, Heading: "Only admins see the audit log",
			Text: "The team's audit log is for its admins: ask one of them."}
	case errors.Is(err, teams.ErrRole) && action == "invite":
		return teamAnswer{Status: http.StatusBadRequest, Text: "Pick the role: admin or member. No invitation was sent."}
	case errors.Is(err, teams.ErrRole), errors.Is(err, teams.ErrNoChange):
		return teamAnswer{Status: http.StatusBadRequest, Text: "Pick the role: admin or member (the owner stays owner). Nothing was changed."}
	case errors.As(err, &invalid) && invalid.Field == "name":
		return teamAnswer{Status: http.StatusBadRequest, Text: "Name the team (1 to 200 characters). No team was created."}
	case errors.As(err, &invalid) && invalid.Field == "billing_email":
		return teamAnswer{Status: http.StatusBadRequest, Text: "Enter the billing email as an address like billing@example.com. No team was created."}
	case errors.As(err, &invalid):
		return teamAnswer{Status: http.StatusBadRequest, Text: "Enter one email address, like name@example.com. No invitation was sent."}
	case errors.As(err, &already):
		return teamAnswer{Status: http.StatusConflict, Text: already.Email + " is already a member of the team. No invitation was sent."}
	case errors.As(err, &noSeat) && action == "invite":
		return teamAnswer{Status: http.StatusConflict, Text: dashNoSeat(noSeat.Subscription,
			"No invitation was sent: invite without a seat, or free a seat first (open invitations with a seat hold one).")}
	case errors.As(err, &noSeat):
		return teamAnswer{Status: http.StatusConflict, Text: dashNoSeat(noSeat.Subscription, "Free a seat first; nothing was changed.")}
	case errors.Is(err, teams.ErrMailNotSent):
		return teamAnswer{Status: http.StatusServiceUnavailable, RetryAfter: "60",
			Text: "The invitation mail could not be sent, so no invitation was made. Try again in a moment."}
	case errors.As(err, &noInv):
		return teamAnswer{Status: http.StatusNotFound,
			Text: "That invitation is no longer open: it was accepted or withdrawn already. Nothing was changed."}
	case errors.As(err, &noMember):
		return teamAnswer{Status: http.StatusNotFound, Text: "That person is not a member of the team. Nothing was changed."}
	case errors.Is(err, teams.ErrOwnerStays):
		return teamAnswer{Status: http.StatusBadRequest, Text: "The team's owner keeps the owner role. Nothing was changed."}
	case errors.Is(err, teams.ErrOwnerNotRemoved):
		return teamAnswer{Status: http.StatusBadRequest, Text: "The team's owner cannot be removed. Nothing was changed."}
	}
	return teamAnswer{}
}

// dashNoSeat says that the seats are full, with their count.
func dashNoSeat(sub *access.Subscription, then string) string {
	if sub == nil {
		return "The team has no subscription, so no seats. " + then
	}
	return fmt.Sprintf("All %d seats of the team's subscription are taken. %s", sub.Seats, then)
}

// teamFailed answers an error of a team page's form: a message page, or
// the team's page again with the refusal above the form, prefilled as
// typed.
func (h *dashHandlers) teamFailed(c *gin.Context, sess accounts.Session, action string, err error, prefill func(*dashTeamView)) {
	a := teamRefusal(action, err)
	switch {
	case a.Status == 0:
		h.unavailable(c, err)
		return
	case a.Heading != "":
		h.message(c, a.Status, a.Heading, a.Text)
		return
	}
	t, err := h.teams.View(c.Request.Context(), teamActor(sess), c.Param("id"))
	if err != nil {
		h.teamFailed(c, sess, "", err, nil) // a message page: no form is shown on none
		return
	}
	v := newDashTeamView(sess, t)
	if prefill != nil {
		prefill(v)
	}
	if a.RetryAfter != "" {
		c.Header("Retry-After", a.RetryAfter)
	}
	h.renderTeam(c, a.Status, v, a.Text)
}

func (h *dashHandlers) teamPage(c *gin.Context) {
	sess, ok := h.signedIn(c, "")
	if !ok {
		return
	}
	t, err := h.teams.View(c.Request.Context(), teamActor(sess), c.Param("id"))
	if err != nil {
		h.teamFailed(c, sess, "", err, nil)
		return
	}
	h.renderTeam(c, http.StatusOK, newDashTeamView(sess, t), "")
}

func (h *dashHandlers) renderTeam(c *gin.Context, status int, v *dashTeamView, errMsg string) {
	h.page(c, status, "team", v.Team.Name, v, errMsg)
}

// teamForm is form for the forms of a team's page.
func (h *dashHandlers) teamForm(c *gin.Context) (accounts.Session, bool) {
	return h.form(c, "/teams/"+url.PathEscape(c.Param("id")))
}

func (h *dashHandlers) invite(c *gin.Context) {
	sess, ok := h.teamForm(c)
	if !ok {
		return
	}
	in := teams.NewInvitation{Email: strings.TrimSpace(c.PostForm("email")), Role: access.Role(c.PostForm("role")),
		UseSeat: c.PostForm("use_seat") == "on"}
	_, err := h.teams.Invite(httpx.ActorContext(c, sess.Account.ID), teamActor(sess), c.Param("id"), in)
	if err != nil {
		h.teamFailed(c, sess, "invite", err, func(v *dashTeamView) {
			v.InviteEmail, v.InviteRole, v.InviteSeat = in.Email, in.Role, in.UseSeat
		})
		return
	}
	dashDone(c, "/teams/"+c.Param("id"), "invited", access.Change{})
}

func (h *dashHandlers) deleteInvitation(c *gin.Context) {
	sess, ok := h.teamForm(c)
	if !ok {
		return
	}
	if err := h.teams.Withdraw(httpx.ActorContext(c, sess.Account.ID), teamActor(sess), c.Param("id"), c.Param("invitation")); err != nil {
		h.teamFailed(c, sess, "", err, nil)
		return
	}
	dashDone(c, "/teams/"+c.Param("id"), "invitation-deleted", access.Change{})
}

// updateMember sets a member's role and seat: the page's form always sends
// both.
func (h *dashHandlers) updateMember(c *gin.Context) {
	sess, ok := h.teamForm(c)
	if !ok {
		return
	}
	role, seat := access.Role(c.PostForm("role")), c.PostForm("use_seat") == "on"
	_, ch, err := h.teams.UpdateMember(httpx.ActorContext(c, sess.Account.ID), teamActor(sess), c.Param("id"), c.Param("user"),
		teams.MemberChange{Role: &role, UseSeat: &seat})
	if err != nil {
		h.teamFailed(c, sess, "update", err, nil)
		return
	}
	dashDone(c, "/teams/"+c.Param("id"), "member-updated", ch)
}

func (h *dashHandlers) removeMember(c *gin.Context) {
	sess, ok := h.teamForm(c)
	if !ok {
		return
	}
	ch, err := h.teams.RemoveMember(httpx.ActorContext(c, sess.Account.ID), teamActor(sess), c.Param("id"), c.Param("user"))
	if err != nil {
		h.teamFailed(c, sess, "", err, nil)
		return
	}
	if c.Param("user") == sess.Account.ID {
		// They left: the team's page is no longer theirs.
		dashDone(c, "/", "member-removed", ch)
		return
	}
	dashDone(c, "/teams/"+c.Param("id"), "member-removed", ch)
}

// dashAuditView is a team's audit log.
type dashAuditView struct {
	Team    access.TeamInfo
	Entries []audit.Entry
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
func (v *dashAuditView) Detail(e audit.Entry) string {
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
	log, err := h.teams.AuditLog(c.Request.Context(), teamActor(sess), c.Param("id"), 200)
	if err != nil {
		h.teamFailed(c, sess, "", err, nil)
		return
	}
	h.page(c, http.StatusOK, "audit", "Audit log of "+log.Team.Name, &dashAuditView{Team: log.Team, Entries: log.Entries, members: log.Members}, "")
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
		_, err := h.teams.Team(c.Request.Context(), teamActor(sess), v.Inv.TeamID)
		switch {
		case errors.Is(err, teams.ErrNoTeam):
		case err != nil:
			h.unavailable(c, err)
			return
		default:
			v.Member = true
		}
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
	inv, ch, err := h.access.AcceptInvitation(httpx.ActorContext(c, sess.Account.ID), token, sess.Account.ID)
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
