package web

import (
	"bytes"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/api/httpx"
)

// dashSettingsView is the settings page: the profile and what deleting the
// account would do.
type dashSettingsView struct {
	// Teams are what happens to each team on deletion.
	Teams []dashTeamFate
	// Blocked: a team the user owns has other members and no admin to pass
	// it to, so deletion is refused.
	Blocked bool
}

type dashTeamFate struct {
	Name string
	// Deleted: the user is its only member; Successor: the admin who will
	// own it; Blocked: owned, others, no admin; else the user just leaves.
	Deleted, Blocked bool
	Successor        string
}

func (h *dashHandlers) settingsPage(c *gin.Context) {
	if _, ok := h.signedIn(c, ""); !ok {
		return
	}
	h.renderSettings(c, http.StatusOK, "")
}

func (h *dashHandlers) renderSettings(c *gin.Context, status int, errMsg string) {
	sess, _ := webSession(c)
	v, err := h.settings(c, sess)
	if err != nil {
		h.unavailable(c, err)
		return
	}
	h.page(c, status, "settings", "Settings", v, errMsg)
}

// settings works out, as access.DeleteAccount will, what happens to each
// team of the user's.
func (h *dashHandlers) settings(c *gin.Context, sess accounts.Session) (*dashSettingsView, error) {
	ctx := c.Request.Context()
	ms, err := h.access.Memberships(ctx, sess.Account.ID)
	if err != nil {
		return nil, err
	}
	v := &dashSettingsView{}
	for _, m := range ms {
		members, err := h.access.Members(ctx, m.Team.ID)
		if err != nil {
			return nil, err
		}
		f := dashTeamFate{Name: m.Team.Name, Deleted: len(members) <= 1}
		if !f.Deleted && m.Role == access.RoleOwner {
			// Members lists by seniority: the first admin is the successor.
			for _, o := range members {
				if o.UserID != sess.Account.ID && o.Role == access.RoleAdmin {
					f.Successor = o.Name + " (" + o.Email + ")"
					break
				}
			}
			f.Blocked = f.Successor == ""
			v.Blocked = v.Blocked || f.Blocked
		}
		v.Teams = append(v.Teams, f)
	}
	return v, nil
}

func (h *dashHandlers) exportData(c *gin.Context) {
	sess, ok := h.signedIn(c, "/settings")
	if !ok {
		return
	}
	data, err := h.access.Export(c.Request.Context(), sess.Account.ID)
	if err != nil {
		h.unavailable(c, err)
		return
	}
	c.Header("Content-Disposition", `attachment; filename="caido-cloud-export.json"`)
	c.Data(http.StatusOK, "application/json", data)
}

func (h *dashHandlers) deleteAccount(c *gin.Context) {
	sess, ok := h.form(c, "/settings")
	if !ok {
		return
	}
	ctx := c.Request.Context()
	if c.PostForm("password") == "" {
		h.renderSettings(c, http.StatusBadRequest, "Enter your password to delete your account. Nothing was deleted.")
		return
	}
	// The password again, as signing in checks it (with its attempt limits):
	// a session left open somewhere cannot delete the account on its own.
	_, err := h.accounts.SignIn(ctx, sess.Account.Email, c.PostForm("password"), httpx.ClientIP(c.Request))
	switch {
	case errors.Is(err, accounts.ErrRateLimited):
		h.tooMany(c, err, "wrong passwords for this account or from this network")
		return
	case errors.Is(err, accounts.ErrBadCredentials):
		h.renderSettings(c, http.StatusBadRequest, "That is not your password. Nothing was deleted.")
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	if _, err = h.access.DeleteAccount(httpx.ActorContext(c, sess.Account.ID), sess.Account.ID); errors.Is(err, access.ErrConflict) {
		h.renderSettings(c, http.StatusConflict, "You own a team that has other members but no admin to pass it to: make one of them admin first (they will own the team). Nothing was deleted.")
		return
	}
	if err != nil {
		h.unavailable(c, err)
		return
	}
	// The web sessions went with the account (ON DELETE CASCADE).
	h.clearCookie(c, h.sessionCookie)
	var buf bytes.Buffer
	err = webTemplates["message"].ExecuteTemplate(&buf, "layout", webPage{Title: "Account deleted", Heading: "Account deleted",
		Message: "Your account and what was yours are deleted, and you are signed out. Instances in your own workspace no longer accept its credentials."})
	if err != nil {
		h.log.ErrorContext(ctx, "render page", "page", "message", "error", err)
	}
	c.Data(http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
}
