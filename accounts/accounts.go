// Package accounts is how people use the web pages: sign-up, sign-in and
// sign-out, server-side sessions with their CSRF tokens, and the attempt
// limits that keep passwords and user codes from being guessed. The access
// rows (users, workspaces) stay access's; this package adds the password,
// the sessions and the limits around them.
//
// Email verification (verification.go) mails a link that sets
// users.email_verified_at; an unverified account is told so on the home page
// and may otherwise do everything a verified one may, except be reached by
// shares by email (they wait for the verification).
package accounts

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/limits"
)

var (
	// ErrEmailTaken is a sign-up with the email of an existing account,
	// compared case-insensitively.
	ErrEmailTaken = errors.New("an account with this email already exists")
	// ErrBadCredentials is a sign-in with an unknown email or a wrong
	// password alike, so that a caller cannot tell which.
	ErrBadCredentials = errors.New("wrong email or password")
	// ErrNoSession is a session token that is unknown, malformed or expired.
	ErrNoSession = errors.New("no such session")
	// ErrRateLimited matches every *LimitError.
	ErrRateLimited = limits.ErrLimited
)

// FieldError is input the service refuses; Field names the form field and
// Message is safe to show.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// LimitError says when the next attempt may be made.
type LimitError = limits.Error

// Defaults of Options.
const (
	DefaultSessionLifetime    = 30 * 24 * time.Hour
	DefaultSignInLimit        = 10
	DefaultSignInWindow       = 15 * time.Minute
	DefaultCodeLimit          = 10
	DefaultCodeWindow         = 10 * time.Minute
	DefaultSignInAccountLimit = 50
	DefaultSignInSlowInterval = 30 * time.Second
	DefaultSignUpLimit        = 10
	DefaultSignUpTotal        = 1000
	DefaultSignUpWindow       = time.Hour
	DefaultSignedInLimit      = 60
	DefaultHashWait           = 3 * time.Second
	// MinPasswordLength is accounts/password's rule, in characters.
	MinPasswordLength = 8
)

// Options adjust a Service; zero values take the defaults.
type Options struct {
	// SessionLifetime is how long a sign-in lasts (absolute).
	SessionLifetime time.Duration
	// SignInLimit failed sign-ins are allowed per account and per IP address
	// in each fixed SignInWindow.
	SignInLimit  int
	SignInWindow time.Duration
	// CodeLimit wrong user codes are allowed per IP address and per session
	// in each fixed CodeWindow.
	CodeLimit  int
	CodeWindow time.Duration
	// SignInAccountLimit failed sign-ins are allowed per account in each
	// SignInWindow before it is taken as guessed from many addresses; then
	// one attempt per SignInSlowInterval gets through for it (from an
	// address with no failure on it), and browsers with its device cookie.
	SignInAccountLimit int
	SignInSlowInterval time.Duration
	// SignUpLimit sign-ups are allowed per client address, and SignUpTotal
	// from every address together, in each fixed SignUpWindow: each one
	// costs a password hash and sends a mail to an address of the
	// caller's choosing.
	SignUpLimit  int
	SignUpTotal  int
	SignUpWindow time.Duration
	// SignedInLimit successful sign-ins are allowed per client address in
	// each SignInWindow: a right password costs a hash too.
	SignedInLimit int
	// HashConcurrency Argon2id computations run at once in this process
	// (default: the number of CPUs), each waiting at most HashWait
	// (default 3 s) for its turn before ErrBusy.
	HashConcurrency int
	HashWait        time.Duration
	// SignUpPolicy is who may sign up (the CLI's `user create` too: the
	// operator names the policy and may widen it).
	SignUpPolicy SignUpPolicy
	// ResetLifetime is how long a mailed password reset link works
	// (default an hour).
	ResetLifetime time.Duration
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// Service signs people up and in and keeps their sessions.
type Service struct {
	db      *pgxpool.Pool
	access  *access.Service
	opts    Options
	limiter *limits.Limiter
	hashing hashing
}

// New returns a Service on db, creating users through acc.
func New(db *pgxpool.Pool, acc *access.Service, opts Options) *Service {
	orDefault(&opts.SessionLifetime, DefaultSessionLifetime)
	orDefault(&opts.SignInLimit, DefaultSignInLimit)
	orDefault(&opts.SignInWindow, DefaultSignInWindow)
	orDefault(&opts.SignInAccountLimit, DefaultSignInAccountLimit)
	orDefault(&opts.SignInSlowInterval, DefaultSignInSlowInterval)
	orDefault(&opts.SignedInLimit, DefaultSignedInLimit)
	orDefault(&opts.CodeLimit, DefaultCodeLimit)
	orDefault(&opts.CodeWindow, DefaultCodeWindow)
	orDefault(&opts.SignUpLimit, DefaultSignUpLimit)
	orDefault(&opts.SignUpTotal, DefaultSignUpTotal)
	orDefault(&opts.SignUpWindow, DefaultSignUpWindow)
	orDefault(&opts.ResetLifetime, DefaultResetLifetime)
	orDefault(&opts.HashConcurrency, runtime.NumCPU())
	orDefault(&opts.HashWait, DefaultHashWait)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{db: db, access: acc, opts: opts, limiter: limits.New(db, opts.Now),
		hashing: hashing{slots: make(chan struct{}, opts.HashConcurrency), wait: opts.HashWait}}
}

// orDefault sets an option left at zero (or below) to its default.
func orDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// SessionLifetime is how long a new session lasts, for the cookie's Max-Age.
func (s *Service) SessionLifetime() time.Duration { return s.opts.SessionLifetime }

// clock is the current time at PostgreSQL's precision.
func (s *Service) clock() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// NewToken returns 256 random bits, base64url: session ids and CSRF tokens.
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes instead).
	return base64.RawURLEncoding.EncodeToString(b)
}

// SameToken compares a submitted token with the expected one in constant
// time; an empty expected token matches nothing.
func SameToken(expected, submitted string) bool {
	return expected != "" && subtle.ConstantTimeCompare([]byte(expected), []byte(submitted)) == 1
}

func hash(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}
