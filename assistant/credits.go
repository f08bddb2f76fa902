package assistant

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The ledger. A user's month row holds spent and reserved; the allowance is
// the plan's monthly_credits, read at each reservation. A call is admitted
// while spent + reserved < allowance and then reserves a bound on its own
// cost, and settles at most that bound. Admissions are serialised by the
// row lock, so once the admitted reservations reach the allowance nobody
// else is admitted, and the month's spending can exceed the allowance by
// at most the last admitted reservation.

// reservation is an admitted call's hold on credits.
type reservation struct {
	id      string
	userID  string
	month   time.Time
	credits int64
}

// monthOf is the first day (UTC) of t's calendar month: the ledger's key.
func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// Balance is what the user may still spend this month: the current plan's
// allowance less what is spent and reserved, never below zero.
func (s *Service) Balance(ctx context.Context, userID string) (int64, error) {
	var balance int64
	err := s.db.QueryRow(ctx, `SELECT greatest(p.monthly_credits - coalesce(m.spent + m.reserved, 0), 0)
		FROM users u JOIN user_plans up ON up.user_id = u.id JOIN plans p ON p.name = up.plan
		LEFT JOIN assistant_credit_months m ON m.user_id = u.id AND m.month = $2
		WHERE u.id = $1`, userID, monthOf(s.now())).Scan(&balance)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("assistant balance: no user %s", userID)
	}
	if err != nil {
		return 0, fmt.Errorf("assistant balance: %w", err)
	}
	return balance, nil
}

// reserve admits a call costing at most credits, or answers ErrQuotaExceeded.
func (s *Service) reserve(ctx context.Context, userID string, credits int64) (reservation, error) {
	now := s.now()
	r := reservation{userID: userID, month: monthOf(now), credits: credits}
	refused := false
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO assistant_credit_months (user_id, month) VALUES ($1, $2)
			ON CONFLICT DO NOTHING`, userID, r.month); err != nil {
			return err
		}
		var spent, reserved int64
		if err := tx.QueryRow(ctx, `SELECT spent, reserved FROM assistant_credit_months
			WHERE user_id = $1 AND month = $2 FOR UPDATE`, userID, r.month).Scan(&spent, &reserved); err != nil {
			return err
		}
		// Under the row lock, so that no settlement of these rows races us.
		var stale int64
		if err := tx.QueryRow(ctx, `WITH gone AS (DELETE FROM assistant_reservations
				WHERE user_id = $1 AND month = $2 AND created_at < $3 RETURNING credits)
			SELECT coalesce(sum(credits), 0) FROM gone`, userID, r.month, now.Add(-s.staleAfter())).Scan(&stale); err != nil {
			return err
		}
		reserved -= stale
		var allowance int64
		if err := tx.QueryRow(ctx, `SELECT p.monthly_credits FROM users u JOIN user_plans up ON up.user_id = u.id JOIN plans p ON p.name = up.plan
			WHERE u.id = $1`, userID).Scan(&allowance); err != nil {
			return err
		}
		if spent+reserved >= allowance {
			// Refused, but the stale clean-up above still commits.
			refused = true
			_, err := tx.Exec(ctx, `UPDATE assistant_credit_months SET reserved = $3
				WHERE user_id = $1 AND month = $2`, userID, r.month, reserved)
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE assistant_credit_months SET reserved = $3
			WHERE user_id = $1 AND month = $2`, userID, r.month, reserved+credits); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO assistant_reservations (user_id, month, credits, created_at)
			VALUES ($1, $2, $3, $4) RETURNING id::text`, userID, r.month, credits, now).Scan(&r.id)
	})
	switch {
	case err != nil:
		return reservation{}, fmt.Errorf("reserve assistant credits: %w", err)
	case refused:
		return reservation{}, ErrQuotaExceeded
	}
	return r, nil
}

// usage is what a call consumed, as the upstream reported it or estimated.
type usage struct {
	modelID          string
	instanceID       string
	promptTokens     int64
	completionTokens int64
	tokenCredit      int64
	estimated        bool
}

func (u usage) credits() int64 { return (u.promptTokens + u.completionTokens) * u.tokenCredit }

// settle replaces the reservation by the call's real cost, capped at the
// reservation (the bound the admission counted on), and records the usage
// row, in one transaction. It returns the user's balance after.
func (s *Service) settle(ctx context.Context, r reservation, u usage) (int64, error) {
	cost := min(u.credits(), r.credits)
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		held, err := unhold(ctx, tx, r)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE assistant_credit_months SET spent = spent + $3, reserved = reserved - $4
			WHERE user_id = $1 AND month = $2`, r.userID, r.month, cost, held); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO assistant_usage (user_id, team_id, instance_id, model_id,
				prompt_tokens, completion_tokens, credits, estimated, month, created_at)
			SELECT $1, (SELECT w.owner_team_id FROM instances i JOIN workspaces w ON w.id = i.workspace_id WHERE i.id = $2),
				(SELECT id FROM instances WHERE id = $2), $3, $4, $5, $6, $7, $8, $9`,
			r.userID, nullUUID(u.instanceID), u.modelID, u.promptTokens, u.completionTokens, cost, u.estimated, r.month, s.now())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("settle assistant credits: %w", err)
	}
	return s.Balance(ctx, r.userID)
}

// unhold locks the user's month row (first, as reserve does: no deadlock)
// and drops the reservation, returning the credits it held.
func unhold(ctx context.Context, tx pgx.Tx, r reservation) (int64, error) {
	if _, err := tx.Exec(ctx, `SELECT 1 FROM assistant_credit_months WHERE user_id = $1 AND month = $2 FOR UPDATE`,
		r.userID, r.month); err != nil {
		return 0, err
	}
	return dropReservation(ctx, tx, r)
}

// release gives a failed call's reservation back.
func (s *Service) release(ctx context.Context, r reservation) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		held, err := unhold(ctx, tx, r)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE assistant_credit_months SET reserved = reserved - $3
			WHERE user_id = $1 AND month = $2`, r.userID, r.month, held)
		return err
	})
	if err != nil {
		return fmt.Errorf("release assistant credits: %w", err)
	}
	return nil
}

// dropReservation deletes the reservation row and returns what it still
// held: nothing when the stale clean-up already released it.
func dropReservation(ctx context.Context, tx pgx.Tx, r reservation) (int64, error) {
	var held int64
	err := tx.QueryRow(ctx, `DELETE FROM assistant_reservations WHERE id = $1 RETURNING credits`, r.id).Scan(&held)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return held, err
}

func nullUUID(id string) *string {
	if id == "" {
		return nil
	}
	return &id
}
