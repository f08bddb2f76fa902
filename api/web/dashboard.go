package web

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/instanceapi"
	"github.com/caido-cloud/caido-cloud/oidc"
	"github.com/caido-cloud/caido-cloud/pats"
	"github.com/caido-cloud/caido-cloud/regkeys"
	"github.com/caido-cloud/caido-cloud/sharing"
	"github.com/caido-cloud/caido-cloud/teams"
)

// mountDashboard routes the signed-in pages: the home page, instances and
// their sharing, teams with their members, invitations and audit log,
// registration keys, personal access tokens and the account's settings.
// Every page needs a session (a signed-out browser is sent to sign in and
// back), every form carries the session's CSRF token, and every decision
// of who may see or change what is OpenFGA's.
func mountDashboard(web *gin.RouterGroup, h *webHandlers, d Deps) {

	dh := &dashHandlers{webHandlers: h, sharing: d.Sharing, sessions: d.Sessions, teams: d.Teams, pats: d.PATs, regkeys: d.RegKeys, profiles: d.Profiles}
	web.GET("/", dh.homePage)
	web.POST("/teams", dh.createTeam)
	web.GET("/teams/:id", dh.teamPage)
	web.GET("/teams/:id/audit", dh.auditPage)
	web.POST("/teams/:id/invitations", dh.invite)
	web.POST("/teams/:id/invitations/:invitation/delete", dh.deleteInvitation)
	web.POST("/teams/:id/members/:user", dh.updateMember)
	web.POST("/teams/:id/members/:user/remove", dh.removeMember)
	web.GET(invitationPath, dh.invitationPage)
	web.POST(invitationPath, dh.acceptInvitation)
	web.GET("/instances", dh.instancesPage)
	web.GET("/instances/:id", dh.instancePage)
	web.POST("/instances/:id/rename", dh.renameInstance)
	web.POST("/instances/:id/move", dh.moveInstance)
	web.POST("/instances/:id/credentials", dh.resetCredentials)
	web.POST("/instances/:id/assistant", dh.toggleAssistant)
	web.POST("/instances/:id/delete", dh.deleteInstance)
	web.POST("/instances/:id/grants", dh.grant)
	web.POST("/instances/:id/grants/team", dh.grantTeam)
	web.POST("/instances/:id/grants/revoke", dh.revokeGrant)
	web.GET("/keys", dh.keysPage)
	web.POST("/keys", dh.createKey)
	web.POST("/keys/:id/revoke", dh.revokeKey)
	web.GET("/developer", dh.developerPage)
	web.POST("/developer/tokens", dh.createToken)
	web.POST("/developer/tokens/:id/revoke", dh.revokeToken)
	web.GET("/settings", dh.settingsPage)
	web.GET("/settings/export", dh.exportData)
	web.GET("/settings/sessions", dh.sessionsPage)
	web.POST("/settings/sessions/browsers/:id/end", dh.endBrowserSession)
	web.POST("/settings/sessions/instances/:id/end", dh.endInstanceSession)
	web.POST("/settings/delete", dh.deleteAccount)
}

// dashHandlers are the signed-in pages; they share the web pages' sessions,
// cookies and answers.
type dashHandlers struct {
	*webHandlers
	// sharing decides and makes the share forms' changes.
	sharing  *sharing.Service
	teams    *teams.Service
	pats     *pats.Service
	regkeys  *regkeys.Service
	profiles *instanceapi.Store
	// sessions lists and ends the user's sessions at instances.
	sessions *oidc.Sessions
}

