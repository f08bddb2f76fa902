package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caido-cloud/caido-cloud/audit"

	"github.com/jackc/pgx/v5"

	"github.com/caido-cloud/caido-cloud/authz"
)

// DefaultInvitationLifetime is how long an invitation link works.
const DefaultInvitationLifetime = 7 * 24 * time.Hour

// ErrExpired is an invitation past its expiry.
var ErrExpired = errors.New("expired")

// Invitation is an open invitation to join a team.
type Invitation struct {
	ID        string    `json:"id"`
	TeamID    string    `json:"team_id"`
	TeamName  string    `json:"team_name"`
	Email     string    `json:"email"`
	Role      Role      `json:"role"`
	UseSeat   bool      `json:"use_seat"`
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Expired says whether the invitation can no longer be accepted.
func (i Invitation) Expired(now time.Time) bool { return !now.Before(i.ExpiresAt) }

// Invite creates an invitation and returns it with the token for the link in
// the mail (shown nowhere else; only its SHA-256 is kept). An open
// invitation to the same address is replaced. A seat is held for it when
// useSeat is set, so invitations cannot promise more seats than there are.
func (s *Service) Invite(ctx context.Context, teamID, email string, role Role, useSeat bool, lifetime time.Duration) (Invitation, string, error) {
	email = strings.TrimSpace(email)
	if !isAddress(email) {
		return Invitation{}, "", fmt.Errorf("email %q is not an address: %w", email, ErrInvalid)
	}
	if role != RoleAdmin && role != RoleMember {
		return Invitation{}, "", fmt.Errorf("role %q is not admin or member: %w", role, ErrInvalid)
	}
	if lifetime <= 0 {
		lifetime = DefaultInvitationLifetime
	}
	token, hash, err := newSecret()
	if err != nil {
		return Invitation{}, "", err
	}
	inv := Invitation{TeamID: teamID, Email: email, Role: role, UseSeat: useSeat}
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT name FROM teams WHERE id = $1 FOR UPDATE`, teamID).Scan(&inv.TeamName)
		if err != nil {
			return translate(err, "team "+teamID)
		}
		var member bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM team_members m JOIN users u ON u.id = m.user_id
			WHERE m.team_id = $1 AND lower(u.email) = lower($2))`, teamID, email).Scan(&member); err != nil {
			return err
		}
		if member {
			return fmt.Errorf("%s is already a member of the team: %w", email, ErrConflict)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM team_invitations WHERE team_id = $1 AND lower(email) = lower($2) AND accepted_at IS NULL`,
			teamID, email); err != nil {
			return err
		}
		if useSeat {
			if err := takeSeat(ctx, tx, teamID, true); err != nil {
				return err
			}
		}
		actor := audit.ActorFrom(ctx)
		err = tx.QueryRow(ctx, `INSERT INTO team_invitations (team_id, email, role, use_seat, token_hash, invited_by, expires_at)
			VALUES ($1, $2, $3, $4, $5, nullif($6, '')::uuid, now() + $7::interval)
			RETURNING id::text, expires_at, created_at, updated_at`,
			teamID, email, role, useSeat, hash, actor.UserID, lifetime).Scan(&inv.ID, &inv.ExpiresAt, &inv.CreatedAt, &inv.UpdatedAt)
		if err != nil {
			return translate(err, "invitation")
		}
		return audit.Record(ctx, tx, audit.Invite, teamID, audit.Target{Type: "invitation", ID: inv.ID},
			map[string]any{"email": email, "role": role, "use_seat": useSeat})
	})
	if err != nil {
		return Invitation{}, "", err
	}
	return inv, token, nil
}

const invitationCols = `i.id::text, i.team_id::text, t.name, i.email, i.role, i.use_seat, i.expires_at, i.created_at, i.updated_at`

func scanInvitation(r pgx.CollectableRow) (Invitation, error) {
	var i Invitation
	err := r.Scan(&i.ID, &i.TeamID, &i.TeamName, &i.Email, &i.Role, &i.UseSeat, &i.ExpiresAt, &i.CreatedAt, &i.UpdatedAt)
	return i, err
}

// Invitations lists a team's invitations not yet accepted, expired ones
// included (the admin sees them and may send a new one).
func (s *Service) Invitations(ctx context.Context, teamID string) ([]Invitation, error) {
	rows, err := s.db.Query(ctx, `SELECT `+invitationCols+` FROM team_invitations i JOIN teams t ON t.id = i.team_id
		WHERE i.team_id = $1 AND i.accepted_at IS NULL ORDER BY i.created_at, i.id`, teamID)
	if err != nil {
		return nil, translate(err, "invitations")
	}
	return pgx.CollectRows(rows, scanInvitation)
}

// DeleteInvitation withdraws an open invitation of the team.
func (s *Service) DeleteInvitation(ctx context.Context, teamID, invitationID string) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM team_invitations WHERE id = $1 AND team_id = $2 AND accepted_at IS NULL`, invitationID, teamID)
		if err != nil {
			return translate(err, "invitation "+invitationID)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("invitation %s: %w", invitationID, ErrNotFound)
		}
		return audit.Record(ctx, tx, audit.InviteDelete, teamID, audit.Target{Type: "invitation", ID: invitationID}, nil)
	})
}

