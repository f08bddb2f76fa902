package httpx

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestClientAddressReadsOnlyTheNamedHeader: with each setting of
// CAIDO_CLOUD_CLIENT_IP_HEADER, the named header names the client and the
// other two, whatever they say, are not read.
func TestClientAddressReadsOnlyTheNamedHeader(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	all := map[string]string{
		"X-Forwarded-For": "203.0.113.1, 10.9.9.9",
		"Forwarded":       `for=203.0.113.2, for="10.9.9.9:80"`,
		"X-Real-IP":       "203.0.113.3",
	}
	cases := []struct {
		header, peer string
		headers      map[string]string
		want         string
	}{
		{"", "10.1.2.3:443", all, "203.0.113.1"},
		{HeaderXForwardedFor, "10.1.2.3:443", all, "203.0.113.1"},
		{HeaderForwarded, "10.1.2.3:443", all, "203.0.113.2"},
		{HeaderXRealIP, "10.1.2.3:443", all, "203.0.113.3"},
		// The named header absent: the proxy's own address, never another header's.
		{HeaderForwarded, "10.1.2.3:443", map[string]string{"X-Forwarded-For": "203.0.113.1"}, "10.1.2.3"},
		{HeaderXRealIP, "10.1.2.3:443", map[string]string{"Forwarded": "for=203.0.113.2"}, "10.1.2.3"},
		{HeaderXForwardedFor, "10.1.2.3:443", map[string]string{"X-Real-IP": "203.0.113.3"}, "10.1.2.3"},
		// An untrusted peer: no header at all.
		{HeaderXRealIP, "198.51.100.7:5000", all, "198.51.100.7"},
		{HeaderForwarded, "198.51.100.7:5000", all, "198.51.100.7"},
	}
	for _, tc := range cases {
		t.Run(tc.header+"/"+tc.want, func(t *testing.T) {
			var got string
			h := ClientAddress(trusted, tc.header, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				got = ClientIP(r)
			}))
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
	t.Run("x-real-ip twice", func(t *testing.T) {
		var got string
		h := ClientAddress(trusted, HeaderXRealIP, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = ClientIP(r) }))
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = "10.1.2.3:443"
		req.Header.Add("X-Real-IP", "198.51.100.1")
		req.Header.Add("X-Real-IP", "203.0.113.3")
		h.ServeHTTP(httptest.NewRecorder(), req)
		if got != "203.0.113.3" {
			t.Fatalf("client %q, want the last X-Real-IP", got)
		}
	})
	// Behind ClientAddress, the router's ResolveClientIP keeps its decision.
	t.Run("router behind the edge", func(t *testing.T) {
		r := gin.New()
		var got string
		r.Use(ResolveClientIP(trusted))
		r.GET("/", func(c *gin.Context) { got = ClientIP(c.Request) })
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = "10.1.2.3:443"
		for k, v := range all {
			req.Header.Set(k, v)
		}
		ClientAddress(trusted, HeaderXRealIP, r).ServeHTTP(httptest.NewRecorder(), req)
		if got != "203.0.113.3" {
			t.Fatalf("client %q, want X-Real-IP's 203.0.113.3 as the edge decided", got)
		}
	})
}
