// Package signing keeps the OpenID provider's token signing keys: one active
// key per algorithm in PostgreSQL, private parts sealed under the operator's
// master key, rotated on one replica at a time, and published (JWKS) for as
// long as a token they signed may be presented.
package signing

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/zitadel/oidc/v3/pkg/op"
)

const (
	// MaxRefreshEvery is the promise that every replica signs with a new key
	// within a minute of its creation.
	MaxRefreshEvery = 60 * time.Second
	// DefaultRefreshEvery is how long a replica keeps its active key in memory
	// without asking PostgreSQL whether another replica rotated it.
	DefaultRefreshEvery = 30 * time.Second
	// DefaultRetainFor is how long a retired key stays in the JWKS. It must
	// outlast every token the key signed can still be presented: that is the
	// refresh lifetime (90 days), not the access token's, because an ID token
	// is accepted as id_token_hint at logout after it expired, for as long as
	// refresh keeps its session alive. The 5 minutes cover clock leeway
	// between us and verifiers, and the RefreshEvery (at most 60 s) during
	// which a replica may still sign with a key another replica just retired.
	DefaultRetainFor = 90*24*time.Hour + 5*time.Minute
)

// Options tune Keys; the zero value is the production default.
type Options struct {
	// Algorithms are the ones kept an active key each; the first is the one
	// SigningKey uses. Default: ES256 (cheap to sign) then RS256 (for
	// clients that need it).
	Algorithms []jose.SignatureAlgorithm
	// RefreshEvery bounds how long an active key is cached in process
	// (default 30 s, at most 60 s). It is also how often RunRotation checks.
	RefreshEvery time.Duration
	// RetainFor is how long a retired key stays published: longer than the
	// longest token lifetime plus clock leeway (see DefaultRetainFor).
	RetainFor time.Duration
	// Now is the clock for key ages and retention (tests move it). The
	// in-process cache always runs on the real clock.
	Now func() time.Time
	// Log receives what RunRotation did or failed to do (never key bytes).
	Log *slog.Logger
}

// Keys is the provider's signing keys over PostgreSQL. Its methods
// SigningKey, SignatureAlgorithms and KeySet are those of op.Storage.
type Keys struct {
	db     *pgxpool.Pool
	sealer *Sealer
	opts   Options

	mu     sync.RWMutex
	active map[jose.SignatureAlgorithm]cachedKey
}

// Keys backs these methods of op.Storage; the storage may embed it.
var _ interface {
	SigningKey(context.Context) (op.SigningKey, error)
	SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error)
	KeySet(context.Context) ([]op.Key, error)
} = (*Keys)(nil)

var (
	_ op.SigningKey = (*signingKey)(nil)
	_ op.Key        = (*publicKey)(nil)
)

type cachedKey struct {
	key     *signingKey
	fetched time.Time // real clock, monotonic
}

// New returns the keys over db (migrated), sealed by sealer. It panics on
// options that break the package's promises: those are programming errors.
func New(db *pgxpool.Pool, sealer *Sealer, opts Options) *Keys {
	if len(opts.Algorithms) == 0 {
		opts.Algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.RS256}
	}
	for _, alg := range opts.Algorithms {
		if !supported[alg] {
			panic(fmt.Sprintf("signing: algorithm %s is not supported (want ES256 or RS256)", alg))
		}
	}
	opts.Algorithms = slices.Clone(opts.Algorithms)
	if opts.RefreshEvery <= 0 {
		opts.RefreshEvery = DefaultRefreshEvery
	}
	if opts.RefreshEvery > MaxRefreshEvery {
		panic(fmt.Sprintf("signing: RefreshEvery %s exceeds %s: replicas would sign with a rotated-out key too long", opts.RefreshEvery, MaxRefreshEvery))
	}
	if opts.RetainFor <= 0 {
		opts.RetainFor = DefaultRetainFor
	}
	if opts.RetainFor <= opts.RefreshEvery {
		panic(fmt.Sprintf("signing: RetainFor %s must exceed RefreshEvery %s and the longest token lifetime", opts.RetainFor, opts.RefreshEvery))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Keys{db: db, sealer: sealer, opts: opts, active: map[jose.SignatureAlgorithm]cachedKey{}}
}

