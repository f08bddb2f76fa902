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
// Unix epoch in the database's clock, so replicas agree on them.
func (s *Service) countRegistration(ctx context.Context, tx pgx.Tx, ip string) error {
	var count int
	var remaining float64
	err := tx.QueryRow(ctx, `
		INSERT INTO oauth_registration_windows AS w (ip, window_start, registrations)
		VALUES ($1, date_bin(make_interval(secs => $2), now(), timestamptz 'epoch'), 1)
		ON CONFLICT (ip, window_start) DO UPDATE SET registrations = w.registrations + 1
		RETURNING w.registrations, extract(epoch FROM w.window_start + make_interval(secs => $2) - now())::float8`,
		ip, s.opts.Window.Seconds()).Scan(&count, &remaining)
	if err != nil {
		return fmt.Errorf("count registration: %w", err)
	}
	if count > s.opts.Limit {
		// Whole seconds, rounded up, as Retry-After carries them.
		return &RateLimitError{RetryAfter: time.Duration(max(1, math.Ceil(remaining))) * time.Second}
	}
	return nil
}

// pruneWindows deletes windows that have ended. It runs after a registration
// commits, outside its transaction, so that it never holds up or fails one.
func (s *Service) pruneWindows(ctx context.Context) {
	_, err := s.db.Exec(ctx, `DELETE FROM oauth_registration_windows
		WHERE window_start < now() - make_interval(secs => $1)`, s.opts.Window.Seconds())
	if err != nil {
		// Housekeeping only: the next registration tries again.
		s.opts.Log.WarnContext(ctx, "prune registration windows", "err", err)
	}
}
