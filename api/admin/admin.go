package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caido-cloud/caido-cloud/audit"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/oidc/signing"
	"github.com/caido-cloud/caido-cloud/telemetry"
)

// Deps are what the operator listener calls. Backups may be nil (no
// backups configured on this replica: readiness says so); Keys is nil on a
// replica that holds no master key (rotation then answers 503).
type Deps struct {
	Checks
	// Token is CAIDO_CLOUD_ADMIN_TOKEN; empty: /admin/v1/* answers 401.
	Token     string
	Access    *access.Service
	Keys      *signing.Keys
	Telemetry *telemetry.Providers
	Log       *slog.Logger
}

// New is the operator-only listener (CAIDO_CLOUD_ADMIN_LISTEN_ADDR,
// loopback by default): metrics, readiness with details, and /admin/v1/*
// behind the operator credential. None of it is routed on the public
// listener. Every action here has a CLI subcommand too, which calls the
// same services.
func New(d Deps) (*gin.Engine, error) {
	if err := d.Checks.Validate(); err != nil {
		return nil, err
	}
	if d.Access == nil || d.Telemetry == nil || d.Log == nil {
		return nil, errors.New("api/admin: Access, Telemetry and Log are required")
	}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.ForwardedByClientIP = false
	_ = r.SetTrustedProxies(nil)
	r.Use(httpx.AccessLog(d.Log), httpx.Recovery(d.Log))
	r.NoRoute(httpx.NotFound)
	r.NoMethod(httpx.MethodNotAllowed)
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", Readiness(d.Checks, true))
	r.GET("/metrics", gin.WrapH(d.Telemetry.MetricsHandler()))

	h := adminHandlers{d: d}
	// The token is compared by its hash, in constant time, so that neither
	// its length nor a prefix leaks through timing.
	want := sha256.Sum256([]byte(d.Token))
	v1 := r.Group("/admin/v1", func(c *gin.Context) {
		presented, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(presented))
		if d.Token == "" || !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			c.Header("WWW-Authenticate", `Bearer realm="caido-cloud-admin"`)
			httpx.Abort(c, http.StatusUnauthorized, "unauthorized", "the operator credential (CAIDO_CLOUD_ADMIN_TOKEN) is required")
			return
		}
		c.Request = c.Request.WithContext(audit.WithActor(c.Request.Context(), audit.Actor{})) // the operator
	})
	v1.GET("/users", h.findUser)
	v1.GET("/users/:id/export", h.exportUser)
	v1.DELETE("/users/:id", h.deleteUser)
	v1.PUT("/teams/:id/subscription", h.setSubscription)
	v1.POST("/vouchers", h.createVoucher)
	v1.POST("/keys/rotate", h.rotateKeys)
	return r, nil
}

type adminHandlers struct{ d Deps }

// adminError answers a domain error with its 4xx, or a 500 when it is ours.
func (h adminHandlers) adminError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, access.ErrNotFound):
		httpx.Abort(c, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, access.ErrInvalid):
		httpx.Abort(c, http.StatusBadRequest, "invalid_request", err.Error())
	case errors.Is(err, access.ErrConflict):
		httpx.Abort(c, http.StatusConflict, "conflict", err.Error())
	default:
		h.d.Log.ErrorContext(c.Request.Context(), "admin action failed", "route", c.FullPath(), "error", err)
		httpx.Abort(c, http.StatusInternalServerError, "server_error", "an internal error occurred")
	}
}

// findUser looks a user up by email: the account and their teams.
func (h adminHandlers) findUser(c *gin.Context) {
	email := c.Query("email")
	if email == "" {
		httpx.Abort(c, http.StatusBadRequest, "invalid_request", "give the user's address: ?email=")
		return
	}
	acct, err := h.d.Access.AccountByEmail(c.Request.Context(), email)
	if err != nil {
		h.adminError(c, err)
		return
	}
	teams, err := h.d.Access.Memberships(c.Request.Context(), acct.ID)
	if err != nil {
		h.adminError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"user": acct, "teams": teams})
}

