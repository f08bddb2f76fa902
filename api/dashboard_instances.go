package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/approval"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/oidc/clients"
)

// dashInstance is an instance as the pages list it.
type dashInstance struct {
	access.InstanceSummary
	// Owner names who owns its workspace: "yours", "team Red", or a user's name.
	Owner string
	Alive bool
	// Shared: the viewer may use it through a grant, not a workspace of theirs.
	Shared bool
}

func newDashInstance(in access.InstanceSummary, now time.Time, shared bool) dashInstance {
	return dashInstance{InstanceSummary: in, Alive: in.Alive(now), Shared: shared}
}

// dashOwner names a workspace's owner as the pages show it: "yours",
// "team Red", or another user's name.
func dashOwner(w accounts.Workspace, mine bool) string {
	switch {
	case w.Team:
		return "team " + w.OwnerName
	case mine:
		return "yours"
	}
	return w.OwnerName
}

// owner names the owner of an instance's workspace.
func (h *dashHandlers) owner(c *gin.Context, sess accounts.Session, instanceID string) (string, error) {
	in, err := h.accounts.Instance(c.Request.Context(), instanceID)
	if err != nil {
		return "", err
	}
	return dashOwner(in.Workspace, strings.EqualFold(in.Workspace.OwnerEmail, sess.Account.Email)), nil
}

// dashInstancesView is the instances page.
type dashInstancesView struct {
	Instances []dashInstance
}

func (h *dashHandlers) instancesPage(c *gin.Context) {
	sess, ok := h.signedIn(c, "")
	if !ok {
		return
	}
	ctx := c.Request.Context()
	ws, err := h.workspaces(c, sess)
	if err != nil {
		h.unavailable(c, err)
		return
	}
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = w.ID
	}
	own, err := h.access.InstancesIn(ctx, ids)
	if err != nil {
		h.unavailable(c, err)
		return
	}
	now := time.Now()
	v := &dashInstancesView{}
	for _, in := range own {
		d := newDashInstance(in, now, false)
		for _, w := range ws {
			if w.ID == in.WorkspaceID {
				d.Owner = dashOwner(w.Workspace, true) // a personal workspace listed is theirs
			}
		}
		v.Instances = append(v.Instances, d)
	}
	sharedIDs, err := h.access.SharedWith(ctx, sess.Account.ID)
	if err != nil {
		h.unavailable(c, err)
		return
	}
	sharedIDs = slices.DeleteFunc(sharedIDs, func(id string) bool {
		return slices.ContainsFunc(own, func(in access.InstanceSummary) bool { return in.ID == id })
	})
	shared, err := h.access.InstancesByID(ctx, sharedIDs)
	if err != nil {
		h.unavailable(c, err)
		return
	}
	for _, in := range shared {
		// The grant's tuple decides, expiry included.
		ok, err := h.can(c, sess, "can_use", authz.InstanceObject(in.ID))
		if err != nil {
			h.unavailable(c, err)
			return
		}
		if ok {
			d := newDashInstance(in, now, true)
			if d.Owner, err = h.owner(c, sess, in.ID); err != nil {
				h.unavailable(c, err)
				return
			}
			v.Instances = append(v.Instances, d)
		}
	}
	h.page(c, http.StatusOK, "instances", "Instances", v, "")
}

// dashInstanceView is one instance's page.
type dashInstanceView struct {
	In dashInstance
	// Manage: the viewer may manage the instance (can_manage); then the
	// page shows its shares and the forms that change it.
	Manage bool
	Grants []access.GrantInfo
	// Targets are the workspaces it may move to: those the viewer may add
	// instances to, but its own.
	Targets []accounts.Workspace
	// ShareTeams are the viewer's teams, which the instance may be shared
	// with as a whole.
	ShareTeams []access.TeamInfo
	// Secret is the new client secret, shown once after a reset.
	Secret *dashSecret
	// What was typed in the forms.
	Name, GrantEmail, GrantUntil, GrantTeam string
}

