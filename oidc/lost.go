package oidc

import (
	"context"
)

// EndLostSessions ends userID's open sessions on those of instanceIDs the
// user may no longer use (access.Service tells it after a change that may
// have taken access away). The decision is OpenFGA's, so a user who still
// has another way in (a direct grant, another team) keeps their sessions.
func (p *Provider) EndLostSessions(ctx context.Context, userID string, instanceIDs []string) {
	rows, err := p.db.Query(ctx, `SELECT DISTINCT instance_id::text FROM sessions
		WHERE user_id = $1 AND instance_id = ANY($2::uuid[]) AND revoked_at IS NULL`, userID, instanceIDs)
	if err != nil {
		p.log.ErrorContext(ctx, "end lost sessions", "user_id", userID, "error", err)
		return
	}
	var open []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err == nil {
			open = append(open, id)
		}
	}
	rows.Close()
	for _, instanceID := range open {
		ok, err := p.canUse(ctx, userID, instanceID)
		if err != nil || ok {
			// On error the sessions stay: their tokens are checked against
			// OpenFGA on every use anyway.
			continue
		}
		if _, err := p.db.Exec(ctx, `UPDATE sessions SET revoked_at = now(), revoked_reason = $3
			WHERE user_id = $1 AND instance_id = $2 AND revoked_at IS NULL`, userID, instanceID, ReasonAccessLost); err != nil {
			p.log.ErrorContext(ctx, "end lost sessions", "user_id", userID, "instance_id", instanceID, "error", err)
		}
	}
}
