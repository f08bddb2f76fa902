package pats

import (
	"context"

	"github.com/caido-cloud/caido-cloud/limits"
)

// ErrTooManyGuesses matches every *GuessLimitError.
var ErrTooManyGuesses = limits.ErrLimited

// GuessLimitError says when the token may try user codes again.
type GuessLimitError = limits.Error

// Guess is a reserved try of a user code, counted in its window until
// refunded.
type Guess = limits.Attempt

// ReserveGuess counts one try of a user code with tokenID in the current
// fixed window, before the code is looked up, and refuses it with a
// *GuessLimitError past the limit. Counting first is what keeps concurrent
// requests (on any replica) from trying more codes than the limit; a try
// that finds its code gets its count back (RefundGuess), so only wrong codes
// use the allowance.
func (s *Service) ReserveGuess(ctx context.Context, tokenID string) (Guess, error) {
	return s.limiter.Attempt(ctx, s.opts.GuessLimit, s.opts.GuessWindow, "pat-guess:"+tokenID)
}

// RefundGuess gives back a reserved try whose code was a live one.
func (s *Service) RefundGuess(ctx context.Context, g Guess) error { return g.Refund(ctx) }
