// Package oidc is the OpenID provider: the token endpoint's grants (client
// credentials for instances, the device flow and refresh for users),
// discovery, keys, introspection, revocation and userinfo, served through
// zitadel/oidc's op.Server so that routing, request parsing and OAuth error
// bodies follow the library, while issuance, rotation and revocation rules
// are ours.
package oidc

import (
	"context"
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
	// only tokens that have expired, so holding keys a minute is safe. An
	// unknown kid always refetches: another replica may have just rotated.
	mu        sync.Mutex
	byKID     map[string]op.Key
	fetchedAt time.Time

	verified verifiedTokens
}

const keyCacheFor = time.Minute

// NewMinter returns a Minter for issuer.
func NewMinter(keys KeySource, issuer string) *Minter {
	return &Minter{keys: keys, issuer: issuer, now: time.Now}
}

// publicKey returns the published key kid, from the cache when it can.
func (m *Minter) publicKey(ctx context.Context, kid string) (op.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	age := time.Since(m.fetchedAt)
	if k, ok := m.byKID[kid]; ok && age < keyCacheFor {
		return k, nil
	}
	keys, err := m.keys.KeySet(ctx)
	if err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	m.byKID = make(map[string]op.Key, len(keys))
	for _, k := range keys {
		m.byKID[k.ID()] = k
	}
	m.fetchedAt = time.Now()
	return m.byKID[kid], nil
}

// Sign fills in iss and iat and signs c with the current key.
func (m *Minter) Sign(ctx context.Context, c Claims) (string, error) {
	key, err := m.keys.SigningKey(ctx)
	if err != nil {
		return "", fmt.Errorf("signing key: %w", err)
	}
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
