package approval

import (
	"slices"

	"github.com/caido-cloud/caido-cloud/oidc"
)

// The scope policy, the one place that says which of the scopes an instance
// asks for an approver may leave out. The consent screen offers the
// assistant and staying signed in as options; everything else an instance
// asks for (who you are: openid, profile:read) comes with any approval,
// since the instance cannot sign you in without it.
var optionalScopes = []string{oidc.ScopeAssistant, oidc.ScopeOffline}

// Scope is one scope an instance asked for.
type Scope struct {
	Name string
	// Required scopes are granted with any approval; the others are the
	// approver's choice.
	Required bool
}

// scopesOf is the policy applied to what a flow asked for, in its order.
func scopesOf(asked []string) []Scope {
	out := make([]Scope, 0, len(asked))
	for _, sc := range asked {
		out = append(out, Scope{Name: sc, Required: !slices.Contains(optionalScopes, sc)})
	}
	return out
}

// granted is what an approval grants: every required scope, and the
// optional ones the approver chose. A chosen scope that the instance did
// not ask for is a *ScopeError, never silently dropped: the approver meant
// to grant something that will not be there.
func granted(asked []Scope, chosen []string) ([]string, error) {
	var notAsked []string
	for _, sc := range chosen {
		if !slices.ContainsFunc(asked, func(a Scope) bool { return a.Name == sc }) && !slices.Contains(notAsked, sc) {
			notAsked = append(notAsked, sc)
		}
	}
	if len(notAsked) > 0 {
		names := make([]string, len(asked))
		for i, a := range asked {
			names[i] = a.Name
		}
		return nil, &ScopeError{NotAsked: notAsked, Asked: names}
	}
	out := []string{}
	for _, a := range asked {
		if a.Required || slices.Contains(chosen, a.Name) {
			out = append(out, a.Name)
		}
	}
	return out, nil
}
