package access

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caido-cloud/caido-cloud/authz"
)

// The functions below are the only places that turn a row into tuples. The
// changes in this package queue them and DesiredTuples rebuilds them, so the
// two can never disagree.

func memberTuples(teamID, userID string, role Role, billing bool) []authz.Tuple {
	ts := []authz.Tuple{{User: authz.UserObject(userID), Relation: string(role), Object: authz.TeamObject(teamID)}}
	if billing {
		ts = append(ts, authz.Tuple{User: authz.UserObject(userID), Relation: "billing_manager", Object: authz.TeamObject(teamID)})
	}
	return ts
}

// seating is what a team's seats hang on: whether its subscription is of a
// plan with seats (Team, Enterprise) and when it ends.
type seating struct {
	seats  bool
	endsAt *time.Time
}

// seatTuples is the seat a member holds: one while they use a seat of a
// subscription with seats, holding until the subscription ends.
func seatTuples(teamID, userID string, useSeat bool, s seating) []authz.Tuple {
	if !useSeat || !s.seats {
		return nil
	}
	return []authz.Tuple{{User: authz.UserObject(userID), Relation: "seat", Object: authz.TeamObject(teamID), ExpiresAt: s.endsAt}}
}

// seatsOffTuple is every team's: it gives each member a seat while the
// service runs with seats off (CAIDO_CLOUD_SEATS=off), so that the setting
// needs no tuple of its own to change.
func seatsOffTuple(teamID string) authz.Tuple {
	return authz.Tuple{User: authz.TeamMembers(teamID), Relation: "seat", Object: authz.TeamObject(teamID), WhileSeatsOff: true}
}

func workspaceOwnerTuple(workspaceID string, ownerUserID, ownerTeamID *string) authz.Tuple {
	if ownerTeamID != nil {
		return authz.Tuple{User: authz.TeamObject(*ownerTeamID), Relation: "owner_team", Object: authz.WorkspaceObject(workspaceID)}
	}
	return authz.Tuple{User: authz.UserObject(*ownerUserID), Relation: "owner_user", Object: authz.WorkspaceObject(workspaceID)}
}

func instanceTuples(instanceID string, workspaceID, claimedBy *string, assistantEnabled bool) []authz.Tuple {
	var ts []authz.Tuple
	obj := authz.InstanceObject(instanceID)
	if workspaceID != nil {
		ts = append(ts, authz.Tuple{User: authz.WorkspaceObject(*workspaceID), Relation: "workspace", Object: obj})
	}
	if claimedBy != nil {
		ts = append(ts, authz.Tuple{User: authz.UserObject(*claimedBy), Relation: "claimant", Object: obj})
	}
	if !assistantEnabled {
		ts = append(ts, authz.Tuple{User: "user:*", Relation: "assistant_blocked", Object: obj})
	}
	return ts
}

func grantTuple(instanceID string, to Grantee, expiresAt *time.Time) authz.Tuple {
	t := authz.Tuple{Relation: "grantee", Object: authz.InstanceObject(instanceID), ExpiresAt: expiresAt}
	if to.TeamID != "" {
		t.User = authz.TeamMembers(to.TeamID)
	} else {
		t.User = authz.UserObject(to.UserID)
	}
	return t
}

// DesiredTuples returns every tuple that the access rows imply: what OpenFGA
// must hold once the outbox is drained. `caido-cloud fga reconcile` compares
// OpenFGA against it.
func DesiredTuples(ctx context.Context, db *pgxpool.Pool) ([]authz.Tuple, error) {
	type member struct {
		TeamID, UserID, Role string
		Billing, Seat        bool
		SeatEnds             *time.Time
	}
	type workspace struct {
		ID                   string
		OwnerUser, OwnerTeam *string
	}
	type instance struct {
		ID                     string
		WorkspaceID, ClaimedBy *string
		AssistantEnabled       bool
	}
	type grant struct {
		InstanceID, UserID, TeamID string
		ExpiresAt                  *time.Time
	}
	var out []authz.Tuple
	err := collect(ctx, db, &out, `SELECT m.team_id::text, m.user_id::text, m.role, m.billing, m.use_seat AND coalesce(p.has_seats, false), s.ends_at
		FROM team_members m LEFT JOIN team_subscriptions s ON s.team_id = m.team_id LEFT JOIN plans p ON p.name = s.plan`,
		func(m member) []authz.Tuple {
			return append(memberTuples(m.TeamID, m.UserID, Role(m.Role), m.Billing),
				seatTuples(m.TeamID, m.UserID, m.Seat, seating{seats: m.Seat, endsAt: m.SeatEnds})...)
		})
	if err == nil {
		err = collect(ctx, db, &out, `SELECT id::text FROM teams`,
			func(t struct{ ID string }) []authz.Tuple { return []authz.Tuple{seatsOffTuple(t.ID)} })
	}
	if err == nil {
		err = collect(ctx, db, &out, `SELECT id::text, owner_user_id::text, owner_team_id::text FROM workspaces`,
			func(w workspace) []authz.Tuple {
				return []authz.Tuple{workspaceOwnerTuple(w.ID, w.OwnerUser, w.OwnerTeam)}
			})
	}
	if err == nil {
		err = collect(ctx, db, &out, `SELECT id::text, workspace_id::text, claimed_by::text, assistant_enabled FROM instances`,
			func(i instance) []authz.Tuple {
				return instanceTuples(i.ID, i.WorkspaceID, i.ClaimedBy, i.AssistantEnabled)
			})
	}
	if err == nil {
		err = collect(ctx, db, &out, `SELECT instance_id::text, coalesce(user_id::text, ''), coalesce(team_id::text, ''), expires_at FROM instance_grants`,
			func(g grant) []authz.Tuple {
				return []authz.Tuple{grantTuple(g.InstanceID, Grantee{UserID: g.UserID, TeamID: g.TeamID}, g.ExpiresAt)}
			})
	}
	return out, err
}

// collect appends the tuples of every row of query, scanned by position into T.
func collect[T any](ctx context.Context, db *pgxpool.Pool, out *[]authz.Tuple, query string, tuples func(T) []authz.Tuple) error {
	rows, err := db.Query(ctx, query)
	if err != nil {
		return err
	}
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[T])
	if err != nil {
		return err
	}
	for _, row := range all {
		*out = append(*out, tuples(row)...)
	}
	return nil
}