// dashTemplates are the dashboard's pages, each with the layout.
var dashTemplates = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"when": func(t time.Time) string { return t.UTC().Format("2 January 2006, 15:04 UTC") },
		"day":  func(t time.Time) string { return t.UTC().Format("2 January 2006") },
		"join": strings.Join,
	}
	pages := map[string]*template.Template{}
	for _, name := range []string{"home", "instances", "instance", "team", "audit", "invitation", "keys", "developer", "settings", "sessions"} {
		pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(webTemplateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return pages
}()

// dashPage is what every dashboard template gets: the layout's fields and
// the page's own view.
type dashPage struct {
	webPage
	// Notice says what the last change did, at the top of the page.
	Notice string
	// View is the page's data: a *dash…View of the page.
	View any
}

func (h *dashHandlers) page(c *gin.Context, status int, name, title string, view any, errMsg string) {
	p := dashPage{webPage: webPage{Title: title, Error: errMsg}, View: view, Notice: dashNotice(c)}
	sess, ok := webSession(c)
	if ok {
		p.Account, p.CSRF = &sess.Account, sess.CSRF
	}
	var buf bytes.Buffer
	if err := dashTemplates[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		h.log.ErrorContext(c.Request.Context(), "render page", "page", name, "error", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error"))
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// dashNotices are what ?done= may say after a change: fixed texts, so that
// a link cannot put words on the page.
var dashNotices = map[string]string{
	"team-created":           "The team is created. Invite its members below.",
	"invited":                "The invitation is sent.",
	"invitation-deleted":     "The invitation is withdrawn: its link no longer works.",
	"member-updated":         "The member is updated.",
	"member-removed":         "The member is removed from the team, with their access to its instances.",
	"joined":                 "Welcome: you are now a member of the team.",
	"renamed":                "The instance is renamed.",
	"moved":                  "The instance is moved.",
	"assistant-on":           "The assistant is switched on for this instance.",
	"assistant-off":          "The assistant is switched off for this instance.",
	"deleted":                "The instance is deleted: its credentials no longer work.",
	"shared":                 "The instance is shared.",
	"shared-by-email":        "The instance is shared with that address, which is told by mail: its account may use it once the address is verified.",
	"revoked":                "The share is revoked: its sessions on the instance are ended.",
	"key-revoked":            "The registration key is revoked: instances can no longer register with it.",
	"token-revoked":          "The token is revoked: it no longer works.",
	"session-ended":          "That browser is signed out.",
	"instance-session-ended": "That instance is signed out: its tokens no longer work.",
}

// dashPending is added when OpenFGA had not caught up with a change yet.
const dashPending = " Access is still being updated: some pages may show the old access for a few seconds."

func dashNotice(c *gin.Context) string {
	msg := dashNotices[c.Query("done")]
	if msg != "" && c.Query("pending") == "1" {
		msg += dashPending
	}
	return msg
}

// done sends the browser back to a page after a change (303: the reload
// does not send the form again), saying what was done.
func dashDone(c *gin.Context, path, what string, ch access.Change) {
	q := url.Values{"done": {what}}
	if ch.Pending {
		q.Set("pending", "1")
	}
	c.Redirect(http.StatusSeeOther, path+"?"+q.Encode())
}

// signedIn returns the session; a signed-out browser is sent to sign in
// and back to the page back ("" is this one).
func (h *dashHandlers) signedIn(c *gin.Context, back string) (accounts.Session, bool) {
	sess, ok := webSession(c)
	if !ok {
		if back == "" {
			back = c.Request.URL.RequestURI()
		}
		toSignIn(c, back)
	}
	return sess, ok
}

// form checks what every dashboard form shares: a session and its CSRF
// token. back is the page the form is on. When ok is false the answer has
// been written and nothing changed.
func (h *dashHandlers) form(c *gin.Context, back string) (accounts.Session, bool) {
	sess, ok := h.signedIn(c, back)
	if !ok {
		return sess, false
	}
	if !accounts.SameToken(sess.CSRF, c.PostForm("csrf")) {
		h.forbiddenForm(c)
		return sess, false
	}
	return sess, true
}

// bad answers input the page refuses: nothing was changed.
func (h *dashHandlers) bad(c *gin.Context, status int, heading, msg string) {
	h.message(c, status, heading, msg+" Nothing was changed.")
}

// dashDate reads an optional date field (YYYY-MM-DD, as a date input
// sends it): nil when empty. The time is the end of that day, UTC: "until
// 3 March" includes 3 March. ok is false for anything else, or a day
// already over.
func dashDate(v string) (*time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, true
	}
	d, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return nil, false
	}
	end := d.AddDate(0, 0, 1)
	if !end.After(time.Now()) {
		return nil, false
	}
	return &end, true
}

// dashWorkspace is a workspace with what the user may do in it.
type dashWorkspace struct {
	access.WorkspaceInfo
	Manage bool
}

// workspaces lists the workspaces the user may see (can_view) and whether
// they may add instances to each (can_add_instance): sharing.Workspaces.
func (h *dashHandlers) workspaces(c *gin.Context, sess accounts.Session) ([]dashWorkspace, error) {
	ws, err := h.sharing.Workspaces(c.Request.Context(), sharingActorOf(sess))
	if err != nil {
		return nil, err
	}
	out := make([]dashWorkspace, len(ws))
	for i, w := range ws {
		out[i] = dashWorkspace{WorkspaceInfo: w.WorkspaceInfo, Manage: w.CanAddInstance}
	}
	return out, nil
}

// dashHomeView is the home page.
type dashHomeView struct {
	Plan       string
	Workspaces []dashWorkspace
	Teams      []access.Membership
	// What was typed in the create-team form.
	TeamName, BillingEmail string
}

func (h *dashHandlers) homePage(c *gin.Context) {
	if _, ok := webSession(c); !ok {
		h.home(c) // the signed-out answer is the web pages'
		return
	}
	h.renderHome(c, http.StatusOK, nil, "")
}

func (h *dashHandlers) renderHome(c *gin.Context, status int, v *dashHomeView, errMsg string) {
	sess, _ := webSession(c)
	ctx := c.Request.Context()
	if v == nil {
		v = &dashHomeView{BillingEmail: sess.Account.Email}
	}
	// The plan as instances see it in the user's profile.
	profile, err := h.profiles.Profile(ctx, sess.Account.ID)
	v.Plan = profile.Subscription.Plan.Name
	if err == nil {
		v.Workspaces, err = h.workspaces(c, sess)
	}
	if err == nil {
		v.Teams, err = h.access.Memberships(ctx, sess.Account.ID)
	}
	if err != nil {
		h.unavailable(c, err)
		return
	}
	h.page(c, status, "home", "Your account", v, errMsg)
}

func (h *dashHandlers) createTeam(c *gin.Context) {
	sess, ok := h.form(c, "/")
	if !ok {
		return
	}
	v := &dashHomeView{TeamName: strings.TrimSpace(c.PostForm("name")), BillingEmail: strings.TrimSpace(c.PostForm("billing_email"))}
	team, ch, err := h.teams.CreateTeam(httpx.ActorContext(c, sess.Account.ID), teamActor(sess), v.TeamName, v.BillingEmail)
	if err != nil {
		if a := teamRefusal("create", err); a.Status != 0 && a.Heading == "" {
			h.renderHome(c, a.Status, v, a.Text)
			return
		}
		h.unavailable(c, err)
		return
	}
	if ch.Pending {
		// The team page asks OpenFGA whether the user is a member.
		c.Header("Retry-After", "5")
		h.message(c, http.StatusAccepted, "Team created",
			fmt.Sprintf("The team %s is created, but its access is still being set up. Its page opens from your account page in a few seconds.", team.Name))
		return
	}
	dashDone(c, "/teams/"+team.ID, "team-created", ch)
}
