package access

import (
	"context"
	"fmt"
	"net/mail"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/input"
)

// User is an account.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
	// DefaultWorkspaceID is the personal workspace every user gets.
	DefaultWorkspaceID string `json:"default_workspace_id"`
}

// isAddress says whether s is one bare email address (no display name, no
// list), as accounts and invitations take them.
func isAddress(s string) bool {
	addr, err := mail.ParseAddress(s)
	return err == nil && addr.Address == s
}

// CreateUser creates a user and their Default workspace.
func (s *Service) CreateUser(ctx context.Context, email, name string) (User, Change, error) {
	return s.CreateAccount(ctx, NewUser{Email: email, Name: name})
}

// NewUser is a user to create, with what sign-up stores beside them.
type NewUser struct {
	Email, Name string
	// PasswordHash is the encoded argon2id hash ("" for none: no password
	// sign-in until one is set).
	PasswordHash string
	// SignupUserAgent is the sign-up browser's User-Agent ("" for none).
	SignupUserAgent string
}

// CreateAccount creates a user, their password hash and user agent and their
// Default workspace in one transaction: a sign-up that fails half-way
// leaves no account that cannot sign in.
func (s *Service) CreateAccount(ctx context.Context, n NewUser) (User, Change, error) {
	u := User{Email: strings.TrimSpace(n.Email), Name: strings.TrimSpace(n.Name)}
	if !isAddress(u.Email) {
		return u, Change{}, fmt.Errorf("email %q is not an address: %w", n.Email, ErrInvalid)
	}
	if _, ok := input.Name(u.Name, 200); !ok {
		return u, Change{}, fmt.Errorf("name must be 1 to 200 characters on one line, none of them control characters: %w", ErrInvalid)
	}
	ch, err := s.change(ctx, func(tx pgx.Tx) ([]authz.Op, error) {
		err := tx.QueryRow(ctx, `INSERT INTO users (email, name, password_hash, signup_user_agent)
			VALUES ($1, $2, nullif($3, ''), nullif($4, '')) RETURNING id::text`,
			u.Email, u.Name, n.PasswordHash, n.SignupUserAgent).Scan(&u.ID)
		if err != nil {
			return nil, translate(err, "user "+u.Email)
		}
		err = tx.QueryRow(ctx, `INSERT INTO workspaces (name, owner_user_id, is_default) VALUES ('Default', $1, true) RETURNING id::text`,
			u.ID).Scan(&u.DefaultWorkspaceID)
		if err != nil {
			return nil, err
		}
		return []authz.Op{authz.Write(workspaceOwnerTuple(u.DefaultWorkspaceID, &u.ID, nil))}, nil
	})
	return u, ch, err
}