// InvitationByToken finds the open invitation a link's token names.
func (s *Service) InvitationByToken(ctx context.Context, token string) (Invitation, error) {
	rows, err := s.db.Query(ctx, `SELECT `+invitationCols+` FROM team_invitations i JOIN teams t ON t.id = i.team_id
		WHERE i.token_hash = $1 AND i.accepted_at IS NULL`, hashSecret(token))
	if err != nil {
		return Invitation{}, err
	}
	inv, err := pgx.CollectExactlyOneRow(rows, scanInvitation)
	if err != nil {
		return Invitation{}, translate(err, "invitation")
	}
	return inv, nil
}

// AcceptInvitation makes userID a member as the invitation says. The
// account's email must be the invited address; the link works once.
func (s *Service) AcceptInvitation(ctx context.Context, token, userID string) (Invitation, Change, error) {
	var inv Invitation
	ch, err := s.change(ctx, func(tx pgx.Tx) ([]authz.Op, error) {
		rows, err := tx.Query(ctx, `SELECT `+invitationCols+` FROM team_invitations i JOIN teams t ON t.id = i.team_id
			WHERE i.token_hash = $1 AND i.accepted_at IS NULL FOR UPDATE OF i`, hashSecret(token))
		if err != nil {
			return nil, err
		}
		if inv, err = pgx.CollectExactlyOneRow(rows, scanInvitation); err != nil {
			return nil, translate(err, "invitation")
		}
		if inv.Expired(time.Now()) {
			return nil, fmt.Errorf("the invitation expired on %s: %w", inv.ExpiresAt.UTC().Format(time.DateOnly), ErrExpired)
		}
		var matches, member bool
		if err := tx.QueryRow(ctx, `SELECT lower(email) = lower($2),
				EXISTS (SELECT 1 FROM team_members WHERE team_id = $3 AND user_id = $1)
			FROM users WHERE id = $1`, userID, inv.Email, inv.TeamID).Scan(&matches, &member); err != nil {
			return nil, translate(err, "user "+userID)
		}
		if !matches {
			return nil, fmt.Errorf("the invitation is for %s; sign in with that address to accept it: %w", inv.Email, ErrInvalid)
		}
		if member {
			return nil, fmt.Errorf("you are already a member of %s: %w", inv.TeamName, ErrConflict)
		}
		// The seat was counted when the invitation was made; it becomes a
		// member's seat now (the invitation stops counting once accepted).
		if _, err := tx.Exec(ctx, `UPDATE team_invitations SET accepted_at = now(), accepted_by = $2, updated_at = now() WHERE id = $1`,
			inv.ID, userID); err != nil {
			return nil, err
		}
		ops, err := s.putMember(ctx, tx, inv.TeamID, userID, inv.Role, false, inv.UseSeat)
		if err != nil {
			return nil, err
		}
		return ops, audit.Record(ctx, tx, audit.InviteAccept, inv.TeamID, audit.Target{Type: "invitation", ID: inv.ID, UserID: userID}, nil)
	})
	return inv, ch, err
}

// newSecret returns a random token for a link and the SHA-256 kept of it.
func newSecret() (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	return token, hashSecret(token), nil
}

func hashSecret(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
