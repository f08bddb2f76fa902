package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/pats"
)

// dashDeveloperView is the personal access tokens page.
type dashDeveloperView struct {
	Tokens []pats.Token
	Teams  []access.Membership
	// New is the token just made, shown once.
	New *dashSecret
	// What was typed in the create form.
	Name, Expires, TeamID string
	Now                   time.Time
}

// TeamName names a token's team.
func (v *dashDeveloperView) TeamName(id string) string {
	for _, m := range v.Teams {
		if m.Team.ID == id {
			return m.Team.Name
		}
	}
	return "a team you left"
}

func (h *dashHandlers) developerPage(c *gin.Context) {
	if _, ok := h.signedIn(c, ""); !ok {
		return
	}
	h.renderDeveloper(c, http.StatusOK, &dashDeveloperView{}, "")
}

func (h *dashHandlers) renderDeveloper(c *gin.Context, status int, v *dashDeveloperView, errMsg string) {
	sess, _ := webSession(c)
	ctx := c.Request.Context()
	var err error
	if v.Tokens, err = h.pats.List(ctx, sess.Account.ID); err == nil {
		v.Teams, err = h.access.Memberships(ctx, sess.Account.ID)
	}
	if err != nil {
		h.unavailable(c, err)
		return
	}
	v.Now = time.Now()
	h.page(c, status, "developer", "Developer", v, errMsg)
}

func (h *dashHandlers) createToken(c *gin.Context) {
	sess, ok := h.form(c, "/developer")
	if !ok {
		return
	}
	v := &dashDeveloperView{Name: strings.TrimSpace(c.PostForm("name")), Expires: c.PostForm("expires"), TeamID: c.PostForm("team_id")}
	if v.Name == "" || len(v.Name) > 200 {
		h.renderDeveloper(c, http.StatusBadRequest, v, "Name the token (1 to 200 characters), so that you can tell it from others. No token was made.")
		return
	}
	expires, ok := dashDate(v.Expires)
	if !ok {
		h.renderDeveloper(c, http.StatusBadRequest, v, "Give the expiry as a date that is not over yet, or none. No token was made.")
		return
	}
	secret, tok, err := h.pats.Create(httpx.ActorContext(c, sess.Account.ID), pats.NewToken{UserID: sess.Account.ID, Name: v.Name, TeamID: v.TeamID, ExpiresAt: expires, Via: pats.ViaSession})
	switch {
	case errors.Is(err, pats.ErrNotTeamMember):
		h.renderDeveloper(c, http.StatusBadRequest, v, "Pick a team you are a member of, or none. No token was made.")
		return
	case errors.Is(err, pats.ErrInvalid):
		h.renderDeveloper(c, http.StatusBadRequest, v, "Check the name (1 to 200 characters), the expiry and the team. No token was made.")
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	h.renderDeveloper(c, http.StatusOK, &dashDeveloperView{New: &dashSecret{What: "Token " + tok.Name, Value: secret, ID: tok.ID}}, "")
}

func (h *dashHandlers) revokeToken(c *gin.Context) {
	sess, ok := h.form(c, "/developer")
	if !ok {
		return
	}
	err := h.pats.Revoke(httpx.ActorContext(c, sess.Account.ID), sess.Account.ID, c.Param("id"))
	switch {
	case errors.Is(err, pats.ErrNotFound):
		h.bad(c, http.StatusNotFound, "No such token", "There is no live token of yours with that id: it may be revoked already.")
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	dashDone(c, "/developer", "token-revoked", access.Change{})
}
