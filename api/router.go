package api

import (
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"

	"github.com/caido-cloud/caido-cloud/api/admin"
	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/api/instance"
	"github.com/caido-cloud/caido-cloud/api/public"
	"github.com/caido-cloud/caido-cloud/api/web"
	"github.com/caido-cloud/caido-cloud/oidc"
	"github.com/caido-cloud/caido-cloud/oidc/clients"
	"github.com/caido-cloud/caido-cloud/telemetry"
)

// Deps are the engine's own and each surface's, built by app: every
// surface gets exactly what it calls.
type Deps struct {
	Telemetry *telemetry.Providers
	Log       *slog.Logger
	// TrustedProxies are the peers whose client-address header names the
	// client: app's httpx.ClientAddress decides it, from the one header the
	// operator names, before this router runs (httpx.ResolveClientIP).
	TrustedProxies []netip.Prefix
	// PublicURL starting with https turns on Strict-Transport-Security.
	PublicURL string
	// Readiness is what /readyz asks.
	Readiness admin.Checks
	// Identity is nil when the identity side is not built (commands that
	// hold no master key): then only health is routed.
	Identity *Identity
}

// Identity is the OpenID provider with instance registration, and the
// three surfaces behind its tokens and sessions.
type Identity struct {
	Provider *oidc.Provider
	Clients  *clients.Service
	Instance instance.Deps
	Public   public.Deps
	Web      web.Deps
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
	// /metrics is the admin listener's (api/admin), not the public one's.
	if id := d.Identity; id != nil {
		mountIdentity(r, id.Provider, id.Clients)
		if err := instance.Mount(r, id.Instance); err != nil {
			return nil, err
		}
		if err := public.Mount(r, id.Public); err != nil {
			return nil, err
		}
		if err := web.Mount(r, id.Web); err != nil {
			return nil, err
		}
	}
	return r, nil
}
