// Package oidc is the OpenID provider: the token endpoint's grants (client
// credentials for instances, the device flow and refresh for users),
// discovery, keys, introspection, revocation and userinfo, served through
// zitadel/oidc's op.Server so that routing, request parsing and OAuth error
// bodies follow the library, while issuance, rotation and revocation rules
// are ours.
package oidc

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Leeway is the clock skew accepted where we verify times: instances run
// anywhere, with clocks that may be minutes off.
const Leeway = 5 * time.Minute

// Token kinds, the `kind` claim: an instance acting as itself, or a user at
// one instance.
const (
	KindInstance = "instance"
	KindUser     = "user"
)

// Claims are the claims of our access tokens (RFC 9068 profile, `typ`
// at+jwt). For a user token, aud is the instance's client id, so a token
// minted for one instance is refused by another; for an instance token, aud
// is our issuer, the API the instance calls.
type Claims struct {
	Issuer      string `json:"iss"`
	Subject     string `json:"sub"`
	Audience    string `json:"aud"`
	Expiry      int64  `json:"exp"`
	IssuedAt    int64  `json:"iat"`
	ID          string `json:"jti"`
	ClientID    string `json:"client_id"`
	Scope       string `json:"scope,omitempty"`
	SessionID   string `json:"sid,omitempty"`
	Kind        string `json:"kind"`
	InstanceID  string `json:"instance_id"`
	WorkspaceID string `json:"workspace_id,omitempty"`
	// ClientGeneration is the client's token generation when the token was
	// issued (clients.Client.TokenGeneration); a credentials reset raises
	// the client's, which ends the token. Absent (0) in tokens minted before
	// the claim existed, which is the generation of a never-reset client.
	ClientGeneration int64 `json:"cgen,omitempty"`

	// Session is the open session of a user token, as Provider.Active read
	// it; never part of the token.
	Session *SessionState `json:"-"`
}

// SessionState is a user token's session as Active found it.
type SessionState struct {
	Scopes    []string
	CreatedAt time.Time
	// LastPingAt is when the instance API last recorded the session's use.
	LastPingAt *time.Time
	// Generation is the instance's workspace generation.
	Generation int64
}

// KeySource gives the key to sign with and every key a token may carry.
type KeySource interface {
	SigningKey(context.Context) (op.SigningKey, error)
	KeySet(context.Context) ([]op.Key, error)
}

// ErrInvalidToken covers every reason a presented token is not ours or not
// valid now; the reason is in the wrapped message, for logs, never for
// the caller.
var ErrInvalidToken = errors.New("invalid token")

// Minter signs and verifies access tokens.
type Minter struct {
	keys   KeySource
	issuer string
	now    func() time.Time

	// Public keys by kid, for Verify, which runs on every request. A key
	// never changes under its kid, and one dropped from the key set signed
	// only tokens that have expired, so holding keys a minute is safe.
	//
	// An unknown kid needs a read of the key set (another replica may have
	// just rotated), but anyone can send tokens with made-up kids, and each
	// must not cost a query: reads begin at most once per keyReloadEvery,
	// and every token waiting for one shares it. A kid is refused only by a
	// read that began after its token arrived (a token cannot exist before
	// its key was committed, so that read is authoritative), and is then
	// remembered as missing, so it is refused at once the next time. The
	// lock is never held across the query.
	mu        sync.Mutex
	byKID     map[string]op.Key
	fetchedAt time.Time           // when the read that filled byKID began
	missing   map[string]struct{} // kids an authoritative read did not find
	next      *keyReload          // the latest read, in flight or scheduled; nil when none
	lastBegin time.Time           // when the latest read begins or began

	verified verifiedTokens
}

const keyCacheFor = time.Minute

// keyReloadEvery bounds how often tokens of unknown kids make a process
// read the key set: one query per 2 s per replica whatever is sent. A token
// of a key another replica has just created waits for the next read, at
// most this long; a key this process signs with is known at once (Sign).
const keyReloadEvery = 2 * time.Second

// maxMissingKIDs bounds the memory of kids found missing (emptied when
// full); kids longer than maxMissingKIDLen are not remembered at all (ours
// are 22 characters), so that a flood of long ones costs no memory.
const (
	maxMissingKIDs   = 10_000
	maxMissingKIDLen = 64
)

