package clients

import (
	"context"
	"errors"
	"fmt"

	"github.com/caido-cloud/caido-cloud/audit"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// ResetSecret gives a client a new secret and returns it: the old one
// stops working at once, and so does every token issued to the client
// before: its own access tokens (its token generation goes up) and its
// users' sessions, with their access and refresh tokens (ended with reason
// ReasonCredentialsReset). The change is in the audit log (the actor is the
// context's, audit.WithActor). All of it is one transaction.
func (s *Service) ResetSecret(ctx context.Context, clientID string) (string, error) {
	if !wellFormedClientID(clientID) {
		return "", fmt.Errorf("client %s: %w", quote(clientID), ErrNotFound)
	}
	_, secret, err := s.reset(ctx, `c.client_id = $1`, clientID)
	return secret, err
}

// ResetInstanceSecret is ResetSecret for the client of an instance; it
// returns the client id with the new secret.
func (s *Service) ResetInstanceSecret(ctx context.Context, instanceID string) (clientID, secret string, err error) {
	return s.reset(ctx, `c.instance_id = $1::uuid`, instanceID)
}

func (s *Service) reset(ctx context.Context, where, arg string) (clientID, secret string, err error) {
	secret, err = newSecret()
	if err != nil {
		return "", "", err
	}
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var instanceID, team string
		err := tx.QueryRow(ctx, `UPDATE oauth_clients c SET secret_hash = $2, secret_rotated_at = now(),
				token_generation = c.token_generation + 1
			FROM instances i LEFT JOIN workspaces w ON w.id = i.workspace_id
			WHERE i.id = c.instance_id AND `+where+`
			RETURNING c.client_id, c.instance_id::text, coalesce(w.owner_team_id::text, '')`,
			arg, hashSecret(secret)).Scan(&clientID, &instanceID, &team)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("client of %s: %w", quote(arg), ErrNotFound)
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "22P02" { // not a uuid
			return fmt.Errorf("client of %s: %w", quote(arg), ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("reset secret: %w", err)
		}
		// A session opened concurrently either committed before the row
		// lock above was granted, and is ended here, or waits for this
		// transaction and then finds the new generation (sessions.Create
		// locks the client row FOR SHARE and compares).
		ended, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = now(), revoked_reason = $2
			WHERE client_id = $1 AND revoked_at IS NULL`, clientID, ReasonCredentialsReset)
		if err != nil {
			return fmt.Errorf("end the sessions of client %s: %w", clientID, err)
		}
		return audit.Record(ctx, tx, audit.CredentialsReset, team, audit.Target{Type: "instance", ID: instanceID},
			map[string]any{"client_id": clientID, "sessions_ended": ended.RowsAffected()})
	})
	if err != nil {
		return "", "", err
	}
	return clientID, secret, nil
}

// ReasonCredentialsReset is the revoked_reason of the sessions a
// credentials reset ended (oidc's other reasons are in oidc/sessions.go).
const ReasonCredentialsReset = "credentials_reset"

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
	// The generation comes with the hash in one read: a token issued after
	// this authentication carries the generation of the secret it proved.
	err := db.QueryRow(ctx, `SELECT c.client_id, c.instance_id::text, coalesce(i.workspace_id::text, ''),
			c.grant_types, c.scopes, c.created_at, c.secret_rotated_at, c.token_generation, c.secret_hash
		FROM oauth_clients c JOIN instances i ON i.id = c.instance_id
		WHERE c.client_id = $1 `+lock, clientID).Scan(
		&c.ID, &c.InstanceID, &c.WorkspaceID, &c.GrantTypes, &c.Scopes, &c.IssuedAt, &c.SecretRotatedAt, &c.TokenGeneration, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return Client{}, nil, fmt.Errorf("client %s: %w", clientID, ErrNotFound)
	}
	if err != nil {
		return Client{}, nil, fmt.Errorf("look up client %s: %w", clientID, err)
	}
	return c, hash, nil
}
