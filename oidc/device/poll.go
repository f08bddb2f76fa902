package device

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// slowDownStep is what every slow_down adds to a flow's interval
	// (RFC 8628 §3.5).
	slowDownStep = 5 * time.Second
	// pollTolerance is how much sooner than its interval a poll may come
	// without being told slow_down. The gap is measured between the times
	// two polls reach the server, and a device that honours the interval
	// can still show a shorter one: a device on a fixed schedule (a ticker
	// started at its first request) sees this request's latency minus the
	// previous one's, and the previous poll's time may have been read late
	// (queued behind a row lock or a slow pool) or on a replica whose clock
	// is slightly ahead. One second absorbs all of that, matches the
	// wire's one-second granularity, and still catches a device polling at
	// 4 s or less when told 5 s.
	pollTolerance = time.Second
)

// flow is what a poll reads of a device authorization, locked.
type flow struct {
	id, clientID, state, userID string
	granted                     []string
	interval                    time.Duration
	expiresAt                   time.Time
	lastPolledAt                *time.Time
}

// verdict is what a poll does to a flow: redeem it (err nil), record the
// poll (with interval, the flow's interval from now on), or leave it be.
type verdict struct {
	err      error
	record   bool
	interval time.Duration
}

// judge applies RFC 8628 §3.5 to one poll by clientID at now. Pacing only
// applies to pending flows: once decided, a device gets its answer at once.
func judge(f flow, clientID string, now time.Time) verdict {
	switch {
	case f.clientID != clientID, f.state == "redeemed":
		return verdict{err: ErrInvalidGrant}
	case !now.Before(f.expiresAt):
		return verdict{err: ErrExpiredToken}
	case f.state == "denied":
		return verdict{err: ErrAccessDenied}
	case f.state == "approved":
		return verdict{}
	case f.lastPolledAt != nil && now.Sub(*f.lastPolledAt) < f.interval-pollTolerance:
		return verdict{err: ErrSlowDown, record: true, interval: f.interval + slowDownStep}
	default:
		return verdict{err: ErrAuthorizationPending, record: true, interval: f.interval}
	}
}

// Poll is the token endpoint's side of the grant: clientID, already
// authenticated, presents deviceCode. It returns the approval exactly once;
// otherwise one of the sentinel errors (see Code), or a wrapped database
// error.
//
// Polls are the device flow's hot path, so a poll first tries without a
// transaction: read the flow, judge it, and write the verdict with an
// UPDATE that only applies if the flow is still as read (two round trips).
// A poll that loses a race to another one (on any replica) judges again
// against what the winner wrote; after a few losses it takes the row lock,
// so that contention cannot starve it.
func (s *Service) Poll(ctx context.Context, clientID, deviceCode string) (Outcome, error) {
	hash := hashDeviceCode(deviceCode)
	for range optimisticPolls {
		out, outcome, settled, err := s.pollOptimistic(ctx, clientID, hash)
		if err != nil {
			return Outcome{}, fmt.Errorf("poll device authorization: %w", err)
		}
		if settled {
			return out, outcome
		}
	}
	return s.pollLocked(ctx, clientID, hash)
}

// optimisticPolls is how many lost races a poll accepts before it locks.
const optimisticPolls = 3

const selectFlow = `SELECT id::text, client_id, state, coalesce(user_id::text, ''), coalesce(granted_scopes, '{}'),
	interval_seconds, expires_at, last_polled_at
	FROM device_authorizations WHERE device_code_hash = $1`

func scanFlow(row pgx.Row) (flow, error) {
	var f flow
	var interval int
	err := row.Scan(&f.id, &f.clientID, &f.state, &f.userID, &f.granted, &interval, &f.expiresAt, &f.lastPolledAt)
	f.interval = time.Duration(interval) * time.Second
	return f, err
}

// pollOptimistic judges the flow as read and writes the verdict only if
// the flow did not change meanwhile; settled is false when it had.
func (s *Service) pollOptimistic(ctx context.Context, clientID string, hash []byte) (out Outcome, outcome error, settled bool, err error) {
	now := s.clock()
	f, err := scanFlow(s.db.QueryRow(ctx, selectFlow, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return out, ErrInvalidGrant, true, nil
	}
	if err != nil {
		return out, nil, false, err
	}
	v := judge(f, clientID, now)
	var tag pgconn.CommandTag
	switch {
	case v.err == nil:
		out = Outcome{ID: f.id, ClientID: f.clientID, UserID: f.userID, Scopes: f.granted}
		tag, err = s.db.Exec(ctx, `
			UPDATE device_authorizations SET state = 'redeemed', redeemed_at = $2, last_polled_at = $2
			WHERE id = $1 AND state = 'approved'`, f.id, now)
	case v.record:
		out = Outcome{Interval: v.interval}
		tag, err = s.db.Exec(ctx, `
			UPDATE device_authorizations SET last_polled_at = $2, interval_seconds = $3
			WHERE id = $1 AND state = 'pending' AND interval_seconds = $4
			  AND last_polled_at IS NOT DISTINCT FROM $5`,
			f.id, now, seconds(v.interval), seconds(f.interval), f.lastPolledAt)
	default:
		return out, v.err, true, nil
	}
	if err != nil {
		return Outcome{}, nil, false, err
	}
	return out, v.err, tag.RowsAffected() == 1, nil
}

// pollLocked judges the flow under its row lock, so concurrent polls on any
// replicas are judged one after another.
func (s *Service) pollLocked(ctx context.Context, clientID string, hash []byte) (Outcome, error) {
	now := s.clock()
	var out Outcome
	var outcome error
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		f, err := scanFlow(tx.QueryRow(ctx, selectFlow+" FOR UPDATE", hash))
		if errors.Is(err, pgx.ErrNoRows) {
			outcome = ErrInvalidGrant
			return nil
		}
		if err != nil {
			return err
		}
		v := judge(f, clientID, now)
		outcome = v.err
		switch {
		case v.err == nil:
			out = Outcome{ID: f.id, ClientID: f.clientID, UserID: f.userID, Scopes: f.granted}
			_, err = tx.Exec(ctx, `
				UPDATE device_authorizations SET state = 'redeemed', redeemed_at = $2, last_polled_at = $2
				WHERE id = $1`, f.id, now)
		case v.record:
			out = Outcome{Interval: v.interval}
			// GREATEST: a poll that waited for the lock may carry an
			// earlier time than the one recorded by the poll it waited on.
			_, err = tx.Exec(ctx, `
				UPDATE device_authorizations
				SET last_polled_at = greatest(last_polled_at, $2), interval_seconds = $3
				WHERE id = $1`, f.id, now, seconds(v.interval))
		}
		return err
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("poll device authorization: %w", err)
	}
	return out, outcome
}
