package signing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caido-cloud/caido-cloud/store"
)

// signingLock serialises replicas that create, rotate or delete signing keys,
// so that concurrent start-ups create one first key and concurrent rotation
// loops rotate once. (7_414_001..003 are migrate, model and outbox.)
const signingLock = 7_414_010

// Ensure creates the first key of each configured algorithm that has no
// active key, then opens every active key: a replica started with the wrong
// master key fails here, at start-up, rather than at its first token.
func (k *Keys) Ensure(ctx context.Context) error {
	err := store.WithAdvisoryLock(ctx, k.db, signingLock, func(conn *pgxpool.Conn) error {
		for _, alg := range k.opts.Algorithms {
			if _, err := k.rotateIfDue(ctx, conn, alg, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ensure signing keys: %w", err)
	}
	for _, alg := range k.opts.Algorithms {
		k.forget(alg)
		if _, err := k.SigningKeyFor(ctx, alg); err != nil {
			return fmt.Errorf("ensure signing keys: %w", err)
		}
	}
	return nil
}

// Rotate makes a new key the active one for alg and retires the previous one,
// which stays published for RetainFor. It returns the new key's id. This
// replica signs with the new key at once; the others within RefreshEvery.
func (k *Keys) Rotate(ctx context.Context, alg jose.SignatureAlgorithm) (string, error) {
	if !slices.Contains(k.opts.Algorithms, alg) {
		return "", fmt.Errorf("rotate signing key: algorithm %s is not configured", alg)
	}
	var kid string
	err := store.WithAdvisoryLock(ctx, k.db, signingLock, func(conn *pgxpool.Conn) error {
		var err error
		if kid, err = k.replace(ctx, conn, alg); err != nil {
			return err
		}
		return k.deleteExpired(ctx, conn)
	})
	if err != nil {
		return "", fmt.Errorf("rotate %s signing key: %w", alg, err)
	}
	k.forget(alg)
	return kid, nil
}

// RunRotation rotates each configured algorithm's key once its active key is
// older than every, and deletes keys whose retention has ended, until ctx
// ends. Every replica may run it: it checks every RefreshEvery and rotates on
// one replica only, under the advisory lock, after looking at the age again.
func (k *Keys) RunRotation(ctx context.Context, every time.Duration) {
	if every <= 0 {
		panic("signing: RunRotation needs a positive rotation period")
	}
	tick := time.NewTicker(k.opts.RefreshEvery)
	defer tick.Stop()
	for {
		if err := k.rotateDue(ctx, every); err != nil && ctx.Err() == nil {
			k.opts.Log.ErrorContext(ctx, "signing key rotation failed; retrying", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// rotateDue rotates the algorithms whose active key is older than every. The
// first look is without the lock, so that idle replicas only read.
func (k *Keys) rotateDue(ctx context.Context, every time.Duration) error {
	due, err := k.dueAlgorithms(ctx, k.db, every)
	if err != nil || len(due) == 0 {
		return err
	}
	return store.WithAdvisoryLock(ctx, k.db, signingLock, func(conn *pgxpool.Conn) error {
		for _, alg := range due {
			kid, err := k.rotateIfDue(ctx, conn, alg, every)
			if err != nil {
				return fmt.Errorf("rotate %s signing key: %w", alg, err)
			}
			if kid != "" {
				k.forget(alg)
				k.opts.Log.InfoContext(ctx, "rotated signing key", "algorithm", string(alg), "kid", kid)
			}
		}
		return k.deleteExpired(ctx, conn)
	})
}

type querier interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
	QueryRow(context.Context, string, ...any) pgx.Row
}

// dueAlgorithms returns the configured algorithms with no active key or one
// older than every.
func (k *Keys) dueAlgorithms(ctx context.Context, db querier, every time.Duration) ([]jose.SignatureAlgorithm, error) {
	var due []jose.SignatureAlgorithm
	for _, alg := range k.opts.Algorithms {
		old, err := k.isDue(ctx, db, alg, every)
		if err != nil {
			return nil, err
		}
		if old {
			due = append(due, alg)
		}
	}
	return due, nil
}

func (k *Keys) isDue(ctx context.Context, db querier, alg jose.SignatureAlgorithm, every time.Duration) (bool, error) {
	var created time.Time
	err := db.QueryRow(ctx, `SELECT created_at FROM signing_keys WHERE algorithm = $1 AND retired_at IS NULL`, string(alg)).Scan(&created)
	if errors.Is(err, pgx.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read active %s signing key age: %w", alg, err)
	}
	// every == 0 (Ensure) only asks whether a key exists.
	return every > 0 && !k.opts.Now().Before(created.Add(every)), nil
}

// rotateIfDue, called under the lock, replaces alg's active key when it is
// missing or older than every (0: only when missing); it returns the new kid
// or "" when the key was fresh, e.g. because another replica just rotated it.
func (k *Keys) rotateIfDue(ctx context.Context, conn *pgxpool.Conn, alg jose.SignatureAlgorithm, every time.Duration) (string, error) {
	due, err := k.isDue(ctx, conn, alg, every)
	if err != nil || !due {
		return "", err
	}
	return k.replace(ctx, conn, alg)
}

// replace retires alg's active key, if any, and inserts a new one, in one
// transaction: readers see the old key or the new one, never none.
func (k *Keys) replace(ctx context.Context, conn *pgxpool.Conn, alg jose.SignatureAlgorithm) (string, error) {
	row, err := newRow(alg, k.sealer)
	if err != nil {
		return "", err
	}
	now := k.opts.Now()
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE signing_keys SET retired_at = $2
			WHERE algorithm = $1 AND retired_at IS NULL`, string(alg), now); err != nil {
			return fmt.Errorf("retire active key: %w", err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO signing_keys
			(kid, algorithm, public_key, private_key_sealed, master_key_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			row.kid, string(alg), row.public, row.sealed, row.masterKeyID, now)
		if err != nil {
			return fmt.Errorf("insert key %s: %w", row.kid, err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return row.kid, nil
}

// deleteExpired deletes the keys whose retention has ended: no token they
// signed can still be presented, and KeySet no longer publishes them.
func (k *Keys) deleteExpired(ctx context.Context, conn *pgxpool.Conn) error {
	cutoff := k.opts.Now().Add(-k.opts.RetainFor)
	if _, err := conn.Exec(ctx, `DELETE FROM signing_keys WHERE retired_at <= $1`, cutoff); err != nil {
		return fmt.Errorf("delete expired signing keys: %w", err)
	}
	return nil
}

// RotateAll replaces the active key of every configured algorithm now (the
// operator's `keys rotate` and the admin API's POST /admin/keys/rotate), and
// returns each new key's id by algorithm.
func (k *Keys) RotateAll(ctx context.Context) (map[jose.SignatureAlgorithm]string, error) {
	if err := k.Ensure(ctx); err != nil {
		return nil, err
	}
	algs, err := k.SignatureAlgorithms(ctx)
	if err != nil {
		return nil, err
	}
	kids := make(map[jose.SignatureAlgorithm]string, len(algs))
	for _, alg := range algs {
		kid, err := k.Rotate(ctx, alg)
		if err != nil {
			return nil, fmt.Errorf("rotate %s: %w", alg, err)
		}
		kids[alg] = kid
	}
	return kids, nil
}
