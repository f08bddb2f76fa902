package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caido-cloud/caido-cloud/input"
	"github.com/caido-cloud/caido-cloud/oidc/clients"
)

// Session is one user's sign-in at one instance: the family of its tokens.
type Session struct {
	ID         string
	UserID     string
	InstanceID string
	ClientID   string
	Scopes     []string
	RevokedAt  *time.Time
	// CreatedAt is when the user's approval became this session: the
	// auth_time of every ID token of it (OpenID Connect Core §12.2).
	CreatedAt time.Time
}

var (
	// ErrInvalidRefreshToken: unknown, expired, another client's, or of an
	// ended session.
	ErrInvalidRefreshToken = errors.New("invalid refresh token")
	// ErrRefreshTokenReuse: a rotated refresh token came back, so it leaked;
	// the whole session has been revoked.
	ErrRefreshTokenReuse = errors.New("refresh token reused: session revoked")
	// ErrCredentialsReset: the client's credentials were reset (or the
	// client deleted) after the request authenticated, so it may not open
	// a session.
	ErrCredentialsReset = errors.New("the client's credentials were reset")
)

// Reasons a session ended, kept in sessions.revoked_reason.
const (
	ReasonLogout     = "logout"
	ReasonReuse      = "refresh_token_reuse"
	ReasonRevoked    = "revoked"
	ReasonAccessLost = "access_removed"
	// ReasonCredentialsReset: the instance's credentials were reset, which
	// ends every session of its client (clients.Service.ResetSecret).
	ReasonCredentialsReset = clients.ReasonCredentialsReset
	refreshTokenPrefix     = "crt_"
)

// Sessions stores sessions and their refresh tokens.
type Sessions struct {
	db  *pgxpool.Pool
	now func() time.Time
}

// NewSessions returns a session store on db.
func NewSessions(db *pgxpool.Pool) *Sessions { return &Sessions{db: db, now: time.Now} }

// Create opens a session for client c, which authenticated with the secret
// of its token generation c.TokenGeneration; with refreshLifetime > 0 it
// also issues the first refresh token (only when `offline` was granted).
// When the client's credentials have been reset since, it opens nothing and
// returns ErrCredentialsReset.
func (s *Sessions) Create(ctx context.Context, userID string, c clients.Client, scopes []string, refreshLifetime time.Duration) (Session, string, error) {
	instanceID, clientID := c.InstanceID, c.ID
	sess := Session{UserID: userID, InstanceID: instanceID, ClientID: clientID, Scopes: scopes}
	var refresh string
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// FOR SHARE, held to the commit: a reset that locked the client
		// first is waited for and its generation seen here; one that comes
		// after waits for this session, then ends it.
		var generation int64
		err := tx.QueryRow(ctx, `SELECT token_generation FROM oauth_clients WHERE client_id = $1 FOR SHARE`, clientID).Scan(&generation)
		switch {
		case errors.Is(err, pgx.ErrNoRows), err == nil && generation != c.TokenGeneration:
			return ErrCredentialsReset
		case err != nil:
			return err
		}
		err = tx.QueryRow(ctx, `INSERT INTO sessions (user_id, instance_id, client_id, scopes) VALUES ($1, $2, $3, $4) RETURNING id::text, created_at`,
			userID, instanceID, clientID, scopes).Scan(&sess.ID, &sess.CreatedAt)
		if err != nil || refreshLifetime <= 0 {
			return err
		}
		refresh, err = s.issueRefresh(ctx, tx, sess.ID, refreshLifetime)
		return err
	})
	return sess, refresh, err
}

func (s *Sessions) issueRefresh(ctx context.Context, tx pgx.Tx, sessionID string, lifetime time.Duration) (string, error) {
	raw := make([]byte, 32) // 256 bits
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	token := refreshTokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	_, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)`,
		hashToken(token), sessionID, s.now().Add(lifetime))
	return token, err
}

// hashToken is SHA-256: refresh tokens carry 256 random bits, so a slow
// hash would add nothing but latency.
func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// Rotate redeems a refresh token of clientID for a new one. A token used
// before is reuse: the session is revoked in the same transaction and
// ErrRefreshTokenReuse returned. check sees the live session before
// anything is written: its error refuses the request and leaves the token
// as it was (RFC 6749 §6: the request is checked, then answered), so that
// a client refused, or failed by a dependency, may present it again.
func (s *Sessions) Rotate(ctx context.Context, clientID, token string, lifetime time.Duration, check func(Session) error) (Session, string, error) {
	var sess Session
	var next string
	reused := false
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var expiresAt time.Time
		var rotatedAt *time.Time
		// FOR UPDATE: two concurrent redemptions of one token cannot both win.
		err := tx.QueryRow(ctx, `SELECT s.id::text, s.user_id::text, s.instance_id::text, s.client_id, s.scopes, s.revoked_at, s.created_at,
				r.expires_at, r.rotated_at
			FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
			WHERE r.token_hash = $1 FOR UPDATE OF r, s`, hashToken(token)).
			Scan(&sess.ID, &sess.UserID, &sess.InstanceID, &sess.ClientID, &sess.Scopes, &sess.RevokedAt, &sess.CreatedAt, &expiresAt, &rotatedAt)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return ErrInvalidRefreshToken
		case err != nil:
			return err
		case sess.ClientID != clientID:
			return ErrInvalidRefreshToken
		case rotatedAt != nil:
			reused = true
			return revoke(ctx, tx, sess.ID, ReasonReuse)
		case sess.RevokedAt != nil, !s.now().Before(expiresAt):
			return ErrInvalidRefreshToken
		}
		if err := check(sess); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = $1`, hashToken(token)); err != nil {
			return err
		}
		next, err = s.issueRefresh(ctx, tx, sess.ID, lifetime)
		return err
	})
	if reused && err == nil {
		return sess, "", ErrRefreshTokenReuse
	}
	return sess, next, err
}

