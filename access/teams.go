package access

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/caido-cloud/caido-cloud/audit"
	"github.com/caido-cloud/caido-cloud/input"

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

// managesWorkspaces says whether the role makes its holder a manager of the
// team's workspaces (model.fga: admin from owner_team, and an owner is an
// admin), who may add instances to them.
func (r Role) managesWorkspaces() bool { return r == RoleOwner || r == RoleAdmin }

// Team is a group of users sharing workspaces and billing.
type Team struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	BillingEmail       string `json:"billing_email"`
	DefaultWorkspaceID string `json:"default_workspace_id"`
}

// MaxTeamName is the longest name a team may have, in bytes.
const MaxTeamName = 200

// CreateTeam creates a team owned by ownerID, who also gets the billing
// capability, and the team's Default workspace.
func (s *Service) CreateTeam(ctx context.Context, ownerID, name, billingEmail string) (Team, Change, error) {
	t := Team{Name: strings.TrimSpace(name), BillingEmail: strings.TrimSpace(billingEmail)}
	// One line: the name goes into the subject of every invitation mail.
	if _, ok := input.Name(t.Name, MaxTeamName); !ok {
		return t, Change{}, fmt.Errorf("team name must be 1 to %d characters on one line, none of them control characters: %w", MaxTeamName, ErrInvalid)
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
		if err := audit.Record(ctx, tx, audit.TeamCreate, t.ID, audit.Target{Type: "team", ID: t.ID, UserID: ownerID},
			map[string]any{"name": t.Name}); err != nil {
			return nil, err
		}
		// The owner has no seat yet: a new team has no subscription.
		ops := []authz.Op{authz.Write(workspaceOwnerTuple(t.DefaultWorkspaceID, nil, &t.ID)), authz.Write(seatsOffTuple(t.ID))}
		for _, tu := range memberTuples(t.ID, ownerID, RoleOwner, true) {
			ops = append(ops, authz.Write(tu))
		}
		return ops, nil
	})
	return t, ch, err
}

// SetTeamMember adds userID to the team or changes their role and billing
// capability; a member keeps the seat they have (a new one has none).
func (s *Service) SetTeamMember(ctx context.Context, teamID, userID string, role Role, billing bool) (Change, error) {
	if !role.valid() {
		return Change{}, fmt.Errorf("role %q is not owner, admin or member: %w", role, ErrInvalid)
	}
	return s.change(ctx, func(tx pgx.Tx) ([]authz.Op, error) {
		var useSeat bool
		err := tx.QueryRow(ctx, `SELECT use_seat FROM team_members WHERE team_id = $1 AND user_id = $2`, teamID, userID).Scan(&useSeat)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, translate(err, "team member")
		}
		return s.putMember(ctx, tx, teamID, userID, role, billing, useSeat)
	})
}

// UpdateMember changes an existing member's role (admin or member) and seat.
// The owner's role is not changed this way: a team always keeps its owner,
// whose seat changes here like anyone's (pass RoleOwner with it). A member
// who gives up their seat loses the team's instances, and their sessions
// there end.
func (s *Service) UpdateMember(ctx context.Context, teamID, userID string, role Role, useSeat bool) (Change, error) {
	if role != RoleAdmin && role != RoleMember && role != RoleOwner {
		return Change{}, fmt.Errorf("role %q is not admin or member: %w", role, ErrInvalid)
	}
	var lost []string
	ch, err := s.change(ctx, func(tx pgx.Tx) ([]authz.Op, error) {
		var was Role
		var billing, hadSeat bool
		err := tx.QueryRow(ctx, `SELECT role, billing, use_seat FROM team_members WHERE team_id = $1 AND user_id = $2 FOR UPDATE`,
			teamID, userID).Scan(&was, &billing, &hadSeat)
		if err != nil {
			return nil, translate(err, "team member "+userID)
		}
		if was == RoleOwner && role != RoleOwner {
			return nil, fmt.Errorf("the team's owner keeps the owner role: %w", ErrInvalid)
		}
		if role == RoleOwner && was != RoleOwner {
			return nil, fmt.Errorf("role %q is not admin or member: %w", role, ErrInvalid)
		}
		if hadSeat && !useSeat {
			if lost, err = teamInstances(ctx, tx, teamID); err != nil {
				return nil, err
			}
		}
		return s.putMember(ctx, tx, teamID, userID, role, billing, useSeat)
	})
	if err == nil {
		s.tellAccessRemoved(ctx, userID, lost)
	}
	return ch, err
}

