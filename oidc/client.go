package oidc

import (
	"time"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/caido-cloud/caido-cloud/oidc/clients"
)

// instanceClient presents a registered instance to zitadel's op, which
// checks the grant type of each token request against GrantTypes. The rest
// concerns browser flows, which instances do not use.
type instanceClient struct {
	clients.Client
}

var _ op.Client = instanceClient{}

func (c instanceClient) GetID() string                    { return c.ID }
func (c instanceClient) RedirectURIs() []string           { return nil }
func (c instanceClient) PostLogoutRedirectURIs() []string { return nil }
func (c instanceClient) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeNative // software on the user's own machine
}
func (c instanceClient) AuthMethod() zoidc.AuthMethod        { return zoidc.AuthMethodPost }
func (c instanceClient) ResponseTypes() []zoidc.ResponseType { return nil }
func (c instanceClient) GrantTypes() []zoidc.GrantType {
	out := make([]zoidc.GrantType, len(c.Client.GrantTypes))
	for i, g := range c.Client.GrantTypes {
		out[i] = zoidc.GrantType(g)
	}
	return out
}
func (c instanceClient) LoginURL(string) string               { return "" }
func (c instanceClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c instanceClient) IDTokenLifetime() time.Duration       { return time.Hour }
func (c instanceClient) DevMode() bool                        { return false }
func (c instanceClient) IsScopeAllowed(string) bool           { return false }
func (c instanceClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c instanceClient) ClockSkew() time.Duration             { return Leeway }
func (c instanceClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c instanceClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
