package device_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc/device"
)

// TestPollOutcomes: every answer of the token endpoint, from a flow brought
// to a state through the public API only.
func TestPollOutcomes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name string
		// setup brings a new flow to the state under test and returns the
		// client and device code to poll with.
		setup func(t *testing.T) (clientID, deviceCode string)
		want  error
	}{
		{"first poll is pending", func(t *testing.T) (string, string) {
			return "instance-a", f.start(t).DeviceCode
		}, device.ErrAuthorizationPending},
		{"poll after the interval is pending", func(t *testing.T) (string, string) {
			a := f.start(t)
			poll(t, f, a, device.ErrAuthorizationPending)
			f.clock.Advance(a.Interval)
			return "instance-a", a.DeviceCode
		}, device.ErrAuthorizationPending},
		{"poll too soon is slow_down", func(t *testing.T) (string, string) {
			a := f.start(t)
			poll(t, f, a, device.ErrAuthorizationPending)
			f.clock.Advance(time.Second)
			return "instance-a", a.DeviceCode
		}, device.ErrSlowDown},
		{"denied is access_denied", func(t *testing.T) (string, string) {
			a := f.start(t)
			testenv.Must(t, f.svc.Deny(ctx, a.UserCode))
			return "instance-a", a.DeviceCode
		}, device.ErrAccessDenied},
		{"denied stays access_denied", func(t *testing.T) (string, string) {
			a := f.start(t)
			testenv.Must(t, f.svc.Deny(ctx, a.UserCode))
			poll(t, f, a, device.ErrAccessDenied)
			return "instance-a", a.DeviceCode
		}, device.ErrAccessDenied},
		{"past the lifetime is expired_token", func(t *testing.T) (string, string) {
			a := f.start(t)
			f.clock.Advance(device.DefaultLifetime)
			return "instance-a", a.DeviceCode
		}, device.ErrExpiredToken},
		{"approved but past the lifetime is expired_token", func(t *testing.T) (string, string) {
			a, _ := f.approved(t)
			f.clock.Advance(device.DefaultLifetime + time.Second)
			return "instance-a", a.DeviceCode
		}, device.ErrExpiredToken},
		{"unknown code is invalid_grant", func(t *testing.T) (string, string) {
			return "instance-a", "not-a-device-code-at-all-but-long-enough-0000"
		}, device.ErrInvalidGrant},
		{"another client's code is invalid_grant", func(t *testing.T) (string, string) {
			a, _ := f.approved(t)
			return "instance-b", a.DeviceCode
		}, device.ErrInvalidGrant},
		{"second redemption is invalid_grant", func(t *testing.T) (string, string) {
			a, _ := f.approved(t)
			poll(t, f, a, nil)
			f.clock.Advance(a.Interval)
			return "instance-a", a.DeviceCode
		}, device.ErrInvalidGrant},
		{"approved is redeemed", func(t *testing.T) (string, string) {
			a, _ := f.approved(t)
			return "instance-a", a.DeviceCode
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clientID, code := tt.setup(t)
			_, err := f.svc.Poll(ctx, clientID, code)
			if !errors.Is(err, tt.want) {
				t.Fatalf("poll: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPollReturnsTheApprovalOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, err := f.svc.Start(ctx, "instance-a", []string{"openid", "profile:read", "offline_access"})
	testenv.Must(t, err)
	poll(t, f, a, device.ErrAuthorizationPending)
	userID := f.user(t)
	testenv.Must(t, f.svc.Approve(ctx, a.UserCode, userID, []string{"offline_access", "openid"}))

	got, err := f.svc.Poll(ctx, "instance-a", a.DeviceCode)
	testenv.Must(t, err)
	if got.ID == "" || got.ClientID != "instance-a" || got.UserID != userID ||
		!slices.Equal(got.Scopes, []string{"offline_access", "openid"}) {
		t.Fatalf("approval %+v; want client instance-a, user %s, scopes [offline_access openid]", got, userID)
	}
	for range 3 {
		f.clock.Advance(time.Minute)
		if again, err := f.svc.Poll(ctx, "instance-a", a.DeviceCode); !errors.Is(err, device.ErrInvalidGrant) || again.UserID != "" {
			t.Fatalf("poll after redemption: %+v, %v; want invalid_grant and nothing else", again, err)
		}
	}
	if state := f.column(t, a.UserCode, "state"); state != "redeemed" {
		t.Fatalf("state %v, want redeemed", state)
	}
}

// TestSlowDownGrowsTheInterval: each slow_down adds 5 s to the flow's
// interval, and the next poll is measured against the new one.
func TestSlowDownGrowsTheInterval(t *testing.T) {
	f := newFixture(t)
	a := f.start(t)
	steps := []struct {
		after    time.Duration // since the previous poll
		want     error
		interval time.Duration // the flow's interval after this poll
	}{
		{0, device.ErrAuthorizationPending, 5 * time.Second},
		{2 * time.Second, device.ErrSlowDown, 10 * time.Second},
		// On time for the old interval, too soon for the new one.
		{5 * time.Second, device.ErrSlowDown, 15 * time.Second},
		{time.Second, device.ErrSlowDown, 20 * time.Second},
		{20 * time.Second, device.ErrAuthorizationPending, 20 * time.Second},
		{19 * time.Second, device.ErrAuthorizationPending, 20 * time.Second},
		{18 * time.Second, device.ErrSlowDown, 25 * time.Second},
		{25 * time.Second, device.ErrAuthorizationPending, 25 * time.Second},
	}
	for i, step := range steps {
		f.clock.Advance(step.after)
		out, err := f.svc.Poll(context.Background(), "instance-a", a.DeviceCode)
		if !errors.Is(err, step.want) || out.Interval != step.interval {
			t.Fatalf("poll %d, %v after the previous: %v with interval %v; want %v with %v", i, step.after, err, out.Interval, step.want, step.interval)
		}
		if stored := f.column(t, a.UserCode, "interval_seconds"); stored != int32(step.interval/time.Second) {
			t.Fatalf("poll %d: stored interval %v s, want %v", i, stored, step.interval)
		}
	}
}

// TestOnTimePollsNeverSlowDown: a device that waits its interval, or more
// by any jitter, is never told slow_down, even after its interval grew.
func TestOnTimePollsNeverSlowDown(t *testing.T) {
	f := newFixture(t)
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	tests := []struct {
		name string
		wait func(interval time.Duration) time.Duration
	}{
		{"exactly the interval", func(i time.Duration) time.Duration { return i }},
		{"the interval plus jitter in [0, 2s)", func(i time.Duration) time.Duration {
			return i + time.Duration(rng.Int64N(int64(2*time.Second)))
		}},
		{"up to a second early (the tolerance)", func(i time.Duration) time.Duration {
			return i - time.Duration(rng.Int64N(int64(time.Second)+1))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, slowed := range []bool{false, true} {
				t.Run(fmt.Sprintf("slowed down first %v", slowed), func(t *testing.T) {
					a := f.start(t)
					interval := a.Interval
					poll(t, f, a, device.ErrAuthorizationPending)
					if slowed {
						poll(t, f, a, device.ErrSlowDown)
						interval += 5 * time.Second
					}
					for i := range 40 {
						wait := tt.wait(interval)
						f.clock.Advance(wait)
						out, err := f.svc.Poll(context.Background(), "instance-a", a.DeviceCode)
						if !errors.Is(err, device.ErrAuthorizationPending) || out.Interval != interval {
							t.Fatalf("poll %d, %v after the previous with interval %v: %v, interval %v", i, wait, interval, err, out.Interval)
						}
					}
				})
			}
		})
	}
}

func TestCodeIsTheWireError(t *testing.T) {
	tests := []struct {
		err  error
		code string
		ok   bool
	}{
		{device.ErrAuthorizationPending, "authorization_pending", true},
		{device.ErrSlowDown, "slow_down", true},
		{device.ErrAccessDenied, "access_denied", true},
		{device.ErrExpiredToken, "expired_token", true},
		{device.ErrInvalidGrant, "invalid_grant", true},
		{fmt.Errorf("wrapped: %w", device.ErrSlowDown), "slow_down", true},
		{errors.New("connection refused"), "", false},
		{device.ErrUnknownUserCode, "", false},
		{nil, "", false},
	}
	for _, tt := range tests {
		code, ok := device.Code(tt.err)
		if code != tt.code || ok != tt.ok {
			t.Errorf("Code(%v) = %q, %v; want %q, %v", tt.err, code, ok, tt.code, tt.ok)
		}
		var e *device.Error
		if errors.As(tt.err, &e) && e.Code() != tt.code {
			t.Errorf("%v.Code() = %q, want %q", tt.err, e.Code(), tt.code)
		}
	}
}

// poll polls a's flow as its client, now, and fails unless the outcome is want.
func poll(t *testing.T, f *fixture, a device.Authorization, want error) device.Outcome {
	t.Helper()
	out, err := f.svc.Poll(context.Background(), "instance-a", a.DeviceCode)
	if !errors.Is(err, want) {
		t.Fatalf("poll: %v, want %v", err, want)
	}
	return out
}
