package web

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/regkeys"
)

// dashSecret is a secret shown once, right after it is made.
type dashSecret struct {
	What, Value string
	// ID names what it belongs to (an instance's client id), when useful.
	ID string
}

// dashKeysView is the registration keys page.
type dashKeysView struct {
	Workspaces []dashKeysWorkspace
	// New is the key just made, shown once.
	New *dashSecret
	// What was typed in the create form.
	WorkspaceID, Description, NamePrefix, Expires string
	Reusable                                      bool
	Now                                           time.Time
}

type dashKeysWorkspace struct {
	access.WorkspaceInfo
	Keys []regkeys.Key
}

// keyWorkspaces are the workspaces the user may add instances to, with
// their keys.
func (h *dashHandlers) keyWorkspaces(c *gin.Context, sess accounts.Session) ([]dashKeysWorkspace, error) {
	ws, err := h.workspaces(c, sess)
	if err != nil {
		return nil, err
	}
	var out []dashKeysWorkspace
	for _, w := range ws {
		if !w.Manage {
			continue
		}
		keys, err := h.regkeys.List(c.Request.Context(), w.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, dashKeysWorkspace{WorkspaceInfo: w.WorkspaceInfo, Keys: keys})
	}
	return out, nil
}

func (h *dashHandlers) keysPage(c *gin.Context) {
	if _, ok := h.signedIn(c, ""); !ok {
		return
	}
	h.renderKeys(c, http.StatusOK, &dashKeysView{Reusable: false}, "")
}

func (h *dashHandlers) renderKeys(c *gin.Context, status int, v *dashKeysView, errMsg string) {
	sess, _ := webSession(c)
	var err error
	if v.Workspaces, err = h.keyWorkspaces(c, sess); err != nil {
		h.unavailable(c, err)
		return
	}
	v.Now = time.Now()
	h.page(c, status, "keys", "Registration keys", v, errMsg)
}

func (h *dashHandlers) createKey(c *gin.Context) {
	sess, ok := h.form(c, "/keys")
	if !ok {
		return
	}
	v := &dashKeysView{WorkspaceID: c.PostForm("workspace_id"), Description: strings.TrimSpace(c.PostForm("description")),
		NamePrefix: strings.TrimSpace(c.PostForm("name_prefix")), Expires: c.PostForm("expires"), Reusable: c.PostForm("reusable") == "on"}
	ws, err := h.keyWorkspaces(c, sess)
	if err != nil {
		h.unavailable(c, err)
		return
	}
	if !slices.ContainsFunc(ws, func(w dashKeysWorkspace) bool { return w.ID == v.WorkspaceID }) {
		h.renderKeys(c, http.StatusBadRequest, v, "Pick a workspace you may add instances to. No key was made.")
		return
	}
	if v.NamePrefix == "" || len(v.NamePrefix) > 100 {
		h.renderKeys(c, http.StatusBadRequest, v, "Give a name prefix of 1 to 100 characters: instances registering with the key are named with it. No key was made.")
		return
	}
	if len(v.Description) > 500 {
		h.renderKeys(c, http.StatusBadRequest, v, "Keep the description to 500 characters. No key was made.")
		return
	}
	expires, ok := dashDate(v.Expires)
	if !ok {
		h.renderKeys(c, http.StatusBadRequest, v, "Give the expiry as a date that is not over yet, or none. No key was made.")
		return
	}
	secret, k, err := h.regkeys.Create(httpx.ActorContext(c, sess.Account.ID), regkeys.NewKey{WorkspaceID: v.WorkspaceID, CreatedBy: sess.Account.ID,
		Description: v.Description, NamePrefix: v.NamePrefix, Reusable: v.Reusable, ExpiresAt: expires})
	switch {
	case errors.Is(err, regkeys.ErrForbidden):
		h.renderKeys(c, http.StatusForbidden, v, "You may not add instances to that workspace. No key was made.")
		return
	case errors.Is(err, regkeys.ErrInvalid):
		h.renderKeys(c, http.StatusBadRequest, v, "Check the name prefix (1 to 100 characters), the description (up to 500) and the expiry. No key was made.")
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	h.renderKeys(c, http.StatusOK, &dashKeysView{New: &dashSecret{What: "Registration key " + k.Hint + "…", Value: secret, ID: k.ID}}, "")
}

func (h *dashHandlers) revokeKey(c *gin.Context) {
	sess, ok := h.form(c, "/keys")
	if !ok {
		return
	}
	// Only a key of a workspace the user manages (regkeys.RevokeFor).
	err := h.regkeys.RevokeFor(httpx.ActorContext(c, sess.Account.ID), sess.Account.ID, "", c.Param("id"))
	switch {
	case errors.Is(err, regkeys.ErrNotFound):
		h.bad(c, http.StatusNotFound, "No such key", "There is no live registration key of yours with that id: it may be revoked already.")
		return
	case err != nil:
		h.unavailable(c, err)
		return
	}
	dashDone(c, "/keys", "key-revoked", access.Change{})
}
