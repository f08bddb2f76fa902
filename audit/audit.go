// Package audit is the audit log: who changed what, when, from where. Each
// change of access records its entry in its own transaction (Record), so
// that the entry exists exactly when the change does; the actor travels in
// the context (WithActor). Reading applies who may see a client address.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Actor is who makes a change: a signed-in user (from a page, a personal
// access token or an access token) or the operator at the CLI. It travels in
// the context so that every change records it without each call passing it.
type Actor struct {
	// UserID is empty for the operator, and for an instance acting as
	// itself.
	UserID string
	// Label names an actor that is no user ("instance <client id>"); with
	// neither UserID nor Label the actor is the operator.
	Label string
	// IP is the client address as the server decided it (trusted proxies
	// applied); invalid when there is none (the CLI).
	IP netip.Addr
}

type actorKey struct{}

// WithActor returns ctx carrying the actor of the changes made with it.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the context's actor; the zero Actor is the operator.
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}

// Actions, one per kind of change of access.
const (
	Claim            = "instance.claim"
	InstanceRename   = "instance.rename"
	InstanceMove     = "instance.move"
	InstanceDelete   = "instance.delete"
	CredentialsReset = "instance.credentials_reset"
	AssistantToggle  = "instance.assistant"
	Grant            = "grant.create"
	Revoke           = "grant.revoke"
	TeamCreate       = "team.create"
	MemberAdd        = "member.add"
	MemberRole       = "member.role"
	MemberRemove     = "member.remove"
	Invite           = "invitation.create"
	InviteDelete     = "invitation.delete"
	InviteAccept     = "invitation.accept"
	KeyCreate        = "registration_key.create"
	KeyRevoke        = "registration_key.revoke"
	PATCreate        = "pat.create"
	PATRevoke        = "pat.revoke"
	UserDelete       = "user.delete"
	VoucherClaim     = "voucher.claim"
	// SharePending is a share by email waiting for its address; when it
	// becomes the grant, that is a Grant like any other.
	SharePending  = "grant.pending"
	ShareWithdraw = "grant.pending_withdraw"
)

// Entry is one recorded change.
type Entry struct {
	ID           int64           `json:"id"`
	TeamID       *string         `json:"team_id"`
	ActorUserID  *string         `json:"actor_user_id"`
	ActorLabel   string          `json:"actor"`
	Action       string          `json:"action"`
	TargetType   string          `json:"target_type"`
	TargetID     string          `json:"target_id"`
	TargetUserID *string         `json:"target_user_id"`
	Detail       json.RawMessage `json:"detail"`
	IP           *string         `json:"ip"`
	CreatedAt    time.Time       `json:"created_at"`
}

// Target is what a change was done to.
type Target struct {
	Type string
	ID   string
	// UserID is the user the change concerns, when there is one (the grantee,
	// the member), so they see it in their own log.
	UserID string
}

// Record writes an audit entry in tx, so that it exists exactly when the
// change does. teamID is the team whose admins see it ("" for none); detail
// must hold no secret.
func Record(ctx context.Context, tx pgx.Tx, action, teamID string, target Target, detail map[string]any) error {
	actor := ActorFrom(ctx)
	var actorID *string
	if actor.UserID != "" {
		actorID = &actor.UserID
	}
	var ip *string
	if actor.IP.IsValid() {
		s := actor.IP.String()
		ip = &s
	}
	if detail == nil {
		detail = map[string]any{}
	}
	// The actor's label is their email at the time, read in the same
	// statement; the operator has none. An actor id that is no user fails
	// the foreign key.
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (team_id, actor_user_id, actor_label, action, target_type, target_id, target_user_id, detail, ip)
		VALUES (nullif($1, '')::uuid, $2::uuid, coalesce((SELECT email FROM users WHERE id = $2::uuid), nullif($9, ''), 'operator'),
			$3, $4, $5, nullif($6, '')::uuid, $7, $8::inet)`,
		teamID, actorID, action, target.Type, target.ID, target.UserID, detail, ip, actor.Label)
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// RecordForTeams writes the entry once for each distinct team of teamIDs,
// so that a change that concerns two teams (a move between them, a share
// with another team) shows in both logs.
func RecordForTeams(ctx context.Context, tx pgx.Tx, action string, teamIDs []string, target Target, detail map[string]any) error {
	for _, team := range uniqueStrings(teamIDs...) {
		if err := Record(ctx, tx, action, team, target, detail); err != nil {
			return err
		}
	}
	return nil
}

// uniqueStrings returns the distinct values, in order. A personal
// workspace's team is "", recorded once.
func uniqueStrings(values ...string) []string {
	var out []string
	for _, v := range values {
		dup := false
		for _, o := range out {
			dup = dup || o == v
		}
		if !dup {
			out = append(out, v)
		}
	}
	return out
}

// Filter selects entries.
type Filter struct {
	// TeamID: the team's entries (for its admins). Otherwise UserID: the
	// entries the user made or that concern them.
	TeamID string
	UserID string
	// WithinTeam, with UserID, keeps only the entries of that team: the
	// personal log as a team's personal access token may read it.
	WithinTeam string
	// ViewerID is who reads. An entry's client address is theirs to see
	// only when they are its actor or an admin (or the owner) of its team;
	// for anyone else, and when ViewerID is empty, IP is nil. The address
	// says where a person was: the people an admin acted on have no need
	// of it, the admins who answer for the team do.
	ViewerID string
	Limit    int
}

// Log reads the audit log.
type Log struct{ db *pgxpool.Pool }

// New returns a Log reading db.
func New(db *pgxpool.Pool) *Log { return &Log{db: db} }

// Entries returns entries, newest first, each IP as f.ViewerID may see it.
func (l *Log) Entries(ctx context.Context, f Filter) ([]Entry, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	// The address is decided in the query, per entry, against the team's
	// members as they are now: an admin who is demoted stops seeing it.
	const cols = `a.id, a.team_id::text, a.actor_user_id::text, a.actor_label, a.action, a.target_type, a.target_id, a.target_user_id::text, a.detail,
		CASE WHEN a.actor_user_id = nullif($1, '')::uuid
			OR EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = a.team_id AND m.user_id = nullif($1, '')::uuid AND m.role IN ('owner', 'admin'))
		THEN host(a.ip) END,
		a.created_at`
	var rows pgx.Rows
	var err error
	if f.TeamID != "" {
		rows, err = l.db.Query(ctx, `SELECT `+cols+` FROM audit_log a WHERE a.team_id = $2 ORDER BY a.id DESC LIMIT $3`, f.ViewerID, f.TeamID, f.Limit)
	} else {
		rows, err = l.db.Query(ctx, `SELECT `+cols+` FROM audit_log a WHERE (a.actor_user_id = $2 OR a.target_user_id = $2)
			AND (nullif($4, '') IS NULL OR a.team_id = nullif($4, '')::uuid) ORDER BY a.id DESC LIMIT $3`, f.ViewerID, f.UserID, f.Limit, f.WithinTeam)
	}
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		err := r.Scan(&e.ID, &e.TeamID, &e.ActorUserID, &e.ActorLabel, &e.Action, &e.TargetType, &e.TargetID, &e.TargetUserID, &e.Detail, &e.IP, &e.CreatedAt)
		return e, err
	})
}
