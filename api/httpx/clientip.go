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
// trusted proxy (CAIDO_CLOUD_TRUSTED_PROXIES). The chain is read from the
// right: each trusted hop vouches for the one before it, and the first
// address no trusted proxy stands for is the client. Anyone can put
// anything on the left of the chain; only what trusted proxies appended
// counts.

type clientIPKey struct{}

// ResolveClientIP decides the request's client address once, before any
// handler runs, and keeps it in the request's context for clientIP.
func ResolveClientIP(trusted []netip.Prefix) gin.HandlerFunc {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(c *gin.Context) {
		ip := peerAddr(c.Request.RemoteAddr)
		if ip.IsValid() && isTrusted(ip) {
			hops := forwardedHops(c.Request.Header)
			for i := len(hops) - 1; i >= 0; i-- {
				if !hops[i].IsValid() {
					break // an unusable entry: stay with the last proxy we trust
				}
				ip = hops[i]
				if !isTrusted(ip) {
					break
				}
			}
		}
		if ip.IsValid() {
			c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), clientIPKey{}, ip))
		}
		c.Next()
	}
}

// ClientIP is the address the request came from, as ResolveClientIP
// decided; the socket's when it did not run.
func ClientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(clientIPKey{}).(netip.Addr); ok {
		return ip.String()
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

// forwardedHops lists the addresses of the forwarding chain, leftmost
// (farthest) first: from Forwarded (RFC 7239) when present, else from
// X-Forwarded-For. An entry that is not an address (unknown, an obfuscated
// name) is an invalid Addr in its place.
func forwardedHops(h http.Header) []netip.Addr {
	var hops []netip.Addr
	if fwd := h.Values("Forwarded"); len(fwd) > 0 {
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
	for _, list := range h.Values("X-Forwarded-For") {
		for _, entry := range strings.Split(list, ",") {
			hops = append(hops, forwardedNode(strings.TrimSpace(entry)))
		}
	}
	return hops
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