// instance finds the instance of the URL if the viewer may use or manage
// it (a team's admin manages its instances without a seat): any other is
// not found, whether it exists or not, but for a team's member without a
// seat, who is told to ask for one. When ok is false the answer has been
// written.
func (h *dashHandlers) instance(c *gin.Context, sess accounts.Session) (*dashInstanceView, bool) {
	id := c.Param("id")
	if _, err := uuid.Parse(id); err != nil {
		h.noInstance(c)
		return nil, false
	}
	use, err := h.can(c, sess, "can_use", authz.InstanceObject(id))
	if err == nil && !use {
		use, err = h.can(c, sess, "can_manage", authz.InstanceObject(id))
	}
	if err != nil {
		h.unavailable(c, err)
		return nil, false
	}
	if !use {
		h.noInstanceOrSeat(c, sess, id)
		return nil, false
	}
	found, err := h.access.InstancesByID(c.Request.Context(), []string{id})
	if err != nil {
		h.unavailable(c, err)
		return nil, false
	}
	if len(found) != 1 {
		h.noInstance(c)
		return nil, false
	}
	v := &dashInstanceView{}
	if v.Manage, err = h.can(c, sess, "can_manage", authz.InstanceObject(id)); err != nil {
		h.unavailable(c, err)
		return nil, false
	}
	view, err := h.can(c, sess, "can_view", authz.WorkspaceObject(found[0].WorkspaceID))
	if err != nil {
		h.unavailable(c, err)
		return nil, false
	}
	v.In = newDashInstance(found[0], time.Now(), !view)
	if v.In.Owner, err = h.owner(c, sess, id); err != nil {
		h.unavailable(c, err)
		return nil, false
	}
	v.Name = v.In.Name
	return v, true
}

// noInstanceOrSeat is noInstance, unless the instance is in the workspace
// of a team the viewer is a member of: then what they lack is a seat.
func (h *dashHandlers) noInstanceOrSeat(c *gin.Context, sess accounts.Session, id string) {
	in, err := h.accounts.Instance(c.Request.Context(), id)
	if err != nil || !in.Claimed || !in.Workspace.Team {
		h.noInstance(c)
		return
	}
	member, err := h.can(c, sess, "can_view", authz.WorkspaceObject(in.Workspace.ID))
	if err != nil || !member {
		h.noInstance(c)
		return
	}
	h.message(c, http.StatusForbidden, "You need a seat",
		fmt.Sprintf("%s is in the workspace of the team %s, and using a team's instances takes a seat of its subscription: ask %s for a seat.",
			in.Name, in.Workspace.OwnerName, askWho(approval.Request{Instance: in}.Owner())))
}

func (h *dashHandlers) noInstance(c *gin.Context) {
	h.message(c, http.StatusNotFound, "No such instance",
		"There is no instance here that you may use. If it was shared with you, the share may have ended: ask whoever manages it.")
}

// manage is instance for the instance's changes: only those who may manage
// it may make them. When ok is false the answer has been written.
func (h *dashHandlers) manage(c *gin.Context) (accounts.Session, *dashInstanceView, bool) {
	sess, ok := h.form(c, "/instances/"+c.Param("id"))
	if !ok {
		return sess, nil, false
	}
	v, ok := h.instance(c, sess)
	if !ok {
		return sess, nil, false
	}
	if !v.Manage {
		h.bad(c, http.StatusForbidden, "Only its managers may do this",
			"Only those who manage the instance's workspace may change it: ask "+h.askWho(c, v)+".")
		return sess, nil, false
	}
	return sess, v, true
}

// askWho names who manages an instance's workspace.
func (h *dashHandlers) askWho(c *gin.Context, v *dashInstanceView) string {
	in, err := h.accounts.Instance(c.Request.Context(), v.In.ID)
	if err != nil {
		return "whoever manages its workspace"
	}
	return askWho(approval.Request{Instance: in}.Owner())
}

func (h *dashHandlers) instancePage(c *gin.Context) {
	sess, ok := h.signedIn(c, "")
	if !ok {
		return
	}
	v, ok := h.instance(c, sess)
	if !ok {
		return
	}
	h.renderInstance(c, http.StatusOK, sess, v, "")
}

func (h *dashHandlers) renderInstance(c *gin.Context, status int, sess accounts.Session, v *dashInstanceView, errMsg string) {
	if v.Manage {
		var err error
		if v.Grants, err = h.access.Grants(c.Request.Context(), v.In.ID); err == nil {
			v.Targets, err = h.moveTargets(c, sess, v)
		}
		if err == nil && v.ShareTeams == nil { // a refused team share read them already
			v.ShareTeams, err = h.teamsOf(c, sess)
		}
		if err != nil {
			h.unavailable(c, err)
			return
		}
	}
	h.page(c, status, "instance", v.In.Name, v, errMsg)
}

func (h *dashHandlers) moveTargets(c *gin.Context, sess accounts.Session, v *dashInstanceView) ([]accounts.Workspace, error) {
	ws, err := h.workspaces(c, sess)
	if err != nil {
		return nil, err
	}
	var out []accounts.Workspace
	for _, w := range ws {
		if w.Manage && w.ID != v.In.WorkspaceID {
			out = append(out, w.Workspace)
		}
	}
	return out, nil
}