// SignatureAlgorithms returns the configured algorithms, default first.
func (k *Keys) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return slices.Clone(k.opts.Algorithms), nil
}

// SigningKey returns the active key of the default algorithm (ES256 unless
// Options.Algorithms says otherwise).
func (k *Keys) SigningKey(ctx context.Context) (op.SigningKey, error) {
	return k.SigningKeyFor(ctx, k.opts.Algorithms[0])
}

// SigningKeyFor returns the active key of alg, from memory when this process
// read it less than RefreshEvery ago.
func (k *Keys) SigningKeyFor(ctx context.Context, alg jose.SignatureAlgorithm) (op.SigningKey, error) {
	k.mu.RLock()
	c, ok := k.active[alg]
	k.mu.RUnlock()
	if ok && time.Since(c.fetched) < k.opts.RefreshEvery {
		return c.key, nil
	}
	// Concurrent callers may both read here when the entry expires: a few
	// duplicate queries are cheaper than making every signer wait on a lock
	// held across a database round trip.
	fetched := time.Now()
	row, err := k.activeRow(ctx, alg)
	if err != nil {
		return nil, err
	}
	key := c.key
	if key == nil || key.id != row.kid {
		if key, err = row.open(k.sealer); err != nil {
			return nil, err
		}
	}
	k.mu.Lock()
	if cur, ok := k.active[alg]; !ok || cur.fetched.Before(fetched) {
		k.active[alg] = cachedKey{key: key, fetched: fetched}
	}
	k.mu.Unlock()
	return key, nil
}

func (k *Keys) activeRow(ctx context.Context, alg jose.SignatureAlgorithm) (keyRow, error) {
	r := keyRow{alg: alg}
	err := k.db.QueryRow(ctx, `SELECT kid, public_key, private_key_sealed, master_key_id
		FROM signing_keys WHERE algorithm = $1 AND retired_at IS NULL`, string(alg)).
		Scan(&r.kid, &r.public, &r.sealed, &r.masterKeyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("no active %s signing key: run Ensure at start-up", alg)
	}
	if err != nil {
		return r, fmt.Errorf("read active %s signing key: %w", alg, err)
	}
	return r, nil
}

// forget drops the cached key of alg, so that this replica uses the key it
// just created at once.
func (k *Keys) forget(alg jose.SignatureAlgorithm) {
	k.mu.Lock()
	delete(k.active, alg)
	k.mu.Unlock()
}

// KeySet returns the public keys to publish: every active key and every key
// retired less than RetainFor ago, of any algorithm (another replica may be
// configured with more). It is read from PostgreSQL on every call, not
// cached: another replica signs with a key as soon as it is committed, so a
// verifier fetching our JWKS must find it at once.
func (k *Keys) KeySet(ctx context.Context) ([]op.Key, error) {
	cutoff := k.opts.Now().Add(-k.opts.RetainFor)
	rows, err := k.db.Query(ctx, `SELECT kid, algorithm, public_key FROM signing_keys
		WHERE retired_at IS NULL OR retired_at > $1
		ORDER BY retired_at DESC NULLS FIRST, kid`, cutoff)
	if err != nil {
		return nil, fmt.Errorf("read signing key set: %w", err)
	}
	var (
		kid, alg string
		der      []byte
		keys     []op.Key
	)
	_, err = pgx.ForEachRow(rows, []any{&kid, &alg, &der}, func() error {
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			return fmt.Errorf("signing key %s: public key is not PKIX DER: %w", kid, err)
		}
		keys = append(keys, &publicKey{id: kid, alg: jose.SignatureAlgorithm(alg), key: pub})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read signing key set: %w", err)
	}
	return keys, nil
}
