package httpx

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:aa::/48")}
	cases := []struct {
		name, peer string
		headers    map[string]string
		want       string
	}{
		{"no proxy", "198.51.100.7:5000", nil, "198.51.100.7"},
		{"untrusted peer's header is ignored", "198.51.100.7:5000", map[string]string{"X-Forwarded-For": "203.0.113.9"}, "198.51.100.7"},
		{"untrusted peer's Forwarded is ignored", "198.51.100.7:5000", map[string]string{"Forwarded": "for=203.0.113.9"}, "198.51.100.7"},
		{"trusted proxy names the client", "10.1.2.3:443", map[string]string{"X-Forwarded-For": "203.0.113.9"}, "203.0.113.9"},
		{"a forged entry left of the real client", "10.1.2.3:443", map[string]string{"X-Forwarded-For": "1.2.3.4, 203.0.113.9"}, "203.0.113.9"},
		{"two trusted proxies", "10.1.2.3:443", map[string]string{"X-Forwarded-For": "203.0.113.9, 10.9.9.9"}, "203.0.113.9"},
		{"only proxies in the chain", "10.1.2.3:443", map[string]string{"X-Forwarded-For": "10.7.7.7"}, "10.7.7.7"},
		{"garbage stops at the last trusted hop", "10.1.2.3:443", map[string]string{"X-Forwarded-For": "203.0.113.9, nonsense"}, "10.1.2.3"},
		{"trusted proxy without header", "10.1.2.3:443", nil, "10.1.2.3"},
		{"Forwarded is not read by default", "10.1.2.3:443", map[string]string{"Forwarded": "for=203.0.113.9", "X-Forwarded-For": "198.51.100.1"}, "198.51.100.1"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:443", map[string]string{"X-Forwarded-For": "203.0.113.9"}, "203.0.113.9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := gin.New()
			var got string
			r.Use(ResolveClientIP(trusted))
			r.GET("/", func(c *gin.Context) { got = ClientIP(c.Request) })
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tc.peer
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			r.ServeHTTP(httptest.NewRecorder(), req)
			if got != tc.want {
				t.Fatalf("client %q, want %q", got, tc.want)
			}
		})
	}
	// With Forwarded named (CAIDO_CLOUD_CLIENT_IP_HEADER=forwarded).
	for _, tc := range []struct {
		name, peer string
		headers    map[string]string
		want       string
	}{
		{"Forwarded with port and quotes", "10.1.2.3:443", map[string]string{"Forwarded": `for="203.0.113.9:4711";proto=https`}, "203.0.113.9"},
		{"Forwarded IPv6", "[2001:db8:aa::1]:443", map[string]string{"Forwarded": `for="[2001:db8:cafe::17]:4711", for=10.0.0.5`}, "2001:db8:cafe::17"},
		{"Forwarded obfuscated", "10.1.2.3:443", map[string]string{"Forwarded": "for=_hidden"}, "10.1.2.3"},
		{"X-Forwarded-For is not read", "10.1.2.3:443", map[string]string{"X-Forwarded-For": "203.0.113.9"}, "10.1.2.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			h := ClientAddress(trusted, HeaderForwarded, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = ClientIP(r) }))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tc.peer
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			if got != tc.want {
				t.Fatalf("client %q, want %q", got, tc.want)
			}
		})
	}
	// With no trusted proxy configured, nothing is believed.
	r := gin.New()
	var got string
	r.Use(ResolveClientIP(nil))
	r.GET("/", func(c *gin.Context) { got = ClientIP(c.Request) })
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "10.1.2.3:443"
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	r.ServeHTTP(httptest.NewRecorder(), req)
	if got != "10.1.2.3" {
		t.Fatalf("no trusted proxies: client %q", got)
	}
}
