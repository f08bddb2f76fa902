package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/caido-cloud/caido-cloud/oidc/clients"
)

// ErrInactive: the token verified but is no longer active (revoked, its
// session ended, its instance gone, or its user lost access).
var ErrInactive = errors.New("token not active")

// Active verifies an access token and checks that it is still active: not
// revoked on its own, its client (instance) still registered and its
// credentials not reset since the token was issued, and for a user token
// its session open and the user still allowed on the instance. The claims
// it returns carry the instance's current workspace.
//
// Every check of an access token ends here (the instance API, the public
// API's user-token routes, introspection, userinfo): one SQL statement per
// call, never cached, then for a user token the can_use decision, cached
// per session and workspace generation (decisions.go).
func (p *Provider) Active(ctx context.Context, raw string) (Claims, error) {
	claims, err := p.minter.Verify(ctx, raw)
	if err != nil {
		return claims, err
	}
	// One round trip for everything PostgreSQL decides: not revoked on its
	// own, client (so instance) still registered and of the token's
	// generation, session still open. The instance's workspace is read now
	// rather than trusted from the claim: an instance token minted before
	// the claim would otherwise say "unclaimed" for its whole life.
	var revoked bool
	var workspaceID *string // NULL: no such client any more
	var generation, clientGeneration int64
	var session SessionState
	var sessionID *string // NULL: no open session of that id
	err = p.db.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = $1),
		w.workspace_id, coalesce(w.generation, 0), coalesce(w.token_generation, 0),
		s.id::text, coalesce(s.scopes, '{}'), coalesce(s.created_at, 'epoch'), s.last_ping_at
		FROM (SELECT 1) one LEFT JOIN (
			SELECT coalesce(i.workspace_id::text, '') AS workspace_id, ws.generation, c.token_generation
			FROM oauth_clients c JOIN instances i ON i.id = c.instance_id LEFT JOIN workspaces ws ON ws.id = i.workspace_id
			WHERE c.client_id = $2) w ON true
		LEFT JOIN sessions s ON s.id = nullif($3, '')::uuid AND s.revoked_at IS NULL`,
		claims.ID, claims.ClientID, claims.SessionID).
		Scan(&revoked, &workspaceID, &generation, &clientGeneration, &sessionID, &session.Scopes, &session.CreatedAt, &session.LastPingAt)
	if err != nil {
		return claims, err
	}
	// A reset raises the client's generation: every token issued before it,
	// the instance's own and its users', is over.
	if revoked || workspaceID == nil || claims.ClientGeneration != clientGeneration ||
		claims.Kind == KindUser && sessionID == nil {
		return claims, ErrInactive
	}
	claims.WorkspaceID = *workspaceID
	session.Generation = generation
	if claims.Kind == KindUser {
		// Read in the same round trip, so that the session endpoint needs
		// none of its own unless a ping is due.
		claims.Session = &session
	}
	if claims.Kind != KindUser {
		return claims, nil
	}
	ok, err := p.decisions.canUse(ctx, p, claims.SessionID, generation, claims.Subject, claims.InstanceID)
	if err != nil {
		return claims, err
	}
	if !ok {
		return claims, ErrInactive
	}
	return claims, nil
}

// introspection is RFC 7662's answer, shaped as the reference's
// IntrospectPayload (meta for instance tokens).
type introspection struct {
	Active    bool               `json:"active"`
	ClientID  string             `json:"client_id,omitempty"`
	Subject   string             `json:"sub,omitempty"`
	Scope     string             `json:"scope,omitempty"`
	Expiry    int64              `json:"exp,omitempty"`
	IssuedAt  int64              `json:"iat,omitempty"`
	Issuer    string             `json:"iss,omitempty"`
	Audience  string             `json:"aud,omitempty"`
	TokenType string             `json:"token_type,omitempty"`
	SessionID string             `json:"sid,omitempty"`
	Meta      *introspectionMeta `json:"meta,omitempty"`
}

type introspectionMeta struct {
	InstanceID  string `json:"instance_id"`
	WorkspaceID string `json:"workspace_id"`
	Kind        string `json:"kind"`
}

// Introspect (RFC 7662) answers for tokens issued to the calling instance:
// its own token and its users' tokens. Any other token is simply inactive,
// so that the endpoint reveals nothing about other instances' tokens.
func (p *Provider) Introspect(ctx context.Context, r *op.Request[op.IntrospectionRequest]) (*op.Response, error) {
	caller, err := p.VerifyClient(ctx, &op.Request[op.ClientCredentials]{Data: r.Data.ClientCredentials})
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(r.Data.Token, refreshTokenPrefix) {
		return p.introspectRefresh(ctx, caller.GetID(), r.Data.Token)
	}
	claims, err := p.Active(ctx, r.Data.Token)
	switch {
	case errors.Is(err, ErrInvalidToken), errors.Is(err, ErrInactive):
		return noStore(introspection{Active: false}), nil
	case err != nil:
		return nil, p.serverError(ctx, "introspect", err)
	case claims.ClientID != caller.GetID():
		return noStore(introspection{Active: false}), nil
	}
	out := introspection{
		Active: true, ClientID: claims.ClientID, Subject: claims.Subject, Scope: claims.Scope,
		Expiry: claims.Expiry, IssuedAt: claims.IssuedAt, Issuer: claims.Issuer, Audience: claims.Audience,
		TokenType: zoidc.BearerToken, SessionID: claims.SessionID,
	}
	if claims.Kind == KindInstance {
		out.Meta = &introspectionMeta{InstanceID: claims.InstanceID, WorkspaceID: claims.WorkspaceID, Kind: KindInstance}
	}
	return noStore(out), nil
}

// introspectRefresh answers for a refresh token of the calling client
// (RFC 7662 §2.2: active, scope, exp, client_id, sub): active while it may
// be redeemed and its user may still use the instance. RFC 6749 §7.1's
// token types name access tokens only, so none is given.
func (p *Provider) introspectRefresh(ctx context.Context, clientID, token string) (*op.Response, error) {
	sess, expiresAt, ok, err := p.sessions.LiveRefresh(ctx, clientID, token)
	if err != nil {
		return nil, p.serverError(ctx, "introspect refresh token", err)
	}
	if ok {
		ok, err = p.canUse(ctx, sess.UserID, sess.InstanceID)
		if err != nil {
			return nil, err
		}
	}
	if !ok {
		return noStore(introspection{Active: false}), nil
	}
	return noStore(introspection{Active: true, ClientID: sess.ClientID, Subject: sess.UserID, Scope: strings.Join(sess.Scopes, " "),
		Expiry: expiresAt.Unix(), Issuer: p.cfg.Issuer, SessionID: sess.ID}), nil
}

// Revocation (RFC 7009): a refresh token ends its session; an access token
// is revoked on its own. Tokens of other clients, unknown or malformed ones
// are ignored: the answer is 200 either way (§2.2).
func (p *Provider) Revocation(ctx context.Context, r *op.ClientRequest[zoidc.RevocationRequest]) (*op.Response, error) {
	clientID := r.Client.GetID()
	token := r.Data.Token
	if strings.HasPrefix(token, refreshTokenPrefix) {
		if err := p.sessions.RevokeByRefreshToken(ctx, clientID, token); err != nil {
			return nil, p.serverError(ctx, "revoke refresh token", err)
		}
		return op.NewResponse(struct{}{}), nil
	}
	claims, err := p.minter.Verify(ctx, token)
	if err == nil && claims.ClientID == clientID {
		if err := p.sessions.RevokeAccessToken(ctx, claims.ID, time.Unix(claims.Expiry, 0)); err != nil {
			return nil, p.serverError(ctx, "revoke access token", err)
		}
	}
	return op.NewResponse(struct{}{}), nil
}

// invalidToken is RFC 6750's invalid_token, 401.
func invalidToken(description string) error {
	return op.NewStatusError(&zoidc.Error{ErrorType: "invalid_token", Description: description}, http.StatusUnauthorized)
}

// UserInfo returns the signed-in user of a user token with openid or
// profile:read: sub always, name and email only with profile:read (the
// scope the user approved for them). A token with neither is refused with
// insufficient_scope (RFC 6750 §3.1).
func (p *Provider) UserInfo(ctx context.Context, r *op.Request[zoidc.UserInfoRequest]) (*op.Response, error) {
	claims, err := p.Active(ctx, r.Data.AccessToken)
	switch {
	case errors.Is(err, ErrInvalidToken), errors.Is(err, ErrInactive):
		return nil, invalidToken("the access token is invalid, expired or revoked")
	case err != nil:
		return nil, p.serverError(ctx, "userinfo", err)
	case claims.Kind != KindUser:
		return nil, invalidToken("an instance token has no user")
	}
	scopes := strings.Fields(claims.Scope)
	if !slices.Contains(scopes, ScopeProfile) && !slices.Contains(scopes, ScopeOpenID) {
		return nil, op.NewStatusError(&zoidc.Error{ErrorType: "insufficient_scope", Description: "needs profile:read or openid"}, http.StatusForbidden)
	}
	if !slices.Contains(scopes, ScopeProfile) {
		return noStore(userInfo{Subject: claims.Subject}), nil
	}
	info, err := p.userInfo(ctx, claims.Subject)
	if err != nil {
		return nil, p.serverError(ctx, "userinfo", err)
	}
	return noStore(info), nil
}

// userInfo is the userinfo answer; name and email are left out, not empty,
// without profile:read.
type userInfo struct {
	Subject string `json:"sub"`
	Name    string `json:"name,omitempty"`
	Email   string `json:"email,omitempty"`
}

func (p *Provider) userInfo(ctx context.Context, userID string) (userInfo, error) {
	info := userInfo{Subject: userID}
	err := p.db.QueryRow(ctx, `SELECT name, email FROM users WHERE id = $1`, userID).Scan(&info.Name, &info.Email)
	return info, err
}

// idClaims are an ID token's claims (OpenID Connect Core §2).
type idClaims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	Expiry    int64  `json:"exp"`
	IssuedAt  int64  `json:"iat"`
	AuthTime  int64  `json:"auth_time"`
	SessionID string `json:"sid"`
	Name      string `json:"name,omitempty"`
	Email     string `json:"email,omitempty"`
}

// idToken signs an ID token for the session's user, with name and email
// when profile:read was granted.
func (p *Provider) idToken(ctx context.Context, c clients.Client, sess Session, now time.Time) (string, error) {
	claims := idClaims{
		Issuer: p.cfg.Issuer, Subject: sess.UserID, Audience: c.ID,
		Expiry: now.Add(time.Hour).Unix(), IssuedAt: now.Unix(), AuthTime: sess.CreatedAt.Unix(), SessionID: sess.ID,
	}
	if slices.Contains(sess.Scopes, ScopeProfile) {
		info, err := p.userInfo(ctx, sess.UserID)
		if err != nil {
			return "", err
		}
		claims.Name, claims.Email = info.Name, info.Email
	}
	key, err := p.keys.SigningKey(ctx)
	if err != nil {
		return "", err
	}
	signer, err := op.SignerFromKey(key)
	if err != nil {
		return "", err
	}
	return signJSON(signer, claims)
}

func signJSON(signer jose.Signer, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