// maxWaitingKIDs bounds how many distinct unknown kids wait for a read that
// has not begun yet: a rotation brings one or two new kids (one per
// algorithm), a flood of made-up ones many. Past the bound a kid is refused
// at once rather than held for up to keyReloadEvery, so that such a flood
// is answered as fast as it comes, at the cost of refusing, during a flood,
// a token of a key created in the last 2 s.
const maxWaitingKIDs = 4

// keyReload is one read of the key set: it begins at begins; done is
// closed when it ended, with err its failure. While it has not begun, kids
// are the unknown kids waiting for it and refused those it had no room
// for; it decides for both whether they are missing.
type keyReload struct {
	begins  time.Time
	kids    map[string]struct{}
	refused map[string]struct{}
	done    chan struct{}
	err     error
}

// NewMinter returns a Minter for issuer.
func NewMinter(keys KeySource, issuer string) *Minter {
	return &Minter{keys: keys, issuer: issuer, now: time.Now}
}

// publicKey returns the published key kid, nil when there is none, from the
// cache when it can.
func (m *Minter) publicKey(ctx context.Context, kid string) (op.Key, error) {
	arrived := time.Now()
	m.mu.Lock()
	if k, ok := m.byKID[kid]; ok {
		if time.Since(m.fetchedAt) >= keyCacheFor {
			// Stale, but its key has not changed: answer now and refresh
			// for the next ones (nobody waits for it).
			m.reloadAfter(ctx, arrived, "")
		}
		m.mu.Unlock()
		return k, nil
	}
	if _, ok := m.missing[kid]; ok {
		m.mu.Unlock()
		return nil, nil
	}
	r := m.reloadAfter(ctx, arrived, kid)
	m.mu.Unlock()
	if r == nil {
		return nil, nil // too many unknown kids waiting already
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.err != nil {
		return nil, fmt.Errorf("key set: %w", r.err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byKID[kid], nil
}

// reloadAfter returns a read of the key set that begins no sooner than
// after, for kid ("": nobody waits): the one scheduled, or a new one, which
// begins keyReloadEvery after the one before at the soonest. It is nil when
// kid would wait for a read that has not begun and maxWaitingKIDs other
// kids already do. m.mu is held.
func (m *Minter) reloadAfter(ctx context.Context, after time.Time, kid string) *keyReload {
	r := m.next
	if r == nil || r.begins.Before(after) {
		begins := after
		if soonest := m.lastBegin.Add(keyReloadEvery); begins.Before(soonest) {
			begins = soonest
		}
		r = &keyReload{begins: begins, kids: map[string]struct{}{}, refused: map[string]struct{}{}, done: make(chan struct{})}
		m.next, m.lastBegin = r, begins
		// Not the caller's context: others wait for this read too.
		go m.reload(context.WithoutCancel(ctx), r)
	}
	if _, ok := r.kids[kid]; kid != "" && !ok {
		if len(r.kids) >= maxWaitingKIDs {
			if len(kid) <= maxMissingKIDLen && len(r.refused) < maxMissingKIDs {
				r.refused[kid] = struct{}{}
			}
			return nil
		}
		r.kids[kid] = struct{}{}
	}
	return r
}

// reload waits until r begins, reads the key set into byKID, and ends r.
func (m *Minter) reload(ctx context.Context, r *keyReload) {
	time.Sleep(time.Until(r.begins))
	started := time.Now()
	keys, err := m.keys.KeySet(ctx)
	m.mu.Lock()
	// A read that began before the last one stored (a slow one) does not
	// put older keys back. A failed one leaves the cache as it was; its
	// waiters get the error.
	if err == nil && !started.Before(m.fetchedAt) {
		byKID := make(map[string]op.Key, len(keys))
		for _, k := range keys {
			byKID[k.ID()] = k
		}
		// A key this process began signing with while the set was read
		// may be missing from what was read: keep it.
		for id, k := range m.byKID {
			if _, own := k.(ownKey); own && byKID[id] == nil {
				byKID[id] = k
			}
		}
		m.byKID, m.fetchedAt = byKID, started
	}
	if err == nil {
		// Every kid r was asked about came with a token that arrived before
		// r began: what r did not find does not exist.
		for _, asked := range []map[string]struct{}{r.kids, r.refused} {
			for kid := range asked {
				if _, found := m.byKID[kid]; found || len(kid) > maxMissingKIDLen {
					continue
				}
				if m.missing == nil || len(m.missing) >= maxMissingKIDs {
					m.missing = make(map[string]struct{})
				}
				m.missing[kid] = struct{}{}
			}
		}
	}
	r.err = err
	if m.next == r {
		m.next = nil
	}
	m.mu.Unlock()
	close(r.done)
}

// know adds the public half of a key this process signs with, so that its
// tokens verify here at once, without waiting for a reload of the set.
func (m *Minter) know(key op.SigningKey) {
	signer, ok := key.Key().(crypto.Signer)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byKID[key.ID()]; ok {
		return
	}
	if m.byKID == nil {
		m.byKID = map[string]op.Key{}
	}
	m.byKID[key.ID()] = ownKey{id: key.ID(), alg: key.SignatureAlgorithm(), public: signer.Public()}
}

// ownKey is the published half of a key this process signs with.
type ownKey struct {
	id     string
	alg    jose.SignatureAlgorithm
	public crypto.PublicKey
}

func (k ownKey) ID() string                         { return k.id }
func (k ownKey) Algorithm() jose.SignatureAlgorithm { return k.alg }
func (k ownKey) Use() string                        { return "sig" }
func (k ownKey) Key() any                           { return k.public }

// Sign fills in iss and iat and signs c with the current key.
func (m *Minter) Sign(ctx context.Context, c Claims) (string, error) {
	key, err := m.keys.SigningKey(ctx)
	if err != nil {
		return "", fmt.Errorf("signing key: %w", err)
	}
	m.know(key)
	c.Issuer = m.issuer
	c.IssuedAt = m.now().Unix()
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: key.SignatureAlgorithm(),
		Key:       &jose.JSONWebKey{Key: key.Key(), KeyID: key.ID()},
	}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return "", fmt.Errorf("signer: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// Verify checks the signature against the published keys, the issuer and
// the expiry (with Leeway), and returns the claims. Whether the token is
// still active (session, revocation, access) is the caller's next step.
func (m *Minter) Verify(ctx context.Context, raw string) (Claims, error) {
	cacheKey := keyOf(raw) // hashed once, for the lookup and the keeping
	if c, ok := m.verified.get(cacheKey); ok {
		return c, m.unexpired(c)
	}
	var c Claims
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return c, fmt.Errorf("%w: not a signed JWT", ErrInvalidToken)
	}
	header := jws.Signatures[0].Header
	if typ, _ := header.ExtraHeaders[jose.HeaderType].(string); typ != "at+jwt" {
		return c, fmt.Errorf("%w: typ %q is not an access token", ErrInvalidToken, typ)
	}
	key, err := m.publicKey(ctx, header.KeyID)
	if err != nil {
		return c, err
	}
	var payload []byte
	if key != nil && key.Algorithm() == jose.SignatureAlgorithm(header.Algorithm) {
		payload, err = jws.Verify(key.Key())
	}
	if payload == nil {
		return c, fmt.Errorf("%w: no valid signature by a published key (kid %q): %v", ErrInvalidToken, header.KeyID, err)
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, fmt.Errorf("%w: claims: %v", ErrInvalidToken, err)
	}
	if c.Issuer != m.issuer {
		return c, fmt.Errorf("%w: issuer %q", ErrInvalidToken, c.Issuer)
	}
	// The audience follows from the kind: a user token is for its instance,
	// an instance token for us.
	switch {
	case c.Kind == KindUser && c.Audience == c.ClientID && c.SessionID != "":
	case c.Kind == KindInstance && c.Audience == m.issuer && c.Subject == c.ClientID:
	default:
		return c, fmt.Errorf("%w: kind %q with audience %q", ErrInvalidToken, c.Kind, c.Audience)
	}
	if err := m.unexpired(c); err != nil {
		return c, err
	}
	m.verified.put(cacheKey, c)
	return c, nil
}

func (m *Minter) unexpired(c Claims) error {
	if now := m.now(); now.After(time.Unix(c.Expiry, 0).Add(Leeway)) {
		return fmt.Errorf("%w: expired at %s", ErrInvalidToken, time.Unix(c.Expiry, 0).UTC())
	}
	return nil
}
