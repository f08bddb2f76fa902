// Package pats keeps personal access tokens (caido_…): bearer credentials a
// user creates for scripts and CI, for example to approve an instance's
// device flow with no browser. A token is shown once, at creation; only its
// SHA-256 is stored. It carries its creator's rights, optionally names a
// team of theirs, may expire, and can be revoked by its creator.
package pats

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/caido-cloud/caido-cloud/audit"
	"github.com/caido-cloud/caido-cloud/input"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/limits"
)

// Prefix starts every token, so that secret scanners and people can tell
// one from other credentials.
const Prefix = "caido_"

// secretBytes is 256 bits of entropy: a token cannot be guessed, so a plain
// SHA-256 suffices to store it (no salt, no slow hash) and lookups are by
// equality on the hash.
const secretBytes = 32

// encoding is lower-case base32 without padding: letters and digits only, so
// that a double click selects the whole token. 32 bytes give 52 characters.
var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// tokenLength is len(Prefix) plus the encoded secret.
var tokenLength = len(Prefix) + encoding.EncodedLen(secretBytes)

var (
	// ErrInvalidToken is the one answer to a token that is malformed,
	// unknown, revoked or expired: a caller cannot tell which.
	ErrInvalidToken = errors.New("invalid, expired or revoked personal access token")
	// ErrNotFound is a token that is not the caller's to revoke (or does
	// not exist: the two are not told apart).
	ErrNotFound = errors.New("no such personal access token")
	// ErrInvalid is a creation request the service refuses; the wrapping
	// error says why.
	ErrInvalid = errors.New("invalid personal access token request")
	// ErrForbidden is listing a team's tokens without the right to manage
	// its members.
	ErrForbidden = errors.New("not allowed")
	// ErrNotTeamMember: a token for a team its user is not a member of
	// (or that does not exist). It is an ErrInvalid.
	ErrNotTeamMember = fmt.Errorf("%w: the user is not a member of that team", ErrInvalid)
	// ErrMadeWithPAT refuses a token asked for with a token: a child token
	// would outlive its parent's expiry and revocation, and a team token
	// could make one of no team. Its words are for the caller.
	ErrMadeWithPAT = errors.New("a personal access token cannot create personal access tokens: " +
		"create them from a signed-in dashboard session (the Developer page) or with the operator CLI (caido-cloud pat create)")
)

// Credential is what the caller of Create proved who they are with.
type Credential string

// The credentials Create is told of. Only a signed-in session and the
// operator may make tokens; the zero Credential (a caller that did not
// say) is refused like any other, so that a new surface cannot forget to.
const (
	// ViaSession is a signed-in dashboard session (password and factors).
	ViaSession Credential = "session"
	// ViaOperator is the operator at the CLI.
	ViaOperator Credential = "operator"
	// ViaPAT is a personal access token.
	ViaPAT Credential = "personal_access_token"
)

// Checker answers OpenFGA checks; *authz.Client is one.
type Checker interface {
	Check(ctx context.Context, user, relation, object string) (bool, error)
}

// Defaults of the per-user and per-address guess limit (Options).
const (
	DefaultUserGuessLimit  = 20
	DefaultUserGuessWindow = 10 * time.Minute
)

// Options tune a Service; zero values take the defaults.
type Options struct {
	// GuessLimit is how many wrong user codes one token may try per
	// GuessWindow (default 10).
	GuessLimit int
	// GuessWindow is the fixed window of GuessLimit (default a minute).
	GuessWindow time.Duration
	// UserGuessLimit is how many wrong user codes one user, and one client
	// address, may try per UserGuessWindow whatever the tokens (default
	// DefaultUserGuessLimit).
	UserGuessLimit int
	// UserGuessWindow is the fixed window of UserGuessLimit (default
	// DefaultUserGuessWindow).
	UserGuessWindow time.Duration
	// LastUsedEvery bounds how often last_used_at is written per token
	// (default a minute), so that a busy token costs no write per request.
	LastUsedEvery time.Duration
	// Now is the clock; tests replace it.
	Now func() time.Time
	// Log receives housekeeping failures (default slog.Default()).
	Log *slog.Logger
}

// Service creates, authenticates, lists and revokes tokens.
type Service struct {
	db      *pgxpool.Pool
	authz   Checker
	opts    Options
	limiter *limits.Limiter
}

