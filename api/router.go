package api

import (
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/api/admin"
	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/api/instance"
	"github.com/caido-cloud/caido-cloud/approval"
	"github.com/caido-cloud/caido-cloud/assistant"
	"github.com/caido-cloud/caido-cloud/audit"
	"github.com/caido-cloud/caido-cloud/instanceapi"
	"github.com/caido-cloud/caido-cloud/mail"
	"github.com/caido-cloud/caido-cloud/oidc"
	"github.com/caido-cloud/caido-cloud/oidc/clients"
	"github.com/caido-cloud/caido-cloud/oidc/device"
	"github.com/caido-cloud/caido-cloud/pats"
	"github.com/caido-cloud/caido-cloud/regkeys"
	"github.com/caido-cloud/caido-cloud/sharing"
	"github.com/caido-cloud/caido-cloud/teams"
	"github.com/caido-cloud/caido-cloud/telemetry"
)

// Deps are what the handlers need; the router takes them explicitly.
type Deps struct {
	// Readiness is what /readyz asks; InstanceAPI is the instance calls'
	// store.
	Readiness   admin.Checks
	InstanceAPI *instanceapi.Store
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
	// Audit reads the audit log (the personal one; a team's is teams').
	Audit *audit.Log
	// Mail sends invitations, verification mails and security notices.
	Mail mail.Sender
	// Accounts and PublicURL are the web pages' (api/web.go): PublicURL
	// starting with https makes their cookies Secure.
	Accounts  *accounts.Service
	PublicURL string
	// TrustedProxies are the peers whose X-Forwarded-For or Forwarded
	// header names the client (api/clientip.go).
	TrustedProxies []netip.Prefix
}

func init() { gin.SetMode(gin.ReleaseMode) }

// NewRouter returns the HTTP handler of the whole service, or an error
// naming a part it lacks.
func NewRouter(d Deps) (*gin.Engine, error) {
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
		httpx.AccessLog(d.Log),
		httpx.Recovery(d.Log),
		httpx.ResolveClientIP(d.TrustedProxies),
	)
	if strings.HasPrefix(d.PublicURL, "https://") {
		r.Use(httpx.StrictTransportSecurity)
	}
	r.NoRoute(httpx.NotFound)
	r.NoMethod(httpx.MethodNotAllowed)

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	if err := d.Readiness.Validate(); err != nil {
		return nil, err
	}
	r.GET("/readyz", admin.Readiness(d.Readiness, false)) // details on the operator listener
	// /metrics is the admin listener's (api/admin.go), not the public one's.
	r.GET("/openapi.json", openAPIHandler())
	if d.Provider != nil {
		mountIdentity(r, d)
		if err := instance.Mount(r, instance.Deps{Provider: d.Provider, Sessions: d.Sessions, Store: d.InstanceAPI,
			Assistant: d.Assistant, Log: d.Log}); err != nil {
			return nil, err
		}
		mountHeadless(r, d)
		mountWeb(r, d)
		mountPublicAPI(r, d)
	}
	return r, nil
}
