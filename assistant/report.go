package assistant

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// UsageFilter selects usage rows for a report: one user's, or every
// member's on a team's instances, within [From, To).
type UsageFilter struct {
	UserID string
	TeamID string
	From   time.Time
	To     time.Time
}

// UsageRow is the usage of one user with one model on one UTC day.
type UsageRow struct {
	Day              time.Time
	Model            string
	UserID           string
	UserEmail        string
	Calls            int64
	PromptTokens     int64
	CompletionTokens int64
	Credits          int64
}

// Usage returns the filter's usage grouped by day, model and user: counts
// only, there is no content to show (none is kept).
func (s *Service) Usage(ctx context.Context, f UsageFilter) ([]UsageRow, error) {
	if (f.UserID == "") == (f.TeamID == "") {
		return nil, fmt.Errorf("usage report: exactly one of user and team")
	}
	rows, err := s.db.Query(ctx, `SELECT date_trunc('day', a.created_at AT TIME ZONE 'UTC'), a.model_id, a.user_id::text, u.email,
			count(*), sum(a.prompt_tokens), sum(a.completion_tokens), sum(a.credits)
		FROM assistant_usage a JOIN users u ON u.id = a.user_id
		WHERE (a.user_id = nullif($1, '')::uuid OR a.team_id = nullif($2, '')::uuid)
		  AND a.created_at >= $3 AND a.created_at < $4
		GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 4`, f.UserID, f.TeamID, f.From, f.To)
	if err != nil {
		return nil, fmt.Errorf("usage report: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (UsageRow, error) {
		var u UsageRow
		err := r.Scan(&u.Day, &u.Model, &u.UserID, &u.UserEmail, &u.Calls, &u.PromptTokens, &u.CompletionTokens, &u.Credits)
		u.Day = time.Date(u.Day.Year(), u.Day.Month(), u.Day.Day(), 0, 0, 0, 0, time.UTC)
		return u, err
	})
}
