package pats

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrTooManyGuesses matches every *GuessLimitError.
var ErrTooManyGuesses = errors.New("too many wrong user codes with this token")

// GuessLimitError says when the token may try user codes again.
type GuessLimitError struct {
	RetryAfter time.Duration
}

func (e *GuessLimitError) Error() string {
	return fmt.Sprintf("%v; retry in %v", ErrTooManyGuesses, e.RetryAfter)
}

func (e *GuessLimitError) Is(target error) bool { return target == ErrTooManyGuesses }

// Guess is a reserved try of a user code, counted in its window until
// refunded.
type Guess struct {
	tokenID string
	window  time.Time
}

// ReserveGuess counts one try of a user code with tokenID in the current
// fixed window, before the code is looked up, and refuses it with a
// *GuessLimitError past the limit. Counting first, in one upsert, is what
// keeps concurrent requests (on any replica) from trying more codes than
// the limit; a try that finds its code gets its count back (RefundGuess),
// so only wrong codes use the allowance. Windows are aligned on the Unix
// epoch so that replicas agree on them.
func (s *Service) ReserveGuess(ctx context.Context, tokenID string) (Guess, error) {
	now := s.clock()
	var g Guess
	var count int
	err := s.db.QueryRow(ctx, `
		INSERT INTO personal_access_token_guesses AS w (token_id, window_start, guesses)
		VALUES ($1, date_bin(make_interval(secs => $2), $3::timestamptz, timestamptz 'epoch'), 1)
		ON CONFLICT (token_id, window_start) DO UPDATE SET guesses = w.guesses + 1
		RETURNING w.window_start, w.guesses`,
		tokenID, s.opts.GuessWindow.Seconds(), now).Scan(&g.window, &count)
	if err != nil {
		return Guess{}, fmt.Errorf("count user code guess: %w", err)
	}
	g.tokenID = tokenID
	if count == 1 {
		// A new window: the token's older ones are over.
		if _, err := s.db.Exec(ctx, `DELETE FROM personal_access_token_guesses WHERE token_id = $1 AND window_start < $2`,
			tokenID, g.window); err != nil {
			s.opts.Log.WarnContext(ctx, "prune user code guess windows", "token_id", tokenID, "err", err)
		}
	}
	if count > s.opts.GuessLimit {
		remaining := g.window.Add(s.opts.GuessWindow).Sub(now).Seconds()
		// Whole seconds, rounded up, as Retry-After carries them.
		return Guess{}, &GuessLimitError{RetryAfter: time.Duration(max(1, math.Ceil(remaining))) * time.Second}
	}
	return g, nil
}

// RefundGuess gives back a reserved try whose code was a live one.
func (s *Service) RefundGuess(ctx context.Context, g Guess) error {
	if g.tokenID == "" {
		return nil
	}
	_, err := s.db.Exec(ctx, `UPDATE personal_access_token_guesses SET guesses = guesses - 1
		WHERE token_id = $1 AND window_start = $2 AND guesses > 0`, g.tokenID, g.window)
	if err != nil {
		return fmt.Errorf("refund user code guess: %w", err)
	}
	return nil
}
