package access

import (
	"context"
	"fmt"
	"time"

	"github.com/caido-cloud/caido-cloud/audit"
	"github.com/caido-cloud/caido-cloud/input"

	"github.com/jackc/pgx/v5"

	"github.com/caido-cloud/caido-cloud/authz"
)

// Instance is a self-hosted instance known to the cloud.
type Instance struct {
	ID string `json:"id"`
	// Name and WorkspaceID stay empty until a user claims the instance.
	Name        string `json:"name,omitempty"`
	WorkspaceID string `json:"workspace_id,omitempty"`
}

// Grantee is who an instance is shared with: one user or every member of a team.
type Grantee struct {
	UserID string
	TeamID string
}

// CreateInstance records a new, unclaimed instance. It implies no tuple:
// nobody may use an instance before it is claimed.
func (s *Service) CreateInstance(ctx context.Context) (Instance, error) {
	var in Instance
	err := s.db.QueryRow(ctx, `INSERT INTO instances DEFAULT VALUES RETURNING id::text`).Scan(&in.ID)
	return in, err
}

// ClaimInstance puts an unclaimed instance into a workspace under a name.
// Whether userID may add instances to that workspace is the caller's check.
func (s *Service) ClaimInstance(ctx context.Context, instanceID, userID, workspaceID, name string) (Change, error) {
	return s.change(ctx, func(tx pgx.Tx) ([]authz.Op, error) {
		return claim(ctx, tx, instanceID, userID, workspaceID, name)
	})
}

// ClaimInTx claims an instance inside the caller's transaction (a
// registration with a registration key) and queues its tuples there; the
// outbox applies them once the caller commits.
func ClaimInTx(ctx context.Context, tx pgx.Tx, instanceID, userID, workspaceID, name string) error {
	ops, err := claim(ctx, tx, instanceID, userID, workspaceID, name)
	if err != nil {
		return err
	}
	_, err = authz.Enqueue(ctx, tx, ops...)
	return err
}

// MaxInstanceName is the longest name an instance may have, in bytes.
const MaxInstanceName = 200

// InstanceName is name as an instance may bear it: trimmed, 1 to
// MaxInstanceName bytes, one line of UTF-8 with no control characters
// (input.Name, the rule of every name); ok is false otherwise. Every claim
// and rename goes through it, so the surfaces and use cases that check a
// name first apply the same rule.
func InstanceName(name string) (clean string, ok bool) {
	return input.Name(name, MaxInstanceName)
}

func errInstanceName() error {
	return fmt.Errorf("instance name must be 1 to %d characters, none of them control characters: %w", MaxInstanceName, ErrInvalid)
}

func claim(ctx context.Context, tx pgx.Tx, instanceID, userID, workspaceID, name string) ([]authz.Op, error) {
	name, ok := InstanceName(name)
	if !ok {
		return nil, errInstanceName()
	}
	tag, err := tx.Exec(ctx, `UPDATE instances SET name = $2, workspace_id = $3, claimed_by = $4, claimed_at = now()
		WHERE id = $1 AND workspace_id IS NULL`, instanceID, name, workspaceID, userID)
	if err != nil {
		return nil, translate(err, "claim instance "+instanceID)
	}
	if tag.RowsAffected() == 0 {
		return nil, claimFailure(ctx, tx, instanceID)
	}
	var assistant bool
	if err := tx.QueryRow(ctx, `SELECT assistant_enabled FROM instances WHERE id = $1`, instanceID).Scan(&assistant); err != nil {
		return nil, err
	}
	team, err := teamOfWorkspace(ctx, tx, workspaceID)
	if err != nil {
		return nil, err
	}
	if err := audit.Record(ctx, tx, audit.Claim, team, audit.Target{Type: "instance", ID: instanceID},
		map[string]any{"name": name, "workspace_id": workspaceID}); err != nil {
		return nil, err
	}
	return writes(instanceTuples(instanceID, &workspaceID, &userID, assistant)), bumpGeneration(ctx, tx, workspaceID)
}

func claimFailure(ctx context.Context, tx pgx.Tx, instanceID string) error {
	var claimed bool
	err := tx.QueryRow(ctx, `SELECT workspace_id IS NOT NULL FROM instances WHERE id = $1`, instanceID).Scan(&claimed)
	if err != nil {
		return translate(err, "instance "+instanceID)
	}
	return fmt.Errorf("instance %s is already claimed: %w", instanceID, ErrConflict)
}

