package pats

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/caido-cloud/caido-cloud/limits"
)

// ErrTooManyGuesses matches every *GuessLimitError.
var ErrTooManyGuesses = limits.ErrLimited

// GuessLimitError says when the next try of a user code may be made, and
// whose allowance ran out.
type GuessLimitError struct {
	RetryAfter time.Duration
	// Token is true when the token's own allowance ran out; false when its
	// user's or the client address's did (any token of theirs is held back
	// alike).
	Token bool
}

func (e *GuessLimitError) Error() string {
	return fmt.Sprintf("%v; retry in %v", ErrTooManyGuesses, e.RetryAfter)
}

// Is makes errors.Is(err, ErrTooManyGuesses) hold.
func (e *GuessLimitError) Is(target error) bool { return target == ErrTooManyGuesses }

// Guess is a reserved try of a user code, counted in its windows until
// refunded.
type Guess struct {
	attempts []limits.Attempt
}

// ReserveGuess counts one try of a user code with tok from the client
// address ip, before the code is looked up, and refuses it with a
// *GuessLimitError past a limit: GuessLimit per token each GuessWindow,
// and UserGuessLimit per user and per address (an IPv6 address by its /64)
// each UserGuessWindow. Tokens are free to make, so the token's limit
// alone would let one user guess without end; the user's and the address's
// bound what any number of tokens (and accounts behind one address) try.
// Counting first is what keeps concurrent requests (on any replica) from
// trying more codes than the limits; a try that finds its code gets its
// counts back (RefundGuess), so only wrong codes use the allowances. A
// refused try is not counted.
func (s *Service) ReserveGuess(ctx context.Context, tok Token, ip string) (Guess, error) {
	byToken, err := s.limiter.Attempt(ctx, s.opts.GuessLimit, s.opts.GuessWindow, "pat-guess:"+tok.ID)
	var le *limits.Error
	if errors.As(err, &le) {
		return Guess{}, &GuessLimitError{RetryAfter: le.RetryAfter, Token: true}
	}
	if err != nil {
		return Guess{}, err
	}
	keys := []string{"code-guess-user:" + tok.UserID}
	if ip != "" {
		keys = append(keys, "code-guess-ip:"+limits.AddressKey(ip))
	}
	byUser, err := s.limiter.Attempt(ctx, s.opts.UserGuessLimit, s.opts.UserGuessWindow, keys...)
	if err != nil {
		err = errors.Join(err, byToken.Refund(ctx))
		if errors.As(err, &le) {
			return Guess{}, &GuessLimitError{RetryAfter: le.RetryAfter}
		}
		return Guess{}, err
	}
	return Guess{attempts: []limits.Attempt{byToken, byUser}}, nil
}

// RefundGuess gives back a reserved try whose code was a live one.
func (s *Service) RefundGuess(ctx context.Context, g Guess) error {
	var errs []error
	for _, a := range g.attempts {
		errs = append(errs, a.Refund(ctx))
	}
	return errors.Join(errs...)
}
