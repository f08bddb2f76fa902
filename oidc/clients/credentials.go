package clients

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Authenticate returns the client whose id and secret these are. An unknown
// id and a wrong secret both give ErrInvalidClient, after the same work: the
// presented secret is hashed and compared either way.
func (s *Service) Authenticate(ctx context.Context, clientID, secret string) (Client, error) {
	c, hash, err := lookup(ctx, s.db, clientID, "")
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Client{}, err
	}
	if !secretMatches(hash, secret) {
		return Client{}, ErrInvalidClient
	}
	return c, nil
}

// Get returns a client without authenticating it, or ErrNotFound.
func (s *Service) Get(ctx context.Context, clientID string) (Client, error) {
	c, _, err := lookup(ctx, s.db, clientID, "")
	return c, err
}

// Update replaces a client's grant types and scopes (RFC 7592 style: the
// client authenticates with its own credentials). It returns
// ErrInvalidClient before looking at m, so an unauthenticated caller learns
// nothing from the metadata checks.
func (s *Service) Update(ctx context.Context, clientID, secret string, m Metadata) (Client, error) {
	var c Client
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// FOR UPDATE: a secret reset that commits first makes this secret
		// fail here rather than update with a dead one.
		found, hash, err := lookup(ctx, tx, clientID, "FOR UPDATE OF c")
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if !secretMatches(hash, secret) {
			return ErrInvalidClient
		}
		grantTypes, scopes, err := normalize(m)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE oauth_clients SET grant_types = $2, scopes = $3 WHERE client_id = $1`,
			clientID, grantTypes, scopes)
		if err != nil {
			return fmt.Errorf("update client %s: %w", clientID, err)
		}
		c = found
		c.GrantTypes, c.Scopes = grantTypes, scopes
		return nil
	})
	return c, err
}

// ResetSecret gives a client a new secret; the old one stops working as soon
// as this returns.
func (s *Service) ResetSecret(ctx context.Context, clientID string) (string, error) {
	secret, err := newSecret()
	if err != nil {
		return "", err
	}
	tag, err := s.db.Exec(ctx, `UPDATE oauth_clients SET secret_hash = $2, secret_rotated_at = now() WHERE client_id = $1`,
		clientID, hashSecret(secret))
	if err != nil {
		return "", fmt.Errorf("reset secret of client %s: %w", clientID, err)
	}
	if tag.RowsAffected() == 0 {
		return "", fmt.Errorf("client %s: %w", clientID, ErrNotFound)
	}
	return secret, nil
}

type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// lookup reads a client and its secret hash, with the workspace of its
// instance. lock is empty or a row-locking clause.
func lookup(ctx context.Context, db queryRower, clientID, lock string) (Client, []byte, error) {
	if !wellFormedClientID(clientID) {
		// Not one we could have issued; PostgreSQL would also refuse some
		// (a NUL byte) with an error that is not the client's "no such id".
		return Client{}, nil, fmt.Errorf("client %s: %w", quote(clientID), ErrNotFound)
	}
	var c Client
	var hash []byte
	err := db.QueryRow(ctx, `SELECT c.client_id, c.instance_id::text, coalesce(i.workspace_id::text, ''),
			c.grant_types, c.scopes, c.created_at, c.secret_rotated_at, c.secret_hash
		FROM oauth_clients c JOIN instances i ON i.id = c.instance_id
		WHERE c.client_id = $1 `+lock, clientID).Scan(
		&c.ID, &c.InstanceID, &c.WorkspaceID, &c.GrantTypes, &c.Scopes, &c.IssuedAt, &c.SecretRotatedAt, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return Client{}, nil, fmt.Errorf("client %s: %w", clientID, ErrNotFound)
	}
	if err != nil {
		return Client{}, nil, fmt.Errorf("look up client %s: %w", clientID, err)
	}
	return c, hash, nil
}
