// Package assistant proxies completions to an OpenAI-compatible model and
// meters them in credits, never storing, logging or tracing the messages.
//
// A call reserves a bound on its cost against the user's monthly credits
// before it goes upstream, and settles the real cost (or releases the
// reservation) afterwards, each in one PostgreSQL transaction on the user's
// month row; see credits.go.
package assistant

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	openai "github.com/sashabaranov/go-openai"

	"github.com/caido-cloud/caido-cloud/authz"
)

// Errors callers map to answers. UpstreamError covers the upstream's own
// failures.
var (
	// ErrUnavailable: no upstream is configured.
	ErrUnavailable = errors.New("the assistant is not configured")
	// ErrQuotaExceeded: the user's credits for this month are spent.
	ErrQuotaExceeded = errors.New("the assistant credits of this month are spent")
	// ErrInvalidModel: no enabled model has that id.
	ErrInvalidModel = errors.New("no such assistant model")
	// ErrContextExceeded: the upstream refused the messages as longer than
	// the model's context.
	ErrContextExceeded = errors.New("the messages exceed the model's context length")
	// ErrForbidden: the user may not use the assistant on this instance
	// (switched off there, or no access).
	ErrForbidden = errors.New("the assistant is not allowed for this user on this instance")
	// ErrInvalidRequest: the request itself is malformed.
	ErrInvalidRequest = errors.New("invalid assistant request")
)

// Options configure the upstream and the clock.
type Options struct {
	// BaseURL of the OpenAI-compatible API, including its version path
	// (https://api.openai.com/v1). Empty: completions answer ErrUnavailable.
	BaseURL string
	APIKey  string
	// Timeout bounds a whole completion, and for a stream the wait for the
	// upstream's answer and then between two chunks.
	Timeout time.Duration
	// HTTPClient carries tracing; nil means a plain client. Its own Timeout
	// is ignored: it would cut long streams, Timeout above bounds calls.
	HTTPClient *http.Client
	// Now is the clock of the ledger (months, usage times); nil is time.Now.
	Now func() time.Time
}

// Service is the assistant.
type Service struct {
	db       *pgxpool.Pool
	authz    *authz.Client
	opts     Options
	upstream *openai.Client // nil when no BaseURL is set
}

// streamLimit caps a whole stream at this many Timeouts: a stream may
// legitimately outlast one Timeout, but its reservation must have a known
// end for the crash clean-up (staleAfter).
const streamLimit = 10

// New returns the assistant on db, checking permissions with authz.
func New(db *pgxpool.Pool, authz *authz.Client, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	s := &Service{db: db, authz: authz, opts: opts}
	if opts.BaseURL != "" {
		cfg := openai.DefaultConfig(opts.APIKey)
		cfg.BaseURL = strings.TrimSuffix(opts.BaseURL, "/")
		cfg.HTTPClient = upstreamHTTPClient(opts.HTTPClient)
		s.upstream = openai.NewClientWithConfig(cfg)
	}
	return s
}

// Configured reports whether completions can reach an upstream.
func (s *Service) Configured() bool { return s != nil && s.upstream != nil }

// staleAfter is the age past which a reservation can only belong to a call
// that died with its replica.
func (s *Service) staleAfter() time.Duration {
	return streamLimit*s.opts.Timeout + time.Minute
}

func (s *Service) now() time.Time { return s.opts.Now().UTC() }
