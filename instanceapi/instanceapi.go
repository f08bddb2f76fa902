// Package instanceapi holds what the instance API reads and records:
// liveness, workspace and owner, user session pings and profiles, releases
// and store packages.
package instanceapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound: no such row (an unclaimed instance has no workspace or owner;
// no release was published yet).
var ErrNotFound = errors.New("not found")

// Store reads and writes the instance API's rows.
type Store struct {
	db *pgxpool.Pool
}

// New returns a Store on db.
func New(db *pgxpool.Pool) *Store { return &Store{db: db} }

// Report is what an instance says when it pings.
type Report struct {
	IP        netip.Addr
	OSKind    *string
	OSName    *string
	OSVersion *string
	// Version comes from its User-Agent (caido/0.51.0), when it says.
	Version *string
}

// RecordAlive stores the report as the instance's last-seen, and as the
// day's history row if it is the first of that UTC day.
func (s *Store) RecordAlive(ctx context.Context, instanceID string, r Report, at time.Time) error {
	var ip *netip.Addr
	if r.IP.IsValid() {
		ip = &r.IP
	}
	_, err := s.db.Exec(ctx, `WITH last AS (
			INSERT INTO instance_last_seen (instance_id, seen_at, ip, os_kind, os_name, os_version, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (instance_id) DO UPDATE SET seen_at = excluded.seen_at, ip = excluded.ip,
				os_kind = excluded.os_kind, os_name = excluded.os_name, os_version = excluded.os_version, version = excluded.version)
		INSERT INTO instance_liveness (instance_id, day, seen_at, ip, os_kind, os_name, os_version, version)
		VALUES ($1, ($2 AT TIME ZONE 'UTC')::date, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (instance_id, day) DO NOTHING`,
		instanceID, at, ip, r.OSKind, r.OSName, r.OSVersion, r.Version)
	return err
}

// Owner is who owns an instance's workspace: a user or a team.
type Owner struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
}

// Owner returns the owner of the instance's workspace.
func (s *Store) Owner(ctx context.Context, instanceID string) (Owner, error) {
	var o Owner
	err := s.db.QueryRow(ctx, `SELECT coalesce(w.owner_user_id, w.owner_team_id)::text,
			CASE WHEN w.owner_user_id IS NOT NULL THEN 'user' ELSE 'team' END
		FROM instances i JOIN workspaces w ON w.id = i.workspace_id WHERE i.id = $1`, instanceID).Scan(&o.ID, &o.Kind)
	return o, notFound(err)
}

// Workspace is an instance's workspace as instances see it.
type Workspace struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Generation int64  `json:"generation"`
}

// Workspace returns the instance's workspace.
func (s *Store) Workspace(ctx context.Context, instanceID string) (Workspace, error) {
	var w Workspace
	err := s.db.QueryRow(ctx, `SELECT w.id::text, w.name, w.generation
		FROM instances i JOIN workspaces w ON w.id = i.workspace_id WHERE i.id = $1`, instanceID).Scan(&w.ID, &w.Name, &w.Generation)
	return w, notFound(err)
}

// Session is a user's session as the instance API shows it.
type Session struct {
	ID          string    `json:"id"`
	ClientID    string    `json:"client_id"`
	UserID      string    `json:"user_id"`
	WorkspaceID string    `json:"workspace_id"`
	Generation  int64     `json:"generation"`
	Scopes      []string  `json:"scopes"`
	ExpiresAt   time.Time `json:"expires_at"`
	CreatedAt   time.Time `json:"created_at"`
}

// PingEvery is how often a session's use is recorded: its first
// interaction, then at most once an hour.
const PingEvery = time.Hour

// PingDue says whether a session last recorded at last needs a ping at now.
func PingDue(last *time.Time, now time.Time) bool {
	return last == nil || now.Sub(*last) >= PingEvery
}

// Ping records the session's use (user, instance, client address, time)
// unless one was recorded within the hour: the condition is checked again
// in the statement, so replicas racing on one session record it once.
func (s *Store) Ping(ctx context.Context, sessionID string, ip netip.Addr, at time.Time) error {
	var ipArg *netip.Addr
	if ip.IsValid() {
		ipArg = &ip
	}
	_, err := s.db.Exec(ctx, `WITH touched AS (
			UPDATE sessions SET last_ping_at = $2
			WHERE id = $1 AND revoked_at IS NULL AND (last_ping_at IS NULL OR last_ping_at <= $2::timestamptz - make_interval(secs => $4::float8))
			RETURNING id, user_id, instance_id)
		INSERT INTO session_pings (session_id, user_id, instance_id, ip, at)
		SELECT id, user_id, instance_id, $3, $2 FROM touched`, sessionID, at, ipArg, PingEvery.Seconds())
	return err
}

