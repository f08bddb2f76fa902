package access

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/caido-cloud/caido-cloud/audit"

	"github.com/jackc/pgx/v5"

	"github.com/caido-cloud/caido-cloud/authz"
)

// DeleteAccount removes a person and what is theirs, on their request:
//
//   - their account, password, web sessions, personal access tokens, sign-in
//     sessions and refresh tokens on every instance, assistant balances and
//     usage rows, registration keys they made (ON DELETE CASCADE);
//   - their Default workspace and the instances in it (those instances'
//     credentials stop working; an instance can register again);
//   - teams where they are the only member, with those teams' instances;
//   - their memberships and the grants made to them.
//
// Instances they claimed into a team workspace stay the team's. A team they
// own with other members passes to its longest-standing admin; with no
// admin, deletion is refused until the owner makes one. Audit entries they
// wrote stay, with the actor shown as "deleted user".
func (s *Service) DeleteAccount(ctx context.Context, userID string) (Change, error) {
	return s.change(ctx, func(tx pgx.Tx) ([]authz.Op, error) {
		var email string
		if err := tx.QueryRow(ctx, `SELECT email FROM users WHERE id = $1 FOR UPDATE`, userID).Scan(&email); err != nil {
			return nil, translate(err, "user "+userID)
		}
		// Recorded first, while the actor row still exists.
		if err := audit.Record(ctx, tx, audit.UserDelete, "", audit.Target{Type: "user", ID: userID}, nil); err != nil {
			return nil, err
		}
		var ops []authz.Op
		teamOps, doomedWorkspaces, emptyTeams, err := leaveTeams(ctx, tx, userID)
		if err != nil {
			return nil, err
		}
		ops = append(ops, teamOps...)

		rows, err := tx.Query(ctx, `SELECT id::text FROM workspaces WHERE owner_user_id = $1`, userID)
		if err != nil {
			return nil, err
		}
		personal, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		for _, ws := range personal {
			ops = append(ops, authz.Delete(workspaceOwnerTuple(ws, &userID, nil)))
		}
		doomedWorkspaces = append(doomedWorkspaces, personal...)
		rows, err = tx.Query(ctx, `SELECT id::text FROM instances WHERE workspace_id = ANY($1::uuid[])`, doomedWorkspaces)
		if err != nil {
			return nil, err
		}
		doomed, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		for _, id := range doomed {
			more, err := deleteInstance(ctx, tx, id)
			if err != nil {
				return nil, err
			}
			ops = append(ops, more...)
		}

		// Grants made to them on other instances.
		grants, err := tx.Query(ctx, `DELETE FROM instance_grants WHERE user_id = $1 RETURNING instance_id::text, expires_at`, userID)
		if err != nil {
			return nil, err
		}
		type grant struct {
			instance string
			at       *time.Time
		}
		gs, err := pgx.CollectRows(grants, func(r pgx.CollectableRow) (grant, error) {
			var g grant
			return g, r.Scan(&g.instance, &g.at)
		})
		if err != nil {
			return nil, err
		}
		for _, g := range gs {
			ops = append(ops, authz.Delete(grantTuple(g.instance, Grantee{UserID: userID}, g.at)))
		}
		// The claimant relation of instances that stay (ON DELETE SET NULL
		// clears the column).
		rows, err = tx.Query(ctx, `SELECT id::text FROM instances WHERE claimed_by = $1`, userID)
		if err != nil {
			return nil, err
		}
		claimed, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		for _, id := range claimed {
			ops = append(ops, authz.Delete(authz.Tuple{User: authz.UserObject(userID), Relation: "claimant", Object: authz.InstanceObject(id)}))
		}
		if _, err := tx.Exec(ctx, `UPDATE audit_log SET actor_label = 'deleted user' WHERE actor_user_id = $1`, userID); err != nil {
			return nil, err
		}
		// After their instances: a workspace cannot go while it holds one.
		if _, err := tx.Exec(ctx, `DELETE FROM workspaces WHERE owner_user_id = $1`, userID); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM teams WHERE id = ANY($1::uuid[])`, emptyTeams); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, userID); err != nil {
			return nil, err
		}
		return ops, nil
	})
}

// leaveTeams ends every membership of userID, hands owned teams on, deletes
// the teams left empty, and returns the tuple deletes, the workspaces of the
// teams left empty and those teams (the caller deletes their instances, then
// them: a workspace cannot go while it holds an instance).
// TeamFate is what deleting an account does to one of its teams, as
// DeleteAccount will do it.
type TeamFate struct {
	Team TeamInfo
	Role Role
	// Others is how many other members the team has: with none, the team
	// goes with the account.
	Others int
	// Successor is, for a team the account owns, the longest-standing
	// other admin, who will own it; nil when there is none, and then the
	// deletion is refused.
	Successor *Member
}

// Deleted says whether the team goes with the account.
func (f TeamFate) Deleted() bool { return f.Others == 0 }

// Blocked says whether the team stops the deletion: owned, with other
// members and no admin among them.
func (f TeamFate) Blocked() bool { return !f.Deleted() && f.Role == RoleOwner && f.Successor == nil }

// DeletionPreview says what DeleteAccount would do now to each team of the
// user's, so that the settings page shows the rule that deletion applies.
func (s *Service) DeletionPreview(ctx context.Context, userID string) ([]TeamFate, error) {
	return teamFates(ctx, s.db, userID, "")
}

// teamFates reads the user's teams with their fates; lock is appended to
// the query (FOR UPDATE OF m within a deletion).
func teamFates(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, userID, lock string) ([]TeamFate, error) {
	rows, err := q.Query(ctx, `SELECT m.team_id::text, t.name, m.role,
			(SELECT count(*) FROM team_members o WHERE o.team_id = m.team_id AND o.user_id <> m.user_id),
			s.user_id::text, s.name, s.email
		FROM team_members m JOIN teams t ON t.id = m.team_id
		LEFT JOIN LATERAL (SELECT o.user_id, u.name, u.email FROM team_members o JOIN users u ON u.id = o.user_id
			WHERE o.team_id = m.team_id AND o.user_id <> m.user_id AND o.role = 'admin'
			ORDER BY o.created_at, o.user_id LIMIT 1) s ON m.role = 'owner'
		WHERE m.user_id = $1 ORDER BY t.name, t.id `+lock, userID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (TeamFate, error) {
		var f TeamFate
		var id, name, email *string
		if err := r.Scan(&f.Team.ID, &f.Team.Name, &f.Role, &f.Others, &id, &name, &email); err != nil {
			return f, err
		}
		if id != nil {
			f.Successor = &Member{UserID: *id, Name: *name, Email: *email, Role: RoleAdmin}
		}
		return f, nil
	})
}

func leaveTeams(ctx context.Context, tx pgx.Tx, userID string) (ops []authz.Op, doomed, empty []string, err error) {
	ms, err := teamFates(ctx, tx, userID, "FOR UPDATE OF m")
	if err != nil {
		return nil, nil, nil, err
	}
	for _, m := range ms {
		more, err := removeMember(ctx, tx, m.Team.ID, userID)
		if err != nil {
			return nil, nil, nil, err
		}
		ops = append(ops, more...)
		switch {
		case m.Deleted():
			rows, err := tx.Query(ctx, `SELECT id::text FROM workspaces WHERE owner_team_id = $1`, m.Team.ID)
			if err != nil {
				return nil, nil, nil, err
			}
			ws, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return nil, nil, nil, err
			}
			for _, w := range ws {
				ops = append(ops, authz.Delete(workspaceOwnerTuple(w, nil, &m.Team.ID)))
			}
			ops = append(ops, authz.Delete(seatsOffTuple(m.Team.ID)))
			doomed = append(doomed, ws...)
			grants, err := tx.Query(ctx, `DELETE FROM instance_grants WHERE team_id = $1 RETURNING instance_id::text, expires_at`, m.Team.ID)
			if err != nil {
				return nil, nil, nil, err
			}
			for grants.Next() {
				var instance string
				var at *time.Time
				if err := grants.Scan(&instance, &at); err != nil {
					grants.Close()
					return nil, nil, nil, err
				}
				ops = append(ops, authz.Delete(grantTuple(instance, Grantee{TeamID: m.Team.ID}, at)))
			}
			if err := grants.Err(); err != nil {
				return nil, nil, nil, err
			}
			empty = append(empty, m.Team.ID)
		case m.Role == RoleOwner:
			if m.Successor == nil {
				return nil, nil, nil, fmt.Errorf("you own the team %q and it has no other admin: make a member admin first, and they will own it: %w", m.Team.Name, ErrConflict)
			}
			var billing bool
			err := tx.QueryRow(ctx, `UPDATE team_members SET role = 'owner', billing = true, updated_at = now() WHERE team_id = $1 AND user_id = $2
				RETURNING (SELECT billing FROM team_members WHERE team_id = $1 AND user_id = $2)`, m.Team.ID, m.Successor.UserID).Scan(&billing)
			if err != nil {
				return nil, nil, nil, err
			}
			for _, tu := range memberTuples(m.Team.ID, m.Successor.UserID, RoleAdmin, billing) {
				ops = append(ops, authz.Delete(tu))
			}
			for _, tu := range memberTuples(m.Team.ID, m.Successor.UserID, RoleOwner, true) {
				ops = append(ops, authz.Write(tu))
			}
			if err := bumpTeamWorkspaces(ctx, tx, m.Team.ID); err != nil {
				return nil, nil, nil, err
			}
		default:
			if err := bumpTeamWorkspaces(ctx, tx, m.Team.ID); err != nil {
				return nil, nil, nil, err
			}
		}
	}
	return ops, doomed, empty, nil
}

// Export is everything the service keeps about a person, as JSON for them
// to download (the data-collection statement's right of access). It holds
// no secret: password hashes, token hashes and session ids are left out.
func (s *Service) Export(ctx context.Context, userID string) (json.RawMessage, error) {
	var out json.RawMessage
	err := s.db.QueryRow(ctx, `SELECT json_build_object(
		'exported_at', now(),
		'user', (SELECT json_build_object('id', id, 'email', email, 'name', name, 'plan', plan, 'plan_ends_at', plan_ends_at,
			'email_verified_at', email_verified_at, 'signup_user_agent', signup_user_agent, 'created_at', created_at) FROM users WHERE id = $1),
		'teams', coalesce((SELECT json_agg(json_build_object('team_id', m.team_id, 'team_name', t.name, 'role', m.role,
			'billing', m.billing, 'use_seat', m.use_seat, 'since', m.created_at)) FROM team_members m JOIN teams t ON t.id = m.team_id WHERE m.user_id = $1), '[]'),
		'workspaces', coalesce((SELECT json_agg(json_build_object('id', id, 'name', name, 'created_at', created_at)) FROM workspaces WHERE owner_user_id = $1), '[]'),
		'instances_claimed', coalesce((SELECT json_agg(json_build_object('id', id, 'name', name, 'workspace_id', workspace_id, 'claimed_at', claimed_at))
			FROM instances WHERE claimed_by = $1), '[]'),
		'grants_received', coalesce((SELECT json_agg(json_build_object('instance_id', instance_id, 'expires_at', expires_at, 'created_at', created_at))
			FROM instance_grants WHERE user_id = $1), '[]'),
		'instance_sessions', coalesce((SELECT json_agg(json_build_object('instance_id', instance_id, 'scopes', scopes, 'created_at', created_at,
			'revoked_at', revoked_at)) FROM sessions WHERE user_id = $1), '[]'),
		'session_pings', coalesce((SELECT json_agg(json_build_object('instance_id', instance_id, 'ip', host(ip), 'at', at) ORDER BY at)
			FROM session_pings WHERE user_id = $1), '[]'),
		'browser_sessions', coalesce((SELECT json_agg(json_build_object('started', created_at, 'until', expires_at, 'user_agent', user_agent,
			'ip', host(ip)) ORDER BY created_at) FROM web_sessions WHERE user_id = $1), '[]'),
		'known_browsers', coalesce((SELECT json_agg(json_build_object('first_sign_in', created_at, 'last_sign_in', last_used_at) ORDER BY created_at)
			FROM known_devices WHERE user_id = $1), '[]'),
		'personal_access_tokens', coalesce((SELECT json_agg(json_build_object('id', id, 'name', name, 'created_at', created_at,
			'expires_at', expires_at, 'last_used_at', last_used_at, 'revoked_at', revoked_at)) FROM personal_access_tokens WHERE user_id = $1), '[]'),
		'assistant_usage', coalesce((SELECT json_agg(json_build_object('instance_id', instance_id, 'model', model_id, 'prompt_tokens', prompt_tokens,
			'completion_tokens', completion_tokens, 'credits', credits, 'at', created_at) ORDER BY created_at) FROM assistant_usage WHERE user_id = $1), '[]'),
		'audit_log', coalesce((SELECT json_agg(json_build_object('action', action, 'target_type', target_type, 'target_id', target_id,
			'ip', host(ip), 'at', created_at) ORDER BY id) FROM audit_log WHERE actor_user_id = $1 OR target_user_id = $1), '[]')
	)`, userID).Scan(&out)
	if err != nil {
		return nil, translate(err, "export of user "+userID)
	}
	return out, nil
}
