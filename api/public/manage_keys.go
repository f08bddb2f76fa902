package public

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/input"
	"github.com/caido-cloud/caido-cloud/regkeys"
	"github.com/caido-cloud/caido-cloud/sharing"
)

// ---- Workspaces and registration keys.

type workspaceSummary struct {
	Object         string `json:"object"`
	ID             string `json:"id"`
	Name           string `json:"name"`
	OwnerType      string `json:"owner_type"`
	OwnerID        string `json:"owner_id"`
	OwnerName      string `json:"owner_name"`
	CanManage      bool   `json:"can_manage"`
	CanAddInstance bool   `json:"can_add_instance"`
}

// listWorkspaces lists the caller's workspaces with their rights
// (sharing.Workspaces).
func (p *publicAPI) listWorkspaces(c *gin.Context) {
	ws, err := p.d.Sharing.Workspaces(c.Request.Context(), sharingActor(c))
	if err != nil {
		p.sharingFail(c, "list workspaces", err)
		return
	}
	c.JSON(http.StatusOK, mapJSON(ws, func(w sharing.Workspace) workspaceSummary {
		s := workspaceSummary{Object: "workspace", ID: w.ID, Name: w.Name, OwnerType: "user", OwnerID: w.OwnerUserID, OwnerName: w.OwnerName,
			CanManage: w.CanManage, CanAddInstance: w.CanAddInstance}
		if w.Team() {
			s.OwnerType, s.OwnerID = "team", w.TeamID
		}
		return s
	}))
}

type registrationKeyBody struct {
	Object      string `json:"object"`
	ID          string `json:"id"`
	Hint        string `json:"hint"`
	WorkspaceID string `json:"workspace_id"`
	CreatedBy   string `json:"created_by"`
	Description string `json:"description"`
	NamePrefix  string `json:"name_prefix"`
	Reusable    bool   `json:"reusable"`
	ExpiresAt   *int64 `json:"expires_at"`
	Uses        int    `json:"uses"`
	RevokedAt   *int64 `json:"revoked_at"`
	CreatedAt   int64  `json:"created_at"`
	// Key is the key itself, in the creation's answer only.
	Key string `json:"key,omitempty"`
}

func registrationKeyJSON(k regkeys.Key) registrationKeyBody {
	return registrationKeyBody{Object: "registration_key", ID: k.ID, Hint: k.Hint, WorkspaceID: k.WorkspaceID, CreatedBy: k.CreatedBy,
		Description: k.Description, NamePrefix: k.NamePrefix, Reusable: k.Reusable, ExpiresAt: unixPtr(k.ExpiresAt), Uses: k.Uses,
		RevokedAt: unixPtr(k.RevokedAt), CreatedAt: unix(k.CreatedAt)}
}

func (p *publicAPI) listRegistrationKeys(c *gin.Context) {
	ws := c.Query("workspace_id")
	if !input.ID(ws) {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "the workspace_id query parameter must be a workspace's id")
		return
	}
	keys, err := p.d.RegKeys.ListFor(c.Request.Context(), principalFrom(c).UserID, principalFrom(c).scopeTeam(), ws)
	switch {
	case errors.Is(err, regkeys.ErrViewOnly):
		apiError(c, http.StatusForbidden, reasonForbidden, "only the managers of workspace "+ws+" may see and revoke its registration keys")
		return
	case errors.Is(err, regkeys.ErrNotFound):
		apiError(c, http.StatusNotFound, reasonNotFound, "no workspace "+ws+" that you may view")
		return
	case err != nil:
		p.internal(c, "list registration keys", err)
		return
	}
	c.JSON(http.StatusOK, mapJSON(keys, registrationKeyJSON))
}

// createRegistrationKey makes a key for a workspace (the caller's Default
// one when none is named); the key is in this answer only.
func (p *publicAPI) createRegistrationKey(c *gin.Context) {
	var in struct {
		WorkspaceID *string         `json:"workspace_id"`
		NamePrefix  *string         `json:"name_prefix"`
		Description string          `json:"description"`
		Reusable    bool            `json:"reusable"`
		ExpiresAt   json.RawMessage `json:"expires_at"`
	}
	// A description is free text: it may run over lines.
	if !readJSON(c, &in, true, "description") {
		return
	}
	if in.NamePrefix == nil || strings.TrimSpace(*in.NamePrefix) == "" || len(strings.TrimSpace(*in.NamePrefix)) > 100 {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "name_prefix must be 1 to 100 characters")
		return
	}
	if len(in.Description) > 500 {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "description must be at most 500 characters")
		return
	}
	if in.WorkspaceID != nil && !input.ID(*in.WorkspaceID) {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "workspace_id must be a workspace's id")
		return
	}
	expires, ok := futureTime(c, "expires_at", in.ExpiresAt)
	if !ok {
		return
	}
	user := principalFrom(c).UserID
	ctx := httpx.ActorContext(c, user)
	ws := "" // the creator's Default workspace
	if in.WorkspaceID != nil {
		ws = *in.WorkspaceID
	}
	key, k, err := p.d.RegKeys.Create(ctx, regkeys.NewKey{WorkspaceID: ws, CreatedBy: user, Description: in.Description,
		NamePrefix: *in.NamePrefix, Reusable: in.Reusable, ExpiresAt: expires})
	switch {
	case errors.Is(err, regkeys.ErrForbidden):
		apiError(c, http.StatusForbidden, reasonForbidden, "you may not add instances to workspace "+cmp.Or(ws, "Default")+" (or it does not exist)")
		return
	case errors.Is(err, regkeys.ErrInvalid):
		apiError(c, http.StatusBadRequest, reasonInvalidInput, say(err, regkeys.ErrInvalid))
		return
	case err != nil:
		p.internal(c, "create registration key", err)
		return
	}
	b := registrationKeyJSON(k)
	b.Key = key
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, b)
}

type revokedBody struct {
	Object  string `json:"object"`
	ID      string `json:"id"`
	Revoked bool   `json:"revoked"`
}

func (p *publicAPI) revokeRegistrationKey(c *gin.Context) {
	id := c.Param("id")
	notFound := func() {
		apiError(c, http.StatusNotFound, reasonNotFound, "no live registration key "+id+" that you manage")
	}
	if !input.ID(id) {
		notFound()
		return
	}
	err := p.d.RegKeys.RevokeFor(httpx.ActorContext(c, principalFrom(c).UserID), principalFrom(c).UserID, principalFrom(c).scopeTeam(), id)
	if errors.Is(err, regkeys.ErrNotFound) {
		notFound()
		return
	}
	if err != nil {
		p.internal(c, "revoke registration key", err)
		return
	}
	c.JSON(http.StatusOK, revokedBody{Object: "registration_key", ID: id, Revoked: true})
}
