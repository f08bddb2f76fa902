package web

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/sharing"
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

func newDashInstance(in sharing.Instance, viewer accounts.Session, now time.Time) dashInstance {
	d := dashInstance{InstanceSummary: in.InstanceSummary, Alive: in.Alive(now), Shared: in.Shared}
	switch {
	case in.OwnerTeamID != "":
		d.Owner = "team " + in.OwnerName
	case strings.EqualFold(in.OwnerEmail, viewer.Account.Email):
		d.Owner = "yours"
	default:
		d.Owner = in.OwnerName
	}
	return d
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
	list, err := h.sharing.List(c.Request.Context(), sharingActorOf(sess))
	if err != nil {
		h.unavailable(c, err)
		return
	}
	now := time.Now()
	v := &dashInstancesView{}
	for _, in := range list {
		v.Instances = append(v.Instances, newDashInstance(in, sess, now))
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
	Targets []access.WorkspaceInfo
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
	in, err := h.sharing.Get(c.Request.Context(), sharingActorOf(sess), c.Param("id"))
	if e, refused := sharing.AsError(err); refused && e.Code == sharing.NotFound {
		h.noInstance(c)
		return nil, false
	} else if refused && e.Subject == sharing.SubjectSeat {
		h.message(c, http.StatusForbidden, "You need a seat", e.Message)
		return nil, false
	}
	if err != nil {
		h.unavailable(c, err)
		return nil, false
	}
	v := &dashInstanceView{In: newDashInstance(in, sess, time.Now()), Manage: in.Rights.Manage}
	v.Name = v.In.Name
	return v, true
}

func (h *dashHandlers) noInstance(c *gin.Context) {
	h.message(c, http.StatusNotFound, "No such instance",
		"There is no instance here that you may use. If it was shared with you, the share may have ended: ask whoever manages it.")
}

// managersOnly answers a viewer who may use the instance but not change it.
func (h *dashHandlers) managersOnly(c *gin.Context, v *dashInstanceView) {
	ask := v.In.OwnerName
	if v.In.OwnerTeamID != "" {
		ask = "an admin of the team " + v.In.OwnerName
	}
	h.bad(c, http.StatusForbidden, "Only its managers may do this",
		"Only those who manage the instance's workspace may change it: ask "+ask+".")
}

// changed answers a change of the instance through sharing: done (to the
// instance's page, or to the list when the viewer lost it with the change),
// or refused: not found, managers only, or the page again with what to
// change (invalid says it).
func (h *dashHandlers) changed(c *gin.Context, sess accounts.Session, err error, what string, ch access.Change, invalid string) {
	id := c.Param("id")
	e, refused := sharing.AsError(err)
	switch {
	case err == nil:
		dashDone(c, "/instances/"+id, what, ch)
		return
	case !refused:
		h.unavailable(c, err)
		return
	case e.Code == sharing.NotFound && e.Subject == sharing.SubjectInstance && what == "moved":
		// The move went through and took the instance out of the viewer's
		// reach (a team's workspace they only see).
		dashDone(c, "/instances", what, ch)
		return
	case e.Code == sharing.NotFound && e.Subject == sharing.SubjectInstance:
		h.noInstance(c)
		return
	}
	v, ok := h.instance(c, sess)
	if !ok {
		return
	}
	if e.Code == sharing.Forbidden && e.Subject == sharing.SubjectInstance || !v.Manage {
		h.managersOnly(c, v)
		return
	}
	status := http.StatusBadRequest
	if e.Code == sharing.NotFound { // no credentials to reset
		status = http.StatusNotFound
	}
	h.renderInstance(c, status, sess, v, invalid)
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
	// The grants the viewer may see: all of them for a manager; for an
	// admin of a team it is shared with, that team's (to revoke it).
	var err error
	v.Grants, err = h.sharing.Grants(c.Request.Context(), sharingActorOf(sess), v.In.ID)
	if _, refused := sharing.AsError(err); refused {
		v.Grants, err = nil, nil
	}
	if err == nil && v.Manage {
		if v.Targets, err = h.moveTargets(c, sess, v); err == nil {
			v.ShareTeams, err = h.teamsOf(c, sess)
		}
	}
	if err != nil {
		h.unavailable(c, err)
		return
	}
	h.page(c, status, "instance", v.In.Name, v, errMsg)
}

// sharingActorOf is the signed-in viewer as the sharing use cases take
// them (a browser session belongs to no team).
func sharingActorOf(sess accounts.Session) sharing.Actor {
	return sharing.Actor{UserID: sess.Account.ID}
}

func (h *dashHandlers) moveTargets(c *gin.Context, sess accounts.Session, v *dashInstanceView) ([]access.WorkspaceInfo, error) {
	ws, err := h.workspaces(c, sess)
	if err != nil {
		return nil, err
	}
	var out []access.WorkspaceInfo
	for _, w := range ws {
		if w.Manage && w.ID != v.In.WorkspaceID {
			out = append(out, w.WorkspaceInfo)
		}
	}
	return out, nil
}

// form is h.form for an instance's forms.
func (h *dashHandlers) instanceForm(c *gin.Context) (accounts.Session, bool) {
	return h.form(c, "/instances/"+c.Param("id"))
}

func (h *dashHandlers) renameInstance(c *gin.Context) {
	sess, ok := h.instanceForm(c)
	if !ok {
		return
	}
	name := c.PostForm("name")
	_, err := h.sharing.Update(httpx.ActorContext(c, sess.Account.ID), sharingActorOf(sess), c.Param("id"), sharing.InstanceChange{Name: &name})
	h.changed(c, sess, err, "renamed", access.Change{}, "Name the instance (1 to 200 characters). Nothing was changed.")
}

func (h *dashHandlers) moveInstance(c *gin.Context) {
	sess, ok := h.instanceForm(c)
	if !ok {
		return
	}
	to := c.PostForm("workspace_id")
	_, err := h.sharing.Update(httpx.ActorContext(c, sess.Account.ID), sharingActorOf(sess), c.Param("id"), sharing.InstanceChange{WorkspaceID: &to})
	h.changed(c, sess, err, "moved", access.Change{}, "Pick another workspace that you may add instances to. Nothing was changed.")
}

func (h *dashHandlers) resetCredentials(c *gin.Context) {
	sess, ok := h.instanceForm(c)
	if !ok {
		return
	}
	cr, err := h.sharing.ResetCredentials(httpx.ActorContext(c, sess.Account.ID), sharingActorOf(sess), c.Param("id"))
	if err != nil {
		h.changed(c, sess, err, "", access.Change{}, "This instance has no credentials to reset. Nothing was changed.")
		return
	}
	v, ok := h.instance(c, sess)
	if !ok {
		return
	}
	v.Secret = &dashSecret{What: "Client secret", Value: cr.Secret, ID: cr.ClientID}
	h.renderInstance(c, http.StatusOK, sess, v, "")
}

func (h *dashHandlers) toggleAssistant(c *gin.Context) {
	sess, ok := h.instanceForm(c)
	if !ok {
		return
	}
	var enabled bool
	switch c.PostForm("enabled") {
	case "true":
		enabled = true
	case "false":
	default:
		h.changed(c, sess, &sharing.Error{Code: sharing.Invalid, Subject: sharing.SubjectInstance}, "", access.Change{},
			"Say whether to switch the assistant on or off. Nothing was changed.")
		return
	}
	_, ch, err := h.sharing.SetAssistant(httpx.ActorContext(c, sess.Account.ID), sharingActorOf(sess), c.Param("id"), enabled)
	what := "assistant-off"
	if enabled {
		what = "assistant-on"
	}
	h.changed(c, sess, err, what, ch, "")
}

func (h *dashHandlers) deleteInstance(c *gin.Context) {
	sess, ok := h.instanceForm(c)
	if !ok {
		return
	}
	if c.PostForm("confirm") != "yes" {
		h.changed(c, sess, &sharing.Error{Code: sharing.Invalid, Subject: sharing.SubjectInstance}, "", access.Change{},
			"Tick the box to confirm that the instance is to be deleted. Nothing was deleted.")
		return
	}
	ch, err := h.sharing.Delete(httpx.ActorContext(c, sess.Account.ID), sharingActorOf(sess), c.Param("id"))
	if err == nil {
		dashDone(c, "/instances", "deleted", ch)
		return
	}
	h.changed(c, sess, err, "", ch, "")
}

func (h *dashHandlers) grant(c *gin.Context) {
	sess, ok := h.form(c, "/instances/"+c.Param("id"))
	if !ok {
		return
	}
	email, until := strings.TrimSpace(c.PostForm("email")), c.PostForm("until")
	typed := func(v *dashInstanceView) { v.GrantEmail, v.GrantUntil = email, until }
	if email == "" || len(email) > 254 {
		h.shareRefused(c, sess, &sharing.Error{Code: sharing.Invalid, Subject: sharing.SubjectEmail}, typed)
		return
	}
	h.share(c, sess, sharing.Grantee{UserEmail: email}, until, typed)
}

// badShareEnd answers a share form whose end date is not a date to come.
const badShareEnd = "Give the end of the share as a date that is not over yet, or none. Nothing was shared."

// share grants the instance to `to` until the end of the form's day (none:
// no end) and answers: the end of both share forms.
func (h *dashHandlers) share(c *gin.Context, sess accounts.Session, to sharing.Grantee, untilDay string, typed func(*dashInstanceView)) {
	until, ok := dashDate(untilDay)
	if !ok {
		h.shareRefused(c, sess, &sharing.Error{Code: sharing.Invalid, Subject: sharing.SubjectUntil}, typed)
		return
	}
	id := c.Param("id")
	share, err := h.sharing.Grant(httpx.ActorContext(c, sess.Account.ID), sharingActorOf(sess), id, to, until)
	if err != nil {
		h.shareRefused(c, sess, err, typed)
		return
	}
	if share.ByEmail {
		// Said alike whatever the address (no "pending" either): the page
		// must not tell whether an account has verified it.
		dashDone(c, "/instances/"+id, "shared-by-email", access.Change{})
		return
	}
	dashDone(c, "/instances/"+id, "shared", share.Change)
}

// shareRefused answers a refused share form: not found and forbidden as
// every instance form answers them, anything else on the instance's page
// with what was typed and what to change, in the pages' words.
func (h *dashHandlers) shareRefused(c *gin.Context, sess accounts.Session, err error, typed func(*dashInstanceView)) {
	e, ok := sharing.AsError(err)
	if !ok {
		h.unavailable(c, err)
		return
	}
	if e.Code == sharing.NotFound && e.Subject == sharing.SubjectInstance {
		h.noInstance(c)
		return
	}
	v, ok := h.instance(c, sess)
	if !ok {
		return
	}
	if e.Code == sharing.Forbidden || !v.Manage && e.Code == sharing.Invalid {
		h.managersOnly(c, v)
		return
	}
	typed(v)
	status, msg := http.StatusBadRequest, badShareEnd
	switch {
	case e.Code == sharing.Limited:
		status, msg = http.StatusTooManyRequests, fmt.Sprintf("You have shared by email too often for now: try again in %d minutes. Nothing was shared.",
			int(math.Ceil(e.RetryAfter.Minutes())))
	case e.Subject == sharing.SubjectEmail:
		msg = "Enter the email address of the person to share the instance with. Nothing was shared."
	case e.Subject == sharing.SubjectSelf:
		msg = "You may use this instance already: share it with someone else. Nothing was shared."
	case e.Subject == sharing.SubjectTeam:
		msg = "Pick one of your teams to share the instance with. Nothing was shared."
	case e.Subject == sharing.SubjectGrant:
		status, msg = http.StatusNotFound, "The instance is not shared with them (any more). Nothing was changed."
	}
	h.renderInstance(c, status, sess, v, msg)
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
// teams. Other teams are neither offered nor taken (sharing refuses them
// as it refuses a team that does not exist).
func (h *dashHandlers) grantTeam(c *gin.Context) {
	sess, ok := h.form(c, "/instances/"+c.Param("id"))
	if !ok {
		return
	}
	team, until := c.PostForm("team_id"), c.PostForm("until")
	typed := func(v *dashInstanceView) { v.GrantTeam, v.GrantUntil = team, until }
	if team == "" {
		h.shareRefused(c, sess, &sharing.Error{Code: sharing.Invalid, Subject: sharing.SubjectTeam}, typed)
		return
	}
	h.share(c, sess, sharing.Grantee{TeamID: team}, until, typed)
}

// revokeGrant ends a share, for the instance's managers or an admin of the
// team it is shared with.
func (h *dashHandlers) revokeGrant(c *gin.Context) {
	sess, ok := h.form(c, "/instances/"+c.Param("id"))
	if !ok {
		return
	}
	id := c.Param("id")
	to := sharing.Grantee{UserID: c.PostForm("user_id"), TeamID: c.PostForm("team_id"), UserEmail: c.PostForm("email")}
	ch, err := h.sharing.Revoke(httpx.ActorContext(c, sess.Account.ID), sharingActorOf(sess), id, to)
	if err != nil {
		h.shareRefused(c, sess, err, func(*dashInstanceView) {})
		return
	}
	// A grantee team's admin may have lost the instance with the share:
	// the list is where they still belong.
	if _, err := h.sharing.Get(c.Request.Context(), sharingActorOf(sess), id); err != nil && !ch.Pending {
		dashDone(c, "/instances", "revoked", ch)
		return
	}
	dashDone(c, "/instances/"+id, "revoked", ch)
}
