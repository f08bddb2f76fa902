package accounts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// SignUpPolicy is who may sign up (CAIDO_CLOUD_SIGNUP): the zero value is
// anyone.
type SignUpPolicy struct {
	// InviteOnly: only an address with an open team invitation, or a share
	// by email waiting for it.
	InviteOnly bool
	// Domains, when set: only addresses at one of these domains (lower
	// case, exact: "example.com" does not admit "sub.example.com").
	Domains []string
}

// ErrSignUpClosed is a sign-up the policy does not admit. It is decided by
// the address alone, before anything says whether it has an account.
var ErrSignUpClosed = errors.New("sign-up is closed to this address")

// ParseSignUpPolicy reads CAIDO_CLOUD_SIGNUP: "open", "invite-only", or a
// comma-separated list of email domains.
func ParseSignUpPolicy(v string) (SignUpPolicy, error) {
	switch v = strings.TrimSpace(strings.ToLower(v)); v {
	case "", "open":
		return SignUpPolicy{}, nil
	case "invite-only":
		return SignUpPolicy{InviteOnly: true}, nil
	}
	var p SignUpPolicy
	for d := range strings.SplitSeq(v, ",") {
		d = strings.TrimPrefix(strings.TrimSpace(d), "@")
		if d == "" || strings.ContainsAny(d, "@ /") || !strings.Contains(d, ".") {
			return SignUpPolicy{}, fmt.Errorf("want open, invite-only or email domains such as example.com,example.org; %q is none", d)
		}
		p.Domains = append(p.Domains, d)
	}
	return p, nil
}

// admits says whether the policy lets email sign up.
func (s *Service) admits(ctx context.Context, email string) (bool, error) {
	p := s.opts.SignUpPolicy
	if len(p.Domains) > 0 {
		at := strings.LastIndexByte(email, '@')
		if !slices.Contains(p.Domains, strings.ToLower(email[at+1:])) {
			return false, nil
		}
	}
	if !p.InviteOnly {
		return true, nil
	}
	var invited bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM team_invitations WHERE lower(email) = lower($1) AND accepted_at IS NULL AND expires_at > $2)
		OR EXISTS (SELECT 1 FROM pending_shares WHERE lower(email) = lower($1) AND (expires_at IS NULL OR expires_at > $2))`,
		email, s.clock()).Scan(&invited)
	if err != nil {
		return false, fmt.Errorf("sign up: invitation: %w", err)
	}
	return invited, nil
}
