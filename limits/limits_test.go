package limits_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/limits"
)

// TestAttemptsPerKeyAndWindow: each key has its own count; one attempt
// over any of its keys' limits is refused uncounted, with the wait to the
// window's end in whole seconds; a refund gives the attempt back; a new
// window starts afresh.
func TestAttemptsPerKeyAndWindow(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewClock(time.Date(2030, 1, 1, 12, 0, 0, 500_000_000, time.UTC))
	l := limits.New(testenv.MigratedPool(t), clock.Now)

	for range 3 {
		_, err := l.Attempt(ctx, 3, time.Minute, "ip:a", "user:x")
		testenv.Must(t, err)
	}
	_, err := l.Attempt(ctx, 3, time.Minute, "ip:b", "user:x")
	var le *limits.Error
	if !errors.As(err, &le) || !errors.Is(err, limits.ErrLimited) || le.RetryAfter != 60*time.Second {
		t.Fatalf("the 4th attempt on user:x: %v, want a refusal retrying in 60 s (59.5 s rounded up)", err)
	}
	// ip:b was not counted by the refused attempt: three more fit.
	for range 3 {
		_, err := l.Attempt(ctx, 3, time.Minute, "ip:b")
		testenv.Must(t, err)
	}
	if _, err := l.Attempt(ctx, 3, time.Minute, "ip:b"); !errors.Is(err, limits.ErrLimited) {
		t.Fatalf("the 4th attempt on ip:b: %v", err)
	}
	// A refunded attempt gives its place back.
	a, err := l.Attempt(ctx, 5, time.Minute, "ip:c")
	testenv.Must(t, err)
	testenv.Must(t, a.Refund(ctx))
	for range 5 {
		_, err := l.Attempt(ctx, 5, time.Minute, "ip:c")
		testenv.Must(t, err)
	}

	clock.Advance(time.Minute)
	if _, err := l.Attempt(ctx, 3, time.Minute, "user:x"); err != nil {
		t.Fatalf("a new window: %v", err)
	}
}
