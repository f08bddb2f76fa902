package access

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caido-cloud/caido-cloud/authz"
)

// Account is a user as the public API shows them.
type Account struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Account reads a user.
func (s *Service) Account(ctx context.Context, userID string) (Account, error) {
	a := Account{ID: userID}
	err := s.db.QueryRow(ctx, `SELECT email, name, created_at, updated_at FROM users WHERE id = $1`, userID).
		Scan(&a.Email, &a.Name, &a.CreatedAt, &a.UpdatedAt)
	return a, translate(err, "user "+userID)
}

// AccountByEmail finds a user by address, compared case-insensitively.
func (s *Service) AccountByEmail(ctx context.Context, email string) (Account, error) {
	var a Account
	err := s.db.QueryRow(ctx, `SELECT id::text, email, name, created_at, updated_at FROM users WHERE lower(email) = lower($1)`, email).
		Scan(&a.ID, &a.Email, &a.Name, &a.CreatedAt, &a.UpdatedAt)
	return a, translate(err, "user "+email)
}

// TeamInfo is a team with its timestamps.
type TeamInfo struct {
	Team
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Membership is a user's place in a team.
type Membership struct {
	Team    TeamInfo `json:"team"`
	Role    Role     `json:"role"`
	Billing bool     `json:"billing"`
	UseSeat bool     `json:"use_seat"`
}

// Memberships lists the teams userID belongs to, oldest membership first.
func (s *Service) Memberships(ctx context.Context, userID string) ([]Membership, error) {
	rows, err := s.db.Query(ctx, `SELECT t.id::text, t.name, t.billing_email, w.id::text, t.created_at, t.updated_at, m.role, m.billing, m.use_seat
		FROM team_members m JOIN teams t ON t.id = m.team_id
		JOIN workspaces w ON w.owner_team_id = t.id AND w.is_default
		WHERE m.user_id = $1 ORDER BY m.created_at, t.id`, userID)
	if err != nil {
		return nil, translate(err, "teams of user "+userID)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Membership, error) {
		var m Membership
		err := r.Scan(&m.Team.ID, &m.Team.Name, &m.Team.BillingEmail, &m.Team.DefaultWorkspaceID,
			&m.Team.CreatedAt, &m.Team.UpdatedAt, &m.Role, &m.Billing, &m.UseSeat)
		return m, err
	})
}

// Member is one member of a team.
type Member struct {
	UserID    string    `json:"user_id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	Billing   bool      `json:"billing"`
	UseSeat   bool      `json:"use_seat"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Members lists a team's members, owner first.
func (s *Service) Members(ctx context.Context, teamID string) ([]Member, error) {
	rows, err := s.db.Query(ctx, `SELECT u.id::text, u.email, u.name, m.role, m.billing, m.use_seat, m.created_at, m.updated_at
		FROM team_members m JOIN users u ON u.id = m.user_id
		WHERE m.team_id = $1 ORDER BY m.role = 'owner' DESC, m.created_at, u.id`, teamID)
	if err != nil {
		return nil, translate(err, "members of team "+teamID)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Member, error) {
		var m Member
		err := r.Scan(&m.UserID, &m.Email, &m.Name, &m.Role, &m.Billing, &m.UseSeat, &m.CreatedAt, &m.UpdatedAt)
		return m, err
	})
}

