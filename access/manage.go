package access

import (
	"context"
	"fmt"
	"time"

	"github.com/caido-cloud/caido-cloud/audit"

	"github.com/jackc/pgx/v5"

	"github.com/caido-cloud/caido-cloud/authz"
)

// RenameInstance gives a claimed instance a new name.
func (s *Service) RenameInstance(ctx context.Context, instanceID, name string) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error { return renameInstance(ctx, tx, instanceID, name) })
}

func renameInstance(ctx context.Context, tx pgx.Tx, instanceID, name string) error {
	name, ok := InstanceName(name)
	if !ok {
		return errInstanceName()
	}
	var old string
	err := tx.QueryRow(ctx, `SELECT name FROM instances WHERE id = $1 AND workspace_id IS NOT NULL FOR UPDATE`, instanceID).Scan(&old)
	if err != nil {
		return translate(err, "claimed instance "+instanceID)
	}
	if _, err := tx.Exec(ctx, `UPDATE instances SET name = $2 WHERE id = $1`, instanceID, name); err != nil {
		return err
	}
	team, err := teamOfInstance(ctx, tx, instanceID)
	if err != nil {
		return err
	}
	return audit.Record(ctx, tx, audit.InstanceRename, team, audit.Target{Type: "instance", ID: instanceID}, map[string]any{"from": old, "to": name})
}

// MoveInstance puts a claimed instance into another workspace. Whether the
// actor manages both is the caller's check. Users who used the instance
// through the old workspace and have no way in through the new one lose
// their sessions there.
func (s *Service) MoveInstance(ctx context.Context, instanceID, toWorkspaceID string) (Change, error) {
	return s.UpdateInstance(ctx, instanceID, InstanceUpdate{WorkspaceID: &toWorkspaceID})
}

// InstanceUpdate is a new name, a new workspace or both for an instance.
type InstanceUpdate struct {
	Name, WorkspaceID *string
}

// UpdateInstance renames and moves an instance in one transaction: both
// happen or neither does (a rename is not left behind by a failed move).
// Whether the actor manages the instance and the new workspace is the
// caller's check.
func (s *Service) UpdateInstance(ctx context.Context, instanceID string, u InstanceUpdate) (Change, error) {
	var users []string
	ch, err := s.change(ctx, func(tx pgx.Tx) ([]authz.Op, error) {
		if u.Name != nil {
			if err := renameInstance(ctx, tx, instanceID, *u.Name); err != nil {
				return nil, err
			}
		}
		if u.WorkspaceID == nil {
			return nil, nil
		}
		var ops []authz.Op
		var err error
		ops, users, err = moveInstance(ctx, tx, instanceID, *u.WorkspaceID)
		return ops, err
	})
	if err == nil {
		for _, u := range users {
			s.tellAccessRemoved(ctx, u, []string{instanceID})
		}
	}
	return ch, err
}

// moveInstance moves the instance in tx and returns the tuple changes and
// the users with sessions on it, to be told once the move is committed.
func moveInstance(ctx context.Context, tx pgx.Tx, instanceID, toWorkspaceID string) ([]authz.Op, []string, error) {
	var from *string
	err := tx.QueryRow(ctx, `SELECT workspace_id::text FROM instances WHERE id = $1 FOR UPDATE`, instanceID).Scan(&from)
	if err != nil {
		return nil, nil, translate(err, "instance "+instanceID)
	}
	if from == nil {
		return nil, nil, fmt.Errorf("instance %s is not claimed yet: %w", instanceID, ErrInvalid)
	}
	if *from == toWorkspaceID {
		return nil, nil, fmt.Errorf("instance %s is in workspace %s already: %w", instanceID, toWorkspaceID, ErrAlreadyThere)
	}
	if _, err := tx.Exec(ctx, `UPDATE instances SET workspace_id = $2 WHERE id = $1`, instanceID, toWorkspaceID); err != nil {
		return nil, nil, translate(err, "workspace "+toWorkspaceID)
	}
	rows, err := tx.Query(ctx, `SELECT DISTINCT user_id::text FROM sessions WHERE instance_id = $1 AND revoked_at IS NULL`, instanceID)
	if err != nil {
		return nil, nil, err
	}
	users, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, nil, err
	}
	fromTeam, err := teamOfWorkspace(ctx, tx, *from)
	if err != nil {
		return nil, nil, err
	}
	toTeam, err := teamOfWorkspace(ctx, tx, toWorkspaceID)
	if err != nil {
		return nil, nil, err
	}
	detail := map[string]any{"from_workspace_id": *from, "to_workspace_id": toWorkspaceID}
	if err := audit.RecordForTeams(ctx, tx, audit.InstanceMove, []string{fromTeam, toTeam}, audit.Target{Type: "instance", ID: instanceID}, detail); err != nil {
		return nil, nil, err
	}
	tuple := func(ws string) authz.Tuple {
		return authz.Tuple{User: authz.WorkspaceObject(ws), Relation: "workspace", Object: authz.InstanceObject(instanceID)}
	}
	return []authz.Op{authz.Delete(tuple(*from)), authz.Write(tuple(toWorkspaceID))}, users, bumpGeneration(ctx, tx, *from, toWorkspaceID)
}

