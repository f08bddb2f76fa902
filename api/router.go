package api

import (
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/approval"
	"github.com/caido-cloud/caido-cloud/assistant"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/backup"
	"github.com/caido-cloud/caido-cloud/instanceapi"
	"github.com/caido-cloud/caido-cloud/mail"
	"github.com/caido-cloud/caido-cloud/oidc"
	"github.com/caido-cloud/caido-cloud/oidc/clients"
	"github.com/caido-cloud/caido-cloud/oidc/device"
	"github.com/caido-cloud/caido-cloud/pats"
	"github.com/caido-cloud/caido-cloud/regkeys"
	"github.com/caido-cloud/caido-cloud/sharing"
	"github.com/caido-cloud/caido-cloud/store"
	"github.com/caido-cloud/caido-cloud/teams"
	"github.com/caido-cloud/caido-cloud/telemetry"
)

// Deps are what the handlers need; the router takes them explicitly.
type Deps struct {
	// Database answers readiness; InstanceAPI is the instance calls' store.
	Database    *store.Probe
	InstanceAPI *instanceapi.Store
	Authz       *authz.Client
	Outbox      *authz.Outbox
	Telemetry   *telemetry.Providers
	Log         *slog.Logger
	// Provider and Clients are nil when the identity side is not built
	// (commands that hold no master key).
	Provider  *oidc.Provider
	Clients   *clients.Service
	Sessions  *oidc.Sessions
	Assistant *assistant.Service
	PATs      *pats.Service
	Devices   *device.Service
	// Approval decides device sign-ins for the device page and headless
	// approval.
	Approval *approval.Service
	// Teams administers teams for the team pages and /api/v1/team/*.
	Teams   *teams.Service
	Access  *access.Service
	RegKeys *regkeys.Service
	// Sharing grants, revokes and lists shares for both the dashboard and
	// /api/v1.
	Sharing *sharing.Service
	// Mail sends invitations, verification mails and security notices.
	Mail mail.Sender
	// Backups, when set, is shown by /readyz; it never fails readiness.
	Backups *backup.Scheduler
	// Accounts and PublicURL are the web pages' (api/web.go): PublicURL
	// starting with https makes their cookies Secure.
	Accounts  *accounts.Service
	PublicURL string
	// TrustedProxies are the peers whose X-Forwarded-For or Forwarded
	// header names the client (api/clientip.go).
	TrustedProxies []netip.Prefix
}

func init() { gin.SetMode(gin.ReleaseMode) }

// NewRouter returns the HTTP handler of the whole service.
func NewRouter(d Deps) *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// gin believes X-Forwarded-For from anyone by default; resolveClientIP
	// decides the client address instead, and gin's own ClientIP is left
	// with the socket's.
	r.ForwardedByClientIP = false
	if err := r.SetTrustedProxies(nil); err != nil {
		panic(err) // nil is always accepted
	}
	r.ContextWithFallback = true // handlers' c.Request.Context() carries the span
	r.Use(
		otelgin.Middleware("caido-cloud",
			otelgin.WithTracerProvider(d.Telemetry.TracerProvider()),
			otelgin.WithMeterProvider(d.Telemetry.MeterProvider())),
		accessLog(d.Log),
		recovery(d.Log),
		resolveClientIP(d.TrustedProxies),
	)
	if strings.HasPrefix(d.PublicURL, "https://") {
		r.Use(strictTransportSecurity)
	}
	r.NoRoute(notFound)
	r.NoMethod(methodNotAllowed)

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", readiness(d, false)) // details on the operator listener
	// /metrics is the admin listener's (api/admin.go), not the public one's.
	r.GET("/openapi.json", openAPIHandler())
	if d.Provider != nil {
		mountIdentity(r, d)
		mountInstanceAPI(r, d)
		mountAssistant(r, d)
		mountHeadless(r, d)
		mountWeb(r, d)
		mountPublicAPI(r, d)
	}
	return r
}

// accessLog logs one line per request. It logs the route template, never
// the raw path or query, which may carry codes or tokens.
func accessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "(no route)"
		}
		level := slog.LevelDebug
		if c.Writer.Status() >= 500 {
			level = slog.LevelError
		}
		log.LogAttrs(c.Request.Context(), level, "request",
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.Int("status", c.Writer.Status()),
			slog.Duration("duration", time.Since(start)))
	}
}

// recovery turns a panic into a 500 with the stable error body; the panic
// value is logged, not sent.
func recovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(c.Request.Context(), "handler panicked", "route", c.FullPath(), "panic", v)
				abort(c, http.StatusInternalServerError, "server_error", "an internal error occurred")
			}
		}()
		c.Next()
	}
}