// teamInstances are the instances in the team's workspaces: those a seat
// lets its holder use.
func teamInstances(ctx context.Context, tx pgx.Tx, teamID string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT i.id::text FROM instances i JOIN workspaces w ON w.id = i.workspace_id WHERE w.owner_team_id = $1`, teamID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// teamSeating reads what the team's seats hang on, its subscription, and
// locks it against a concurrent change (SetTeamSubscription), so that the
// seat tuples a change queues follow the subscription it saw.
func teamSeating(ctx context.Context, tx pgx.Tx, teamID string) (seating, error) {
	var st seating
	err := tx.QueryRow(ctx, `SELECT p.has_seats, s.ends_at FROM team_subscriptions s JOIN plans p ON p.name = s.plan
		WHERE s.team_id = $1 FOR SHARE OF s`, teamID).Scan(&st.seats, &st.endsAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return seating{}, nil
	}
	return st, err
}

// putMember writes a membership (replacing any) with its tuples, its audit
// entry, and a seat check when the member is to use a seat. A role that
// does not manage the team's workspaces ends the member's registration keys
// for them, whatever the role was before (a key made by one who is no
// manager has nothing to stand on).
func (s *Service) putMember(ctx context.Context, tx pgx.Tx, teamID, userID string, role Role, billing, useSeat bool) ([]authz.Op, error) {
	var hadSeat bool
	existed := true
	err := tx.QueryRow(ctx, `SELECT use_seat FROM team_members WHERE team_id = $1 AND user_id = $2`, teamID, userID).Scan(&hadSeat)
	if errors.Is(err, pgx.ErrNoRows) {
		existed = false
	} else if err != nil {
		return nil, translate(err, "team member")
	}
	if useSeat && !hadSeat {
		if err := takeSeat(ctx, tx, teamID, false); err != nil {
			return nil, err
		}
	}
	ops, err := removeMember(ctx, tx, teamID, userID)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO team_members (team_id, user_id, role, billing, use_seat) VALUES ($1, $2, $3, $4, $5)`,
		teamID, userID, role, billing, useSeat); err != nil {
		return nil, translate(err, "team member")
	}
	st, err := teamSeating(ctx, tx, teamID)
	if err != nil {
		return nil, err
	}
	for _, tu := range append(memberTuples(teamID, userID, role, billing), seatTuples(teamID, userID, useSeat, st)...) {
		ops = append(ops, authz.Write(tu))
	}
	action := audit.MemberAdd
	if existed {
		action = audit.MemberRole
	}
	if err := audit.Record(ctx, tx, action, teamID, audit.Target{Type: "team_member", ID: userID, UserID: userID},
		map[string]any{"role": role, "billing": billing, "use_seat": useSeat}); err != nil {
		return nil, err
	}
	if !role.managesWorkspaces() {
		if err := s.tellNoLongerManager(ctx, tx, teamID, userID); err != nil {
			return nil, err
		}
	}
	return ops, bumpTeamWorkspaces(ctx, tx, teamID)
}

// ErrNoSeat says the team's subscription has no seat left.
var ErrNoSeat = errors.New("no seat left in the team's subscription")

// takeSeat checks that one more member (or, with invitations, one more open
// seat invitation) fits in the subscription. The subscription row is locked
// so that concurrent additions are counted one after the other.
func takeSeat(ctx context.Context, tx pgx.Tx, teamID string, countInvitations bool) error {
	var seats int
	err := tx.QueryRow(ctx, `SELECT seats FROM team_subscriptions
		WHERE team_id = $1 AND starts_at <= now() AND (ends_at IS NULL OR ends_at > now()) FOR UPDATE`, teamID).Scan(&seats)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("the team has no active subscription, so no seats: %w", ErrNoSeat)
	}
	if err != nil {
		return err
	}
	var used int
	err = tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM team_members WHERE team_id = $1 AND use_seat)
		+ CASE WHEN $2 THEN (SELECT count(*) FROM team_invitations WHERE team_id = $1 AND use_seat AND accepted_at IS NULL AND expires_at > now()) ELSE 0 END`,
		teamID, countInvitations).Scan(&used)
	if err != nil {
		return err
	}
	if used >= seats {
		return fmt.Errorf("all %d seats of the team's subscription are taken (open invitations count): %w", seats, ErrNoSeat)
	}
	return nil
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
		var role Role
		err = tx.QueryRow(ctx, `SELECT role FROM team_members WHERE team_id = $1 AND user_id = $2`, teamID, userID).Scan(&role)
		if err != nil {
			return nil, translate(err, "team member "+userID)
		}
		if role == RoleOwner {
			return nil, fmt.Errorf("the team's owner cannot be removed: %w", ErrInvalid)
		}
		ops, err := removeMember(ctx, tx, teamID, userID)
		if err != nil {
			return nil, err
		}
		if err := audit.Record(ctx, tx, audit.MemberRemove, teamID, audit.Target{Type: "team_member", ID: userID, UserID: userID}, nil); err != nil {
			return nil, err
		}
		if err := s.tellNoLongerManager(ctx, tx, teamID, userID); err != nil {
			return nil, err
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
	var billing, useSeat bool
	err := tx.QueryRow(ctx, `DELETE FROM team_members WHERE team_id = $1 AND user_id = $2 RETURNING role, billing, use_seat`,
		teamID, userID).Scan(&role, &billing, &useSeat)
	if err != nil {
		if err = translate(err, "team member"); errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	st, err := teamSeating(ctx, tx, teamID)
	if err != nil {
		return nil, err
	}
	var ops []authz.Op
	for _, tu := range append(memberTuples(teamID, userID, Role(role), billing), seatTuples(teamID, userID, useSeat, st)...) {
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
