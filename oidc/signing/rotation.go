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

// RotateNowWarning is what the operator is told when keys switch at once.
var RotateNowWarning = fmt.Sprintf("the new keys sign at once: verifiers that cached the JWKS may reject new tokens for up to %s (its max-age), until they refetch it", JWKSMaxAge)

// Rotated is what a rotation did for one algorithm.
type Rotated struct {
	// KID is the new key's id; it is in the JWKS from the rotation on.
	KID string
	// SignsFrom is when replicas start signing with it (on their clocks):
	// PublishAhead after a scheduled rotation, at once for RotateNow. The
	// previous key signs until then and stays published RetainFor after.
	SignsFrom time.Time
}

// Rotate schedules a new key for alg, published ahead: it is in the JWKS at
// once and signs from PublishAhead on, when every verifier that cached the
// JWKS before has refetched it; the current key signs until then, then
// retires and stays published for RetainFor. When a key is already
// scheduled, that one is returned: rotating twice does not push the switch
// back, nor leave a key that never signs.
func (k *Keys) Rotate(ctx context.Context, alg jose.SignatureAlgorithm) (string, error) {
	r, err := k.rotate(ctx, alg, false)
	return r.KID, err
}

// RotateNow makes a new key the signing one for alg at once (a key thought
// compromised) and retires the current one, and any scheduled one, which
// stay published for RetainFor. This replica signs with it at once, the
// others within RefreshEvery; a verifier that cached the JWKS before may
// reject its tokens until its cache expires (up to JWKSMaxAge).
func (k *Keys) RotateNow(ctx context.Context, alg jose.SignatureAlgorithm) (string, error) {
	r, err := k.rotate(ctx, alg, true)
	return r.KID, err
}

func (k *Keys) rotate(ctx context.Context, alg jose.SignatureAlgorithm, atOnce bool) (Rotated, error) {
	if !slices.Contains(k.opts.Algorithms, alg) {
		return Rotated{}, fmt.Errorf("rotate signing key: algorithm %s is not configured", alg)
	}
	var r Rotated
	err := store.WithAdvisoryLock(ctx, k.db, signingLock, func(conn *pgxpool.Conn) error {
		var err error
		if r, err = k.replace(ctx, conn, alg, atOnce); err != nil {
			return err
		}
		return k.deleteExpired(ctx, conn)
	})
	if err != nil {
		return Rotated{}, fmt.Errorf("rotate %s signing key: %w", alg, err)
	}
	// This replica reads the new schedule (or key) at once.
	k.forget(alg)
	return r, nil
}

// RunRotation schedules a new key for each configured algorithm (as Rotate
// does, published ahead) once its newest key is older than every, and
// deletes keys whose retention has ended, until ctx ends. Every replica may
// run it: it checks every RefreshEvery and rotates on one replica only,
// under the advisory lock, after looking at the age again.
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
			r, err := k.rotateIfDue(ctx, conn, alg, every)
			if err != nil {
				return fmt.Errorf("rotate %s signing key: %w", alg, err)
			}
			if r.KID != "" {
				k.forget(alg)
				k.opts.Log.InfoContext(ctx, "scheduled a new signing key, published from now", "algorithm", string(alg), "kid", r.KID,
					"signs_from", r.SignsFrom)
			}
		}
		return k.deleteExpired(ctx, conn)
	})
}

type querier interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
	QueryRow(context.Context, string, ...any) pgx.Row
}

// dueAlgorithms returns the configured algorithms with no key or whose
// newest key (active or scheduled) is older than every.
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
		return false, fmt.Errorf("read newest %s signing key age: %w", alg, err)
	}
	// every == 0 (Ensure) only asks whether a key exists. The age is the
	// newest key's, scheduled or not: a pending key is not due again, and
	// each key signs for every (from its creation plus PublishAhead).
	return every > 0 && !k.opts.Now().Before(created.Add(every)), nil
}

// rotateIfDue, called under the lock, schedules a new key for alg when its
// newest is older than every (0: only when there is none, and then it signs
// at once); it returns the new key or a zero Rotated when the key was fresh,
// e.g. because another replica just rotated it.
func (k *Keys) rotateIfDue(ctx context.Context, conn *pgxpool.Conn, alg jose.SignatureAlgorithm, every time.Duration) (Rotated, error) {
	due, err := k.isDue(ctx, conn, alg, every)
	if err != nil || !due {
		return Rotated{}, err
	}
	return k.replace(ctx, conn, alg, false)
}

// replace inserts a new key for alg, in one transaction with the end of the
// key(s) it replaces: readers see one signing key at every instant, never
// none. Scheduled (atOnce false), the new key activates PublishAhead from
// now and the current key's retired_at is that same instant; a key already
// scheduled is kept and returned instead. With no key at all, or atOnce,
// the new key signs now, and every key not yet retired retires now.
func (k *Keys) replace(ctx context.Context, conn *pgxpool.Conn, alg jose.SignatureAlgorithm, atOnce bool) (Rotated, error) {
	now := k.opts.Now()
	var out Rotated
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// The newest key: one at most (signing_keys_active_key).
		var newest Rotated
		err := tx.QueryRow(ctx, `SELECT kid, activates_at FROM signing_keys
			WHERE algorithm = $1 AND retired_at IS NULL`, string(alg)).Scan(&newest.KID, &newest.SignsFrom)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			atOnce = true // nothing signs until it does
		case err != nil:
			return fmt.Errorf("read newest key: %w", err)
		case !atOnce && newest.SignsFrom.After(now):
			out = newest
			return nil
		}
		activates := now
		if !atOnce {
			activates = now.Add(PublishAhead)
		}
		// Scheduled, this ends the current key at the new one's activation.
		// At once, it also ends the current key's scheduled end early, and a
		// scheduled key (which stays published: a replica whose clock runs
		// ahead may already sign with it).
		if _, err := tx.Exec(ctx, `UPDATE signing_keys SET retired_at = $2
			WHERE algorithm = $1 AND (retired_at IS NULL OR retired_at > $2)`, string(alg), activates); err != nil {
			return fmt.Errorf("retire current key: %w", err)
		}
		row, err := newRow(alg, k.sealer)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO signing_keys
			(kid, algorithm, public_key, private_key_sealed, master_key_id, created_at, activates_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			row.kid, string(alg), row.public, row.sealed, row.masterKeyID, now, activates)
		if err != nil {
			return fmt.Errorf("insert key %s: %w", row.kid, err)
		}
		out = Rotated{KID: row.kid, SignsFrom: activates}
		return nil
	})
	if err != nil {
		return Rotated{}, err
	}
	return out, nil
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

// RotateAll rotates the key of every configured algorithm (the operator's
// `keys rotate` and the admin API's POST /admin/v1/keys/rotate): scheduled,
// published ahead, as Rotate; or, with atOnce, switched now, as RotateNow.
func (k *Keys) RotateAll(ctx context.Context, atOnce bool) (map[jose.SignatureAlgorithm]Rotated, error) {
	if err := k.Ensure(ctx); err != nil {
		return nil, err
	}
	algs, err := k.SignatureAlgorithms(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[jose.SignatureAlgorithm]Rotated, len(algs))
	for _, alg := range algs {
		r, err := k.rotate(ctx, alg, atOnce)
		if err != nil {
			return nil, fmt.Errorf("rotate %s: %w", alg, err)
		}
		out[alg] = r
	}
	return out, nil
}
