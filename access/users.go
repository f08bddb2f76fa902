package access

import (
	"context"
	"fmt"
	"net/mail"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/caido-cloud/caido-cloud/authz"
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
	u := User{Email: strings.TrimSpace(email), Name: strings.TrimSpace(name)}
	if !isAddress(u.Email) {
		return u, Change{}, fmt.Errorf("email %q is not an address: %w", email, ErrInvalid)
	}
	if u.Name == "" || len(u.Name) > 200 {
		return u, Change{}, fmt.Errorf("name must be 1 to 200 characters: %w", ErrInvalid)
	}
	ch, err := s.change(ctx, func(tx pgx.Tx) ([]authz.Op, error) {
		err := tx.QueryRow(ctx, `INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id::text`, u.Email, u.Name).Scan(&u.ID)
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
