package limits_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/caido-cloud/caido-cloud/limits"
)

// FuzzAddressKey: a client address (what ClientIP said, from headers a
// trusted proxy passed on) names its limit bucket: an IPv4 address itself,
// an IPv6 address its /64, which holds it. The key depends on the address,
// not on how it was written: IPv4-mapped, with a zone, in upper case.
// What is not an address is its own key.
func FuzzAddressKey(f *testing.F) {
	for _, s := range []string{
		"203.0.113.9", "2001:db8:aa:bb:cc:dd:ee:ff", "2001:DB8:AA:BB::1", "::ffff:203.0.113.9", "fe80::1%eth0",
		"::1", "::", "0.0.0.0", "", "unknown", "203.0.113.9:80", "[2001:db8::1]", "2001:db8::/64", "1.2.3.4%x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ip string) {
		key := limits.AddressKey(ip)
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			if key != ip {
				t.Fatalf("AddressKey(%q) = %q: not an address, want it as it is", ip, key)
			}
			return
		}
		plain := addr.Unmap().WithZone("")
		if plain.Is4() {
			if key != plain.String() {
				t.Fatalf("AddressKey(%q) = %q, want %s", ip, key, plain)
			}
		} else {
			p, err := netip.ParsePrefix(key)
			if err != nil || p.Bits() != 64 || !p.Contains(plain) || p.Masked() != p {
				t.Fatalf("AddressKey(%q) = %q: not the /64 that holds it (%v)", ip, key, err)
			}
		}
		for _, spelled := range []string{plain.String(), strings.ToUpper(plain.String()), plain.StringExpanded()} {
			if other := limits.AddressKey(spelled); other != key {
				t.Fatalf("AddressKey(%q) = %q, but AddressKey(%q) = %q", ip, key, spelled, other)
			}
		}
	})
}