func (h adminHandlers) exportUser(c *gin.Context) {
	doc, err := h.d.Access.Export(c.Request.Context(), c.Param("id"))
	if err != nil {
		h.adminError(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json", doc)
}

// deleteUser deletes an account on the person's request (access.DeleteAccount
// says what goes with it).
func (h adminHandlers) deleteUser(c *gin.Context) {
	ch, err := h.d.Access.DeleteAccount(c.Request.Context(), c.Param("id"))
	if err != nil {
		h.adminError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deleted": true, "pending": ch.Pending})
}

func (h adminHandlers) setSubscription(c *gin.Context) {
	var body struct {
		Plan   string     `json:"plan" binding:"required"`
		Seats  *int       `json:"seats" binding:"required"`
		Trial  bool       `json:"trial"`
		EndsAt *time.Time `json:"ends_at"`
	}
	if err := c.ShouldBindJSON(&body); err != nil {
		httpx.Abort(c, http.StatusBadRequest, "invalid_request", "want JSON {plan, seats, trial?, ends_at?}")
		return
	}
	sub, err := h.d.Access.SetTeamSubscription(c.Request.Context(), c.Param("id"), body.Plan, *body.Seats, body.Trial, body.EndsAt)
	if err != nil {
		h.adminError(c, err)
		return
	}
	c.JSON(http.StatusOK, sub)
}

func (h adminHandlers) createVoucher(c *gin.Context) {
	var body struct {
		Plan      string     `json:"plan" binding:"required"`
		Days      int        `json:"days" binding:"required"`
		Claims    int        `json:"claims"`
		ExpiresAt *time.Time `json:"expires_at"`
	}
	if err := c.ShouldBindJSON(&body); err != nil {
		httpx.Abort(c, http.StatusBadRequest, "invalid_request", "want JSON {plan, days, claims?, expires_at?}")
		return
	}
	if body.Claims == 0 {
		body.Claims = 1
	}
	code, err := h.d.Access.CreateVoucher(c.Request.Context(), body.Plan, body.Days, body.Claims, body.ExpiresAt)
	if err != nil {
		h.adminError(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"code": code})
}

// rotateKeys rotates the signing keys. By default at once, as it always
// has (a suspected leak is why an operator calls it, and callers rely on
// the switch): {"now": false} in the body, or ?now=false, schedules keys
// published ahead instead, as `keys rotate` without --now does. Either way
// the old keys stay published until their tokens expire.
func (h adminHandlers) rotateKeys(c *gin.Context) {
	if h.d.Keys == nil {
		httpx.Abort(c, http.StatusConflict, "conflict", "this server holds no master key, so no signing keys")
		return
	}
	atOnce := true
	if v, ok := c.GetQuery("now"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			httpx.Abort(c, http.StatusBadRequest, "invalid_request", "now is true or false")
			return
		}
		atOnce = b
	}
	// The body is optional: an empty one (today's callers) keeps the default.
	var body struct {
		Now *bool `json:"now"`
	}
	if err := json.NewDecoder(c.Request.Body).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		httpx.Abort(c, http.StatusBadRequest, "invalid_request", `want no body or JSON {"now": true|false}`)
		return
	}
	if body.Now != nil {
		atOnce = *body.Now
	}
	ctx := c.Request.Context()
	rotated, err := h.d.Keys.RotateAll(ctx, atOnce)
	if err != nil {
		h.adminError(c, err)
		return
	}
	kids, from := map[string]string{}, map[string]time.Time{}
	for alg, r := range rotated {
		kids[string(alg)] = r.KID
		from[string(alg)] = r.SignsFrom
	}
	out := gin.H{"keys": kids, "signs_from": from}
	if atOnce {
		out["warning"] = signing.RotateNowWarning
	}
	c.JSON(http.StatusOK, out)
}
