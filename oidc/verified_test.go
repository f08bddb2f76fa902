package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// testKey is one ES256 key, signing and published.
type testKey struct{ priv *ecdsa.PrivateKey }

func (k testKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (k testKey) Algorithm() jose.SignatureAlgorithm          { return jose.ES256 }
func (k testKey) Key() any                                    { return k.priv }
func (k testKey) ID() string                                  { return "k1" }
func (k testKey) Use() string                                 { return "sig" }

type publicKey struct{ testKey }

func (k publicKey) Key() any { return &k.priv.PublicKey }

type testKeys struct{ k testKey }

func (s testKeys) SigningKey(context.Context) (op.SigningKey, error) { return s.k, nil }
func (s testKeys) KeySet(context.Context) ([]op.Key, error)          { return []op.Key{publicKey{s.k}}, nil }

// TestVerifiedTokenCache: a token verified once is answered from the cache,
// still refused once expired; a token that did not verify is never cached;
// the cache stays within its bound.
func TestVerifiedTokenCache(t *testing.T) {
	ctx := context.Background()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	m := NewMinter(testKeys{testKey{priv}}, "https://cloud.example")
	m.now = func() time.Time { return now }
	raw, err := m.Sign(ctx, Claims{Subject: "u", Audience: "c", ClientID: "c", SessionID: "s", Kind: KindUser,
		Expiry: now.Add(time.Hour).Unix(), ID: "j"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(ctx, raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.verified.get(keyOf(raw)); !ok {
		t.Fatal("a verified token was not kept")
	}
	// Answered from the cache: the key source is not even asked. (The
	// first Verify refreshed the key set in the background: let that end
	// before the fields change under it.)
	settle(m)
	m.keys = nil
	m.byKID = nil
	c, err := m.Verify(ctx, raw)
	if err != nil || c.Subject != "u" {
		t.Fatalf("cached verify: %+v, %v", c, err)
	}
	now = now.Add(time.Hour + Leeway + time.Second)
	if _, err := m.Verify(ctx, raw); !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("an expired cached token: %v, want expired", err)
	}

	// A token with its signature tampered with is refused and not kept.
	now = now.Add(-time.Hour)
	m.keys = testKeys{testKey{priv}}
	m.lastBegin = time.Time{} // a read may begin at once
	parts := strings.Split(raw, ".")
	forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	if _, err := m.Verify(ctx, forged); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a forged signature: %v", err)
	}
	if _, ok := m.verified.get(keyOf(forged)); ok {
		t.Fatal("a token that did not verify was kept")
	}

	for i := range verifiedCacheSize + 5 {
		m.verified.put(keyOf(string(rune(i))+"x"), Claims{})
	}
	if n := len(m.verified.claims); n > verifiedCacheSize {
		t.Fatalf("%d cached tokens, bound %d", n, verifiedCacheSize)
	}
}

// settle waits until no read of the key set is under way or scheduled.
func settle(m *Minter) {
	for {
		m.mu.Lock()
		r := m.next
		m.mu.Unlock()
		if r == nil {
			return
		}
		<-r.done
	}
}