// New returns a Service on db; checker decides who may list a team's
// tokens.
func New(db *pgxpool.Pool, checker Checker, opts Options) *Service {
	if opts.GuessLimit <= 0 {
		opts.GuessLimit = 10
	}
	if opts.GuessWindow < time.Second {
		opts.GuessWindow = time.Minute
	}
	if opts.UserGuessLimit <= 0 {
		opts.UserGuessLimit = DefaultUserGuessLimit
	}
	if opts.UserGuessWindow < time.Second {
		opts.UserGuessWindow = DefaultUserGuessWindow
	}
	if opts.LastUsedEvery <= 0 {
		opts.LastUsedEvery = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Service{db: db, authz: checker, opts: opts, limiter: limits.New(db, opts.Now)}
}

// clock is the current time at PostgreSQL's precision.
func (s *Service) clock() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// Token is what is known of a token; never the secret.
type Token struct {
	ID     string `json:"id"`
	UserID string `json:"user_id"`
	// TeamID is empty for a token of no team.
	TeamID     string     `json:"team_id,omitempty"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// Covers says whether the token may act on something of teamID ("" for
// what belongs to no team: a personal workspace, an instance in one). A
// token of no team acts wherever its user may; a team's token only within
// that team, so that a script given a team's token cannot reach its user's
// other teams nor their own things.
func (t Token) Covers(teamID string) bool { return t.TeamID == "" || t.TeamID == teamID }

// NewToken is a creation request.
type NewToken struct {
	UserID string
	Name   string
	// TeamID, when set, must be a team UserID is a member of.
	TeamID string
	// ExpiresAt, when set, must be in the future; nil never expires.
	ExpiresAt *time.Time
	// Via is what the request for the token was authenticated with: only
	// ViaSession and ViaOperator may make one.
	Via Credential
}

// Create makes a token and returns it with the secret, the only copy of
// which the caller must show once and forget.
//
// A request made with a personal access token gets ErrMadeWithPAT before
// anything else is looked at, so the answer does not depend on the rest of
// the request; one that does not say what it was made with is refused too.
func (s *Service) Create(ctx context.Context, n NewToken) (secret string, t Token, err error) {
	switch n.Via {
	case ViaSession, ViaOperator:
	case ViaPAT:
		return "", Token{}, ErrMadeWithPAT
	default:
		return "", Token{}, fmt.Errorf("create personal access token: the caller did not say how it was authenticated (%q)", n.Via)
	}
	now := s.clock()
	name, ok := input.Name(n.Name, 200)
	if !ok {
		return "", Token{}, fmt.Errorf("%w: the name must be 1 to 200 characters on one line, none of them control characters", ErrInvalid)
	}
	// Ids are checked before SQL sees them: a malformed one is no team
	// the user is in, not a failure of the query.
	if n.TeamID != "" && !input.ID(n.TeamID) {
		return "", Token{}, ErrNotTeamMember
	}
	var expires *time.Time
	if n.ExpiresAt != nil {
		at := n.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !at.After(now) {
			return "", Token{}, fmt.Errorf("%w: the expiry must be in the future", ErrInvalid)
		}
		expires = &at
	}
	secret = newSecret()
	t = Token{UserID: n.UserID, TeamID: n.TeamID, Name: name, CreatedAt: now, ExpiresAt: expires}
	var member bool
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return "", Token{}, fmt.Errorf("create personal access token: %w", err)
	}
	defer tx.Rollback(ctx)
	err = tx.QueryRow(ctx, `
		WITH u AS (SELECT id FROM users WHERE id = $1::uuid),
		ok AS (SELECT nullif($2, '')::uuid IS NULL
			OR EXISTS (SELECT 1 FROM team_members WHERE team_id = nullif($2, '')::uuid AND user_id = $1::uuid) AS member),
		ins AS (
			INSERT INTO personal_access_tokens (token_hash, user_id, team_id, name, created_at, expires_at)
			SELECT $3, u.id, nullif($2, '')::uuid, $4, $5, $6 FROM u, ok WHERE ok.member
			RETURNING id::text)
		SELECT coalesce((SELECT id FROM ins), ''), (SELECT member FROM ok), EXISTS (SELECT 1 FROM u)`,
		n.UserID, n.TeamID, hash(secret), name, now, expires).Scan(&t.ID, &member, new(bool))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "22P02" {
		if n.TeamID != "" {
			return "", Token{}, ErrNotTeamMember
		}
		return "", Token{}, fmt.Errorf("%w: no such user", ErrInvalid)
	}
	if err != nil {
		return "", Token{}, fmt.Errorf("create personal access token: %w", err)
	}
	if t.ID == "" {
		if !member {
			return "", Token{}, ErrNotTeamMember
		}
		return "", Token{}, fmt.Errorf("%w: no such user %s", ErrInvalid, n.UserID)
	}
	if err := audit.Record(ctx, tx, audit.PATCreate, n.TeamID, audit.Target{Type: "personal_access_token", ID: t.ID, UserID: n.UserID},
		map[string]any{"name": name, "expires_at": expires}); err != nil {
		return "", Token{}, fmt.Errorf("create personal access token: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return "", Token{}, fmt.Errorf("create personal access token: %w", err)
	}
	return secret, t, nil
}

// Authenticate returns the token whose secret is presented, if it is live
// (not revoked, not expired). Everything else is ErrInvalidToken, after the
// same work: the presented value is always hashed and looked up, and the
// stored hash compared in constant time. It records the use, at most once
// per LastUsedEvery.
func (s *Service) Authenticate(ctx context.Context, presented string) (Token, error) {
	h := hash(presented)
	wellFormed := len(presented) == tokenLength && strings.HasPrefix(presented, Prefix)
	now := s.clock()
	var t Token
	var stored []byte
	var revoked bool
	err := s.db.QueryRow(ctx, `
		SELECT id::text, token_hash, user_id::text, coalesce(team_id::text, ''), name, created_at, expires_at, last_used_at,
			revoked_at IS NOT NULL
		FROM personal_access_tokens WHERE token_hash = $1`, h).
		Scan(&t.ID, &stored, &t.UserID, &t.TeamID, &t.Name, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &revoked)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Token{}, fmt.Errorf("authenticate personal access token: %w", err)
	}
	found := err == nil
	if !found {
		stored = make([]byte, sha256.Size)
	}
	match := subtle.ConstantTimeCompare(stored, h) == 1
	if !found || !match || !wellFormed || revoked || t.ExpiresAt != nil && !now.Before(*t.ExpiresAt) {
		return Token{}, ErrInvalidToken
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= s.opts.LastUsedEvery {
		// The condition repeats the test so that concurrent requests on
		// several replicas write once.
		tag, err := s.db.Exec(ctx, `UPDATE personal_access_tokens SET last_used_at = $2
			WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $2::timestamptz - make_interval(secs => $3))`,
			t.ID, now, s.opts.LastUsedEvery.Seconds())
		if err != nil {
			// Bookkeeping only: the token is good all the same.
			s.opts.Log.WarnContext(ctx, "record personal access token use", "token_id", t.ID, "err", err)
		} else if tag.RowsAffected() == 1 {
			t.LastUsedAt = &now
		}
	}
	return t, nil
}

// Revoke ends a token of userID's at once. Someone else's token, a revoked
// one and one that never existed are all ErrNotFound.
func (s *Service) Revoke(ctx context.Context, userID, tokenID string) error {
	if !input.ID(tokenID) {
		return ErrNotFound // no token has it: SQL need not say so
	}
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var team string
		err := tx.QueryRow(ctx, `UPDATE personal_access_tokens SET revoked_at = $3
			WHERE id = $1::uuid AND user_id = $2::uuid AND revoked_at IS NULL RETURNING coalesce(team_id::text, '')`,
			tokenID, userID, s.clock()).Scan(&team)
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.PATRevoke, team, audit.Target{Type: "personal_access_token", ID: tokenID, UserID: userID}, nil)
	})
	var pgErr *pgconn.PgError
	if errors.Is(err, pgx.ErrNoRows) || errors.As(err, &pgErr) && pgErr.Code == "22P02" {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("revoke personal access token: %w", err)
	}
	return nil
}

// List returns userID's tokens that are not revoked, expired ones included
// (so their owner sees why a script stopped working), newest first.
func (s *Service) List(ctx context.Context, userID string) ([]Token, error) {
	return s.list(ctx, `user_id = $1::uuid`, userID)
}

// ListForTeam returns the team's live tokens, newest first, to actorID if
// OpenFGA says they may manage the team's members (its admins and owner).
func (s *Service) ListForTeam(ctx context.Context, actorID, teamID string) ([]Token, error) {
	ok, err := s.authz.Check(ctx, authz.UserObject(actorID), "can_manage_members", authz.TeamObject(teamID))
	if err != nil {
		return nil, fmt.Errorf("list team tokens: access check: %w", err)
	}
	if !ok {
		return nil, ErrForbidden
	}
	return s.list(ctx, `team_id = $1::uuid`, teamID)
}

func (s *Service) list(ctx context.Context, where, arg string) ([]Token, error) {
	rows, err := s.db.Query(ctx, `
		SELECT id::text, user_id::text, coalesce(team_id::text, ''), name, created_at, expires_at, last_used_at
		FROM personal_access_tokens WHERE `+where+` AND revoked_at IS NULL
		ORDER BY created_at DESC, id`, arg)
	if err != nil {
		return nil, fmt.Errorf("list personal access tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Token])
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "22P02" {
		return []Token{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list personal access tokens: %w", err)
	}
	if out == nil {
		out = []Token{}
	}
	return out, nil
}

func newSecret() string {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes instead).
	return Prefix + encoding.EncodeToString(b)
}

// hash is the stored form of a token.
func hash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}
