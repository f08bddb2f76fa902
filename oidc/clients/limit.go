package clients

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
)

// countRegistration adds one registration from ip to the current fixed
// window and refuses it past the limit. It runs inside the registration's
// transaction: the upsert's row lock makes concurrent registrations from one
// address (on any replica) count one after the other, and a registration
// that fails or is refused rolls its count back. Windows are aligned on the
// clock's zero, so replicas agree on them (as the limits package's do).
func (s *Service) countRegistration(ctx context.Context, tx pgx.Tx, ip string) error {
	now := s.opts.Now().UTC().Truncate(time.Microsecond)
	end := now.Truncate(s.opts.Window).Add(s.opts.Window)
	var count int
	err := tx.QueryRow(ctx, `
		INSERT INTO oauth_registration_windows AS w (ip, window_start, registrations)
		VALUES ($1, $2, 1)
		ON CONFLICT (ip, window_start) DO UPDATE SET registrations = w.registrations + 1
		RETURNING w.registrations`, ip, now.Truncate(s.opts.Window)).Scan(&count)
	if err != nil {
		return fmt.Errorf("count registration: %w", err)
	}
	if count > s.opts.Limit {
		// Whole seconds, rounded up, as Retry-After carries them.
		return &RateLimitError{RetryAfter: time.Duration(max(1, math.Ceil(end.Sub(now).Seconds()))) * time.Second}
	}
	return nil
}

// pruneWindows deletes windows that have ended. It runs after a registration
// commits, outside its transaction, so that it never holds up or fails one.
func (s *Service) pruneWindows(ctx context.Context) {
	_, err := s.db.Exec(ctx, `DELETE FROM oauth_registration_windows
		WHERE window_start <= $1`, s.opts.Now().Add(-s.opts.Window))
	if err != nil {
		// Housekeeping only: the next registration tries again.
		s.opts.Log.WarnContext(ctx, "prune registration windows", "err", err)
	}
}