func revoke(ctx context.Context, tx pgx.Tx, sessionID, reason string) error {
	_, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL`, sessionID, reason)
	return err
}

// Revoke ends a session and with it every token of its family.
func (s *Sessions) Revoke(ctx context.Context, id, reason string) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error { return revoke(ctx, tx, id, reason) })
}

// RevokeByRefreshToken ends the session of a refresh token of clientID
// (RFC 7009: revoking a refresh token ends its grant). An unknown token is
// not an error: the revocation endpoint answers 200 either way.
func (s *Sessions) RevokeByRefreshToken(ctx context.Context, clientID, token string) error {
	_, err := s.db.Exec(ctx, `UPDATE sessions SET revoked_at = now(), revoked_reason = $3
		WHERE revoked_at IS NULL AND client_id = $2
		  AND id = (SELECT session_id FROM refresh_tokens WHERE token_hash = $1)`, hashToken(token), clientID, ReasonRevoked)
	return err
}

// RevokeAccessToken remembers one access token as revoked until it expires.
func (s *Sessions) RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	_, err := s.db.Exec(ctx, `INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING`, jti, expiresAt)
	return err
}

// Prune deletes what can no longer matter: expired refresh tokens and
// revocations of expired access tokens (past the leeway).
func (s *Sessions) Prune(ctx context.Context) error {
	cutoff := s.now().Add(-Leeway)
	if _, err := s.db.Exec(ctx, `DELETE FROM refresh_tokens WHERE expires_at < $1`, cutoff); err != nil {
		return fmt.Errorf("prune refresh tokens: %w", err)
	}
	_, err := s.db.Exec(ctx, `DELETE FROM revoked_access_tokens WHERE expires_at < $1`, cutoff)
	return err
}

// UserSession is one of a user's sign-ins at an instance, as the user's
// sessions page lists it.
type UserSession struct {
	ID           string
	InstanceID   string
	InstanceName string
	Scopes       []string
	CreatedAt    time.Time
}

// ErrNoSuchSession: the user has no session of that id, whoever's it may be.
var ErrNoSuchSession = errors.New("no such session")

// listedFor is how long a session without a live refresh token is listed:
// past the longest access token lifetime (7 days by default) it can no
// longer be used, revoked or not.
const listedFor = 30 * 24 * time.Hour

// OfUser lists the user's sessions at instances that may still be used:
// not ended, and with a live refresh token or young enough for their
// access tokens to work. Newest first.
func (s *Sessions) OfUser(ctx context.Context, userID string) ([]UserSession, error) {
	now := s.now()
	rows, err := s.db.Query(ctx, `SELECT s.id::text, s.instance_id::text, coalesce(i.name, ''), s.scopes, s.created_at
		FROM sessions s LEFT JOIN instances i ON i.id = s.instance_id
		WHERE s.user_id = $1 AND s.revoked_at IS NULL
		  AND (s.created_at > $2 OR EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.session_id = s.id AND r.rotated_at IS NULL AND r.expires_at > $3))
		ORDER BY s.created_at DESC`, userID, now.Add(-listedFor), now)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (UserSession, error) {
		var u UserSession
		return u, r.Scan(&u.ID, &u.InstanceID, &u.InstanceName, &u.Scopes, &u.CreatedAt)
	})
}

// EndOfUser ends one of the user's own sessions at an instance, with every
// token of it (the instance's next call with them is refused);
// ErrNoSuchSession when the user has no live session of that id.
func (s *Sessions) EndOfUser(ctx context.Context, userID, id string) error {
	if !input.ID(id) {
		return ErrNoSuchSession
	}
	tag, err := s.db.Exec(ctx, `UPDATE sessions SET revoked_at = now(), revoked_reason = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`,
		id, userID, ReasonLogout)
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNoSuchSession
	}
	return nil
}

// LiveRefresh finds a refresh token of clientID that may still be redeemed:
// not rotated, not expired, its session open. ok is false for any other
// token, another client's included.
func (s *Sessions) LiveRefresh(ctx context.Context, clientID, token string) (sess Session, expiresAt time.Time, ok bool, err error) {
	err = s.db.QueryRow(ctx, `SELECT s.id::text, s.user_id::text, s.instance_id::text, s.client_id, s.scopes, s.created_at, r.expires_at
		FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
		WHERE r.token_hash = $1 AND s.client_id = $2 AND r.rotated_at IS NULL AND r.expires_at > $3 AND s.revoked_at IS NULL`,
		hashToken(token), clientID, s.now()).
		Scan(&sess.ID, &sess.UserID, &sess.InstanceID, &sess.ClientID, &sess.Scopes, &sess.CreatedAt, &expiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, time.Time{}, false, nil
	}
	return sess, expiresAt, err == nil, err
}