// Profile is a user's identity and subscription, as the reference shows it.
type Profile struct {
	ID       string `json:"id"`
	Identity struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"identity"`
	Subscription struct {
		Plan struct {
			Name string `json:"name"`
		} `json:"plan"`
		Entitlements []Entitlement `json:"entitlements"`
	} `json:"subscription"`
}

// Entitlement is one thing a plan allows.
type Entitlement struct {
	Name string `json:"name"`
}

// Profile returns the user's profile.
func (s *Store) Profile(ctx context.Context, userID string) (Profile, error) {
	var p Profile
	var entitlements []string
	err := s.db.QueryRow(ctx, `SELECT u.id::text, u.name, u.email, p.display_name,
			coalesce(array_agg(e.entitlement ORDER BY e.entitlement) FILTER (WHERE e.entitlement IS NOT NULL), '{}')
		FROM users u JOIN user_plans up ON up.user_id = u.id JOIN plans p ON p.name = up.plan LEFT JOIN plan_entitlements e ON e.plan = p.name
		WHERE u.id = $1 GROUP BY u.id, p.display_name`, userID).
		Scan(&p.ID, &p.Identity.Name, &p.Identity.Email, &p.Subscription.Plan.Name, &entitlements)
	p.Subscription.Entitlements = make([]Entitlement, len(entitlements))
	for i, e := range entitlements {
		p.Subscription.Entitlements[i] = Entitlement{Name: e}
	}
	return p, notFound(err)
}

// LatestRelease returns the newest release as stored (the reference's
// Release, links included).
func (s *Store) LatestRelease(ctx context.Context) (json.RawMessage, error) {
	var body json.RawMessage
	err := s.db.QueryRow(ctx, `SELECT json_build_object('id', id, 'version', version,
			'released_at', to_char(released_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'links', links)
		FROM releases ORDER BY released_at DESC LIMIT 1`).Scan(&body)
	return body, notFound(err)
}

// Packages returns the store's packages, of one kind when kind is set.
func (s *Store) Packages(ctx context.Context, kind string) (json.RawMessage, error) {
	var body json.RawMessage
	err := s.db.QueryRow(ctx, `SELECT coalesce(json_agg(payload ORDER BY id), '[]')
		FROM store_packages WHERE $1 = '' OR kind = $1`, kind).Scan(&body)
	return body, err
}

// PublishRelease adds or replaces a release (the reference's Release JSON).
func (s *Store) PublishRelease(ctx context.Context, release json.RawMessage) error {
	var r struct {
		ID         string          `json:"id"`
		Version    string          `json:"version"`
		ReleasedAt time.Time       `json:"released_at"`
		Links      json.RawMessage `json:"links"`
	}
	if err := json.Unmarshal(release, &r); err != nil || r.ID == "" || r.Version == "" || r.ReleasedAt.IsZero() {
		return fmt.Errorf("a release needs id, version and released_at (RFC 3339): %v", err)
	}
	if r.Links == nil {
		r.Links = json.RawMessage("[]")
	}
	_, err := s.db.Exec(ctx, `INSERT INTO releases (id, version, released_at, links) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET version = excluded.version, released_at = excluded.released_at, links = excluded.links`,
		r.ID, r.Version, r.ReleasedAt, r.Links)
	return err
}

// PublishPackage adds or replaces a store package (the reference's
// PackagePayload JSON).
func (s *Store) PublishPackage(ctx context.Context, pkg json.RawMessage) error {
	var p struct {
		ID   string `json:"id"`
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(pkg, &p); err != nil || p.ID == "" || (p.Kind != "community" && p.Kind != "official") {
		return fmt.Errorf("a package needs an id and a kind of community or official: %v", err)
	}
	_, err := s.db.Exec(ctx, `INSERT INTO store_packages (id, kind, payload) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, payload = excluded.payload`, p.ID, p.Kind, pkg)
	return err
}

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
