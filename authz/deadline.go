package authz

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	fga "github.com/openfga/go-sdk"
)

// ErrUnavailable means OpenFGA did not answer in time, could not be
// reached, or answered that it could not decide now (5xx, 429): the caller
// may retry. A request that needed a decision answers 503 with it.
var ErrUnavailable = errors.New("OpenFGA is unavailable")

// DefaultTimeout bounds a decision when Config.Timeout is zero.
const DefaultTimeout = 2 * time.Second

// backgroundTimeout bounds the calls no request waits on (the outbox's
// writes, reconcile's reads, migrate's store and model): they are larger
// and their callers retry, but a paused OpenFGA must not hold them forever.
const backgroundTimeout = 30 * time.Second

// decisionTimeout is the bound of every call a request waits on: a check,
// a batch of checks, readiness. Without it, an OpenFGA that accepts
// connections and never answers (paused, overloaded, a half-open
// connection) would hold every request that needs a decision, for as long
// as the client waits.
func (c Config) decisionTimeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c Config) backgroundTimeout() time.Duration {
	return max(c.decisionTimeout(), backgroundTimeout)
}

// bounded runs call with ctx bounded by d and names the failure: a bound
// that passed, OpenFGA unreachable or answering that it cannot now, is
// ErrUnavailable.
func bounded[T any](ctx context.Context, d time.Duration, call func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := call(ctx)
	if err != nil {
		err = classify(ctx, d, err)
	}
	return v, err
}

func classify(ctx context.Context, d time.Duration, err error) error {
	var (
		urlErr   *url.Error
		netErr   net.Error
		internal fga.FgaApiInternalError
		limited  fga.FgaApiRateLimitExceededError
	)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w: no answer within %s: %w", ErrUnavailable, d, err)
	case errors.As(err, &urlErr), errors.As(err, &netErr), errors.As(err, &internal), errors.As(err, &limited):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
