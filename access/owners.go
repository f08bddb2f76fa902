package access

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// WorkspaceInfo is a workspace as the pages show it: with its owner's name,
// where Workspace has the owner's id.
type WorkspaceInfo struct {
	ID   string
	Name string
	// OwnerName is the owning user's name, or the owning team's.
	OwnerName string
	// OwnerEmail is the owning user's email; empty for a team.
	OwnerEmail string
	// TeamID is the team that owns the workspace; "" for a user's.
	TeamID string
}

// Team says whether a team owns the workspace.
func (w WorkspaceInfo) Team() bool { return w.TeamID != "" }

// Workspaces lists the workspaces userID may see: their own and those of
// the teams they are a member of, their own first. Which of them userID may
// add instances to is OpenFGA's answer, not this list's.
func (s *Service) Workspaces(ctx context.Context, userID string) ([]WorkspaceInfo, error) {
	rows, err := s.db.Query(ctx, `
		SELECT w.id::text, w.name, coalesce(u.name, t.name, ''), coalesce(w.owner_team_id::text, '')
		FROM workspaces w
		LEFT JOIN users u ON u.id = w.owner_user_id
		LEFT JOIN teams t ON t.id = w.owner_team_id
		WHERE w.owner_user_id = $1
		   OR w.owner_team_id IN (SELECT team_id FROM team_members WHERE user_id = $1)
		ORDER BY w.owner_team_id IS NOT NULL, t.name, NOT w.is_default, w.name, w.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list workspaces: %w", err)
	}
	ws, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WorkspaceInfo, error) {
		var w WorkspaceInfo
		return w, r.Scan(&w.ID, &w.Name, &w.OwnerName, &w.TeamID)
	})
	if err != nil {
		return nil, fmt.Errorf("list workspaces: %w", err)
	}
	return ws, nil
}

// InstanceInfo is an instance as the approval page shows it, claimed or
// not, with its workspace and that workspace's owner.
type InstanceInfo struct {
	ID           string
	RegisteredAt time.Time
	// Claimed is false until a user names the instance and puts it in a
	// workspace; Name and Workspace are empty until then.
	Claimed   bool
	Name      string
	Workspace WorkspaceInfo
}

// InstanceInfo reads an instance with its workspace and that workspace's
// owner; ErrNotFound when there is no such instance.
func (s *Service) InstanceInfo(ctx context.Context, instanceID string) (InstanceInfo, error) {
	in := InstanceInfo{ID: instanceID}
	err := s.db.QueryRow(ctx, `
		SELECT i.created_at, i.workspace_id IS NOT NULL, coalesce(i.name, ''),
		       coalesce(w.id::text, ''), coalesce(w.name, ''), coalesce(u.name, t.name, ''), coalesce(u.email, ''),
		       coalesce(w.owner_team_id::text, '')
		FROM instances i
		LEFT JOIN workspaces w ON w.id = i.workspace_id
		LEFT JOIN users u ON u.id = w.owner_user_id
		LEFT JOIN teams t ON t.id = w.owner_team_id
		WHERE i.id = $1`, instanceID).Scan(&in.RegisteredAt, &in.Claimed, &in.Name,
		&in.Workspace.ID, &in.Workspace.Name, &in.Workspace.OwnerName, &in.Workspace.OwnerEmail, &in.Workspace.TeamID)
	if errors.Is(err, pgx.ErrNoRows) {
		return InstanceInfo{}, fmt.Errorf("instance %s: %w", instanceID, ErrNotFound)
	}
	if err != nil {
		return InstanceInfo{}, fmt.Errorf("read instance %s: %w", instanceID, err)
	}
	return in, nil
}
