// Package limits counts attempts in fixed windows in PostgreSQL, so that
// every replica enforces the same limit: sign-in failures, wrong user codes,
// guesses with a personal access token.
package limits

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrLimited matches every *Error.
var ErrLimited = errors.New("too many attempts")

// Error says when the next attempt may be made.
type Error struct {
	RetryAfter time.Duration
}

func (e *Error) Error() string { return fmt.Sprintf("%v; retry in %v", ErrLimited, e.RetryAfter) }

// Is makes errors.Is(err, ErrLimited) hold.
func (e *Error) Is(target error) bool { return target == ErrLimited }

// pruneBatch bounds the opportunistic prune of ended windows an attempt
// does, at most once per pruneEvery per Limiter: one sign-in counts against
// several limits, and each need not pay for a prune.
const (
	pruneBatch = 100
	pruneEvery = time.Second
)

// Limiter counts attempts in the attempt_windows table.
type Limiter struct {
	db  *pgxpool.Pool
	now func() time.Time
	// pruned is when this Limiter last pruned (UnixNano of now).
	pruned atomic.Int64
}

// New returns a Limiter on db with clock now (nil: time.Now).
func New(db *pgxpool.Pool, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{db: db, now: now}
}

// Attempt is one counted attempt; Refund it when it turned out right, so
// that only failures count against the limit.
type Attempt struct {
	l     *Limiter
	keys  [][]byte
	start time.Time
}

// Attempt counts one attempt against every key in the current fixed window
// (aligned on the clock's zero, so replicas agree) and refuses it, uncounted,
// with an *Error when any key is over limit. Counting first and checking
// after is what keeps concurrent attempts from slipping past the limit
// together. Keys are stored as SHA-256: no address or email in clear.
func (l *Limiter) Attempt(ctx context.Context, limit int, window time.Duration, keys ...string) (Attempt, error) {
	now := l.now().UTC().Truncate(time.Microsecond)
	start := now.Truncate(window)
	end := start.Add(window)
	hashes := make([][]byte, len(keys))
	for i, k := range keys {
		sum := sha256.Sum256([]byte(k))
		hashes[i] = sum[:]
	}
	// One order for every statement, so two never wait on each other.
	slices.SortFunc(hashes, bytes.Compare)
	if last := l.pruned.Load(); now.Sub(time.Unix(0, last)) >= pruneEvery && l.pruned.CompareAndSwap(last, now.UnixNano()) {
		if _, err := l.db.Exec(ctx, `
			DELETE FROM attempt_windows WHERE (key_hash, window_start) IN (
				SELECT key_hash, window_start FROM attempt_windows WHERE window_end <= $1
				LIMIT $2 FOR UPDATE SKIP LOCKED)`, now, pruneBatch); err != nil {
			return Attempt{}, fmt.Errorf("prune attempt windows: %w", err)
		}
	}
	rows, err := l.db.Query(ctx, `
		INSERT INTO attempt_windows AS a (key_hash, window_start, window_end, attempts)
		SELECT k, $2, $3, 1 FROM unnest($1::bytea[]) WITH ORDINALITY AS u(k, n) ORDER BY n
		ON CONFLICT (key_hash, window_start) DO UPDATE SET attempts = a.attempts + 1
		RETURNING attempts`, hashes, start, end)
	if err != nil {
		return Attempt{}, fmt.Errorf("count attempt: %w", err)
	}
	over := false
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return Attempt{}, err
		}
		over = over || n > limit
	}
	if err := rows.Err(); err != nil {
		return Attempt{}, fmt.Errorf("count attempt: %w", err)
	}
	a := Attempt{l: l, keys: hashes, start: start}
	if over {
		if err := a.Refund(ctx); err != nil {
			return Attempt{}, err
		}
		// Whole seconds, rounded up, as Retry-After carries them.
		return Attempt{}, &Error{RetryAfter: time.Duration(max(1, math.Ceil(end.Sub(now).Seconds()))) * time.Second}
	}
	return a, nil
}

// Refund takes the attempt back off its windows' counts.
func (a Attempt) Refund(ctx context.Context) error {
	if a.l == nil {
		return nil
	}
	_, err := a.l.db.Exec(ctx, `UPDATE attempt_windows SET attempts = attempts - 1
		WHERE key_hash = ANY($1::bytea[]) AND window_start = $2 AND attempts > 0`, a.keys, a.start)
	if err != nil {
		return fmt.Errorf("refund attempt: %w", err)
	}
	return nil
}

// AddressKey is the part of a limit's key that names a client address:
// an IPv4 address as it is, an IPv6 address by its /64, which one client
// (a home, a server) usually holds whole and can rotate within at will.
func AddressKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	// The same address written otherwise (IPv4-mapped, with a zone) is
	// the same client.
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return addr.String()
	}
	return netip.PrefixFrom(addr, 64).Masked().String()
}

// Count is how many attempts key holds in the current window.
func (l *Limiter) Count(ctx context.Context, window time.Duration, key string) (int, error) {
	sum := sha256.Sum256([]byte(key))
	var n int
	err := l.db.QueryRow(ctx, `SELECT coalesce(sum(attempts), 0) FROM attempt_windows WHERE key_hash = $1 AND window_start = $2`,
		sum[:], l.now().UTC().Truncate(time.Microsecond).Truncate(window)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count attempts: %w", err)
	}
	return n, nil
}
