// Package signing keeps the OpenID provider's token signing keys: one signing
// key per algorithm at a time in PostgreSQL, private parts sealed under the
// operator's master key, rotated on one replica at a time, published (JWKS)
// PublishAhead before they sign, and for as long as a token they signed may
// be presented.
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
	// JWKSMaxAge is how long a verifier may cache the JWKS: the max-age of
	// the Cache-Control that oidc.Provider.Keys sends with it. A scheduled
	// rotation publishes its key for longer than this before any replica
	// signs with it (PublishAhead); one constant for both, so the cache and
	// the schedule cannot drift apart.
	JWKSMaxAge = 5 * time.Minute
	// ClockSkew is how far apart the clocks of two replicas may be: the one
	// that schedules a key reckons its activation on its clock, and each
	// replica compares that with its own. (The same five minutes as
	// oidc.Leeway, the skew accepted of the clocks of instances.)
	ClockSkew = 5 * time.Minute
	// PublishAhead is how long a scheduled key is in the JWKS before it
	// signs: a verifier that fetched the set just before the key was
	// committed has refetched it by then, even if the replica that signs
	// runs ClockSkew ahead of the one that scheduled it. MaxRefreshEvery is
	// a margin on top, for a JWKS read begun before the commit but answered
	// later; a rotation is rare, so a minute more costs nothing.
	PublishAhead = JWKSMaxAge + ClockSkew + MaxRefreshEvery
	// MaxRefreshEvery bounds how long a replica may go without reading the
	// keys: it signs with a key switched to at once (RotateNow) within a
	// minute, and learns of a scheduled switch long before it is due.
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
	// Now is the clock for key ages, activation and retention (tests move
	// it). An in-process cached key expires after RefreshEvery on the real
	// clock or on this one, whichever passes first, so that a frozen test
	// clock does not pin a key and a moved one is seen at once.
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
	key       *signingKey
	fetched   time.Time // real clock, monotonic
	fetchedAt time.Time // Options.Now
	// until is when the next key takes over (Options.Now), zero when none
	// is scheduled: every replica that read the schedule switches at that
	// instant of its clock, not up to RefreshEvery later.
	until time.Time
}

func (c cachedKey) fresh(refresh time.Duration, now time.Time) bool {
	return c.key != nil && time.Since(c.fetched) < refresh && now.Sub(c.fetchedAt) < refresh &&
		(c.until.IsZero() || now.Before(c.until))
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

// SigningKeyFor returns the key that signs for alg now: the newest whose
// activation time has passed (a scheduled key is published before that, and
// signs nothing). It is read from memory when this process read it less
// than RefreshEvery ago and no other key has taken over since.
func (k *Keys) SigningKeyFor(ctx context.Context, alg jose.SignatureAlgorithm) (op.SigningKey, error) {
	k.mu.RLock()
	c := k.active[alg]
	k.mu.RUnlock()
	if c.fresh(k.opts.RefreshEvery, k.opts.Now()) {
		return c.key, nil
	}
	// Concurrent callers may both read here when the entry expires: a few
	// duplicate queries are cheaper than making every signer wait on a lock
	// held across a database round trip.
	fetched, now := time.Now(), k.opts.Now()
	row, until, err := k.activeRow(ctx, alg, now)
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
		k.active[alg] = cachedKey{key: key, fetched: fetched, fetchedAt: now, until: until}
	}
	k.mu.Unlock()
	return key, nil
}

// activeRow reads the key of alg that signs at now, and when it stops
// (the retired_at a scheduled rotation gave it; zero if none is set).
func (k *Keys) activeRow(ctx context.Context, alg jose.SignatureAlgorithm, now time.Time) (keyRow, time.Time, error) {
	r := keyRow{alg: alg}
	var until *time.Time
	// Of the keys not retired at now, the newest active one. Only when none
	// is active yet, the first to activate: that is a first key on a replica
	// whose clock runs behind the one that created it, with no older key
	// that could sign instead.
	err := k.db.QueryRow(ctx, `SELECT kid, public_key, private_key_sealed, master_key_id, retired_at
		FROM signing_keys WHERE algorithm = $1 AND (retired_at IS NULL OR retired_at > $2)
		ORDER BY activates_at <= $2 DESC,
			CASE WHEN activates_at <= $2 THEN activates_at END DESC NULLS LAST, activates_at
		LIMIT 1`, string(alg), now).
		Scan(&r.kid, &r.public, &r.sealed, &r.masterKeyID, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, time.Time{}, fmt.Errorf("no active %s signing key: run Ensure at start-up", alg)
	}
	if err != nil {
		return r, time.Time{}, fmt.Errorf("read active %s signing key: %w", alg, err)
	}
	if until == nil {
		return r, time.Time{}, nil
	}
	return r, *until, nil
}

// forget drops the cached key of alg, so that this replica uses the key it
// just created at once.
func (k *Keys) forget(alg jose.SignatureAlgorithm) {
	k.mu.Lock()
	delete(k.active, alg)
	k.mu.Unlock()
}

// KeySet returns the public keys to publish: every key scheduled to sign
// (published ahead, PublishAhead before it does), the active one, and every
// key retired less than RetainFor ago, of any algorithm (another replica may
// be configured with more). It is read from PostgreSQL on every call, not
// cached: a scheduled key's time in the JWKS counts from its commit, and a
// key switched to at once (RotateNow) signs on another replica as soon as
// it is committed, so a verifier fetching our JWKS must find it at once.
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
