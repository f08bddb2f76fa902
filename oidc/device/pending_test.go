package device_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc/device"
)

// TestStartBoundsPendingPerClient: a client has at most ten flows awaiting
// a decision (the default), even when it asks for many at once; past
// that, Start refuses with a *PendingLimitError saying when the oldest
// expires, and stores nothing. A decided or expired flow frees its place;
// other clients are not held back.
func TestStartBoundsPendingPerClient(t *testing.T) {
	f := &fixture{db: testenv.MigratedPool(t), clock: testenv.NewClock(time.Now().Truncate(time.Second))}
	f.svc = device.New(f.db, device.Options{Now: f.clock.Now})
	ctx := context.Background()
	start := func(client string) (device.Authorization, error) {
		return f.svc.Start(ctx, client, []string{"profile:read"})
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	var started []device.Authorization
	var refused []error
	for range 25 {
		wg.Go(func() {
			a, err := start("instance-a")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				refused = append(refused, err)
			} else {
				started = append(started, a)
			}
		})
	}
	wg.Wait()
	if len(started) != 10 || len(refused) != 15 {
		t.Fatalf("25 flows at once: %d started, %d refused (%v), want 10 and 15", len(started), len(refused), refused)
	}
	var limited *device.PendingLimitError
	if !errors.As(refused[0], &limited) || !errors.Is(refused[0], device.ErrTooManyPending) ||
		limited.Limit != 10 || limited.RetryAfter != device.DefaultLifetime {
		t.Fatalf("refusal %v, want a PendingLimitError of 10 retrying in the lifetime", refused[0])
	}
	var rows int
	testenv.Must(t, f.db.QueryRow(ctx, `SELECT count(*) FROM device_authorizations WHERE client_id = 'instance-a'`).Scan(&rows))
	if rows != 10 {
		t.Fatalf("%d rows for the client, want the 10 started", rows)
	}

	// Another client has its own places.
	if _, err := start("instance-b"); err != nil {
		t.Fatalf("another client: %v", err)
	}
	// A denied flow and an approved one are decided: two places again.
	testenv.Must(t, f.svc.Deny(ctx, started[0].UserCode))
	testenv.Must(t, f.svc.Approve(ctx, started[1].UserCode, f.user(t), []string{"profile:read"}))
	f.clock.Advance(time.Minute)
	for range 2 {
		if _, err := start("instance-a"); err != nil {
			t.Fatalf("after two decisions: %v", err)
		}
	}
	_, err := start("instance-a")
	if !errors.As(err, &limited) || limited.RetryAfter != device.DefaultLifetime-time.Minute {
		t.Fatalf("full again: %v, want a PendingLimitError retrying when the oldest expires, in 9 minutes", err)
	}
	// Expired flows hold no place.
	f.clock.Advance(device.DefaultLifetime)
	if _, err := start("instance-a"); err != nil {
		t.Fatalf("once the flows expired: %v", err)
	}
}

// TestStartPendingLimitOption: Options.PendingLimit sets the bound.
func TestStartPendingLimitOption(t *testing.T) {
	db := testenv.MigratedPool(t)
	svc := device.New(db, device.Options{PendingLimit: 2})
	for range 2 {
		_, err := svc.Start(context.Background(), "instance-a", nil)
		testenv.Must(t, err)
	}
	var limited *device.PendingLimitError
	if _, err := svc.Start(context.Background(), "instance-a", nil); !errors.As(err, &limited) || limited.Limit != 2 {
		t.Fatalf("a third flow with a limit of 2: %v", err)
	}
}