func (h *dashHandlers) renameInstance(c *gin.Context) {
	sess, v, ok := h.manage(c)
	if !ok {
		return
	}
	v.Name = strings.TrimSpace(c.PostForm("name"))
	if v.Name == "" || len(v.Name) > 200 {
		h.renderInstance(c, http.StatusBadRequest, sess, v, "Name the instance (1 to 200 characters). Nothing was changed.")
		return
	}
	err := h.access.RenameInstance(actorContext(c, sess.Account.ID), v.In.ID, v.Name)
	switch {
	case errors.Is(err, access.ErrInvalid):
		h.renderInstance(c, http.StatusBadRequest, sess, v, "Name the instance (1 to 200 characters). Nothing was changed.")
		return
	case errors.Is(err, access.ErrNotFound):
		h.noInstance(c)
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	dashDone(c, "/instances/"+v.In.ID, "renamed", access.Change{})
}

func (h *dashHandlers) moveInstance(c *gin.Context) {
	sess, v, ok := h.manage(c)
	if !ok {
		return
	}
	to := c.PostForm("workspace_id")
	targets, err := h.moveTargets(c, sess, v)
	if err != nil {
		h.unavailable(c, err)
		return
	}
	// Checked by OpenFGA (can_add_instance) when the targets were listed.
	if !slices.ContainsFunc(targets, func(w accounts.Workspace) bool { return w.ID == to }) {
		h.renderInstance(c, http.StatusBadRequest, sess, v, "Pick another workspace that you may add instances to. Nothing was changed.")
		return
	}
	ch, err := h.access.MoveInstance(actorContext(c, sess.Account.ID), v.In.ID, to)
	switch {
	case errors.Is(err, access.ErrNotFound):
		h.noInstance(c)
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	// The mover may have lost the instance with the move (a team's
	// workspace they only see): the list is where they still belong. A
	// team's admin without a seat keeps its page: they manage it.
	ok, err = h.can(c, sess, "can_use", authz.InstanceObject(v.In.ID))
	if err == nil && !ok {
		ok, err = h.can(c, sess, "can_manage", authz.InstanceObject(v.In.ID))
	}
	if err == nil && !ok && !ch.Pending {
		dashDone(c, "/instances", "moved", ch)
		return
	}
	dashDone(c, "/instances/"+v.In.ID, "moved", ch)
}

func (h *dashHandlers) resetCredentials(c *gin.Context) {
	sess, v, ok := h.manage(c)
	if !ok {
		return
	}
	if h.clients == nil {
		h.unavailable(c, errors.New("no clients service: credentials cannot be reset"))
		return
	}
	clientID, secret, err := h.clients.ResetInstanceSecret(actorContext(c, sess.Account.ID), v.In.ID)
	switch {
	case errors.Is(err, clients.ErrNotFound):
		h.renderInstance(c, http.StatusNotFound, sess, v, "This instance has no credentials to reset. Nothing was changed.")
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	v.Secret = &dashSecret{What: "Client secret", Value: secret, ID: clientID}
	h.renderInstance(c, http.StatusOK, sess, v, "")
}

func (h *dashHandlers) toggleAssistant(c *gin.Context) {
	sess, v, ok := h.manage(c)
	if !ok {
		return
	}
	var enabled bool
	switch c.PostForm("enabled") {
	case "true":
		enabled = true
	case "false":
	default:
		h.renderInstance(c, http.StatusBadRequest, sess, v, "Say whether to switch the assistant on or off. Nothing was changed.")
		return
	}
	ch, err := h.access.SetAssistantEnabled(actorContext(c, sess.Account.ID), v.In.ID, enabled)
	if err != nil {
		h.unavailable(c, err)
		return
	}
	what := "assistant-off"
	if enabled {
		what = "assistant-on"
	}
	dashDone(c, "/instances/"+v.In.ID, what, ch)
}

func (h *dashHandlers) deleteInstance(c *gin.Context) {
	sess, v, ok := h.manage(c)
	if !ok {
		return
	}
	if c.PostForm("confirm") != "yes" {
		h.renderInstance(c, http.StatusBadRequest, sess, v, "Tick the box to confirm that the instance is to be deleted. Nothing was deleted.")
		return
	}
	ch, err := h.access.DeleteInstance(actorContext(c, sess.Account.ID), v.In.ID)
	switch {
	case errors.Is(err, access.ErrNotFound):
		h.noInstance(c)
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	dashDone(c, "/instances", "deleted", ch)
}

func (h *dashHandlers) grant(c *gin.Context) {
	sess, v, ok := h.manage(c)
	if !ok {
		return
	}
	v.GrantEmail, v.GrantUntil = strings.TrimSpace(c.PostForm("email")), c.PostForm("until")
	if v.GrantEmail == "" || len(v.GrantEmail) > 254 {
		h.renderInstance(c, http.StatusBadRequest, sess, v, "Enter the email address of the person to share the instance with. Nothing was shared.")
		return
	}
	to, err := h.access.AccountByEmail(c.Request.Context(), v.GrantEmail)
	switch {
	case errors.Is(err, access.ErrNotFound):
		h.renderInstance(c, http.StatusNotFound, sess, v, "No account has the address "+v.GrantEmail+": they must sign up first. Nothing was shared.")
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	if to.ID == sess.Account.ID {
		h.renderInstance(c, http.StatusBadRequest, sess, v, "You may use this instance already: share it with someone else. Nothing was shared.")
		return
	}
	h.share(c, sess, v, access.Grantee{UserID: to.ID})
}

// badShareEnd answers a share form whose end date is not a date to come.
const badShareEnd = "Give the end of the share as a date that is not over yet, or none. Nothing was shared."

// share grants the instance to `to` until the end of the form's day (none:
// no end) and answers: the end of both share forms.
func (h *dashHandlers) share(c *gin.Context, sess accounts.Session, v *dashInstanceView, to access.Grantee) {
	until, ok := dashDate(v.GrantUntil)
	if !ok {
		h.renderInstance(c, http.StatusBadRequest, sess, v, badShareEnd)
		return
	}
	ch, err := h.access.Grant(actorContext(c, sess.Account.ID), v.In.ID, to, until, sess.Account.ID)
	switch {
	case errors.Is(err, access.ErrInvalid):
		h.renderInstance(c, http.StatusBadRequest, sess, v, badShareEnd)
		return
	case errors.Is(err, access.ErrNotFound):
		h.noInstance(c)
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	dashDone(c, "/instances/"+v.In.ID, "shared", ch)
}

// teamsOf lists the viewer's teams.
func (h *dashHandlers) teamsOf(c *gin.Context, sess accounts.Session) ([]access.TeamInfo, error) {
	ms, err := h.access.Memberships(c.Request.Context(), sess.Account.ID)
	if err != nil {
		return nil, err
	}
	teams := make([]access.TeamInfo, len(ms))
	for i, m := range ms {
		teams[i] = m.Team
	}
	return teams, nil
}

// grantTeam shares the instance with every member of one of the viewer's
// teams. Other teams are not offered: the page does not tell which teams
// exist (the API takes any team's id).
func (h *dashHandlers) grantTeam(c *gin.Context) {
	sess, v, ok := h.manage(c)
	if !ok {
		return
	}
	v.GrantTeam, v.GrantUntil = c.PostForm("team_id"), c.PostForm("until")
	var err error
	if v.ShareTeams, err = h.teamsOf(c, sess); err != nil {
		h.unavailable(c, err)
		return
	}
	if !slices.ContainsFunc(v.ShareTeams, func(t access.TeamInfo) bool { return t.ID == v.GrantTeam }) {
		h.renderInstance(c, http.StatusBadRequest, sess, v, "Pick one of your teams to share the instance with. Nothing was shared.")
		return
	}
	h.share(c, sess, v, access.Grantee{TeamID: v.GrantTeam})
}

func (h *dashHandlers) revokeGrant(c *gin.Context) {
	sess, v, ok := h.manage(c)
	if !ok {
		return
	}
	to := access.Grantee{UserID: c.PostForm("user_id"), TeamID: c.PostForm("team_id")}
	grants, err := h.access.Grants(c.Request.Context(), v.In.ID)
	if err != nil {
		h.unavailable(c, err)
		return
	}
	known := slices.ContainsFunc(grants, func(g access.GrantInfo) bool {
		return (to.UserID != "" && g.UserID == to.UserID && to.TeamID == "") || (to.TeamID != "" && g.TeamID == to.TeamID && to.UserID == "")
	})
	if !known {
		h.renderInstance(c, http.StatusNotFound, sess, v, "The instance is not shared with them (any more). Nothing was changed.")
		return
	}
	ch, err := h.access.Revoke(actorContext(c, sess.Account.ID), v.In.ID, to)
	switch {
	case errors.Is(err, access.ErrNotFound):
		h.renderInstance(c, http.StatusNotFound, sess, v, "The instance is not shared with them (any more). Nothing was changed.")
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	dashDone(c, "/instances/"+v.In.ID, "revoked", ch)
}
