// Package regkeys is registration keys (ckey_…): a workspace manager makes
// one so that instances registering with it are claimed into the workspace
// at once, named with the key's prefix, with no human step.
package regkeys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/caido-cloud/caido-cloud/audit"
	"github.com/caido-cloud/caido-cloud/input"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/oidc/clients"
)

const keyPrefix = "ckey_"

var (
	// ErrForbidden: the creator may not add instances to the workspace.
	ErrForbidden = errors.New("may not add instances to this workspace")
	ErrNotFound  = errors.New("registration key not found")
	ErrInvalid   = errors.New("invalid registration key settings")
	// ErrViewOnly: the user may see the workspace but not manage its keys.
	ErrViewOnly = errors.New("only the workspace's managers may see and revoke its registration keys")
)

// Key is a registration key as listed (never the key itself).
type Key struct {
	ID          string     `json:"id"`
	Hint        string     `json:"hint"`
	WorkspaceID string     `json:"workspace_id"`
	CreatedBy   string     `json:"created_by"`
	Description string     `json:"description"`
	NamePrefix  string     `json:"name_prefix"`
	Reusable    bool       `json:"reusable"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	Uses        int        `json:"uses"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
}

// Service creates, lists, revokes and redeems keys.
type Service struct {
	db    *pgxpool.Pool
	authz *authz.Client
	now   func() time.Time
}

// Options adjust a Service; the zero value is the production default.
type Options struct {
	// Now is the clock keys expire by; nil is time.Now.
	Now func() time.Time
}

// New returns a Service on db; creation is checked with authz.
func New(db *pgxpool.Pool, authz *authz.Client, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{db: db, authz: authz, now: opts.Now}
}

// NewKey is what Create asks for.
type NewKey struct {
	// WorkspaceID "" is the creator's own Default workspace.
	WorkspaceID string
	CreatedBy   string
	Description string
	NamePrefix  string
	Reusable    bool
	ExpiresAt   *time.Time
}

// Create makes a key for a workspace the creator may add instances to, and
// returns it: the only time the key exists in the clear.
func (s *Service) Create(ctx context.Context, n NewKey) (string, Key, error) {
	// The prefix names instances (prefix-1a2b3c4d): one line, as a name.
	// The description is free text, tabs and line breaks allowed.
	prefix, ok := input.Name(n.NamePrefix, 100)
	if !ok || len(n.Description) > 500 || input.Check("description", n.Description, input.Text) != nil {
		return "", Key{}, fmt.Errorf("%w: a name prefix of 1 to 100 characters on one line with no control characters, and a description of at most 500 (line breaks and tabs allowed, no other control character)", ErrInvalid)
	}
	n.NamePrefix = prefix
	if n.ExpiresAt != nil && !n.ExpiresAt.After(s.now()) {
		return "", Key{}, fmt.Errorf("%w: the expiry must be in the future", ErrInvalid)
	}
	if n.WorkspaceID == "" {
		ws, err := access.DefaultWorkspaceOf(ctx, s.db, n.CreatedBy)
		if errors.Is(err, access.ErrNotFound) {
			return "", Key{}, ErrForbidden
		}
		if err != nil {
			return "", Key{}, err
		}
		n.WorkspaceID = ws
	}
	ok, err := s.authz.Check(ctx, authz.UserObject(n.CreatedBy), "can_add_instance", authz.WorkspaceObject(n.WorkspaceID))
	if err != nil {
		return "", Key{}, err
	}
	if !ok {
		return "", Key{}, ErrForbidden
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", Key{}, err
	}
	secret := keyPrefix + base64.RawURLEncoding.EncodeToString(raw)
	k := Key{Hint: secret[:len(keyPrefix)+4], WorkspaceID: n.WorkspaceID, CreatedBy: n.CreatedBy,
		Description: n.Description, NamePrefix: n.NamePrefix, Reusable: n.Reusable, ExpiresAt: n.ExpiresAt}
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var team *string
		err := tx.QueryRow(ctx, `INSERT INTO registration_keys (key_hash, key_hint, workspace_id, created_by, description, name_prefix, reusable, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			RETURNING id::text, created_at, (SELECT owner_team_id::text FROM workspaces WHERE id = $3)`,
			hash(secret), k.Hint, k.WorkspaceID, k.CreatedBy, k.Description, k.NamePrefix, k.Reusable, k.ExpiresAt).Scan(&k.ID, &k.CreatedAt, &team)
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.KeyCreate, deref(team), audit.Target{Type: "registration_key", ID: k.ID},
			map[string]any{"workspace_id": k.WorkspaceID, "hint": k.Hint, "reusable": k.Reusable, "expires_at": k.ExpiresAt})
	})
	if err != nil {
		return "", Key{}, err
	}
	return secret, k, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// hash is SHA-256: keys carry 256 random bits.
