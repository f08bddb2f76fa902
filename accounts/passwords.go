package accounts

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/caido-cloud/caido-cloud/accounts/password"
)

// ErrBusy: every password-hashing slot stayed taken for the whole wait
// (Options.HashWait). Nothing was checked or stored; the caller answers
// 503 with Retry-After, and the client tries again.
var ErrBusy = errors.New("too many password checks at once; retry in a few seconds")

// dummyHash is verified against when the email is unknown (or has no
// password), so that such a sign-in takes as long as a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, _ := password.Hash("not anyone's password")
	return h
})

// hashing bounds the Argon2id computations of one process: each holds 64
// MiB and a core for about 50 ms, so unbounded, a flood of sign-ups or
// sign-ins takes the machine's memory and CPU (8 at once lifted resident
// memory by 330 MB). A computation waits up to wait for a slot.
type hashing struct {
	slots chan struct{}
	wait  time.Duration
}

func (h hashing) do(ctx context.Context, f func()) error {
	timer := time.NewTimer(h.wait)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
	case <-timer.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-h.slots }()
	f()
	return nil
}

// hash is password.Hash within the bound.
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	var encoded string
	var err error
	if busy := s.hashing.do(ctx, func() { encoded, err = password.Hash(pw) }); busy != nil {
		return "", busy
	}
	return encoded, err
}

// verifyPassword is password.Verify as a yes or no, within the bound; err
// is ErrBusy, or for a stored hash that cannot be read.
func (s *Service) verifyPassword(ctx context.Context, encoded, pw string) (bool, error) {
	var err error
	if busy := s.hashing.do(ctx, func() { err = password.Verify(pw, encoded) }); busy != nil {
		return false, busy
	}
	if errors.Is(err, password.ErrMismatch) {
		return false, nil
	}
	return err == nil, err
}
