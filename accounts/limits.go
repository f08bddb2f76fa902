package accounts

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"
)

// pruneBatch bounds the opportunistic prune of ended windows each attempt does.
const pruneBatch = 100

// Attempt is one counted attempt; refund it when it turned out right, so
// that only failures count against the limit.
type Attempt struct {
	s     *Service
	keys  [][]byte
	start time.Time
}

// attempt counts one attempt against every key in the current fixed window
// and refuses it (uncounted) with a *LimitError when any key is over limit.
// Counting first and checking after is what keeps concurrent attempts from
// slipping past the limit together.
func (s *Service) attempt(ctx context.Context, limit int, window time.Duration, keys ...string) (Attempt, error) {
	now := s.clock()
	start := now.Truncate(window)
	end := start.Add(window)
	hashes := make([][]byte, len(keys))
	for i, k := range keys {
		hashes[i] = hash(k)
	}
	// One order for every statement, so two never wait on each other.
	slices.SortFunc(hashes, bytes.Compare)
	if _, err := s.db.Exec(ctx, `
		DELETE FROM attempt_windows WHERE (key_hash, window_start) IN (
			SELECT key_hash, window_start FROM attempt_windows WHERE window_end <= $1
			LIMIT $2 FOR UPDATE SKIP LOCKED)`, now, pruneBatch); err != nil {
		return Attempt{}, fmt.Errorf("prune attempt windows: %w", err)
	}
	rows, err := s.db.Query(ctx, `
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
	a := Attempt{s: s, keys: hashes, start: start}
	if over {
		if err := a.refund(ctx); err != nil {
			return Attempt{}, err
		}
		return Attempt{}, &LimitError{RetryAfter: end.Sub(now)}
	}
	return a, nil
}

// refund takes the attempt back off its window's counts.
func (a Attempt) refund(ctx context.Context) error {
	if a.s == nil {
		return nil
	}
	_, err := a.s.db.Exec(ctx, `UPDATE attempt_windows SET attempts = attempts - 1
		WHERE key_hash = ANY($1::bytea[]) AND window_start = $2 AND attempts > 0`, a.keys, a.start)
	if err != nil {
		return fmt.Errorf("refund attempt: %w", err)
	}
	return nil
}

// CodeAttempt counts one user code typed in a session from an IP address,
// wrong ones limited per address and per session; Right takes it back
// when the code turned out to be right.
func (s *Service) CodeAttempt(ctx context.Context, sess Session, ip string) (Attempt, error) {
	return s.attempt(ctx, s.opts.CodeLimit, s.opts.CodeWindow,
		"code-ip:"+ip, fmt.Sprintf("code-session:%x", sess.idHash))
}

// Right takes back an attempt that turned out right.
func (a Attempt) Right(ctx context.Context) error { return a.refund(ctx) }
