package oidc

import (
	"crypto/sha256"
	"sync"
)

// verifiedCacheSize bounds the verified-token cache: a few MB at most.
const verifiedCacheSize = 10_000

// verifiedTokens remembers the claims of access tokens whose signature,
// issuer and audience already verified, by the token's SHA-256. An ES256
// verification is a third of the CPU of an instance API call; a token's
// signature cannot stop being valid, and the key that signed it stays
// published until the token has expired (signing keys are retained for the
// access token lifetime), so the answer may be reused. Expiry is checked on
// every use, and everything that can change (revocation, session, access)
// is checked by Active on every call as before. Only successes are kept, so
// garbage cannot fill it.
type verifiedTokens struct {
	mu     sync.Mutex
	claims map[tokenKey]Claims
}

// tokenKey is what the cache keeps a token under.
type tokenKey = [sha256.Size]byte

func keyOf(raw string) tokenKey { return sha256.Sum256([]byte(raw)) }

func (v *verifiedTokens) get(key tokenKey) (Claims, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c, ok := v.claims[key]
	return c, ok
}

func (v *verifiedTokens) put(key tokenKey, c Claims) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.claims == nil {
		v.claims = make(map[tokenKey]Claims)
	}
	if len(v.claims) >= verifiedCacheSize {
		// Forget a tenth, in map order (random enough): the next use of
		// those tokens verifies them again.
		n := verifiedCacheSize / 10
		for k := range v.claims {
			delete(v.claims, k)
			if n--; n == 0 {
				break
			}
		}
	}
	v.claims[key] = c
}
