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
// account would do to each team of the user's.
type dashSettingsView struct {
	Teams []access.TeamFate
}

func (h *dashHandlers) settingsPage(c *gin.Context) {
	if _, ok := h.signedIn(c, ""); !ok {
		return
	}
	h.renderSettings(c, http.StatusOK, "")
}

func (h *dashHandlers) renderSettings(c *gin.Context, status int, errMsg string) {
	sess, _ := webSession(c)
	fates, err := h.access.DeletionPreview(c.Request.Context(), sess.Account.ID)
	if err != nil {
		h.unavailable(c, err)
		return
	}
	h.page(c, status, "settings", "Settings", &dashSettingsView{Teams: fates}, errMsg)
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
	if c.PostForm("password") == "" {
		h.renderSettings(c, http.StatusBadRequest, "Enter your password to delete your account. Nothing was deleted.")
		return
	}
	err := h.accounts.DeleteAccount(httpx.ActorContext(c, sess.Account.ID), sess, c.PostForm("password"), httpx.ClientIP(c.Request))
	switch {
	case errors.Is(err, accounts.ErrRateLimited):
		h.tooMany(c, err, "wrong passwords for this account or from this network")
		return
	case errors.Is(err, accounts.ErrBusy):
		h.busy(c)
		return
	case errors.Is(err, accounts.ErrBadCredentials):
		h.renderSettings(c, http.StatusBadRequest, "That is not your password. Nothing was deleted.")
		return
	case errors.Is(err, access.ErrConflict):
		h.renderSettings(c, http.StatusConflict, "You own a team that has other members but no admin to pass it to: make one of them admin first (they will own the team). Nothing was deleted.")
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	// The web sessions went with the account (ON DELETE CASCADE).
	h.clearCookie(c, h.sessionCookie)
	var buf bytes.Buffer
	err = webTemplates["message"].ExecuteTemplate(&buf, "layout", webPage{Title: "Account deleted", Heading: "Account deleted",
		Message: "Your account and what was yours are deleted, and you are signed out. Instances in your own workspace no longer accept its credentials."})
	if err != nil {
		h.log.ErrorContext(c.Request.Context(), "render page", "page", "message", "error", err)
	}
	c.Data(http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
}
