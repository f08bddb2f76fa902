package access

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// teamOfWorkspace returns the team owning a workspace, or "" for a personal
// one: the audit entry of a change inside it goes to that team's admins.
func teamOfWorkspace(ctx context.Context, tx pgx.Tx, workspaceID string) (string, error) {
	var team *string
	if err := tx.QueryRow(ctx, `SELECT owner_team_id::text FROM workspaces WHERE id = $1`, workspaceID).Scan(&team); err != nil {
		return "", translate(err, "workspace "+workspaceID)
	}
	if team == nil {
		return "", nil
	}
	return *team, nil
}

// teamOfInstance is teamOfWorkspace for the instance's workspace.
func teamOfInstance(ctx context.Context, tx pgx.Tx, instanceID string) (string, error) {
	var team *string
	err := tx.QueryRow(ctx, `SELECT w.owner_team_id::text FROM instances i LEFT JOIN workspaces w ON w.id = i.workspace_id WHERE i.id = $1`,
		instanceID).Scan(&team)
	if err != nil {
		return "", translate(err, "instance "+instanceID)
	}
	if team == nil {
		return "", nil
	}
	return *team, nil
}
