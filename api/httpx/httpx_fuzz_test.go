package httpx_test

// Fuzz targets for the headers every request carries that the service
// parses: the client address headers (through the exported entry points,
// ClientAddress with each header an operator may name and ResolveClientIP,
// then ClientIP, around a real gin engine) and Authorization.

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

// fuzzModes are the ways a request's client address is decided: the
// edge handler with each header the operator may name ("" is its default,
// X-Forwarded-For), and the router's own ResolveClientIP alone ("router").
var fuzzModes = []string{httpx.HeaderXForwardedFor, httpx.HeaderForwarded, httpx.HeaderXRealIP, "", "router"}

// fuzzHeaderOf is the header a mode reads.
func fuzzHeaderOf(mode string) string {
	switch mode {
	case httpx.HeaderForwarded:
		return "Forwarded"
	case httpx.HeaderXRealIP:
		return "X-Real-Ip"
	}
	return "X-Forwarded-For"
}

// clientIPOf serves one request from peer with the headers set (each
// line of a value one header line; the empty ones left out) and returns
// what ClientIP and ClientAddr said: decided as mode says, or with nothing
// in front of the handler when mode is "none" (the socket's).
func clientIPOf(t *testing.T, mode, peer string, headers map[string]string) (string, netip.Addr) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = peer
	for name, v := range headers {
		if v != "" {
			req.Header[http.CanonicalHeaderKey(name)] = strings.Split(v, "\n")
		}
	}
	var ip string
	var addr netip.Addr
	r := gin.New()
	if mode != "none" {
		r.Use(httpx.ResolveClientIP(fuzzTrusted))
	}
	r.GET("/", func(c *gin.Context) { ip, addr = httpx.ClientIP(c.Request), httpx.ClientAddr(c.Request) })
	var h http.Handler = r
	if mode != "none" && mode != "router" {
		h = httpx.ClientAddress(fuzzTrusted, mode, r)
	}
	h.ServeHTTP(httptest.NewRecorder(), req)
	return ip, addr
}

// FuzzClientIP: whatever the headers say, the client address is an
// address (when the peer's is one), canonical, and the peer's own unless
// the peer is a trusted proxy; a header from an untrusted peer changes
// nothing, and neither does any header but the one the operator named;
// what a client puts left of the chain (or on an earlier X-Real-IP line)
// never changes who the client is once an untrusted hop was found.
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
		{"10.1.2.3:443", "198.51.100.1", "for=203.0.113.9", "192.0.2.4"},
		{"10.1.2.3:443", "", "for=_hidden", ""},
		{"10.1.2.3:443", "", "for=unknown;by=10.0.0.1, FOR=203.0.113.4", ""},
		{"10.1.2.3:443", "", "", "203.0.113.9"},
		{"10.1.2.3:443", "", "", "203.0.113.9\n10.0.0.9"},
		{"10.1.2.3:443", "", "", "[2001:db8::1]:80"},
		{"[::ffff:10.1.2.3]:443", "203.0.113.9", "", ""},
		{"10.1.2.3:443", "::ffff:203.0.113.9, [::ffff:10.1.1.1]:80", "", ""},
		{"10.1.2.3:443", "fe80::1%eth0", "", ""},
		{"10.1.2.3:443", "[fe80::1%25eth0]:1", `for="[fe80::1%eth0]"`, "fe80::1%x"},
		{"10.1.2.3:443", ",,,", ";;;,=,for=", " "},
		{"10.1.2.3:443", strings.Repeat("10.0.0.1, ", 50) + "203.0.113.9", "", ""},
		{"10.1.2.3", "203.0.113.9", "", ""},
		{"", "203.0.113.9", "", ""},
		{"@", "", "", ""},
		{"[::1]", "", "", ""},
		{"10.1.2.3:443", "\xff\x00", "for=\"\xff\"", "\x00"},
	} {
		for i := range fuzzModes {
			f.Add(uint8(i), s.peer, s.xff, s.fwd, s.realIP)
		}
	}
	gin.SetMode(gin.TestMode)
	f.Fuzz(func(t *testing.T, which uint8, peer, xff, fwd, realIP string) {
		mode := fuzzModes[int(which)%len(fuzzModes)]
		named := fuzzHeaderOf(mode)
		headers := map[string]string{"X-Forwarded-For": xff, "Forwarded": fwd, "X-Real-Ip": realIP}
		ip, addr := clientIPOf(t, mode, peer, headers)
		bare, _ := clientIPOf(t, "none", peer, headers)
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = peer
		peerIP := httpx.ClientAddr(req) // the socket's address, parsed
		// A zone (fe80::1%eth0) is kept as a header gave it, any bytes:
		// only the address itself must be clean. (PostgreSQL's inet drops
		// the zone; rate-limit keys do too.)
		if a, err := netip.ParseAddr(ip); err == nil && !utf8.ValidString(a.WithZone("").String()) ||
			err != nil && ip != peer {
			t.Fatalf("ClientIP = %q (peer %q)", ip, peer)
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
		if !fuzzIsTrusted(peerIP) || headers[named] == "" {
			if addr != peerIP {
				t.Fatalf("%s: peer %s (untrusted, or without %s) became %s", mode, peerIP, named, addr)
			}
			return
		}
		// Only the header named counts.
		if only, _ := clientIPOf(t, mode, peer, map[string]string{named: headers[named]}); only != ip {
			t.Fatalf("%s: the other headers changed the client from %s to %s", mode, only, ip)
		}
		if addr != peerIP && !fuzzIsTrusted(addr) {
			// Found an untrusted hop: whatever is put left of the chain
			// (or on an earlier line of X-Real-IP) cannot change it.
			forged := map[string]string{}
			for k, v := range headers {
				forged[k] = v
			}
			switch named {
			case "Forwarded":
				forged[named] = "for=192.0.2.66, " + headers[named]
			case "X-Real-Ip":
				forged[named] = "192.0.2.66\n" + headers[named]
			default:
				forged[named] = "192.0.2.66, " + headers[named]
			}
			if again, _ := clientIPOf(t, mode, peer, forged); again != ip {
				t.Fatalf("%s: an entry put before %q changed the client from %s to %s", mode, headers[named], ip, again)
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
