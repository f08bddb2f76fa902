// Package device keeps the state of the OAuth 2.0 device authorization grant
// (RFC 8628): it starts flows, lets the dashboard approve or deny them by
// user code, and answers the token endpoint's polls. The OpenID provider and
// the dashboard sit on top; the rules and the rows live here.
//
// Every bit of state is in PostgreSQL, so a flow started on one replica is
// approved and redeemed on any other. Device codes are bearer secrets: only
// their SHA-256 is stored, and nothing here logs or returns one in an error.
package device

import (
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of Options: RFC 8628's suggested lifetime and interval, and
// room for a handful of sign-ins at one instance at once.
const (
	DefaultLifetime     = 10 * time.Minute
	DefaultInterval     = 5 * time.Second
	DefaultPendingLimit = 10
)

// Options adjust a Service. The zero value uses the defaults.
type Options struct {
	// Lifetime is how long a flow can be approved and redeemed (expires_in).
	Lifetime time.Duration
	// Interval is the minimum time between polls a new flow asks for. The
	// wire carries whole seconds, so it is rounded up to one (at least 1 s).
	Interval time.Duration
	// PendingLimit is how many flows one client may have awaiting a
	// decision (pending and unexpired) at once.
	PendingLimit int
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// Service starts, decides and redeems device authorizations.
type Service struct {
	db       *pgxpool.Pool
	lifetime time.Duration
	interval time.Duration
	// pendingLimit is Options.PendingLimit.
	pendingLimit int
	now          func() time.Time
}

// New returns a Service storing its flows in db.
func New(db *pgxpool.Pool, opts Options) *Service {
	s := &Service{db: db, lifetime: opts.Lifetime, interval: opts.Interval, pendingLimit: opts.PendingLimit, now: opts.Now}
	if s.pendingLimit <= 0 {
		s.pendingLimit = DefaultPendingLimit
	}
	if s.lifetime <= 0 {
		s.lifetime = DefaultLifetime
	}
	if s.interval <= 0 {
		s.interval = DefaultInterval
	}
	s.interval = time.Duration(seconds(s.interval)) * time.Second
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// clock is the current time at PostgreSQL's precision, so that a time read
// back compares equal to the one written, and without a monotonic reading.
func (s *Service) clock() time.Time {
	return s.now().Truncate(time.Microsecond)
}

// seconds rounds d up to whole seconds, at least one.
func seconds(d time.Duration) int {
	n := int((d + time.Second - 1) / time.Second)
	return max(n, 1)
}

// Authorization is a new flow, the device authorization response's content
// (the verification URI is the provider's).
type Authorization struct {
	// DeviceCode is the secret the device polls with. Never log it.
	DeviceCode string
	// UserCode is what the user types on the dashboard, as XXXX-XXXX.
	UserCode  string
	ExpiresAt time.Time
	// ExpiresIn is the lifetime, for expires_in.
	ExpiresIn time.Duration
	// Interval is how long the device waits between polls.
	Interval time.Duration
}

// Pending is an authorization awaiting the user's decision, for the
// approval page.
type Pending struct {
	// ID names the flow (not a secret: it cannot be redeemed).
	ID        string
	UserCode  string
	ClientID  string
	Scopes    []string
	ExpiresAt time.Time
}

// Outcome is the answer to a poll. On success it is the approval the
// provider issues tokens from; with ErrAuthorizationPending or ErrSlowDown
// only Interval is set: the interval the device must now keep.
type Outcome struct {
	// ID names the flow, usable as the grant id the tokens carry.
	ID       string
	ClientID string
	// UserID is the user who approved.
	UserID string
	// Scopes are the scopes the user granted, a subset of those asked.
	Scopes   []string
	Interval time.Duration
}
