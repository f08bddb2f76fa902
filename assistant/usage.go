package assistant

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DayUsage is one user's use of one model on one UTC day.
type DayUsage struct {
	Day              time.Time `json:"day"`
	ModelID          string    `json:"model_id"`
	Calls            int64     `json:"calls"`
	PromptTokens     int64     `json:"prompt_tokens"`
	CompletionTokens int64     `json:"completion_tokens"`
	Credits          int64     `json:"credits"`
}

// UsageByDay sums the user's usage rows of [from, to) by UTC day and model,
// for the dashboard's chart.
func (s *Service) UsageByDay(ctx context.Context, userID string, from, to time.Time) ([]DayUsage, error) {
	rows, err := s.db.Query(ctx, `SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
			model_id, count(*), sum(prompt_tokens)::bigint, sum(completion_tokens)::bigint, sum(credits)::bigint
		FROM assistant_usage
		WHERE user_id = $1 AND created_at >= $2 AND created_at < $3
		GROUP BY 1, 2 ORDER BY 1, 2`, userID, from, to)
	if err != nil {
		return nil, fmt.Errorf("assistant usage by day: %w", err)
	}
	days, err := pgx.CollectRows(rows, pgx.RowToStructByPos[DayUsage])
	if err != nil {
		return nil, fmt.Errorf("assistant usage by day: %w", err)
	}
	for i := range days {
		days[i].Day = days[i].Day.UTC()
	}
	return days, nil
}
