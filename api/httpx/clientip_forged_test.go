package httpx

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestForgedForwardedThroughTrustedProxyIsIgnored: Caddy and nginx write
// X-Forwarded-For and pass the client's own Forwarded through. A client
// behind such a trusted proxy that sends "Forwarded: for=<anyone>" must not
// become anyone: only the header the operator names is read.
func TestForgedForwardedThroughTrustedProxyIsIgnored(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	forged := map[string]string{
		"Forwarded":       "for=198.51.100.66", // the client's own, passed through
		"X-Real-IP":       "198.51.100.67",     // likewise
		"X-Forwarded-For": "203.0.113.9",       // what the proxy wrote: the socket it saw
	}
	// The router alone (no ClientAddress around it) reads X-Forwarded-For.
	r := gin.New()
	var got string
	r.Use(ResolveClientIP(trusted))
	r.GET("/", func(c *gin.Context) { got = ClientIP(c.Request) })
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "10.1.2.3:443"
	for k, v := range forged {
		req.Header.Set(k, v)
	}
	r.ServeHTTP(httptest.NewRecorder(), req)
	if got != "203.0.113.9" {
		t.Fatalf("client %q, want 203.0.113.9 (X-Forwarded-For, as the proxy set it): a forged header was believed", got)
	}
}
