package access

import (
	"context"
	"fmt"
	"strings"
)

// OwningTeam returns the team an object of the relationship model (as
// authz names it: "team:…", "workspace:…", "instance:…") belongs to: the
// team itself, the team owning a workspace, the team owning an instance's
// workspace. It is "" for what belongs to no team: a personal workspace, an
// instance in one, an unclaimed instance. What does not exist, and an
// object of another type, is ErrNotFound. A team's personal access token
// acts on what this names as its team, and on nothing else.
func (s *Service) OwningTeam(ctx context.Context, object string) (string, error) {
	return OwningTeamOf(ctx, s.db, object)
}

// OwningTeamOf is OwningTeam for packages that hold the database, not an
// access.Service (regkeys).
func OwningTeamOf(ctx context.Context, db queryRower, object string) (string, error) {
	kind, id, _ := strings.Cut(object, ":")
	var team *string
	var err error
	switch kind {
	case "team":
		err = db.QueryRow(ctx, `SELECT id::text FROM teams WHERE id = $1`, id).Scan(&team)
	case "workspace":
		err = db.QueryRow(ctx, `SELECT owner_team_id::text FROM workspaces WHERE id = $1`, id).Scan(&team)
	case "instance":
		err = db.QueryRow(ctx, `SELECT w.owner_team_id::text FROM instances i LEFT JOIN workspaces w ON w.id = i.workspace_id WHERE i.id = $1`,
			id).Scan(&team)
	default:
		return "", fmt.Errorf("object %s: %w", object, ErrNotFound)
	}
	if err != nil {
		return "", translate(err, kind+" "+id)
	}
	if team == nil {
		return "", nil
	}
	return *team, nil
}
