package oidc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/oidc/clients"
	"github.com/caido-cloud/caido-cloud/oidc/device"
	"github.com/caido-cloud/caido-cloud/oidc/signing"
	"github.com/caido-cloud/caido-cloud/store"
)

// The paths of the reference documents; a Caido instance calls exactly these.
const (
	PathToken               = "/oauth2/token"
	PathDeviceAuthorization = "/oauth2/device/authorize"
	PathIntrospection       = "/oauth2/introspect"
	PathRevocation          = "/oauth2/revoke"
	PathUserinfo            = "/oauth2/userinfo"
	PathRegistration        = "/oauth2/register"
	PathKeys                = "/.well-known/jwks.json"
	PathDiscovery           = "/.well-known/openid-configuration"
	PathASMetadata          = "/.well-known/oauth-authorization-server"
	// PathDevice is the dashboard page where a user enters a user code.
	PathDevice = "/device"
)

// User scopes an instance may ask for.
const (
	ScopeProfile   = "profile:read"
	ScopeAssistant = "assistant"
	ScopeOffline   = "offline"
	ScopeOpenID    = "openid"
)

// Config holds the provider's settings.
type Config struct {
	Issuer               string
	AccessTokenLifetime  time.Duration
	RefreshTokenLifetime time.Duration
}

// Provider implements op.Server for our grants.
type Provider struct {
	op.UnimplementedServer

	cfg      Config
	db       *pgxpool.Pool
	clients  *clients.Service
	devices  *device.Service
	keys     *signing.Keys
	minter   *Minter
	sessions *Sessions
	authz    *authz.Client
	log      *slog.Logger

	decisions decisionCache
}

// Deps are the provider's collaborators.
type Deps struct {
	DB       *pgxpool.Pool
	Clients  *clients.Service
	Devices  *device.Service
	Keys     *signing.Keys
	Sessions *Sessions
	Authz    *authz.Client
	Log      *slog.Logger
}

// NewProvider returns the provider.
func NewProvider(cfg Config, d Deps) *Provider {
	return &Provider{
		cfg: cfg, db: d.DB, clients: d.Clients, devices: d.Devices, keys: d.Keys,
		minter: NewMinter(d.Keys, cfg.Issuer), sessions: d.Sessions, authz: d.Authz, log: d.Log,
		decisions: decisionCache{now: time.Now},
	}
}

// Minter is the provider's token minter, for the API's token checks.
func (p *Provider) Minter() *Minter { return p.minter }

// Handler serves the provider's endpoints (the caller routes only those
// paths here: op's own /healthz and /ready are not ours).
func (p *Provider) Handler() http.Handler {
	endpoints := op.Endpoints{
		Token:               op.NewEndpoint(PathToken),
		DeviceAuthorization: op.NewEndpoint(PathDeviceAuthorization),
		Introspection:       op.NewEndpoint(PathIntrospection),
		Revocation:          op.NewEndpoint(PathRevocation),
		Userinfo:            op.NewEndpoint(PathUserinfo),
		JwksURI:             op.NewEndpoint(PathKeys),
	}
	return op.RegisterServer(p, endpoints, op.WithServerCORSOptions(nil), op.WithHTTPMiddleware(conformance, retryAfter))
}

// supportedGrants are the token endpoint's grants. zitadel's router
// authenticates the client before it looks at grants it knows of but we do
// not offer (authorization_code, jwt-bearer, token-exchange), and would
// answer unauthorized_client; RFC 6749 §5.2 calls a grant the server does not
// support at all unsupported_grant_type, whoever asks.
var supportedGrants = []string{
	string(zoidc.GrantTypeClientCredentials), string(zoidc.GrantTypeDeviceCode), string(zoidc.GrantTypeRefreshToken),
}

