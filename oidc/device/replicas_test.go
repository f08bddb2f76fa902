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

// pollAtOnce polls a's flow from n goroutines released together and returns
// the outcomes.
func pollAtOnce(svcs []*device.Service, n int, deviceCode string) ([]device.Outcome, []error) {
	outs, errs := make([]device.Outcome, n), make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Go(func() {
			ready.Done()
			<-start
			outs[i], errs[i] = svcs[i%len(svcs)].Poll(context.Background(), "instance-a", deviceCode)
		})
	}
	ready.Wait()
	close(start)
	done.Wait()
	return outs, errs
}

// TestConcurrentPollsRedeemOnce: ten polls of an approved code at once, over
// two replicas' pools: one gets the approval, nine invalid_grant.
func TestConcurrentPollsRedeemOnce(t *testing.T) {
	f := newFixture(t)
	other := device.New(testenv.Pool(t, f.db.Config().ConnString()), device.Options{Now: f.clock.Now})
	for round := range 5 {
		a, userID := f.approved(t)
		outs, errs := pollAtOnce([]*device.Service{f.svc, other}, 10, a.DeviceCode)
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
				if outs[i].UserID != userID {
					t.Fatalf("round %d: approval for user %q, want %q", round, outs[i].UserID, userID)
				}
			case !errors.Is(err, device.ErrInvalidGrant):
				t.Fatalf("round %d: poll %d: %v, want success or invalid_grant", round, i, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d of 10 concurrent polls redeemed the code, want exactly 1", round, wins)
		}
	}
}

// TestConcurrentPendingPollsArePaced: ten polls of a pending code at once
// (one instant on the shared clock): the poll time is recorded atomically,
// so exactly one is on time and nine are told slow_down, each adding 5 s.
func TestConcurrentPendingPollsArePaced(t *testing.T) {
	f := newFixture(t)
	other := device.New(testenv.Pool(t, f.db.Config().ConnString()), device.Options{Now: f.clock.Now})
	a := f.start(t)
	_, errs := pollAtOnce([]*device.Service{f.svc, other}, 10, a.DeviceCode)
	counts := map[error]int{}
	for _, err := range errs {
		counts[err]++
	}
	if counts[device.ErrAuthorizationPending] != 1 || counts[device.ErrSlowDown] != 9 {
		t.Fatalf("outcomes %v, want 1 authorization_pending and 9 slow_down", counts)
	}
	if got := f.column(t, a.UserCode, "interval_seconds"); got != int32(5+9*5) {
		t.Fatalf("interval %v s after 9 slow_downs, want 50", got)
	}
}

// TestTwoReplicas: a flow started on one replica is looked up, approved and
// redeemed on another, and each sees the other's polls.
func TestTwoReplicas(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	replicaA := f.svc
	replicaB := device.New(testenv.Pool(t, f.db.Config().ConnString()), device.Options{Now: f.clock.Now})

	a, err := replicaA.Start(ctx, "instance-a", []string{"openid", "profile:read"})
	testenv.Must(t, err)
	if _, err := replicaA.Poll(ctx, "instance-a", a.DeviceCode); !errors.Is(err, device.ErrAuthorizationPending) {
		t.Fatalf("poll on A: %v, want authorization_pending", err)
	}
	if _, err := replicaB.Poll(ctx, "instance-a", a.DeviceCode); !errors.Is(err, device.ErrSlowDown) {
		t.Fatalf("immediate poll on B after one on A: %v, want slow_down", err)
	}
	p, err := replicaB.Lookup(ctx, a.UserCode)
	testenv.Must(t, err)
	if p.ClientID != "instance-a" {
		t.Fatalf("lookup on B: %+v", p)
	}
	userID := f.user(t)
	testenv.Must(t, replicaB.Approve(ctx, a.UserCode, userID, []string{"openid"}))
	f.clock.Advance(10 * time.Second)
	out, err := replicaB.Poll(ctx, "instance-a", a.DeviceCode)
	testenv.Must(t, err)
	if out.UserID != userID || out.ID != p.ID {
		t.Fatalf("redeemed on B: %+v, want user %s, flow %s", out, userID, p.ID)
	}
	if _, err := replicaA.Poll(ctx, "instance-a", a.DeviceCode); !errors.Is(err, device.ErrInvalidGrant) {
		t.Fatalf("poll on A after redemption on B: %v, want invalid_grant", err)
	}
}
