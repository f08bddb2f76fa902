package access

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The operator's changes of plans: a user's own plan, and what a plan
// gives (its entitlements, shown in /instance/user/profile, and its
// monthly assistant credits).

func planExists(ctx context.Context, q queryRower, plan string) error {
	var known bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM plans WHERE name = $1)`, plan).Scan(&known); err != nil {
		return err
	}
	if !known {
		return fmt.Errorf("no plan %q (see the plans table: basic, individual, team, enterprise by default): %w", plan, ErrNotFound)
	}
	return nil
}

// SetUserPlan gives the user with email their own plan.
func (s *Service) SetUserPlan(ctx context.Context, email, plan string) error {
	if err := planExists(ctx, s.db, plan); err != nil {
		return err
	}
	tag, err := s.db.Exec(ctx, `UPDATE users SET plan = $2 WHERE lower(email) = lower($1)`, strings.TrimSpace(email), plan)
	if err != nil {
		return fmt.Errorf("set plan: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("no user with email %s: %w", email, ErrNotFound)
	}
	return nil
}

// PlanChange is what to change of a plan; nil leaves it as it is.
type PlanChange struct {
	// Entitlements replace the plan's (empty: none).
	Entitlements   *[]string
	MonthlyCredits *int64
}

// ChangePlan changes what c names of plan, in one transaction.
func (s *Service) ChangePlan(ctx context.Context, plan string, c PlanChange) error {
	if c.MonthlyCredits != nil && *c.MonthlyCredits < 0 {
		return fmt.Errorf("monthly credits must be 0 or more: %w", ErrInvalid)
	}
	if err := planExists(ctx, s.db, plan); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if c.MonthlyCredits != nil {
			if _, err := tx.Exec(ctx, `UPDATE plans SET monthly_credits = $2 WHERE name = $1`, plan, *c.MonthlyCredits); err != nil {
				return fmt.Errorf("set monthly credits: %w", err)
			}
		}
		if c.Entitlements == nil {
			return nil
		}
		var names []string
		for _, e := range *c.Entitlements {
			if e = strings.TrimSpace(e); e != "" {
				names = append(names, e)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM plan_entitlements WHERE plan = $1`, plan); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO plan_entitlements (plan, entitlement) SELECT $1, unnest($2::text[])`, plan, names); err != nil {
			return fmt.Errorf("set entitlements: %w", err)
		}
		return nil
	})
}
