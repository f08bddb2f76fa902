package public

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/input"
	"github.com/caido-cloud/caido-cloud/pats"
)

// ---- Personal access tokens.

type patBody struct {
	Object     string  `json:"object"`
	ID         string  `json:"id"`
	UserID     string  `json:"user_id"`
	TeamID     *string `json:"team_id"`
	Name       string  `json:"name"`
	CreatedAt  int64   `json:"created_at"`
	ExpiresAt  *int64  `json:"expires_at"`
	LastUsedAt *int64  `json:"last_used_at"`
	// Token is the token itself, in the creation's answer only.
	Token string `json:"token,omitempty"`
}

func patJSON(t pats.Token) patBody {
	return patBody{Object: "personal_access_token", ID: t.ID, UserID: t.UserID, TeamID: orNull(t.TeamID), Name: t.Name,
		CreatedAt: unix(t.CreatedAt), ExpiresAt: unixPtr(t.ExpiresAt), LastUsedAt: unixPtr(t.LastUsedAt)}
}

// listPATs lists the caller's live tokens, or with team_id the team's (for
// its admins; with a team's token, for its own team only).
func (p *publicAPI) listPATs(c *gin.Context) {
	ctx, user := c.Request.Context(), principalFrom(c).UserID
	var list []pats.Token
	var err error
	if team, ok := c.GetQuery("team_id"); ok {
		if !input.ID(team) {
			apiError(c, http.StatusBadRequest, reasonInvalidInput, "the team_id query parameter must be a team's id")
			return
		}
		if outsideTeam(c, team) {
			return
		}
		list, err = p.d.PATs.ListForTeam(ctx, user, team)
		if errors.Is(err, pats.ErrForbidden) {
			apiError(c, http.StatusForbidden, reasonForbidden, "only the team's admins may list its tokens")
			return
		}
	} else {
		list, err = p.d.PATs.List(ctx, user)
	}
	if err != nil {
		p.internal(c, "list tokens", err)
		return
	}
	c.JSON(http.StatusOK, mapJSON(list, patJSON))
}

// createPAT makes a token for the caller; the token is in this answer only.
// Every caller here holds a personal access token, which pats refuses to
// make tokens with (ErrMadeWithPAT): the endpoint stays so that scripts
// that call it learn where tokens are made.
func (p *publicAPI) createPAT(c *gin.Context) {
	var in struct {
		Name      *string         `json:"name"`
		TeamID    *string         `json:"team_id"`
		ExpiresAt json.RawMessage `json:"expires_at"`
	}
	if !readJSON(c, &in, true) {
		return
	}
	if in.Name == nil {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "name is required")
		return
	}
	if in.TeamID != nil && !input.ID(*in.TeamID) {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, "team_id must be a team's id")
		return
	}
	expires, ok := futureTime(c, "expires_at", in.ExpiresAt)
	if !ok {
		return
	}
	pr := principalFrom(c)
	// The route takes personal access tokens only (authenticate("")).
	n := pats.NewToken{UserID: pr.UserID, Name: *in.Name, ExpiresAt: expires, Via: pats.ViaPAT}
	if in.TeamID != nil {
		n.TeamID = *in.TeamID
	}
	secret, t, err := p.d.PATs.Create(httpx.ActorContext(c, pr.UserID), n)
	if errors.Is(err, pats.ErrMadeWithPAT) {
		apiError(c, http.StatusForbidden, reasonForbidden, pats.ErrMadeWithPAT.Error())
		return
	}
	if errors.Is(err, pats.ErrInvalid) {
		apiError(c, http.StatusBadRequest, reasonInvalidInput, strings.TrimPrefix(err.Error(), pats.ErrInvalid.Error()+": "))
		return
	}
	if err != nil {
		p.internal(c, "create token", err)
		return
	}
	b := patJSON(t)
	b.Token = secret
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, b)
}

func (p *publicAPI) revokePAT(c *gin.Context) {
	id := c.Param("id")
	user := principalFrom(c).UserID
	err := pats.ErrNotFound
	if input.ID(id) {
		err = p.d.PATs.Revoke(httpx.ActorContext(c, user), user, id)
	}
	if errors.Is(err, pats.ErrNotFound) {
		apiError(c, http.StatusNotFound, reasonNotFound, "you have no live personal access token "+id)
		return
	}
	if err != nil {
		p.internal(c, "revoke token", err)
		return
	}
	c.JSON(http.StatusOK, revokedBody{Object: "personal_access_token", ID: id, Revoked: true})
}
