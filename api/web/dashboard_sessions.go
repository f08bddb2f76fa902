package web

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/oidc"
)

// The sessions page: where the user is signed in (browsers, instances),
// each of which they may sign out. accounts and oidc.Sessions decide that
// a user ends only their own.

type dashSessionsView struct {
	Browsers  []accounts.BrowserSession
	Instances []oidc.UserSession
}

func (h *dashHandlers) sessionsPage(c *gin.Context) {
	sess, ok := h.signedIn(c, "")
	if !ok {
		return
	}
	ctx := c.Request.Context()
	browsers, err := h.accounts.BrowserSessions(ctx, sess)
	if err != nil {
		h.unavailable(c, err)
		return
	}
	instances, err := h.sessions.OfUser(ctx, sess.Account.ID)
	if err != nil {
		h.unavailable(c, err)
		return
	}
	h.page(c, http.StatusOK, "sessions", "Where you are signed in", &dashSessionsView{Browsers: browsers, Instances: instances}, "")
}

func (h *dashHandlers) endBrowserSession(c *gin.Context) {
	sess, ok := h.form(c, "/settings/sessions")
	if !ok {
		return
	}
	err := h.accounts.EndBrowserSession(c.Request.Context(), sess, c.Param("id"))
	switch {
	case errors.Is(err, accounts.ErrNoSession):
		h.message(c, http.StatusNotFound, "No such session", "You have no browser session of this id: it may have ended already.")
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	dashDone(c, "/settings/sessions", "session-ended", access.Change{})
}

func (h *dashHandlers) endInstanceSession(c *gin.Context) {
	sess, ok := h.form(c, "/settings/sessions")
	if !ok {
		return
	}
	err := h.sessions.EndOfUser(c.Request.Context(), sess.Account.ID, c.Param("id"))
	switch {
	case errors.Is(err, oidc.ErrNoSuchSession):
		h.message(c, http.StatusNotFound, "No such session", "You have no session of this id at an instance: it may have ended already.")
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	dashDone(c, "/settings/sessions", "instance-session-ended", access.Change{})
}