// Grant shares an instance with a user or a team, until expiresAt when set.
// Granting again replaces the expiry.
func (s *Service) Grant(ctx context.Context, instanceID string, to Grantee, expiresAt *time.Time, grantedBy string) (Change, error) {
	if (to.UserID == "") == (to.TeamID == "") {
		return Change{}, fmt.Errorf("a grant goes to exactly one user or one team: %w", ErrInvalid)
	}
	if expiresAt != nil && !expiresAt.After(time.Now()) {
		return Change{}, fmt.Errorf("a grant must expire in the future: %w", ErrInvalid)
	}
	if expiresAt != nil {
		at := expiresAt.UTC().Truncate(time.Microsecond) // what PostgreSQL keeps
		expiresAt = &at
	}
	return s.change(ctx, func(tx pgx.Tx) ([]authz.Op, error) {
		return grant(ctx, tx, instanceID, to, expiresAt, grantedBy)
	})
}

// grant writes the grant in tx and returns its tuple changes.
func grant(ctx context.Context, tx pgx.Tx, instanceID string, to Grantee, expiresAt *time.Time, grantedBy string) ([]authz.Op, error) {
	old, err := deleteGrant(ctx, tx, instanceID, to)
	if err != nil {
		return nil, err
	}
	var workspaceID *string
	err = tx.QueryRow(ctx, `INSERT INTO instance_grants (instance_id, user_id, team_id, expires_at, granted_by)
		VALUES ($1, nullif($2, '')::uuid, nullif($3, '')::uuid, $4, nullif($5, '')::uuid)
		RETURNING (SELECT workspace_id::text FROM instances WHERE id = $1)`,
		instanceID, to.UserID, to.TeamID, expiresAt, grantedBy).Scan(&workspaceID)
	if err != nil {
		return nil, translate(err, "grant on instance "+instanceID)
	}
	team, err := teamOfInstance(ctx, tx, instanceID)
	if err != nil {
		return nil, err
	}
	// In the instance's team's log and, for a share with a team, in that
	// team's too: its members gained access.
	if err := audit.RecordForTeams(ctx, tx, audit.Grant, []string{team, to.TeamID}, audit.Target{Type: "instance", ID: instanceID, UserID: to.UserID},
		map[string]any{"user_id": to.UserID, "team_id": to.TeamID, "expires_at": expiresAt}); err != nil {
		return nil, err
	}
	// A tuple's condition cannot be changed in place: the old grant's
	// tuple is deleted first, in order, then the new one written.
	return append(old, authz.Write(grantTuple(instanceID, to, expiresAt))), bumpGeneration(ctx, tx, deref(workspaceID)...)
}

// Revoke ends a grant; the grantee's sessions on the instance end with it
// (every member's, for a team).
func (s *Service) Revoke(ctx context.Context, instanceID string, to Grantee) (Change, error) {
	var users []string
	ch, err := s.change(ctx, func(tx pgx.Tx) ([]authz.Op, error) {
		ops, err := deleteGrant(ctx, tx, instanceID, to)
		if err != nil {
			return nil, err
		}
		if ops == nil {
			return nil, fmt.Errorf("grant on instance %s: %w", instanceID, ErrNotFound)
		}
		rows, err := tx.Query(ctx, `SELECT $1::text WHERE $1 <> '' UNION SELECT user_id::text FROM team_members WHERE team_id = nullif($2, '')::uuid`,
			to.UserID, to.TeamID)
		if err != nil {
			return nil, err
		}
		if users, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return nil, err
		}
		team, err := teamOfInstance(ctx, tx, instanceID)
		if err != nil {
			return nil, err
		}
		if err := audit.RecordForTeams(ctx, tx, audit.Revoke, []string{team, to.TeamID}, audit.Target{Type: "instance", ID: instanceID, UserID: to.UserID},
			map[string]any{"user_id": to.UserID, "team_id": to.TeamID}); err != nil { // as for the grant
			return nil, err
		}
		var workspaceID *string
		if err := tx.QueryRow(ctx, `SELECT workspace_id::text FROM instances WHERE id = $1`, instanceID).Scan(&workspaceID); err != nil {
			return nil, err
		}
		return ops, bumpGeneration(ctx, tx, deref(workspaceID)...)
	})
	if err == nil {
		for _, u := range users {
			s.tellAccessRemoved(ctx, u, []string{instanceID})
		}
	}
	return ch, err
}

