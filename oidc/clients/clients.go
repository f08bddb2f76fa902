// Package clients registers self-hosted instances as OAuth 2.0 clients
// (Dynamic Client Registration, RFC 7591) and authenticates them by their
// client id and secret. Each registration creates one unclaimed instance;
// the client lives as long as that instance does.
package clients

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var (
	// ErrInvalidClient is returned for an unknown client id and for a wrong
	// secret alike, so that a caller cannot tell which one it got wrong.
	ErrInvalidClient = errors.New("invalid client credentials")
	// ErrNotFound is an unknown client id in lookups that do not
	// authenticate (Get, ResetSecret). It also matches ErrInvalidClient:
	// to OAuth, an unknown client is an invalid one.
	ErrNotFound error = notFoundError{}
	// ErrRateLimited matches every *RateLimitError.
	ErrRateLimited = errors.New("too many registrations from this address")
)

type notFoundError struct{}

func (notFoundError) Error() string        { return "no such client" }
func (notFoundError) Is(target error) bool { return target == ErrInvalidClient }

// MetadataError is a registration or update whose metadata the server
// refuses (RFC 7591 §3.2.2 invalid_client_metadata). Description names the
// offending value and is safe to send back to the client.
type MetadataError struct {
	Description string
}

func (e *MetadataError) Error() string { return "invalid client metadata: " + e.Description }

// RateLimitError says when the address may register again.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%v; retry in %v", ErrRateLimited, e.RetryAfter)
}

func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// Metadata is what a client asks for when it registers or updates itself.
type Metadata struct {
	// Scope is space-separated, as on the wire; it may be empty.
	Scope      string
	GrantTypes []string
	// InstanceRegistrationKey (ckey_…) claims the instance into the key's
	// workspace at registration (see Options.RedeemKey).
	InstanceRegistrationKey *string
}

// Registration is the result of Register. Secret is the only copy of the
// plaintext secret that ever exists on the server side.
type Registration struct {
	ClientID   string
	Secret     string
	IssuedAt   time.Time
	GrantTypes []string
	Scopes     []string
	InstanceID string
}

// LogValue keeps the secret out of any log line that includes a Registration.
func (r Registration) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_id", r.ClientID),
		slog.String("instance_id", r.InstanceID),
	)
}

// Client is a registered client as the rest of the server sees it.
type Client struct {
	ID         string
	InstanceID string
	// WorkspaceID is empty while the instance is unclaimed.
	WorkspaceID     string
	GrantTypes      []string
	Scopes          []string
	IssuedAt        time.Time
	SecretRotatedAt time.Time
	// TokenGeneration is raised by every credentials reset. Each access
	// token carries the generation of the client it was issued to, read
	// with the secret it authenticated by; a token of an older generation
	// is no longer active (oidc.Provider.Active).
	TokenGeneration int64
}

// AllowsGrant reports whether the client registered for grantType.
func (c Client) AllowsGrant(grantType string) bool { return slices.Contains(c.GrantTypes, grantType) }

// Options tune a Service; zero values take the defaults.
type Options struct {
	// Limit is how many registrations one IP address may make per Window
	// (default 20).
	Limit int
	// Window is the length of a fixed rate-limit window (default 1h; at
	// least a second, as Retry-After counts whole seconds).
	Window time.Duration
	// Now is the clock of the rate limit; nil is time.Now.
	Now func() time.Time
	// Log receives the causes of 500 answers (default slog.Default()).
	Log *slog.Logger
	// RedeemKey, when set, takes a registration's instance_registration_key
	// inside the registration's transaction: it claims the new instance or
	// refuses with a *MetadataError (and the registration is undone).
	// Without it every key is refused.
	RedeemKey func(ctx context.Context, tx pgx.Tx, key, instanceID string) error
	// Deregister ends an authenticated client's registration for DELETE
	// /oauth2/register/{id} (RFC 7592 §2.3): for an instance, the
	// instance goes with it. Without it, DELETE is not allowed.
	Deregister func(ctx context.Context, c Client) error
}

// Service registers and authenticates clients.
type Service struct {
	db   *pgxpool.Pool
	opts Options
}

// New returns a Service on db.
func New(db *pgxpool.Pool, opts Options) *Service {
	if opts.Limit <= 0 {
		opts.Limit = 20
	}
	if opts.Window <= 0 {
		opts.Window = time.Hour
	}
	opts.Window = max(opts.Window, time.Second)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Service{db: db, opts: opts}
}
