package accounts

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"
)

// Session is a signed-in browser.
type Session struct {
	// Token is the cookie's value, set only by StartSession. Never log it.
	Token string
	// CSRF is the token every state-changing form of this session carries.
	CSRF      string
	ExpiresAt time.Time
	Account   Account
	idHash    []byte
}

// pruneBatch bounds the opportunistic prune of ended sessions each start does.
const pruneBatch = 100

// StartSession signs userID in: a new session with a new CSRF token.
func (s *Service) StartSession(ctx context.Context, userID string) (Session, error) {
	return s.StartBrowserSession(ctx, userID, Client{})
}

// Client is the browser a session is started from, as its owner sees it
// on the sessions page.
type Client struct {
	UserAgent string
	IP        string
}

// StartBrowserSession is StartSession recording the browser it is for.
func (s *Service) StartBrowserSession(ctx context.Context, userID string, from Client) (Session, error) {
	now := s.clock()
	sess := Session{Token: NewToken(), CSRF: NewToken(), ExpiresAt: now.Add(s.opts.SessionLifetime)}
	sess.idHash = hash(sess.Token)
	if _, err := s.db.Exec(ctx, `
		DELETE FROM web_sessions WHERE id_hash IN (
			SELECT id_hash FROM web_sessions WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		now, pruneBatch); err != nil {
		return Session{}, fmt.Errorf("prune sessions: %w", err)
	}
	ip := ""
	if addr, err := netip.ParseAddr(from.IP); err == nil {
		ip = addr.String()
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO web_sessions (id_hash, user_id, csrf_token, created_at, expires_at, user_agent, ip)
		VALUES ($1, $2, $3, $4, $5, nullif($6, ''), nullif($7, '')::inet)`, sess.idHash, userID, sess.CSRF, now, sess.ExpiresAt, userAgent(from.UserAgent), ip); err != nil {
		return Session{}, fmt.Errorf("start session: %w", err)
	}
	var err error
	sess.Account, err = s.session(ctx, sess.idHash, &sess)
	return sess, err
}

// Session finds the live session of a cookie's token: ErrNoSession when
// there is none.
func (s *Service) Session(ctx context.Context, token string) (Session, error) {
	if b, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(b) != 32 {
		return Session{}, ErrNoSession
	}
	sess := Session{idHash: hash(token)}
	var err error
	sess.Account, err = s.session(ctx, sess.idHash, &sess)
	return sess, err
}

func (s *Service) session(ctx context.Context, idHash []byte, sess *Session) (Account, error) {
	var a Account
	err := s.db.QueryRow(ctx, `
		SELECT s.csrf_token, s.expires_at, u.id::text, u.email, u.name, coalesce(w.id::text, ''), u.email_verified_at IS NOT NULL
		FROM web_sessions s JOIN users u ON u.id = s.user_id
		LEFT JOIN workspaces w ON w.owner_user_id = u.id AND w.is_default
		WHERE s.id_hash = $1 AND s.expires_at > $2`, idHash, s.clock()).
		Scan(&sess.CSRF, &sess.ExpiresAt, &a.ID, &a.Email, &a.Name, &a.DefaultWorkspaceID, &a.EmailVerified)
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, ErrNoSession
	}
	if err != nil {
		return Account{}, fmt.Errorf("read session: %w", err)
	}
	return a, nil
}

// EndSession signs a session out, server-side: its cookie stops working
// even if kept.
func (s *Service) EndSession(ctx context.Context, sess Session) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM web_sessions WHERE id_hash = $1`, sess.idHash); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}
