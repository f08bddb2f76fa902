package httpx

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"
)

// The client's address decides rate limits and goes into the audit log, so
// a header is believed only when the peer that sent it is a configured
// trusted proxy (CAIDO_CLOUD_TRUSTED_PROXIES), and only the one header the
// operator says that proxy sets (CAIDO_CLOUD_CLIENT_IP_HEADER). Caddy and
// nginx write X-Forwarded-For and pass a client's own Forwarded (or
// X-Real-IP) through untouched: reading whichever header is present would
// let a client behind a trusted proxy name any address it likes. The chain
// is read from the right: each trusted hop vouches for the one before it,
// and the first address no trusted proxy stands for is the client. Anyone
// can put anything on the left of the chain; only what trusted proxies
// appended counts.

// The headers CAIDO_CLOUD_CLIENT_IP_HEADER may name, in lower case.
const (
	HeaderXForwardedFor = "x-forwarded-for"
	HeaderForwarded     = "forwarded"
	HeaderXRealIP       = "x-real-ip"
)

// ClientIPHeaders are the headers a proxy may be said to set.
var ClientIPHeaders = []string{HeaderXForwardedFor, HeaderForwarded, HeaderXRealIP}

type clientIPKey struct{}

// resolved is what the context carries once the client address is decided;
// ip is invalid when the socket's address was not one.
type resolved struct{ ip netip.Addr }

// ClientAddress decides every request's client address at the edge of the
// server, before any router runs, from the socket's peer and, when that peer
// is trusted, the one header named (one of ClientIPHeaders; "" is
// X-Forwarded-For). The app wraps the whole service with it.
func ClientAddress(trusted []netip.Prefix, header string, next http.Handler) http.Handler {
	hops := hopsOf(header)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := resolve(r, trusted, hops)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientIPKey{}, resolved{ip})))
	})
}

// ResolveClientIP is the router's own resolution, from X-Forwarded-For, for
// a router served without ClientAddress around it (tests that build the
// router alone). Behind ClientAddress, which knows the operator's header, it
// keeps what was decided there.
func ResolveClientIP(trusted []netip.Prefix) gin.HandlerFunc {
	hops := hopsOf(HeaderXForwardedFor)
	return func(c *gin.Context) {
		if _, done := c.Request.Context().Value(clientIPKey{}).(resolved); !done {
			ip := resolve(c.Request, trusted, hops)
			c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), clientIPKey{}, resolved{ip}))
		}
		c.Next()
	}
}

func hopsOf(header string) func(http.Header) []netip.Addr {
	switch strings.ToLower(header) {
	case HeaderForwarded:
		return forwardedHops
	case HeaderXRealIP:
		return realIPHops
	case HeaderXForwardedFor, "":
		return xForwardedForHops
	}
	panic("httpx: unknown client IP header " + header) // config validates it
}

func resolve(r *http.Request, trusted []netip.Prefix, hopsIn func(http.Header) []netip.Addr) netip.Addr {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	ip := peerAddr(r.RemoteAddr)
	if !ip.IsValid() || !isTrusted(ip) {
		return ip
	}
	hops := hopsIn(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		if !hops[i].IsValid() {
			break // an unusable entry: stay with the last proxy we trust
		}
		ip = hops[i]
		if !isTrusted(ip) {
			break
		}
	}
	return ip
}

// ClientIP is the address the request came from, as ResolveClientIP
// decided; the socket's when it did not run.
func ClientIP(r *http.Request) string {
	if v, ok := r.Context().Value(clientIPKey{}).(resolved); ok && v.ip.IsValid() {
		return v.ip.String()
	}
	if ip := peerAddr(r.RemoteAddr); ip.IsValid() {
		return ip.String()
	}
	return r.RemoteAddr
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// forwardedHops lists the addresses of Forwarded (RFC 7239), leftmost
// (farthest) first. An entry that is not an address (unknown, an obfuscated
// name) is an invalid Addr in its place.
func forwardedHops(h http.Header) []netip.Addr {
	fwd := h.Values("Forwarded")
	if len(fwd) == 0 {
		return nil
	}
	var hops []netip.Addr
	for _, element := range strings.Split(strings.Join(fwd, ","), ",") {
		var hop netip.Addr
		for _, pair := range strings.Split(element, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if ok && strings.EqualFold(k, "for") {
				hop = forwardedNode(strings.Trim(v, `"`))
			}
		}
		hops = append(hops, hop)
	}
	return hops
}

// xForwardedForHops lists the addresses of X-Forwarded-For, leftmost first.
func xForwardedForHops(h http.Header) []netip.Addr {
	var hops []netip.Addr
	for _, list := range h.Values("X-Forwarded-For") {
		for _, entry := range strings.Split(list, ",") {
			hops = append(hops, forwardedNode(strings.TrimSpace(entry)))
		}
	}
	return hops
}

// realIPHops is X-Real-IP as a chain of one: the proxy sets it to the peer
// it saw. Should it arrive more than once, the last line is the one nearest
// to us.
func realIPHops(h http.Header) []netip.Addr {
	v := h.Values("X-Real-IP")
	if len(v) == 0 {
		return nil
	}
	return []netip.Addr{forwardedNode(strings.TrimSpace(v[len(v)-1]))}
}

// forwardedNode parses 192.0.2.1, 192.0.2.1:4711, [2001:db8::1] or
// [2001:db8::1]:4711.
func forwardedNode(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// StrictTransportSecurity tells browsers to use https only, for two years,
// once they have seen the site over TLS.
func StrictTransportSecurity(c *gin.Context) {
	c.Header("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
}
