package accounts

import (
	"context"
	"fmt"
	"time"

	"github.com/caido-cloud/caido-cloud/limits"
)

// Attempt is one counted attempt: Right takes it back when it turned out
// right, so that only failures count against the limit.
type Attempt struct{ limits.Attempt }

// attempt counts one attempt against every key (*LimitError once over).
func (s *Service) attempt(ctx context.Context, limit int, window time.Duration, keys ...string) (Attempt, error) {
	a, err := s.limiter.Attempt(ctx, limit, window, keys...)
	return Attempt{a}, err
}

// CodeAttempt counts one user code typed in a session from an IP address,
// wrong ones limited per address and per session; Right takes it back
// when the code turned out to be right.
func (s *Service) CodeAttempt(ctx context.Context, sess Session, ip string) (Attempt, error) {
	return s.attempt(ctx, s.opts.CodeLimit, s.opts.CodeWindow,
		"code-ip:"+limits.AddressKey(ip), fmt.Sprintf("code-session:%x", sess.idHash))
}

// Right takes back an attempt that turned out right.
func (a Attempt) Right(ctx context.Context) error { return a.Refund(ctx) }