// InstanceSummary is an instance as the dashboard and our JSON API list it.
type InstanceSummary struct {
	ID               string     `json:"id"`
	Name             string     `json:"name"`
	WorkspaceID      string     `json:"workspace_id"`
	WorkspaceName    string     `json:"workspace_name"`
	ClaimedBy        string     `json:"claimed_by"`
	ClaimedAt        time.Time  `json:"claimed_at"`
	AssistantEnabled bool       `json:"assistant_enabled"`
	LastSeenAt       *time.Time `json:"last_seen_at"`
	Version          string     `json:"version"`
	OS               string     `json:"os"`
	// RecentUsers are the emails of who used it in the last 30 days.
	RecentUsers []string `json:"recent_users"`
	// The workspace's owner: a team (OwnerTeamID and its name) or a user
	// (their name and email).
	OwnerTeamID string `json:"-"`
	OwnerName   string `json:"-"`
	OwnerEmail  string `json:"-"`
}

// Alive says whether the instance reported itself recently.
func (i InstanceSummary) Alive(now time.Time) bool {
	return i.LastSeenAt != nil && now.Sub(*i.LastSeenAt) < 15*time.Minute
}

// InstancesIn lists the claimed instances of the given workspaces.
func (s *Service) InstancesIn(ctx context.Context, workspaceIDs []string) ([]InstanceSummary, error) {
	return s.instances(ctx, `i.workspace_id = ANY($1::uuid[])`, workspaceIDs)
}

// InstancesByID lists the given claimed instances.
func (s *Service) InstancesByID(ctx context.Context, ids []string) ([]InstanceSummary, error) {
	return s.instances(ctx, `i.id = ANY($1::uuid[])`, ids)
}

func (s *Service) instances(ctx context.Context, where string, ids []string) ([]InstanceSummary, error) {
	rows, err := s.db.Query(ctx, `SELECT i.id::text, i.name, w.id::text, w.name, coalesce(u.email, ''), i.claimed_at, i.assistant_enabled,
			l.seen_at, coalesce(l.version, ''), trim(coalesce(l.os_name, '') || ' ' || coalesce(l.os_version, '')),
			coalesce((SELECT array_agg(DISTINCT su.email) FROM session_pings p JOIN users su ON su.id = p.user_id
				WHERE p.instance_id = i.id AND p.at > now() - interval '30 days'), '{}'),
			coalesce(w.owner_team_id::text, ''), coalesce(ot.name, ou.name, ''), coalesce(ou.email, '')
		FROM instances i JOIN workspaces w ON w.id = i.workspace_id
		LEFT JOIN users u ON u.id = i.claimed_by
		LEFT JOIN users ou ON ou.id = w.owner_user_id
		LEFT JOIN teams ot ON ot.id = w.owner_team_id
		LEFT JOIN instance_last_seen l ON l.instance_id = i.id
		WHERE `+where+` ORDER BY w.name, i.name, i.id`, ids)
	if err != nil {
		return nil, translate(err, "instances")
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (InstanceSummary, error) {
		var i InstanceSummary
		err := r.Scan(&i.ID, &i.Name, &i.WorkspaceID, &i.WorkspaceName, &i.ClaimedBy, &i.ClaimedAt, &i.AssistantEnabled,
			&i.LastSeenAt, &i.Version, &i.OS, &i.RecentUsers, &i.OwnerTeamID, &i.OwnerName, &i.OwnerEmail)
		return i, err
	})
}

// GrantInfo is one share of an instance.
type GrantInfo struct {
	InstanceID string     `json:"instance_id"`
	UserID     string     `json:"user_id,omitempty"`
	UserEmail  string     `json:"user_email,omitempty"`
	TeamID     string     `json:"team_id,omitempty"`
	TeamName   string     `json:"team_name,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at"`
	CreatedAt  time.Time  `json:"created_at"`
	// Pending is a share by email waiting for its address to be verified
	// (PendingShares): PendingID is its id, and it has no user yet.
	Pending   bool   `json:"pending,omitempty"`
	PendingID string `json:"pending_id,omitempty"`
}

// Grants lists an instance's shares.
func (s *Service) Grants(ctx context.Context, instanceID string) ([]GrantInfo, error) {
	rows, err := s.db.Query(ctx, `SELECT g.instance_id::text, coalesce(g.user_id::text, ''), coalesce(u.email, ''),
			coalesce(g.team_id::text, ''), coalesce(t.name, ''), g.expires_at, g.created_at
		FROM instance_grants g LEFT JOIN users u ON u.id = g.user_id LEFT JOIN teams t ON t.id = g.team_id
		WHERE g.instance_id = $1 ORDER BY g.created_at, g.id`, instanceID)
	if err != nil {
		return nil, translate(err, "grants of instance "+instanceID)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (GrantInfo, error) {
		var g GrantInfo
		err := r.Scan(&g.InstanceID, &g.UserID, &g.UserEmail, &g.TeamID, &g.TeamName, &g.ExpiresAt, &g.CreatedAt)
		return g, err
	})
}

// SharedWith lists the instances granted to userID directly or to a team of
// theirs, that have not expired.
func (s *Service) SharedWith(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT DISTINCT instance_id::text FROM instance_grants
		WHERE (user_id = $1 OR team_id IN (SELECT team_id FROM team_members WHERE user_id = $1))
		  AND (expires_at IS NULL OR expires_at > now())`, userID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