// postOnly are the endpoints RFC 6749 §3.2 (token), RFC 8628 §3.1, RFC
// 7662 §2.1 and RFC 7009 §2.1 call with POST only: their credentials and
// tokens never travel in a URL, where logs and histories keep them.
var postOnly = []string{PathToken, PathDeviceAuthorization, PathIntrospection, PathRevocation}

// secretParams are the parameters that carry a credential or a token; in a
// query string they are refused even on a POST, because zitadel reads the
// query and the body as one form.
var secretParams = []string{"client_secret", "client_assertion", "token", "refresh_token", "device_code", "code", "code_verifier", "access_token"}

// conformance holds what zitadel's router leaves to us: methods, secrets in
// URLs, grants we do not offer, and the WWW-Authenticate header of every
// 401 (RFC 6749 §5.2 for client authentication, RFC 6750 §3 for userinfo).
func conformance(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		switch {
		case slices.Contains(postOnly, path) && r.Method != http.MethodPost:
			w.Header().Set("Allow", http.MethodPost)
			op.WriteError(w, r, op.NewStatusError(zoidc.ErrInvalidRequest().WithDescription("this endpoint takes POST only"), http.StatusMethodNotAllowed), nil)
			return
		case path == PathUserinfo && r.Method != http.MethodGet && r.Method != http.MethodPost:
			w.Header().Set("Allow", "GET, POST")
			op.WriteError(w, r, op.NewStatusError(zoidc.ErrInvalidRequest().WithDescription("userinfo takes GET or POST"), http.StatusMethodNotAllowed), nil)
			return
		}
		if slices.Contains(postOnly, path) || path == PathUserinfo {
			q := r.URL.Query()
			if slices.ContainsFunc(secretParams, q.Has) {
				op.WriteError(w, r, zoidc.ErrInvalidRequest().WithDescription(
					"credentials and tokens go in the POST body or the Authorization header, never in the URL"), nil)
				return
			}
		}
		if path == PathToken && r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				op.WriteError(w, r, zoidc.ErrInvalidRequest().WithDescription("malformed form body"), nil)
				return
			}
			if g := r.PostForm.Get("grant_type"); g != "" && !slices.Contains(supportedGrants, g) {
				op.WriteError(w, r, zoidc.ErrUnsupportedGrantType().WithDescription("grant type %q is not supported", g), nil)
				return
			}
		}
		if path == PathUserinfo {
			if r.Header.Get("Authorization") == "" && (r.Method != http.MethodPost || r.PostFormValue("access_token") == "") {
				// RFC 6750 §3.1: a request with no credentials learns
				// that a bearer token is wanted, and no error code.
				w.Header().Set("WWW-Authenticate", `Bearer realm="caido-cloud"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w = challenge{ResponseWriter: w, unauthorized: `Bearer realm="caido-cloud", error="invalid_token"`,
				forbidden: `Bearer realm="caido-cloud", error="insufficient_scope", scope="openid profile:read"`}
		} else if slices.Contains(postOnly, path) {
			w = challenge{ResponseWriter: w, unauthorized: `Basic realm="caido-cloud"`}
		}
		next.ServeHTTP(w, r)
	})
}

// challenge adds WWW-Authenticate to a 401 (and, for a bearer resource, a
// 403) that has none.
type challenge struct {
	http.ResponseWriter
	unauthorized, forbidden string
}

func (c challenge) WriteHeader(status int) {
	value := map[int]string{http.StatusUnauthorized: c.unauthorized, http.StatusForbidden: c.forbidden}[status]
	if value != "" && c.Header().Get("WWW-Authenticate") == "" {
		c.Header().Set("WWW-Authenticate", value)
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c challenge) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// Paths lists every path Handler answers, for the router.
func Paths() []string {
	return []string{PathToken, PathDeviceAuthorization, PathIntrospection, PathRevocation, PathUserinfo, PathKeys, PathDiscovery}
}

func (p *Provider) url(path string) string { return p.cfg.Issuer + path }

// Discovery advertises exactly what we support.
func (p *Provider) Discovery(ctx context.Context, _ *op.Request[struct{}]) (*op.Response, error) {
	return op.NewResponse(p.metadata(ctx)), nil
}

func (p *Provider) metadata(ctx context.Context) *zoidc.DiscoveryConfiguration {
	algs := []string{string(jose.ES256), string(jose.RS256)}
	return &zoidc.DiscoveryConfiguration{
		Issuer:                      p.cfg.Issuer,
		TokenEndpoint:               p.url(PathToken),
		DeviceAuthorizationEndpoint: p.url(PathDeviceAuthorization),
		IntrospectionEndpoint:       p.url(PathIntrospection),
		RevocationEndpoint:          p.url(PathRevocation),
		UserinfoEndpoint:            p.url(PathUserinfo),
		RegistrationEndpoint:        p.url(PathRegistration),
		JwksURI:                     p.url(PathKeys),
		ScopesSupported:             []string{ScopeOpenID, ScopeProfile, ScopeAssistant, ScopeOffline},
		ResponseTypesSupported:      []string{},
		GrantTypesSupported: []zoidc.GrantType{
			zoidc.GrantTypeClientCredentials, zoidc.GrantTypeDeviceCode, zoidc.GrantTypeRefreshToken,
		},
		SubjectTypesSupported:                              []string{"public"},
		IDTokenSigningAlgValuesSupported:                   algs,
		TokenEndpointAuthMethodsSupported:                  []zoidc.AuthMethod{zoidc.AuthMethodPost, zoidc.AuthMethodBasic},
		IntrospectionEndpointAuthMethodsSupported:          []zoidc.AuthMethod{zoidc.AuthMethodPost, zoidc.AuthMethodBasic},
		RevocationEndpointAuthMethodsSupported:             []zoidc.AuthMethod{zoidc.AuthMethodPost, zoidc.AuthMethodBasic},
		IntrospectionEndpointAuthSigningAlgValuesSupported: nil,
		ClaimsSupported:                                    []string{"sub", "aud", "exp", "iat", "iss", "sid", "name", "email"},
	}
}

// Keys is the JWKS: every key a live token may carry.
func (p *Provider) Keys(ctx context.Context, _ *op.Request[struct{}]) (*op.Response, error) {
	keys, err := p.keys.KeySet(ctx)
	if err != nil {
		return nil, p.serverError(ctx, "key set", err)
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Key(), KeyID: k.ID(), Algorithm: string(k.Algorithm()), Use: k.Use()})
	}
	resp := op.NewResponse(set)
	// A scheduled key is published signing.PublishAhead before it signs,
	// which is longer than this max-age: a verifier that honours the cache
	// knows a kid before any token carries it. Only RotateNow (a key thought
	// compromised) outruns it, and verifiers refetch on an unknown kid.
	resp.Header.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(signing.JWKSMaxAge/time.Second)))
	return resp, nil
}

// serverError logs the cause and answers server_error: a 500 is a bug, and
// the client learns nothing more. A dependency that could not answer now
// (OpenFGA or PostgreSQL past their bounds, or unreachable) is no bug:
// that is 503 temporarily_unavailable, with Retry-After (retryAfter), so
// that the instance retries rather than signs its user out.
func (p *Provider) serverError(ctx context.Context, what string, err error) error {
	var answered op.StatusError
	if errors.As(err, &answered) {
		return answered // a step below has logged and mapped it (canUse inside Active)
	}
	p.log.ErrorContext(ctx, "oidc: "+what, "error", err)
	if Unavailable(err) {
		return op.NewStatusError(&zoidc.Error{ErrorType: "temporarily_unavailable",
			Description: "the service could not answer now; retry"}, http.StatusServiceUnavailable)
	}
	return op.NewStatusError(zoidc.ErrServerError(), http.StatusInternalServerError)
}

// Unavailable reports whether err means a dependency could not answer now
// (OpenFGA or PostgreSQL past their bounds, or unreachable): the request
// may be retried.
func Unavailable(err error) bool {
	return errors.Is(err, authz.ErrUnavailable) || store.Unavailable(err)
}

// VerifyClient authenticates an instance by its id and secret, in the body
// (client_secret_post, as the reference shows) or Basic.
func (p *Provider) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	if r.Data.ClientAssertion != "" {
		return nil, zoidc.ErrInvalidClient().WithDescription("client assertions are not supported")
	}
	c, err := p.clients.Authenticate(ctx, r.Data.ClientID, r.Data.ClientSecret)
	if errors.Is(err, clients.ErrInvalidClient) {
		return nil, op.NewStatusError(zoidc.ErrInvalidClient().WithDescription("unknown client or wrong secret"), http.StatusUnauthorized)
	}
	if err != nil {
		return nil, p.serverError(ctx, "authenticate client", err)
	}
	return instanceClient{c}, nil
}

// tokenResponse is the token endpoint's answer; unlike zitadel's
// AccessTokenResponse, scope is always present (the reference requires it).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

func noStore(data any) *op.Response {
	resp := op.NewResponse(data)
	resp.Header.Set("Cache-Control", "no-store")
	resp.Header.Set("Pragma", "no-cache")
	return resp
}

// ClientCredentialsExchange issues an instance its own token.
func (p *Provider) ClientCredentialsExchange(ctx context.Context, r *op.ClientRequest[zoidc.ClientCredentialsRequest]) (*op.Response, error) {
	c := r.Client.(instanceClient).Client
	if len(scopeList(r.Data.Scope)) > 0 {
		return nil, zoidc.ErrInvalidScope().WithDescription("an instance token carries no scope; ask for none")
	}
	now := time.Now()
	claims := Claims{
		Subject: c.ID, Audience: p.cfg.Issuer, ClientID: c.ID, Kind: KindInstance,
		InstanceID: c.InstanceID, WorkspaceID: c.WorkspaceID, ClientGeneration: c.TokenGeneration,
		Expiry: now.Add(p.cfg.AccessTokenLifetime).Unix(), ID: uuid.NewString(),
	}
	token, err := p.minter.Sign(ctx, claims)
	if err != nil {
		return nil, p.serverError(ctx, "sign instance token", err)
	}
	return noStore(tokenResponse{AccessToken: token, TokenType: zoidc.BearerToken, ExpiresIn: int64(p.cfg.AccessTokenLifetime.Seconds())}), nil
}

// scopeList is a scope parameter's tokens. RFC 6749 §3.3 makes scope one
// or more tokens, so an empty parameter (scope=, as openid-client sends
// it) is no scope at all, not a scope named "".
func scopeList(param zoidc.SpaceDelimitedArray) []string {
	return slices.DeleteFunc(slices.Clone([]string(param)), func(s string) bool { return strings.TrimSpace(s) == "" })
}

// errAccessLost: the session's user may no longer use its instance.
var errAccessLost = errors.New("access to the instance lost")

// userScopes checks asked scopes against what we know and what the client
// registered for.
func userScopes(asked []string, c clients.Client) error {
	for _, s := range asked {
		switch s {
		case ScopeProfile, ScopeAssistant, ScopeOffline, ScopeOpenID:
		default:
			return zoidc.ErrInvalidScope().WithDescription("unknown scope %q", s)
		}
		if !slices.Contains(c.Scopes, s) {
			return zoidc.ErrInvalidScope().WithDescription("scope %q was not registered by this client", s)
		}
	}
	return nil
}

// DeviceAuthorization starts a device flow (RFC 8628 §3.1–3.2).
func (p *Provider) DeviceAuthorization(ctx context.Context, r *op.ClientRequest[zoidc.DeviceAuthorizationRequest]) (*op.Response, error) {
	c := r.Client.(instanceClient).Client
	if !c.AllowsGrant(string(zoidc.GrantTypeDeviceCode)) {
		return nil, zoidc.ErrUnauthorizedClient().WithDescription("this client did not register the device_code grant")
	}
	scopes := scopeList(r.Data.Scopes)
	if err := userScopes(scopes, c); err != nil {
		return nil, err
	}
	auth, err := p.devices.Start(ctx, c.ID, scopes)
	var full *device.PendingLimitError
	if errors.As(err, &full) {
		// RFC 8628 §3.2 answers errors as RFC 6749 §5.2 does, whose codes
		// have none for a limit (slow_down is the token endpoint's, and
		// tells a polling device to wait longer, not a new one to stop):
		// invalid_request says the request cannot be granted as it
		// stands, and 429 with Retry-After (RFC 6585 §4) says why and
		// when to come back, so no client retries it blindly.
		setRetryAfter(ctx, full.RetryAfter)
		return nil, op.NewStatusError(zoidc.ErrInvalidRequest().WithDescription(
			"too many pending device authorizations for this client (%d): finish or cancel a sign-in, or retry in %d seconds",
			full.Limit, int((full.RetryAfter+time.Second-1)/time.Second)), http.StatusTooManyRequests)
	}
	if err != nil {
		return nil, p.serverError(ctx, "start device authorization", err)
	}
	return noStore(deviceAuthorizationResponse{
		DeviceCode:              auth.DeviceCode,
		UserCode:                auth.UserCode,
		VerificationURI:         p.url(PathDevice),
		VerificationURIComplete: p.url(PathDevice) + "?user_code=" + auth.UserCode,
		ExpiresIn:               int64(auth.ExpiresIn.Seconds()),
		Interval:                int64(auth.Interval.Seconds()),
	}), nil
}

type deviceAuthorizationResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// DeviceToken is the device's poll (RFC 8628 §3.4–3.5); once approved, the
// user's tokens for this one instance.
func (p *Provider) DeviceToken(ctx context.Context, r *op.ClientRequest[zoidc.DeviceAccessTokenRequest]) (*op.Response, error) {
	c := r.Client.(instanceClient).Client
	outcome, err := p.devices.Poll(ctx, c.ID, r.Data.DeviceCode)
	if err != nil {
		if code, ok := device.Code(err); ok {
			return nil, deviceError(code)
		}
		return nil, p.serverError(ctx, "poll device authorization", err)
	}
	// Access may have been taken away between approval and redemption.
	if ok, err := p.canUse(ctx, outcome.UserID, c.InstanceID); err != nil || !ok {
		return nil, orDenied(err, "the user may not use this instance")
	}
	return p.userTokens(ctx, c, outcome.UserID, outcome.Scopes)
}

func deviceError(code string) error {
	switch code {
	case "authorization_pending":
		return zoidc.ErrAuthorizationPending()
	case "slow_down":
		return zoidc.ErrSlowDown()
	case "access_denied":
		return zoidc.ErrAccessDenied()
	case "expired_token":
		return zoidc.ErrExpiredDeviceCode()
	default:
		return zoidc.ErrInvalidGrant()
	}
}

// canUse asks OpenFGA whether the user may use the instance now.
func (p *Provider) canUse(ctx context.Context, userID, instanceID string) (bool, error) {
	ok, err := p.authz.Check(ctx, authz.UserObject(userID), "can_use", authz.InstanceObject(instanceID))
	if err != nil {
		return false, p.serverError(ctx, "access check", err)
	}
	return ok, nil
}

// orDenied is err when there is one, else access_denied with why.
func orDenied(err error, why string) error {
	if err != nil {
		return err
	}
	return zoidc.ErrAccessDenied().WithDescription("%s", why)
}

// userTokens opens a session and issues its first tokens: an access token
// for this instance, a refresh token only with `offline`, an ID token only
// with `openid`.
func (p *Provider) userTokens(ctx context.Context, c clients.Client, userID string, scopes []string) (*op.Response, error) {
	var refreshLifetime time.Duration
	if slices.Contains(scopes, ScopeOffline) {
		refreshLifetime = p.cfg.RefreshTokenLifetime
	}
	sess, refresh, err := p.sessions.Create(ctx, userID, c, scopes, refreshLifetime)
	if errors.Is(err, ErrCredentialsReset) {
		return nil, op.NewStatusError(zoidc.ErrInvalidClient().WithDescription("the client's credentials were reset"), http.StatusUnauthorized)
	}
	if err != nil {
		return nil, p.serverError(ctx, "create session", err)
	}
	return p.respondForSession(ctx, c, sess, refresh)
}

func (p *Provider) respondForSession(ctx context.Context, c clients.Client, sess Session, refresh string) (*op.Response, error) {
	now := time.Now()
	access, err := p.minter.Sign(ctx, Claims{
		Subject: sess.UserID, Audience: c.ID, ClientID: c.ID, Kind: KindUser,
		Scope: strings.Join(sess.Scopes, " "), SessionID: sess.ID,
		InstanceID: c.InstanceID, WorkspaceID: c.WorkspaceID, ClientGeneration: c.TokenGeneration,
		Expiry: now.Add(p.cfg.AccessTokenLifetime).Unix(), ID: uuid.NewString(),
	})
	if err != nil {
		return nil, p.serverError(ctx, "sign user token", err)
	}
	resp := tokenResponse{
		AccessToken: access, TokenType: zoidc.BearerToken, RefreshToken: refresh,
		ExpiresIn: int64(p.cfg.AccessTokenLifetime.Seconds()), Scope: strings.Join(sess.Scopes, " "),
	}
	if slices.Contains(sess.Scopes, ScopeOpenID) {
		if resp.IDToken, err = p.idToken(ctx, c, sess, now); err != nil {
			return nil, p.serverError(ctx, "sign ID token", err)
		}
	}
	return noStore(resp), nil
}

// RefreshToken rotates a refresh token (RFC 6749 §6). A rotated token
// presented again revokes its whole session.
func (p *Provider) RefreshToken(ctx context.Context, r *op.ClientRequest[zoidc.RefreshTokenRequest]) (*op.Response, error) {
	c := r.Client.(instanceClient).Client
	asked := scopeList(r.Data.Scopes)
	check := func(sess Session) error {
		for _, s := range asked {
			if !slices.Contains(sess.Scopes, s) {
				return zoidc.ErrInvalidScope().WithDescription("scope %q was not granted to this session", s)
			}
		}
		ok, err := p.canUse(ctx, sess.UserID, sess.InstanceID)
		if err == nil && !ok {
			err = errAccessLost
		}
		return err
	}
	sess, next, err := p.sessions.Rotate(ctx, c.ID, r.Data.RefreshToken, p.cfg.RefreshTokenLifetime, check)
	var refused *zoidc.Error
	switch {
	case errors.Is(err, ErrRefreshTokenReuse):
		p.log.WarnContext(ctx, "refresh token reused: session revoked", "session_id", sess.ID, "client_id", c.ID)
		return nil, zoidc.ErrInvalidGrant().WithDescription("refresh token already used; the session has been revoked")
	case errors.Is(err, ErrInvalidRefreshToken):
		return nil, zoidc.ErrInvalidGrant().WithDescription("invalid refresh token")
	case errors.Is(err, errAccessLost):
		if err := p.sessions.Revoke(ctx, sess.ID, ReasonAccessLost); err != nil {
			return nil, p.serverError(ctx, "revoke session", err)
		}
		return nil, zoidc.ErrInvalidGrant().WithDescription("the user may no longer use this instance; the session has ended")
	case errors.As(err, &refused):
		return nil, err
	case err != nil:
		return nil, p.serverError(ctx, "rotate refresh token", err)
	}
	if len(asked) > 0 {
		sess.Scopes = asked
	}
	return p.respondForSession(ctx, c, sess, next)
}
