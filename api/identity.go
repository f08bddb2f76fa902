package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/api/httpx"
	"github.com/caido-cloud/caido-cloud/oidc"
	"github.com/caido-cloud/caido-cloud/oidc/clients"
)

// mountIdentity routes the OpenID provider's paths and instance
// registration. Each path is routed on its own so that the provider's
// handler never sees, nor shadows, the rest of the service.
func mountIdentity(r *gin.Engine, op *oidc.Provider, registration *clients.Service) {
	provider := gin.WrapH(op.Handler())
	for _, path := range oidc.Paths() {
		r.Any(path, provider)
	}
	// RFC 8414 metadata: the same document as OpenID discovery.
	r.GET(oidc.PathASMetadata, func(c *gin.Context) {
		c.Request.URL.Path = oidc.PathDiscovery
		provider(c)
	})
	dcr := gin.WrapH(registration.Handler(httpx.ClientIP))
	r.POST(oidc.PathRegistration, dcr)
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		r.Handle(method, oidc.PathRegistration+"/:id", dcr)
	}
}
