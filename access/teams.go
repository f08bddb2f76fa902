package access

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/caido-cloud/caido-cloud/authz"
)

// Role is a member's role in a team; model.fga has a relation of each name.
type Role string

const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

func (r Role) valid() bool { return r == RoleOwner || r == RoleAdmin || r == RoleMember }

// Team is a group of users sharing workspaces and billing.
type Team struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	BillingEmail       string `json:"billing_email"`
	DefaultWorkspaceID string `json:"default_workspace_id"`
}

// CreateTeam creates a team owned by ownerID, who also gets the billing
// capability, and the team's Default workspace.
func (s *Service) CreateTeam(ctx context.Context, ownerID, name, billingEmail string) (Team, Change, error) {
	t := Team{Name: strings.TrimSpace(name), BillingEmail: strings.TrimSpace(billingEmail)}
	if t.Name == "" || len(t.Name) > 200 {
		return t, Change{}, fmt.Errorf("team name must be 1 to 200 characters: %w", ErrInvalid)
	}
	if _, err := mail.ParseAddress(t.BillingEmail); err != nil {
		return t, Change{}, fmt.Errorf("billing email %q is not an address: %w", billingEmail, ErrInvalid)
	}
	ch, err := s.change(ctx, func(tx pgx.Tx) ([]authz.Op, error) {
		err := tx.QueryRow(ctx, `INSERT INTO teams (name, billing_email) VALUES ($1, $2) RETURNING id::text`, t.Name, t.BillingEmail).Scan(&t.ID)
		if err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO team_members (team_id, user_id, role, billing) VALUES ($1, $2, 'owner', true)`, t.ID, ownerID); err != nil {
			return nil, translate(err, "team owner "+ownerID)
		}
		err = tx.QueryRow(ctx, `INSERT INTO workspaces (name, owner_team_id, is_default) VALUES ('Default', $1, true) RETURNING id::text`,
			t.ID).Scan(&t.DefaultWorkspaceID)
		if err != nil {
			return nil, err
		}
		ops := []authz.Op{authz.Write(workspaceOwnerTuple(t.DefaultWorkspaceID, nil, &t.ID))}
		for _, tu := range memberTuples(t.ID, ownerID, RoleOwner, true) {
			ops = append(ops, authz.Write(tu))
		}
		return ops, nil
	})
	return t, ch, err
}

// SetTeamMember adds userID to the team or changes their role and billing
// capability.
func (s *Service) SetTeamMember(ctx context.Context, teamID, userID string, role Role, billing bool) (Change, error) {
	if !role.valid() {
		return Change{}, fmt.Errorf("role %q is not owner, admin or member: %w", role, ErrInvalid)
	}
	return s.change(ctx, func(tx pgx.Tx) ([]authz.Op, error) {
		ops, err := removeMember(ctx, tx, teamID, userID)
		if err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO team_members (team_id, user_id, role, billing) VALUES ($1, $2, $3, $4)`,
			teamID, userID, role, billing); err != nil {
			return nil, translate(err, "team member")
		}
		for _, tu := range memberTuples(teamID, userID, role, billing) {
			ops = append(ops, authz.Write(tu))
		}
		return ops, bumpTeamWorkspaces(ctx, tx, teamID)
	})
}

// RemoveTeamMember takes userID out of the team, and with it their access to
// the team's instances.
func (s *Service) RemoveTeamMember(ctx context.Context, teamID, userID string) (Change, error) {
	var affected []string
	ch, err := s.change(ctx, func(tx pgx.Tx) ([]authz.Op, error) {
		// The instances the membership gave: the team's workspaces' and those
		// shared with the team.
		rows, err := tx.Query(ctx, `SELECT i.id::text FROM instances i JOIN workspaces w ON w.id = i.workspace_id WHERE w.owner_team_id = $1
			UNION SELECT instance_id::text FROM instance_grants WHERE team_id = $1`, teamID)
		if err != nil {
			return nil, translate(err, "team "+teamID)
		}
		if affected, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return nil, err
		}
		ops, err := removeMember(ctx, tx, teamID, userID)
		if err != nil {
			return nil, err
		}
		if ops == nil {
			return nil, fmt.Errorf("team member %s: %w", userID, ErrNotFound)
		}
		return ops, bumpTeamWorkspaces(ctx, tx, teamID)
	})
	if err == nil {
		s.tellAccessRemoved(ctx, userID, affected)
	}
	return ch, err
}

// removeMember deletes a membership row if there is one and returns the
// deletes of its tuples.
func removeMember(ctx context.Context, tx pgx.Tx, teamID, userID string) ([]authz.Op, error) {
	var role string
	var billing bool
	err := tx.QueryRow(ctx, `DELETE FROM team_members WHERE team_id = $1 AND user_id = $2 RETURNING role, billing`,
		teamID, userID).Scan(&role, &billing)
	if err != nil {
		if err = translate(err, "team member"); errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	var ops []authz.Op
	for _, tu := range memberTuples(teamID, userID, Role(role), billing) {
		ops = append(ops, authz.Delete(tu))
	}
	return ops, nil
}

func bumpTeamWorkspaces(ctx context.Context, tx pgx.Tx, teamID string) error {
	// The team's own workspaces, and those holding instances shared with it.
	_, err := tx.Exec(ctx, `UPDATE workspaces SET generation = generation + 1
		WHERE owner_team_id = $1
		   OR id IN (SELECT i.workspace_id FROM instance_grants g JOIN instances i ON i.id = g.instance_id WHERE g.team_id = $1)`, teamID)
	return err
}
