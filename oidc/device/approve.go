package device

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Lookup finds the pending authorization a user typed the code of, in any
// case, with or without the dash and spaces. Anything but a pending,
// unexpired flow is ErrUnknownUserCode.
func (s *Service) Lookup(ctx context.Context, userCode string) (Pending, error) {
	code, ok := normaliseUserCode(userCode)
	if !ok {
		return Pending{}, ErrUnknownUserCode
	}
	var p Pending
	err := s.db.QueryRow(ctx, `
		SELECT id::text, user_code, client_id, scopes, expires_at FROM device_authorizations
		WHERE user_code = $1 AND state = 'pending' AND expires_at > $2`,
		code, s.clock()).Scan(&p.ID, &p.UserCode, &p.ClientID, &p.Scopes, &p.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Pending{}, ErrUnknownUserCode
	}
	if err != nil {
		return Pending{}, fmt.Errorf("look up device authorization: %w", err)
	}
	p.UserCode = FormatUserCode(p.UserCode)
	return p, nil
}

// Approve records that userID approved the pending authorization of
// userCode, granting grantedScopes, which must all have been asked for
// (which of them the user may grant is the caller's decision). A flow is
// decided once: approving one that is not pending is ErrUnknownUserCode.
func (s *Service) Approve(ctx context.Context, userCode, userID string, grantedScopes []string) error {
	code, ok := normaliseUserCode(userCode)
	if !ok {
		return ErrUnknownUserCode
	}
	granted, err := cleanScopes(grantedScopes)
	if err != nil {
		return fmt.Errorf("approve device authorization: %w", err)
	}
	now := s.clock()
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var id string
		var asked []string
		err := tx.QueryRow(ctx, `
			SELECT id::text, scopes FROM device_authorizations
			WHERE user_code = $1 AND state = 'pending' AND expires_at > $2 FOR UPDATE`,
			code, now).Scan(&id, &asked)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrUnknownUserCode
		}
		if err != nil {
			return err
		}
		if extra := notIn(granted, asked); len(extra) > 0 {
			return fmt.Errorf("%w: %s", ErrScopeNotRequested, strings.Join(extra, " "))
		}
		_, err = tx.Exec(ctx, `
			UPDATE device_authorizations
			SET state = 'approved', user_id = $2, granted_scopes = $3, decided_at = $4
			WHERE id = $1`, id, userID, granted, now)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "23503" || pgErr.Code == "22P02") {
			return fmt.Errorf("user %q does not exist", userID)
		}
		return err
	})
	if err != nil && !errors.Is(err, ErrUnknownUserCode) {
		return fmt.Errorf("approve device authorization: %w", err)
	}
	return err
}

// Deny records that the user refused the pending authorization of
// userCode; the device's next poll gets access_denied. Denying one that is
// not pending is ErrUnknownUserCode.
func (s *Service) Deny(ctx context.Context, userCode string) error {
	code, ok := normaliseUserCode(userCode)
	if !ok {
		return ErrUnknownUserCode
	}
	now := s.clock()
	tag, err := s.db.Exec(ctx, `
		UPDATE device_authorizations SET state = 'denied', decided_at = $2
		WHERE user_code = $1 AND state = 'pending' AND expires_at > $2`, code, now)
	if err != nil {
		return fmt.Errorf("deny device authorization: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrUnknownUserCode
	}
	return nil
}

// notIn returns the elements of granted missing from asked.
func notIn(granted, asked []string) []string {
	var extra []string
	for _, sc := range granted {
		if !slices.Contains(asked, sc) {
			extra = append(extra, sc)
		}
	}
	return extra
}
