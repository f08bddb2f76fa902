package httpx_test

// Fuzz targets for the headers every request carries that the service
// parses: the client address headers (through ResolveClientIP and ClientIP,
// the exported entry points, on a real gin engine) and Authorization.

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/api/httpx"
)

var fuzzTrusted = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:aa::/48")}

func fuzzIsTrusted(a netip.Addr) bool {
	for _, p := range fuzzTrusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIPOf serves one request from peer with the headers set (the empty
// ones left out) and returns what ClientIP and ClientAddr said.
func clientIPOf(t *testing.T, r *gin.Engine, peer, xff, fwd, realIP string) (string, netip.Addr) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = peer
	for name, v := range map[string]string{"X-Forwarded-For": xff, "Forwarded": fwd, "X-Real-IP": realIP} {
		if v != "" {
			req.Header[name] = strings.Split(v, "\n") // one header line each
		}
	}
	var ip string
	var addr netip.Addr
	r.GET("/", func(c *gin.Context) { ip, addr = httpx.ClientIP(c.Request), httpx.ClientAddr(c.Request) })
	r.ServeHTTP(httptest.NewRecorder(), req)
	return ip, addr
}

// FuzzClientIP: whatever the headers say, the client address is an
// address (when the peer's is one), canonical, and the peer's own unless
// the peer is a trusted proxy; a header from an untrusted peer changes
// nothing; and what a client puts left of the chain never changes who the
// client is once an untrusted hop was found.
func FuzzClientIP(f *testing.F) {
	for _, s := range []struct{ peer, xff, fwd, realIP string }{
		{"198.51.100.7:5000", "", "", ""},
		{"198.51.100.7:5000", "203.0.113.9", "for=203.0.113.9", "203.0.113.9"},
		{"10.1.2.3:443", "203.0.113.9", "", ""},
		{"10.1.2.3:443", "1.2.3.4, 203.0.113.9", "", ""},
		{"10.1.2.3:443", "203.0.113.9, 10.9.9.9", "", ""},
		{"10.1.2.3:443", "10.7.7.7", "", ""},
		{"10.1.2.3:443", "203.0.113.9, nonsense", "", ""},
		{"10.1.2.3:443", "203.0.113.9\n10.5.5.5", "", ""},
		{"10.1.2.3:443", "", `for="203.0.113.9:4711";proto=https`, ""},
		{"[2001:db8:aa::1]:443", "", `for="[2001:db8:cafe::17]:4711", for=10.0.0.5`, ""},
		{"10.1.2.3:443", "198.51.100.1", "for=203.0.113.9", ""},
		{"10.1.2.3:443", "", "for=_hidden", ""},
		{"10.1.2.3:443", "", "for=unknown;by=10.0.0.1, FOR=203.0.113.4", ""},
		{"10.1.2.3:443", "", "", "203.0.113.9"},
		{"[::ffff:10.1.2.3]:443", "203.0.113.9", "", ""},
		{"10.1.2.3:443", "::ffff:203.0.113.9, [::ffff:10.1.1.1]:80", "", ""},
		{"10.1.2.3:443", "fe80::1%eth0", "", ""},
		{"10.1.2.3:443", "[fe80::1%25eth0]:1", `for="[fe80::1%eth0]"`, ""},
		{"10.1.2.3:443", ",,,", ";;;,=,for=", ""},
		{"10.1.2.3:443", strings.Repeat("10.0.0.1, ", 50) + "203.0.113.9", "", ""},
		{"10.1.2.3", "203.0.113.9", "", ""},
		{"", "203.0.113.9", "", ""},
		{"@", "", "", ""},
		{"[::1]", "", "", ""},
		{"10.1.2.3:443", "\xff\x00", "for=\"\xff\"", "\x00"},
	} {
		f.Add(s.peer, s.xff, s.fwd, s.realIP)
	}
	gin.SetMode(gin.TestMode)
	f.Fuzz(func(t *testing.T, peer, xff, fwd, realIP string) {
		engine := func() *gin.Engine {
			r := gin.New()
			r.Use(httpx.ResolveClientIP(fuzzTrusted))
			return r
		}
		ip, addr := clientIPOf(t, engine(), peer, xff, fwd, realIP)
		bare, _ := clientIPOf(t, gin.New(), peer, xff, fwd, realIP) // no middleware: the socket's
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = peer
		peerIP := httpx.ClientAddr(req) // the socket's address, parsed
		if !utf8.ValidString(ip) && utf8.ValidString(peer) {
			t.Fatalf("ClientIP = %q: not UTF-8", ip)
		}
		if !peerIP.IsValid() {
			// No address to start from: nothing is believed.
			if ip != bare {
				t.Fatalf("peer %q is no address, yet ClientIP = %q (the socket's: %q)", peer, ip, bare)
			}
			return
		}
		if bare != peerIP.String() {
			t.Fatalf("without the middleware ClientIP = %q, want the peer's %s", bare, peerIP)
		}
		if !addr.IsValid() || addr.String() != ip || addr.Is4In6() {
			t.Fatalf("ClientIP = %q, ClientAddr = %v: want one canonical, unmapped address", ip, addr)
		}
		if !fuzzIsTrusted(peerIP) || xff == "" && fwd == "" && realIP == "" {
			if addr != peerIP {
				t.Fatalf("peer %s (untrusted or without headers) became %s", peerIP, addr)
			}
			return
		}
		if addr != peerIP && !fuzzIsTrusted(addr) {
			// Found an untrusted hop: whatever is put left of the chain
			// cannot change it.
			prefixed := func(h, junk string) string {
				if h == "" {
					return h
				}
				return junk + ", " + h
			}
			xff2, fwd2 := xff, fwd
			if fwd != "" {
				fwd2 = prefixed(fwd, "for=192.0.2.66")
			} else {
				xff2 = prefixed(xff, "192.0.2.66")
			}
			if again, _ := clientIPOf(t, engine(), peer, xff2, fwd2, realIP); again != ip {
				t.Fatalf("an entry added left of the chain changed the client from %s to %s (XFF %q, Forwarded %q)", ip, again, xff2, fwd2)
			}
		}
	})
}

// FuzzBearer: a token is taken only from a Bearer Authorization header
// (scheme in any case), never empty, never with white space around it.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{
		"Bearer abc", "bearer abc", "BEARER abc", "Bearer  abc ", "Bearer ", "Bearer  ", "Bearer \t", "Bearer",
		"Basic YTpi", "Bearerabc", " Bearer abc", "Bearer a b", "Bearer \xff", "",
	} {
		f.Add(s)
	}
	gin.SetMode(gin.TestMode)
	f.Fuzz(func(t *testing.T, header string) {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
		c.Request.Header["Authorization"] = []string{header}
		token, ok := httpx.Bearer(c)
		if !ok {
			if token != "" {
				t.Fatalf("Bearer(%q) = %q, false", header, token)
			}
			return
		}
		scheme, _, _ := strings.Cut(header, " ")
		if !strings.EqualFold(scheme, "bearer") {
			t.Fatalf("Bearer(%q) took the scheme %q", header, scheme)
		}
		if token == "" || strings.TrimSpace(token) != token || !strings.Contains(header, token) {
			t.Fatalf("Bearer(%q) = %q", header, token)
		}
	})
}
