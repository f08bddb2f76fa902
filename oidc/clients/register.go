package clients

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Register creates an unclaimed instance and its client, and returns the
// client's credentials. clientIP is the address the request came from, for
// the per-address limit. Invalid metadata (*MetadataError) and a refused
// rate limit (*RateLimitError) change nothing.
func (s *Service) Register(ctx context.Context, m Metadata, clientIP string) (Registration, error) {
	grantTypes, scopes, err := normalize(m)
	if err != nil {
		return Registration{}, err
	}
	if m.InstanceRegistrationKey != nil && s.opts.RedeemKey == nil {
		return Registration{}, &MetadataError{Description: "instance_registration_key is not valid"}
	}
	id, err := newClientID()
	if err != nil {
		return Registration{}, err
	}
	secret, err := newSecret()
	if err != nil {
		return Registration{}, err
	}
	reg := Registration{ClientID: id, Secret: secret, GrantTypes: grantTypes, Scopes: scopes}
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if err := s.countRegistration(ctx, tx, clientIP); err != nil {
			return err
		}
		// An unclaimed instance implies no OpenFGA tuple, so nothing goes
		// to the outbox.
		if err := tx.QueryRow(ctx, `INSERT INTO instances DEFAULT VALUES RETURNING id::text`).Scan(&reg.InstanceID); err != nil {
			return fmt.Errorf("create instance: %w", err)
		}
		err := tx.QueryRow(ctx, `INSERT INTO oauth_clients (client_id, instance_id, secret_hash, grant_types, scopes)
			VALUES ($1, $2, $3, $4, $5) RETURNING created_at`,
			id, reg.InstanceID, hashSecret(secret), grantTypes, scopes).Scan(&reg.IssuedAt)
		if err != nil {
			return fmt.Errorf("create client: %w", err)
		}
		if m.InstanceRegistrationKey != nil {
			return s.opts.RedeemKey(ctx, tx, *m.InstanceRegistrationKey, reg.InstanceID)
		}
		return nil
	})
	if err != nil {
		var metaErr *MetadataError
		if errors.As(err, &metaErr) {
			return Registration{}, metaErr
		}
		return Registration{}, fmt.Errorf("register client: %w", err)
	}
	s.pruneWindows(context.WithoutCancel(ctx))
	return reg, nil
}
