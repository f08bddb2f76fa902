package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	pw "github.com/caido-cloud/caido-cloud/accounts/password"
	"github.com/caido-cloud/caido-cloud/limits"
)

// SignIn checks an email and password. Failed attempts are limited per
// account and per client address (an IPv6 address by its /64), successful
// ones per address, in fixed windows (*LimitError once over); ErrBusy when
// the password could not be checked in time.
func (s *Service) SignIn(ctx context.Context, email, password, ip string) (Account, error) {
	email = strings.TrimSpace(email)
	if len(password) > pw.MaxLength {
		return Account{}, ErrBadCredentials
	}
	att, err := s.attempt(ctx, s.opts.SignInLimit, s.opts.SignInWindow,
		"signin-account:"+strings.ToLower(email), "signin-ip:"+limits.AddressKey(ip))
	if err != nil {
		return Account{}, err
	}
	// Counted before the hash, which a right password costs too; given
	// back below when the password is wrong.
	signedIn, err := s.attempt(ctx, s.opts.SignedInLimit, s.opts.SignInWindow, "signedin-ip:"+limits.AddressKey(ip))
	if err != nil {
		return Account{}, errors.Join(err, att.Refund(ctx)) // not a failure of the password
	}
	a, err := s.checkPassword(ctx, email, password)
	switch {
	case errors.Is(err, ErrBusy):
		return Account{}, errors.Join(err, att.Refund(ctx), signedIn.Refund(ctx))
	case err != nil:
		return Account{}, errors.Join(err, signedIn.Refund(ctx))
	}
	if err := att.Refund(ctx); err != nil {
		return Account{}, fmt.Errorf("sign in: %w", err)
	}
	return a, nil
}

// checkPassword finds the account of email and checks its password:
// ErrBadCredentials for an unknown email and a wrong password alike, in
// about the same time.
func (s *Service) checkPassword(ctx context.Context, email, password string) (Account, error) {
	var a Account
	var encoded *string
	err := s.db.QueryRow(ctx, `
		SELECT u.id::text, u.email, u.name, u.password_hash, coalesce(w.id::text, '')
		FROM users u LEFT JOIN workspaces w ON w.owner_user_id = u.id AND w.is_default
		WHERE lower(u.email) = lower($1)`, email).Scan(&a.ID, &a.Email, &a.Name, &encoded, &a.DefaultWorkspaceID)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && encoded == nil {
		if _, err := s.verifyPassword(ctx, dummyHash(), password); errors.Is(err, ErrBusy) {
			return Account{}, err
		}
		return Account{}, ErrBadCredentials
	}
	if err != nil {
		return Account{}, fmt.Errorf("sign in: %w", err)
	}
	ok, err := s.verifyPassword(ctx, *encoded, password)
	if err != nil {
		return Account{}, fmt.Errorf("sign in: verify the password of user %s: %w", a.ID, err)
	}
	if !ok {
		return Account{}, ErrBadCredentials
	}
	return a, nil
}
