package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	pw "github.com/caido-cloud/caido-cloud/accounts/password"
)

// SignIn checks an email and password. Failed attempts are limited per
// account and per IP address in fixed windows (*LimitError once over);
// a successful one does not count.
func (s *Service) SignIn(ctx context.Context, email, password, ip string) (Account, error) {
	email = strings.TrimSpace(email)
	if len(password) > pw.MaxLength {
		return Account{}, ErrBadCredentials
	}
	att, err := s.attempt(ctx, s.opts.SignInLimit, s.opts.SignInWindow,
		"signin-account:"+strings.ToLower(email), "signin-ip:"+ip)
	if err != nil {
		return Account{}, err
	}
	var a Account
	var encoded *string
	err = s.db.QueryRow(ctx, `
		SELECT u.id::text, u.email, u.name, u.password_hash, coalesce(w.id::text, '')
		FROM users u LEFT JOIN workspaces w ON w.owner_user_id = u.id AND w.is_default
		WHERE lower(u.email) = lower($1)`, email).Scan(&a.ID, &a.Email, &a.Name, &encoded, &a.DefaultWorkspaceID)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && encoded == nil {
		_, _ = verifyPassword(dummyHash(), password)
		return Account{}, ErrBadCredentials
	}
	if err != nil {
		return Account{}, fmt.Errorf("sign in: %w", err)
	}
	ok, err := verifyPassword(*encoded, password)
	if err != nil {
		return Account{}, fmt.Errorf("sign in: verify the password of user %s: %w", a.ID, err)
	}
	if !ok {
		return Account{}, ErrBadCredentials
	}
	if err := att.Refund(ctx); err != nil {
		return Account{}, fmt.Errorf("sign in: %w", err)
	}
	return a, nil
}
