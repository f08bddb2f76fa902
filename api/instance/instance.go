// Package instance is the surface instances call: the reference's instance
// API (liveness, the owner and workspace, a user's session and profile,
// releases and packages) and the assistant, each behind the token kind it
// takes.
package instance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"regexp"
	"time"

	"github.com/caido-cloud/caido-cloud/assistant"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/input"
	"github.com/caido-cloud/caido-cloud/instanceapi"
	"github.com/caido-cloud/caido-cloud/oidc"
)

// Deps are what the instance API and the assistant call, all required.
type Deps struct {
	Provider  *oidc.Provider
	Sessions  *oidc.Sessions
	Store     *instanceapi.Store
	Assistant *assistant.Service
	Log       *slog.Logger
}

// Mount routes the calls instances make: the reference's instance API and
// the assistant.
func Mount(r gin.IRouter, d Deps) error {
	for name, v := range map[string]any{"Provider": d.Provider, "Sessions": d.Sessions, "Store": d.Store, "Assistant": d.Assistant, "Log": d.Log} {
		if reflect.ValueOf(v).IsNil() {
			return fmt.Errorf("api/instance: %s is required", name)
		}
	}
	h := instanceHandlers{store: d.Store, sessions: d.Sessions, log: d.Log}
	asInstance := requireToken(d.Provider, oidc.KindInstance)
	asUser := requireToken(d.Provider, oidc.KindUser)
	r.POST("/instance/alive", asInstance, h.alive)
	r.GET("/instance/owner", asInstance, h.owner)
	r.GET("/instance/workspace", asInstance, h.workspace)
	r.GET("/instance/user/session", asUser, h.session)
	r.GET("/instance/user/profile", asUser, h.profile)
	r.POST("/instance/user/session/revoke", asUser, h.revoke)
	// Public: an instance asks before anyone signs in.
	r.GET("/releases/latest", h.latestRelease)
	r.GET("/store/packages", h.packages)
	mountAssistant(r, d)
	return nil
}

type instanceHandlers struct {
	store    *instanceapi.Store
	sessions *oidc.Sessions
	log      *slog.Logger
}

func (h instanceHandlers) fail(c *gin.Context, err error) {
	if errors.Is(err, instanceapi.ErrNotFound) {
		httpx.Abort(c, http.StatusNotFound, "not_found", "nothing here yet (is the instance claimed?)")
		return
	}
	h.log.ErrorContext(c.Request.Context(), "instance API", "route", c.FullPath(), "error", err)
	httpx.Unavailable(c, "temporarily_unavailable", "could not answer now; retry")
}

// aliveBody is the reference's InstanceAliveInput; the body is optional.
type aliveBody struct {
	OS *struct {
		Kind    *string `json:"kind"`
		Name    *string `json:"name"`
		Version *string `json:"version"`
	} `json:"os"`
}

// caidoVersion finds the product version in a User-Agent such as
// "caido/0.51.0 (linux; x86_64)".
var caidoVersion = regexp.MustCompile(`(?i)\bcaido(?:-cli|-desktop)?/([0-9A-Za-z.+-]{1,40})`)

func (h instanceHandlers) alive(c *gin.Context) {
	var body aliveBody
	raw, err := io.ReadAll(io.LimitReader(c.Request.Body, 64<<10))
	if err != nil {
		httpx.Abort(c, http.StatusBadRequest, "invalid_request", "could not read the body")
		return
	}
	if err := input.CheckJSON(raw); err != nil {
		httpx.Abort(c, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &body); err != nil {
			httpx.Abort(c, http.StatusBadRequest, "invalid_request", "the body must be JSON like {\"os\": {\"kind\", \"name\", \"version\"}} or empty")
			return
		}
	}
	r := instanceapi.Report{IP: httpx.ClientAddr(c.Request)}
	if body.OS != nil {
		r.OSKind, r.OSName, r.OSVersion = limit(body.OS.Kind), limit(body.OS.Name), limit(body.OS.Version)
	}
	if m := caidoVersion.FindStringSubmatch(c.GetHeader("User-Agent")); m != nil {
		r.Version = &m[1]
	}
	if err := h.store.RecordAlive(c.Request.Context(), CallerFrom(c).InstanceID, r, time.Now()); err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusOK)
}

// limit keeps what an instance reports to a sane length, in bytes, cut
// between characters.
func limit(s *string) *string {
	if s != nil && len(*s) > 200 {
		cut := input.Cut(*s, 200)
		return &cut
	}
	return s
}

func (h instanceHandlers) owner(c *gin.Context) {
	o, err := h.store.Owner(c.Request.Context(), CallerFrom(c).InstanceID)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, o)
}

func (h instanceHandlers) workspace(c *gin.Context) {
	w, err := h.store.Workspace(c.Request.Context(), CallerFrom(c).InstanceID)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, w)
}

// session answers from what the token check already read of the session
// (one round trip for the whole call), and writes only when a ping is due.
func (h instanceHandlers) session(c *gin.Context) {
	caller := CallerFrom(c)
	st := caller.Session
	now := time.Now()
	if instanceapi.PingDue(st.LastPingAt, now) {
		if err := h.store.Ping(c.Request.Context(), caller.SessionID, httpx.ClientAddr(c.Request), now); err != nil {
			h.fail(c, err)
			return
		}
	}
	c.JSON(http.StatusOK, instanceapi.Session{
		ID: caller.SessionID, ClientID: caller.ClientID, UserID: caller.Subject,
		WorkspaceID: caller.WorkspaceID, Generation: st.Generation, Scopes: st.Scopes, CreatedAt: st.CreatedAt,
		ExpiresAt: time.Unix(caller.Expiry, 0).UTC(), // this token's expiry: when the instance must refresh
	})
}

func (h instanceHandlers) profile(c *gin.Context) {
	caller := CallerFrom(c)
	if !caller.HasScope(oidc.ScopeProfile) {
		httpx.Abort(c, http.StatusForbidden, "insufficient_scope", "this token was not granted profile:read")
		return
	}
	p, err := h.store.Profile(c.Request.Context(), caller.Subject)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

func (h instanceHandlers) revoke(c *gin.Context) {
	if err := h.sessions.Revoke(c.Request.Context(), CallerFrom(c).SessionID, oidc.ReasonLogout); err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusOK)
}

func (h instanceHandlers) latestRelease(c *gin.Context) {
	body, err := h.store.LatestRelease(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json", body)
}

func (h instanceHandlers) packages(c *gin.Context) {
	kind := c.Query("kind")
	if kind != "" && kind != "community" && kind != "official" {
		httpx.Abort(c, http.StatusBadRequest, "invalid_request", "kind is community or official")
		return
	}
	body, err := h.store.Packages(c.Request.Context(), kind)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json", body)
}
