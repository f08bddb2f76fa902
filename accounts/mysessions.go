package accounts

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caido-cloud/caido-cloud/input"
)

// BrowserSession is one of a user's signed-in browsers, as the sessions
// page lists them.
type BrowserSession struct {
	ID        string
	UserAgent string
	IP        string
	CreatedAt time.Time
	ExpiresAt time.Time
	// Current: the browser looking at the list.
	Current bool
}

// BrowserSessions are the live sessions of sess's user, newest first.
func (s *Service) BrowserSessions(ctx context.Context, sess Session) ([]BrowserSession, error) {
	rows, err := s.db.Query(ctx, `SELECT public_id::text, coalesce(user_agent, ''), coalesce(host(ip), ''), created_at, expires_at, id_hash = $3
		FROM web_sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC`, sess.Account.ID, s.clock(), sess.idHash)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (BrowserSession, error) {
		var b BrowserSession
		return b, r.Scan(&b.ID, &b.UserAgent, &b.IP, &b.CreatedAt, &b.ExpiresAt, &b.Current)
	})
}

// EndBrowserSession signs out one of the user's own sessions by its id
// (the current one too); ErrNoSession when they have none of that id,
// whoever's it may be.
func (s *Service) EndBrowserSession(ctx context.Context, sess Session, id string) error {
	if !input.ID(id) {
		return ErrNoSession
	}
	tag, err := s.db.Exec(ctx, `DELETE FROM web_sessions WHERE public_id = $1 AND user_id = $2`, id, sess.Account.ID)
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNoSession
	}
	return nil
}