// Subscription is a team's subscription with the seats in use.
type Subscription struct {
	ID        string     `json:"id"`
	TeamID    string     `json:"team_id"`
	Plan      string     `json:"plan"`
	PlanName  string     `json:"plan_name"`
	Seats     int        `json:"seats"`
	SeatsUsed int        `json:"seats_used"`
	Trial     bool       `json:"trial"`
	StartsAt  time.Time  `json:"starts_at"`
	EndsAt    *time.Time `json:"ends_at"`
	PausesAt  *time.Time `json:"pauses_at"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// TeamSubscription returns the team's subscription; ErrNotFound when it has
// none.
func (s *Service) TeamSubscription(ctx context.Context, teamID string) (Subscription, error) {
	sub := Subscription{TeamID: teamID}
	err := s.db.QueryRow(ctx, `SELECT s.id::text, s.plan, p.display_name, s.seats,
			(SELECT count(*) FROM team_members WHERE team_id = s.team_id AND use_seat),
			s.trial, s.starts_at, s.ends_at, s.pauses_at, s.created_at, s.updated_at
		FROM team_subscriptions s JOIN plans p ON p.name = s.plan WHERE s.team_id = $1`, teamID).
		Scan(&sub.ID, &sub.Plan, &sub.PlanName, &sub.Seats, &sub.SeatsUsed, &sub.Trial, &sub.StartsAt, &sub.EndsAt, &sub.PausesAt, &sub.CreatedAt, &sub.UpdatedAt)
	return sub, translate(err, "subscription of team "+teamID)
}

// SetTeamSubscription creates or replaces a team's subscription (an
// operator's act: billing happens elsewhere). Fewer seats than members use
// is refused. The seats of the members who use one follow the new plan and
// end: their tuples are rewritten in the same transaction, and those who
// lost the team's instances by it lose their sessions there.
func (s *Service) SetTeamSubscription(ctx context.Context, teamID, plan string, seats int, trial bool, endsAt *time.Time) (Subscription, error) {
	if seats < 0 {
		return Subscription{}, fmt.Errorf("seats must be 0 or more: %w", ErrInvalid)
	}
	var seated, instances []string
	_, err := s.change(ctx, func(tx pgx.Tx) ([]authz.Op, error) {
		// Locks the row (when there is one) before the members are read, so
		// that no seat is taken or given up meanwhile (teamSeating).
		was, err := teamSeatingForUpdate(ctx, tx, teamID)
		if err != nil {
			return nil, err
		}
		rows, err := tx.Query(ctx, `SELECT user_id::text FROM team_members WHERE team_id = $1 AND use_seat ORDER BY user_id`, teamID)
		if err != nil {
			return nil, translate(err, "team "+teamID)
		}
		if seated, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return nil, err
		}
		if len(seated) > seats {
			return nil, fmt.Errorf("%d members use a seat; free seats before lowering to %d: %w", len(seated), seats, ErrInvalid)
		}
		_, err = tx.Exec(ctx, `INSERT INTO team_subscriptions (team_id, plan, seats, trial, ends_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (team_id) DO UPDATE SET plan = $2, seats = $3, trial = $4, ends_at = $5, updated_at = now()`,
			teamID, plan, seats, trial, endsAt)
		if err != nil {
			return nil, translate(err, "subscription of team "+teamID+" (is "+plan+" a plan?)")
		}
		now, err := teamSeating(ctx, tx, teamID)
		if err != nil {
			return nil, err
		}
		var ops []authz.Op
		for _, u := range seated {
			before, after := seatTuples(teamID, u, true, was), seatTuples(teamID, u, true, now)
			if len(before) == len(after) && (len(before) == 0 || before[0].SameCondition(after[0])) {
				continue
			}
			for _, t := range before {
				ops = append(ops, authz.Delete(t))
			}
			for _, t := range after {
				ops = append(ops, authz.Write(t))
			}
		}
		if len(ops) > 0 {
			if instances, err = teamInstances(ctx, tx, teamID); err != nil {
				return nil, err
			}
			return ops, bumpTeamWorkspaces(ctx, tx, teamID)
		}
		seated = nil
		return nil, nil
	})
	if err != nil {
		return Subscription{}, err
	}
	for _, u := range seated {
		s.tellAccessRemoved(ctx, u, instances)
	}
	return s.TeamSubscription(ctx, teamID)
}

// teamSeatingForUpdate is teamSeating for the change of the subscription
// itself.
func teamSeatingForUpdate(ctx context.Context, tx pgx.Tx, teamID string) (seating, error) {
	var st seating
	err := tx.QueryRow(ctx, `SELECT p.has_seats, s.ends_at FROM team_subscriptions s JOIN plans p ON p.name = s.plan
		WHERE s.team_id = $1 FOR UPDATE OF s`, teamID).Scan(&st.seats, &st.endsAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return seating{}, nil
	}
	return st, err
}

// Workspace is a workspace with its owner.
type Workspace struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	OwnerUserID string `json:"owner_user_id,omitempty"`
	OwnerTeamID string `json:"owner_team_id,omitempty"`
	Generation  int64  `json:"generation"`
}

// Workspace reads a workspace.
func (s *Service) Workspace(ctx context.Context, id string) (Workspace, error) {
	w := Workspace{ID: id}
	err := s.db.QueryRow(ctx, `SELECT name, coalesce(owner_user_id::text, ''), coalesce(owner_team_id::text, ''), generation
		FROM workspaces WHERE id = $1`, id).Scan(&w.Name, &w.OwnerUserID, &w.OwnerTeamID, &w.Generation)
	return w, translate(err, "workspace "+id)
}

// DefaultWorkspace is the id of userID's own Default workspace, which every
// user has from sign-up on.
func (s *Service) DefaultWorkspace(ctx context.Context, userID string) (string, error) {
	return DefaultWorkspaceOf(ctx, s.db, userID)
}

// DefaultWorkspaceOf is DefaultWorkspace for packages that hold the
// database, not an access.Service (regkeys).
func DefaultWorkspaceOf(ctx context.Context, db queryRower, userID string) (string, error) {
	var id string
	err := db.QueryRow(ctx, `SELECT id::text FROM workspaces WHERE owner_user_id = $1 AND is_default`, userID).Scan(&id)
	return id, translate(err, "the Default workspace of user "+userID)
}

// queryRower is a pool or a transaction.
type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// TeamDefaultWorkspace is the id of teamID's Default workspace.
func (s *Service) TeamDefaultWorkspace(ctx context.Context, teamID string) (string, error) {
	var id string
	err := s.db.QueryRow(ctx, `SELECT id::text FROM workspaces WHERE owner_team_id = $1 AND is_default`, teamID).Scan(&id)
	return id, translate(err, "the Default workspace of team "+teamID)
}
