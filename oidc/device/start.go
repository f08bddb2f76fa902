package device

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// userCodeAttempts bounds the retries on a user code already taken. With
	// a million rows one draw collides with odds 1 in 25,600; running out of
	// ten means something else is wrong.
	userCodeAttempts = 10
	// keepExpired is how long a row outlives its expiry, so that a device
	// still polling is told expired_token rather than invalid_grant.
	keepExpired = time.Hour
	// pruneBatch bounds the opportunistic prune each Start does, so that no
	// request pays for a backlog.
	pruneBatch = 100
)

// drawUserCode is newUserCode; tests replace it to force collisions.
var drawUserCode = newUserCode

// Start begins a device authorization for clientID asking for scopes, which
// the provider has already checked against what the client may ask for.
func (s *Service) Start(ctx context.Context, clientID string, scopes []string) (Authorization, error) {
	if clientID == "" {
		return Authorization{}, errors.New("start device authorization: client id is empty")
	}
	scopes, err := cleanScopes(scopes)
	if err != nil {
		return Authorization{}, fmt.Errorf("start device authorization for client %q: %w", clientID, err)
	}
	now := s.clock()
	if err := s.prune(ctx, now, pruneBatch); err != nil {
		return Authorization{}, fmt.Errorf("start device authorization: prune expired: %w", err)
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return Authorization{}, fmt.Errorf("start device authorization for client %q: %w", clientID, err)
	}
	defer tx.Rollback(ctx)
	if err := s.roomFor(ctx, tx, clientID, now); err != nil {
		return Authorization{}, err
	}
	a := Authorization{ExpiresAt: now.Add(s.lifetime), ExpiresIn: s.lifetime, Interval: s.interval}
	for range userCodeAttempts {
		deviceCode, userCode := newDeviceCode(), drawUserCode()
		tag, err := tx.Exec(ctx, `
			INSERT INTO device_authorizations
				(device_code_hash, user_code, client_id, scopes, interval_seconds, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (user_code) DO NOTHING`,
			hashDeviceCode(deviceCode), userCode, clientID, scopes, seconds(s.interval), now, a.ExpiresAt)
		if err != nil {
			return Authorization{}, fmt.Errorf("start device authorization for client %q: %w", clientID, err)
		}
		if tag.RowsAffected() == 1 {
			if err := tx.Commit(ctx); err != nil {
				return Authorization{}, fmt.Errorf("start device authorization for client %q: %w", clientID, err)
			}
			a.DeviceCode, a.UserCode = deviceCode, FormatUserCode(userCode)
			return a, nil
		}
	}
	return Authorization{}, fmt.Errorf("start device authorization for client %q: every user code drawn was taken (%d attempts)", clientID, userCodeAttempts)
}

// roomFor refuses a new flow for clientID, with a *PendingLimitError, when
// it has PendingLimit flows awaiting a decision already. Every pending flow
// is a live user code: unbounded, one client (or whoever holds its
// credentials; registering one is free) could fill the code space that
// guessers aim at and the table with rows nobody approves. A lock per
// client, held until tx ends, makes the count and the insert one step, so
// concurrent starts (on any replica) cannot pass the bound together.
func (s *Service) roomFor(ctx context.Context, tx pgx.Tx, clientID string, now time.Time) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('device-pending:' || $1, 0))`, clientID); err != nil {
		return fmt.Errorf("start device authorization for client %q: lock: %w", clientID, err)
	}
	var n int
	var oldest *time.Time
	err := tx.QueryRow(ctx, `SELECT count(*), min(expires_at) FROM device_authorizations
		WHERE client_id = $1 AND state = 'pending' AND expires_at > $2`, clientID, now).Scan(&n, &oldest)
	if err != nil {
		return fmt.Errorf("start device authorization for client %q: count pending: %w", clientID, err)
	}
	if n < s.pendingLimit {
		return nil
	}
	wait := time.Second
	if oldest != nil {
		wait = max(time.Second, time.Duration(seconds(oldest.Sub(now)))*time.Second)
	}
	return &PendingLimitError{Limit: s.pendingLimit, RetryAfter: wait}
}

// ErrTooManyPending matches every *PendingLimitError.
var ErrTooManyPending = errors.New("too many pending device authorizations for this client")

// PendingLimitError refuses a new flow to a client that has Limit flows
// awaiting a decision; RetryAfter is when the oldest of them expires (one
// decided sooner frees its place sooner).
type PendingLimitError struct {
	Limit      int
	RetryAfter time.Duration
}

func (e *PendingLimitError) Error() string {
	return fmt.Sprintf("%v (%d): approve, deny or let one expire, or retry in %v", ErrTooManyPending, e.Limit, e.RetryAfter)
}

// Is makes errors.Is(err, ErrTooManyPending) hold.
func (e *PendingLimitError) Is(target error) bool { return target == ErrTooManyPending }

// cleanScopes drops repeats, keeping the order, and rejects anything that
// is not an RFC 6749 §3.3 scope token.
func cleanScopes(scopes []string) ([]string, error) {
	out := make([]string, 0, len(scopes)) // never nil: the column is NOT NULL
	seen := make(map[string]bool, len(scopes))
	for _, sc := range scopes {
		if !isScopeToken(sc) {
			return nil, fmt.Errorf("scope %q is not a scope token", sc)
		}
		if !seen[sc] {
			seen[sc] = true
			out = append(out, sc)
		}
	}
	return out, nil
}

// isScopeToken: 1*( %x21 / %x23-5B / %x5D-7E ), no space, quote or backslash.
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Prune deletes every authorization that expired more than an hour ago and
// returns how many it deleted. Start already prunes a few each time; Prune
// is for a periodic job, if one is wanted.
func (s *Service) Prune(ctx context.Context) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM device_authorizations WHERE expires_at < $1`, s.clock().Add(-keepExpired))
	if err != nil {
		return 0, fmt.Errorf("prune device authorizations: %w", err)
	}
	return tag.RowsAffected(), nil
}

// prune deletes up to limit long-expired rows. Rows another replica is
// deleting are skipped rather than waited for.
func (s *Service) prune(ctx context.Context, now time.Time, limit int) error {
	_, err := s.db.Exec(ctx, `
		DELETE FROM device_authorizations WHERE id IN (
			SELECT id FROM device_authorizations WHERE expires_at < $1
			LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		now.Add(-keepExpired), limit)
	return err
}