func hash(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// ListFor returns a workspace's keys for userID, who must manage it: one
// they may only view is ErrViewOnly, one they may not view (or outside
// tokenTeam, the team of the personal access token they called with, when
// set) ErrNotFound, as one that does not exist.
func (s *Service) ListFor(ctx context.Context, userID, tokenTeam, workspaceID string) ([]Key, error) {
	team, err := access.OwningTeamOf(ctx, s.db, authz.WorkspaceObject(workspaceID))
	if errors.Is(err, access.ErrNotFound) || err == nil && tokenTeam != "" && team != tokenTeam {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	user, ws := authz.UserObject(userID), authz.WorkspaceObject(workspaceID)
	answers, err := s.authz.BatchCheck(ctx, []authz.CheckItem{{User: user, Relation: "can_manage", Object: ws}, {User: user, Relation: "can_view", Object: ws}})
	if err != nil {
		return nil, err
	}
	switch {
	case answers[0]:
		return s.List(ctx, workspaceID)
	case answers[1]:
		return nil, ErrViewOnly
	}
	return nil, ErrNotFound
}

// List returns a workspace's keys, newest first.
func (s *Service) List(ctx context.Context, workspaceID string) ([]Key, error) {
	rows, err := s.db.Query(ctx, `SELECT id::text, key_hint, workspace_id::text, created_by::text, description, name_prefix,
			reusable, expires_at, uses, revoked_at, created_at
		FROM registration_keys WHERE workspace_id = $1 ORDER BY created_at DESC`, workspaceID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Key])
}

// RevokeFor ends a key at once for userID, who must manage its workspace
// (within tokenTeam, the team of the personal access token they called
// with, when set); a key they may not manage is ErrNotFound, as one that
// does not exist.
func (s *Service) RevokeFor(ctx context.Context, userID, tokenTeam, id string) error {
	if !input.ID(id) {
		return ErrNotFound // no key has it: SQL need not say so
	}
	var ws, team string
	err := s.db.QueryRow(ctx, `SELECT k.workspace_id::text, coalesce(w.owner_team_id::text, '')
		FROM registration_keys k JOIN workspaces w ON w.id = k.workspace_id WHERE k.id = $1`, id).Scan(&ws, &team)
	var pgErr *pgconn.PgError
	if errors.Is(err, pgx.ErrNoRows) || errors.As(err, &pgErr) && pgErr.Code == "22P02" {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if tokenTeam != "" && team != tokenTeam {
		return ErrNotFound
	}
	ok, err := s.authz.Check(ctx, authz.UserObject(userID), "can_manage", authz.WorkspaceObject(ws))
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotFound
	}
	return s.Revoke(ctx, id)
}

// Revoke ends a key at once (the operator's CLI; users go through
// RevokeFor).
func (s *Service) Revoke(ctx context.Context, id string) error {
	if !input.ID(id) {
		return ErrNotFound
	}
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var team *string
		err := tx.QueryRow(ctx, `UPDATE registration_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL
			RETURNING (SELECT owner_team_id::text FROM workspaces WHERE id = registration_keys.workspace_id)`, id).Scan(&team)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "22P02" {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.KeyRevoke, deref(team), audit.Target{Type: "registration_key", ID: id}, nil)
	})
}

