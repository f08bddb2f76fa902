package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/oidc/signing"
)

// AdminDeps are the operator listener's: the public Deps, the operator
// credential, and the signing keys to rotate.
type AdminDeps struct {
	Deps
	// Token is CAIDO_CLOUD_ADMIN_TOKEN; empty: /admin/v1/* answers 401.
	Token string
	Keys  *signing.Keys
}

// NewAdminRouter is the operator-only listener (CAIDO_CLOUD_ADMIN_LISTEN_ADDR,
// loopback by default): metrics, readiness with details, and /admin/v1/*
// behind the operator credential. None of it is routed on the public
// listener. Every action here has a CLI subcommand too, which talks to the
// database directly.
func NewAdminRouter(d AdminDeps) *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.ForwardedByClientIP = false
	_ = r.SetTrustedProxies(nil)
	r.Use(accessLog(d.Log), recovery(d.Log))
	r.NoRoute(notFound)
	r.NoMethod(methodNotAllowed)
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", readiness(d.Deps, true))
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
			abort(c, http.StatusUnauthorized, "unauthorized", "the operator credential (CAIDO_CLOUD_ADMIN_TOKEN) is required")
			return
		}
		c.Request = c.Request.WithContext(access.WithActor(c.Request.Context(), access.Actor{})) // the operator
	})
	v1.GET("/users", h.findUser)
	v1.GET("/users/:id/export", h.exportUser)
	v1.DELETE("/users/:id", h.deleteUser)
	v1.PUT("/teams/:id/subscription", h.setSubscription)
	v1.POST("/vouchers", h.createVoucher)
	v1.POST("/keys/rotate", h.rotateKeys)
	return r
}

type adminHandlers struct{ d AdminDeps }

// adminError answers a domain error with its 4xx, or a 500 when it is ours.
func (h adminHandlers) adminError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, access.ErrNotFound):
		abort(c, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, access.ErrInvalid):
		abort(c, http.StatusBadRequest, "invalid_request", err.Error())
	case errors.Is(err, access.ErrConflict):
		abort(c, http.StatusConflict, "conflict", err.Error())
	default:
		h.d.Log.ErrorContext(c.Request.Context(), "admin action failed", "route", c.FullPath(), "error", err)
		abort(c, http.StatusInternalServerError, "server_error", "an internal error occurred")
	}
}

// findUser looks a user up by email: the account and their teams.
func (h adminHandlers) findUser(c *gin.Context) {
	email := c.Query("email")
	if email == "" {
		abort(c, http.StatusBadRequest, "invalid_request", "give the user's address: ?email=")
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
		abort(c, http.StatusBadRequest, "invalid_request", "want JSON {plan, seats, trial?, ends_at?}")
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
		abort(c, http.StatusBadRequest, "invalid_request", "want JSON {plan, days, claims?, expires_at?}")
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

// rotateKeys replaces the signing key now; the old one stays published
// until its tokens expire.
func (h adminHandlers) rotateKeys(c *gin.Context) {
	if h.d.Keys == nil {
		abort(c, http.StatusConflict, "conflict", "this server holds no master key, so no signing keys")
		return
	}
	ctx := c.Request.Context()
	rotated, err := h.d.Keys.RotateAll(ctx)
	if err != nil {
		h.adminError(c, err)
		return
	}
	kids := map[string]string{}
	for alg, kid := range rotated {
		kids[string(alg)] = kid
	}
	c.JSON(http.StatusOK, gin.H{"keys": kids})
}
