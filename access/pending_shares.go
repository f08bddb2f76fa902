package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caido-cloud/caido-cloud/audit"

	"github.com/jackc/pgx/v5"

	"github.com/caido-cloud/caido-cloud/authz"
)

// Shares by email. An address is only an account's once the account has
// verified it (users.email_verified_at): anyone may sign up with any
// address. So a share by email becomes a grant at once only to an account
// that has verified the address; otherwise it waits in pending_shares until
// an account verifies it (GrantPendingSharesTx, from the verification).

// ShareByEmail shares an instance with the account that has verified
// email, until expiresAt when set: at once when there is one (userID is
// then its id), otherwise as a pending share (userID ""), which replaces an
// earlier one to the same address. Callers must not tell which happened to
// anyone but that account: it would tell whether the address has an
// account. Whether the actor may share the instance is the caller's check.
func (s *Service) ShareByEmail(ctx context.Context, instanceID, email string, expiresAt *time.Time, sharedBy string) (userID string, ch Change, err error) {
	email = strings.TrimSpace(email)
	if !isAddress(email) {
		return "", Change{}, fmt.Errorf("email %q is not an address: %w", email, ErrInvalid)
	}
	if expiresAt != nil && !expiresAt.After(time.Now()) {
		return "", Change{}, fmt.Errorf("a grant must expire in the future: %w", ErrInvalid)
	}
	if expiresAt != nil {
		at := expiresAt.UTC().Truncate(time.Microsecond)
		expiresAt = &at
	}
	ch, err = s.change(ctx, func(tx pgx.Tx) ([]authz.Op, error) {
		userID = ""
		// FOR SHARE: a verification of the address waits for this share
		// (and then converts it), or this share waits for the verification
		// (and then sees it): no share is left pending for a verified address.
		var id string
		var verified bool
		err := tx.QueryRow(ctx, `SELECT id::text, email_verified_at IS NOT NULL FROM users WHERE lower(email) = lower($1) FOR SHARE`,
			email).Scan(&id, &verified)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
		if verified {
			userID = id
			return grant(ctx, tx, instanceID, Grantee{UserID: id}, expiresAt, sharedBy)
		}
		// Ended shares of the instance go: they will never be granted.
		if _, err := tx.Exec(ctx, `DELETE FROM pending_shares WHERE instance_id = $1 AND expires_at <= now()`, instanceID); err != nil {
			return nil, err
		}
		var shareID string
		err = tx.QueryRow(ctx, `INSERT INTO pending_shares (instance_id, email, expires_at, shared_by) VALUES ($1, $2, $3, nullif($4, '')::uuid)
			ON CONFLICT (instance_id, lower(email)) DO UPDATE SET email = $2, expires_at = $3, shared_by = nullif($4, '')::uuid, created_at = now()
			RETURNING id::text`, instanceID, email, expiresAt, sharedBy).Scan(&shareID)
		if err != nil {
			return nil, translate(err, "share of instance "+instanceID)
		}
		team, err := teamOfInstance(ctx, tx, instanceID)
		if err != nil {
			return nil, err
		}
		return nil, audit.Record(ctx, tx, audit.SharePending, team, audit.Target{Type: "instance", ID: instanceID},
			map[string]any{"email": email, "pending_share_id": shareID, "expires_at": expiresAt})
	})
	return userID, ch, err
}

// PendingShares lists an instance's shares waiting for their address, as
// GrantInfo with Pending set (PendingID and UserEmail, no user).
func (s *Service) PendingShares(ctx context.Context, instanceID string) ([]GrantInfo, error) {
	rows, err := s.db.Query(ctx, `SELECT id::text, instance_id::text, email, expires_at, created_at FROM pending_shares
		WHERE instance_id = $1 AND (expires_at IS NULL OR expires_at > now()) ORDER BY created_at, id`, instanceID)
	if err != nil {
		return nil, translate(err, "pending shares of instance "+instanceID)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (GrantInfo, error) {
		g := GrantInfo{Pending: true}
		err := r.Scan(&g.PendingID, &g.InstanceID, &g.UserEmail, &g.ExpiresAt, &g.CreatedAt)
		return g, err
	})
}

// WithdrawPendingShare deletes a pending share (ErrNotFound when there is
// none: granted or withdrawn meanwhile).
func (s *Service) WithdrawPendingShare(ctx context.Context, instanceID, pendingID string) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var email string
		err := tx.QueryRow(ctx, `DELETE FROM pending_shares WHERE id = $1 AND instance_id = $2 RETURNING email`, pendingID, instanceID).Scan(&email)
		if err != nil {
			return translate(err, "pending share "+pendingID)
		}
		team, err := teamOfInstance(ctx, tx, instanceID)
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.ShareWithdraw, team, audit.Target{Type: "instance", ID: instanceID},
			map[string]any{"email": email, "pending_share_id": pendingID})
	})
}

// GrantPendingSharesTx turns the shares waiting for email into grants to
// userID, inside the caller's transaction (the one that marks the address
// verified), and queues their tuples there; the outbox applies them once
// the caller commits. Shares whose end has passed meanwhile are dropped.
// Each grant is audited as made by its sharer, who decided it.
func GrantPendingSharesTx(ctx context.Context, tx pgx.Tx, userID, email string) error {
	rows, err := tx.Query(ctx, `DELETE FROM pending_shares WHERE lower(email) = lower($1)
		RETURNING instance_id::text, expires_at, coalesce(shared_by::text, '')`, email)
	if err != nil {
		return err
	}
	type pending struct {
		instanceID string
		expiresAt  *time.Time
		sharedBy   string
	}
	shares, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pending, error) {
		var p pending
		err := r.Scan(&p.instanceID, &p.expiresAt, &p.sharedBy)
		return p, err
	})
	if err != nil {
		return err
	}
	var ops []authz.Op
	now := time.Now()
	for _, p := range shares {
		if p.expiresAt != nil && !p.expiresAt.After(now) {
			continue
		}
		by := audit.WithActor(ctx, audit.Actor{UserID: p.sharedBy})
		o, err := grant(by, tx, p.instanceID, Grantee{UserID: userID}, p.expiresAt, p.sharedBy)
		if err != nil {
			return fmt.Errorf("grant the share of instance %s: %w", p.instanceID, err)
		}
		ops = append(ops, o...)
	}
	_, err = authz.Enqueue(ctx, tx, ops...)
	return err
}