// RevokeByCreatorTx revokes, in tx, the keys creatorID made for the
// workspaces of teamID, with an audit entry for each (the same entry as
// Revoke, naming the creator so that they see it too). It is for the
// change that makes the creator stop managing those workspaces (removal
// from the team, a role below admin), run in that change's transaction so
// that no registration slips in between: access calls it through
// access.Service.OnNoLongerManager, since regkeys imports access.
func RevokeByCreatorTx(ctx context.Context, tx pgx.Tx, teamID, creatorID string) error {
	rows, err := tx.Query(ctx, `UPDATE registration_keys SET revoked_at = now()
		WHERE created_by = $2 AND revoked_at IS NULL AND workspace_id IN (SELECT id FROM workspaces WHERE owner_team_id = $1)
		RETURNING id::text, key_hint, workspace_id::text`, teamID, creatorID)
	if err != nil {
		return err
	}
	type revoked struct{ id, hint, workspace string }
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (revoked, error) {
		var k revoked
		return k, r.Scan(&k.id, &k.hint, &k.workspace)
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		err := audit.Record(ctx, tx, audit.KeyRevoke, teamID, audit.Target{Type: "registration_key", ID: k.id, UserID: creatorID},
			map[string]any{"workspace_id": k.workspace, "hint": k.hint, "reason": "its creator no longer manages the team's workspaces"})
		if err != nil {
			return err
		}
	}
	return nil
}

// Redeem is clients.Options.RedeemKey: inside the registration's
// transaction it checks the key, counts the use (a single-use key dies
// here) and claims the new instance into the key's workspace, named with
// the key's prefix, for the key's creator.
func (s *Service) Redeem(ctx context.Context, tx pgx.Tx, key, instanceID string) error {
	var k Key
	err := tx.QueryRow(ctx, `SELECT workspace_id::text, created_by::text, name_prefix, reusable, expires_at, uses, revoked_at
		FROM registration_keys WHERE key_hash = $1 FOR UPDATE`, hash(key)).
		Scan(&k.WorkspaceID, &k.CreatedBy, &k.NamePrefix, &k.Reusable, &k.ExpiresAt, &k.Uses, &k.RevokedAt)
	refuse := func(why string) error { return &clients.MetadataError{Description: "instance_registration_key " + why} }
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return refuse("is not valid")
	case err != nil:
		return err
	case k.RevokedAt != nil:
		return refuse("has been revoked")
	case k.ExpiresAt != nil && !s.now().Before(*k.ExpiresAt):
		return refuse("has expired")
	case !k.Reusable && k.Uses > 0:
		return refuse("was for a single use and has been used")
	}
	// The key acts for its creator, so it may do only what the creator may
	// do now, not what they could when they made it: an admin demoted or
	// removed since (or one OpenFGA stops granting by any other route) no
	// longer adds instances here. The answer is a revoked key's, so that it
	// tells the registering instance nothing about the creator. (Every key
	// has a creator: the CLI's `regkey create` too makes it for a named user.)
	ok, err := s.authz.Check(ctx, authz.UserObject(k.CreatedBy), "can_add_instance", authz.WorkspaceObject(k.WorkspaceID))
	if err != nil {
		return err
	}
	if !ok {
		return refuse("has been revoked")
	}
	if _, err := tx.Exec(ctx, `UPDATE registration_keys SET uses = uses + 1, last_used_at = now() WHERE key_hash = $1`, hash(key)); err != nil {
		return err
	}
	name := k.NamePrefix + "-" + instanceID[:8]
	// The claim is the key creator's doing: the audit log says so.
	ctx = audit.WithActor(ctx, audit.Actor{UserID: k.CreatedBy})
	return access.ClaimInTx(ctx, tx, instanceID, k.CreatedBy, k.WorkspaceID, name)
}
