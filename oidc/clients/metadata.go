package clients

import (
	"fmt"
	"slices"
	"strings"
)

// Grant types an instance may register for.
const (
	GrantClientCredentials = "client_credentials"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	GrantRefreshToken      = "refresh_token"
)

// Scopes an instance may register for: the user scopes instances ask for at
// sign-in, plus openid.
const (
	ScopeProfileRead = "profile:read"
	ScopeAssistant   = "assistant"
	ScopeOffline     = "offline"
	ScopeOpenID      = "openid"
)

var (
	supportedGrantTypes = []string{GrantClientCredentials, GrantDeviceCode, GrantRefreshToken}
	supportedScopes     = []string{ScopeProfileRead, ScopeAssistant, ScopeOffline, ScopeOpenID}
)

// normalize checks m against what this server supports and returns its grant
// types and scopes without duplicates, in the client's order. An empty scope
// is allowed: the instance's own client_credentials token needs no user
// scope, and RFC 7591 makes scope optional.
func normalize(m Metadata) (grantTypes, scopes []string, err error) {
	if len(m.GrantTypes) == 0 {
		return nil, nil, &MetadataError{Description: "grant_types must name at least one of: " + strings.Join(supportedGrantTypes, ", ")}
	}
	grantTypes = make([]string, 0, len(m.GrantTypes))
	for _, g := range m.GrantTypes {
		if !slices.Contains(supportedGrantTypes, g) {
			return nil, nil, &MetadataError{Description: fmt.Sprintf("grant type %s is not supported; supported: %s",
				quote(g), strings.Join(supportedGrantTypes, ", "))}
		}
		if !slices.Contains(grantTypes, g) {
			grantTypes = append(grantTypes, g)
		}
	}
	// Never nil: an empty array is stored, not NULL.
	scopes = []string{}
	for _, s := range strings.Fields(m.Scope) {
		if !slices.Contains(supportedScopes, s) {
			return nil, nil, &MetadataError{Description: fmt.Sprintf("scope %s is not supported; supported: %s",
				quote(s), strings.Join(supportedScopes, " "))}
		}
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	return grantTypes, scopes, nil
}

// quote names a client-supplied value in an error description, cut short so
// that a huge value is not echoed back in full.
func quote(v string) string {
	const max = 64
	if len(v) > max {
		return fmt.Sprintf("%q…", v[:max])
	}
	return fmt.Sprintf("%q", v)
}