func deleteGrant(ctx context.Context, tx pgx.Tx, instanceID string, to Grantee) ([]authz.Op, error) {
	rows, err := tx.Query(ctx, `DELETE FROM instance_grants
		WHERE instance_id = $1 AND (user_id = nullif($2, '')::uuid OR team_id = nullif($3, '')::uuid)
		RETURNING expires_at`, instanceID, to.UserID, to.TeamID)
	if err != nil {
		return nil, translate(err, "grant on instance "+instanceID)
	}
	expiries, err := pgx.CollectRows(rows, pgx.RowTo[*time.Time])
	if err != nil {
		return nil, translate(err, "grant on instance "+instanceID)
	}
	var ops []authz.Op
	for _, at := range expiries {
		ops = append(ops, authz.Delete(grantTuple(instanceID, to, at)))
	}
	return ops, nil
}

// SetAssistantEnabled switches the assistant on or off for everyone on an instance.
func (s *Service) SetAssistantEnabled(ctx context.Context, instanceID string, enabled bool) (Change, error) {
	return s.change(ctx, func(tx pgx.Tx) ([]authz.Op, error) {
		var was bool
		var workspaceID *string
		err := tx.QueryRow(ctx, `SELECT assistant_enabled, workspace_id::text FROM instances WHERE id = $1 FOR UPDATE`,
			instanceID).Scan(&was, &workspaceID)
		if err != nil {
			return nil, translate(err, "instance "+instanceID)
		}
		if was == enabled {
			return nil, nil
		}
		if _, err := tx.Exec(ctx, `UPDATE instances SET assistant_enabled = $2 WHERE id = $1`, instanceID, enabled); err != nil {
			return nil, err
		}
		team, err := teamOfInstance(ctx, tx, instanceID)
		if err != nil {
			return nil, err
		}
		if err := audit.Record(ctx, tx, audit.AssistantToggle, team, audit.Target{Type: "instance", ID: instanceID},
			map[string]any{"enabled": enabled}); err != nil {
			return nil, err
		}
		blocked := authz.Tuple{User: "user:*", Relation: "assistant_blocked", Object: authz.InstanceObject(instanceID)}
		op := authz.Write(blocked)
		if enabled {
			op = authz.Delete(blocked)
		}
		return []authz.Op{op}, bumpGeneration(ctx, tx, deref(workspaceID)...)
	})
}

// DeleteInstance removes an instance, its grants and every tuple about it;
// its OAuth client goes with it (ON DELETE CASCADE), so its credentials and
// every session on it stop working.
func (s *Service) DeleteInstance(ctx context.Context, instanceID string) (Change, error) {
	return s.change(ctx, func(tx pgx.Tx) ([]authz.Op, error) {
		team, err := teamOfInstance(ctx, tx, instanceID)
		if err != nil {
			return nil, err
		}
		if err := audit.Record(ctx, tx, audit.InstanceDelete, team, audit.Target{Type: "instance", ID: instanceID}, nil); err != nil {
			return nil, err
		}
		return deleteInstance(ctx, tx, instanceID)
	})
}

// deleteInstance deletes the instance row and returns the deletes of its
// tuples and its grants' tuples.
func deleteInstance(ctx context.Context, tx pgx.Tx, instanceID string) ([]authz.Op, error) {
	var workspaceID, claimedBy *string
	var assistant bool
	err := tx.QueryRow(ctx, `SELECT workspace_id::text, claimed_by::text, assistant_enabled FROM instances WHERE id = $1 FOR UPDATE`,
		instanceID).Scan(&workspaceID, &claimedBy, &assistant)
	if err != nil {
		return nil, translate(err, "instance "+instanceID)
	}
	grants, err := tx.Query(ctx, `DELETE FROM instance_grants WHERE instance_id = $1
		RETURNING coalesce(user_id::text, ''), coalesce(team_id::text, ''), expires_at`, instanceID)
	if err != nil {
		return nil, err
	}
	var ops []authz.Op
	for grants.Next() {
		var to Grantee
		var at *time.Time
		if err := grants.Scan(&to.UserID, &to.TeamID, &at); err != nil {
			grants.Close()
			return nil, err
		}
		ops = append(ops, authz.Delete(grantTuple(instanceID, to, at)))
	}
	if err := grants.Err(); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM instances WHERE id = $1`, instanceID); err != nil {
		return nil, err
	}
	for _, t := range instanceTuples(instanceID, workspaceID, claimedBy, assistant) {
		ops = append(ops, authz.Delete(t))
	}
	return ops, bumpGeneration(ctx, tx, deref(workspaceID)...)
}

func writes(ts []authz.Tuple) []authz.Op {
	ops := make([]authz.Op, len(ts))
	for i, t := range ts {
		ops[i] = authz.Write(t)
	}
	return ops
}

func deref(s *string) []string {
	if s == nil {
		return nil
	}
	return []string{*s}
}
