package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/caido-cloud/caido-cloud/oidc/clients"
)

// FuzzScopeList: the scope parameter as a form decodes it (split on
// spaces) becomes tokens that are never blank and never hold a space, in
// the order sent; scopeList is idempotent and survives the round trip
// through the parameter's text form. What userScopes lets through is a
// scope we know and the client registered, so a device flow can store it.
func FuzzScopeList(f *testing.F) {
	for _, s := range []string{
		"", " ", "  ", "profile:read", "profile:read offline", " profile:read  assistant ", "openid\topenid",
		"profile:read profile:read", "\u00a0", "assistant\x00", "offline\n", "unknown", "\xff", "a\u3000b",
	} {
		f.Add(s)
	}
	registered := clients.Client{Scopes: []string{ScopeProfile, ScopeAssistant, ScopeOffline}}
	f.Fuzz(func(t *testing.T, param string) {
		var sent zoidc.SpaceDelimitedArray
		if err := sent.UnmarshalText([]byte(param)); err != nil {
			t.Skip()
		}
		got := scopeList(sent)
		for _, s := range got {
			if strings.TrimSpace(s) == "" || strings.Contains(s, " ") || !slices.Contains(sent, s) {
				t.Fatalf("scopeList(%q) kept %q", param, s)
			}
		}
		// Every piece between spaces that holds more than white space is
		// kept, in order.
		var want []string
		for _, piece := range strings.Split(param, " ") {
			if strings.TrimSpace(piece) != "" {
				want = append(want, piece)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("scopeList(%q) = %q, want %q", param, got, want)
		}
		if again := scopeList(got); !slices.Equal(again, got) {
			t.Fatalf("scopeList(%q) = %q: not idempotent", got, again)
		}
		var back zoidc.SpaceDelimitedArray
		_ = back.UnmarshalText([]byte(sent.String()))
		if trip := scopeList(back); !slices.Equal(trip, got) {
			t.Fatalf("scopeList after the text round trip of %q = %q, want %q", param, trip, got)
		}
		if err := userScopes(got, registered); err == nil {
			for _, s := range got {
				if !slices.Contains(registered.Scopes, s) {
					t.Fatalf("userScopes let %q through", s)
				}
			}
		} else if !errors.Is(err, zoidc.ErrInvalidScope()) {
			t.Fatalf("userScopes(%q): %v, want invalid_scope", got, err)
		}
	})
}

// fuzzKey is one ES256 key, signing and published under the kid "fuzz".
type fuzzKey struct{ priv *ecdsa.PrivateKey }

func (k fuzzKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (k fuzzKey) Algorithm() jose.SignatureAlgorithm          { return jose.ES256 }
func (k fuzzKey) Key() any                                    { return k.priv }
func (k fuzzKey) ID() string                                  { return "fuzz" }
func (k fuzzKey) Use() string                                 { return "sig" }

type fuzzPublicKey struct{ fuzzKey }

func (k fuzzPublicKey) Key() any { return &k.priv.PublicKey }

type fuzzKeys struct{ k fuzzKey }

func (s fuzzKeys) SigningKey(context.Context) (op.SigningKey, error) { return s.k, nil }
func (s fuzzKeys) KeySet(context.Context) ([]op.Key, error)          { return []op.Key{fuzzPublicKey{s.k}}, nil }

// FuzzVerify: a bearer token is untrusted input. Whatever it is, Verify
// refuses it with ErrInvalidToken or returns claims that are ours: our
// issuer, an audience that fits the kind, not expired; and such claims,
// signed again, verify to the same claims.
func FuzzVerify(f *testing.F) {
	ctx := context.Background()
	const issuer = "https://cloud.example"
	newKey := func() fuzzKey {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			f.Fatal(err)
		}
		return fuzzKey{priv}
	}
	m := NewMinter(fuzzKeys{newKey()}, issuer)
	other := NewMinter(fuzzKeys{newKey()}, issuer) // same kid, another key
	exp := time.Now().Add(time.Hour).Unix()
	sign := func(mm *Minter, c Claims) string {
		raw, err := mm.Sign(ctx, c)
		if err != nil {
			f.Fatal(err)
		}
		return raw
	}
	user := Claims{Subject: "u", Audience: "c", ClientID: "c", SessionID: "s", Kind: KindUser, Expiry: exp, ID: "j", Scope: "profile:read"}
	instance := Claims{Subject: "c", Audience: issuer, ClientID: "c", Kind: KindInstance, Expiry: exp, ID: "k", InstanceID: "i"}
	valid := sign(m, user)
	seeds := []string{
		valid, sign(m, instance),
		sign(m, Claims{Subject: "u", Audience: "c", ClientID: "c", SessionID: "s", Kind: KindUser, Expiry: 1, ID: "old"}),
		sign(m, Claims{Subject: "u", Audience: issuer, ClientID: "c", Kind: KindUser, Expiry: exp}),
		sign(m, Claims{Subject: "x", Audience: issuer, ClientID: "c", Kind: KindInstance, Expiry: exp}),
		sign(other, user),
		"", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", valid + "x", valid[:len(valid)-2],
		strings.Replace(valid, ".", "..", 1), `{"payload":"e30","signatures":[]}`,
	}
	// The header alone swapped for one that names another algorithm or typ.
	_, rest, _ := strings.Cut(valid, ".")
	for _, h := range []string{`{"alg":"RS256","kid":"fuzz","typ":"at+jwt"}`, `{"alg":"ES256","kid":"fuzz","typ":"JWT"}`,
		`{"alg":"ES256","kid":"nope","typ":"at+jwt"}`, `{"alg":"HS256","kid":"fuzz","typ":"at+jwt"}`} {
		seeds = append(seeds, base64.RawURLEncoding.EncodeToString([]byte(h))+"."+rest)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := m.Verify(ctx, raw)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify(%q): %v, want ErrInvalidToken", raw, err)
			}
			return
		}
		switch {
		case c.Issuer != issuer:
			t.Fatalf("Verify(%q) took issuer %q", raw, c.Issuer)
		case c.Kind == KindUser && c.Audience == c.ClientID && c.SessionID != "":
		case c.Kind == KindInstance && c.Audience == issuer && c.Subject == c.ClientID:
		default:
			t.Fatalf("Verify(%q) took kind %q for audience %q", raw, c.Kind, c.Audience)
		}
		if time.Now().After(time.Unix(c.Expiry, 0).Add(Leeway)) {
			t.Fatalf("Verify(%q) took a token expired at %d", raw, c.Expiry)
		}
		again, err := m.Verify(ctx, sign(m, c))
		if err != nil {
			t.Fatalf("claims of %q signed again: %v", raw, err)
		}
		again.IssuedAt = c.IssuedAt
		if again != c {
			t.Fatalf("claims of %q signed again verify to %+v, want %+v", raw, again, c)
		}
	})
}
