package device_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc/device"
)

var userCodeFormat = regexp.MustCompile(`^[` + device.UserCodeAlphabet + `]{4}-[` + device.UserCodeAlphabet + `]{4}$`)

func TestStartIssuesCodesWithDefaults(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	a, b := f.start(t), f.start(t)
	for _, got := range []device.Authorization{a, b} {
		raw, err := base64.RawURLEncoding.DecodeString(got.DeviceCode)
		if len(got.DeviceCode) < 43 || err != nil || len(raw) != 32 {
			t.Errorf("device code %d chars (decode err %v, %d bytes): want ≥ 43 base64url chars of 32 bytes", len(got.DeviceCode), err, len(raw))
		}
		if !userCodeFormat.MatchString(got.UserCode) {
			t.Errorf("user code %q does not match %s", got.UserCode, userCodeFormat)
		}
		if got.ExpiresIn != 600*time.Second || got.Interval != 5*time.Second || !got.ExpiresAt.Equal(now.Add(600*time.Second)) {
			t.Errorf("expires in %v at %v, interval %v: want 10m0s at %v, 5s", got.ExpiresIn, got.ExpiresAt, got.Interval, now.Add(600*time.Second))
		}
	}
	if a.DeviceCode == b.DeviceCode || a.UserCode == b.UserCode {
		t.Errorf("two flows share a code: %q/%q, %q/%q", a.DeviceCode, b.DeviceCode, a.UserCode, b.UserCode)
	}
}

func TestStartHonoursOptions(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name               string
		opts               device.Options
		lifetime, interval time.Duration
	}{
		{"custom", device.Options{Lifetime: 2 * time.Minute, Interval: 7 * time.Second}, 2 * time.Minute, 7 * time.Second},
		{"sub-second interval rounds up to the wire's second", device.Options{Interval: 1500 * time.Millisecond}, 10 * time.Minute, 2 * time.Second},
		{"zero is the default", device.Options{}, 10 * time.Minute, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Now = f.clock.Now
			a, err := device.New(f.db, tt.opts).Start(context.Background(), "instance-a", nil)
			testenv.Must(t, err)
			if a.ExpiresIn != tt.lifetime || a.Interval != tt.interval {
				t.Errorf("expires in %v, interval %v; want %v, %v", a.ExpiresIn, a.Interval, tt.lifetime, tt.interval)
			}
			if got := f.column(t, a.UserCode, "interval_seconds"); got != int32(tt.interval/time.Second) {
				t.Errorf("stored interval %v, want %v", got, tt.interval)
			}
		})
	}
}

// TestThousandUserCodes: every code is in the alphabet (so no vowel, no
// digit), distinct, and the characters are spread evenly.
func TestThousandUserCodes(t *testing.T) {
	f := newFixture(t)
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 1000 {
		a := f.start(t)
		if !userCodeFormat.MatchString(a.UserCode) || strings.ContainsAny(a.UserCode, "AEIOUY0123456789") {
			t.Fatalf("user code %q is not XXXX-XXXX over %s", a.UserCode, device.UserCodeAlphabet)
		}
		if seen[a.UserCode] {
			t.Fatalf("user code %q issued twice", a.UserCode)
		}
		seen[a.UserCode] = true
		for _, r := range strings.ReplaceAll(a.UserCode, "-", "") {
			counts[r]++
		}
	}
	// 8000 draws of 20 letters: 400 each, σ ≈ 19.5; [250, 550] is ±7.7σ.
	for _, r := range device.UserCodeAlphabet {
		if counts[r] < 250 || counts[r] > 550 {
			t.Errorf("%c drawn %d times in 8000, want about 400", r, counts[r])
		}
	}
}

func TestDatabaseHoldsNoPlaintextDeviceCode(t *testing.T) {
	f := newFixture(t)
	a := f.start(t)
	raw, err := base64.RawURLEncoding.DecodeString(a.DeviceCode)
	testenv.Must(t, err)
	sum := sha256.Sum256([]byte(a.DeviceCode))

	var row string
	testenv.Must(t, f.db.QueryRow(context.Background(), `SELECT t::text FROM device_authorizations t`).Scan(&row))
	for _, leak := range []string{a.DeviceCode, hex.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw)} {
		if strings.Contains(row, leak) {
			t.Fatalf("the stored row %s holds the device code (as %q)", row, leak)
		}
	}
	if !strings.Contains(row, hex.EncodeToString(sum[:])) {
		t.Fatalf("the stored row %s does not hold the device code's SHA-256", row)
	}
}

func TestStartRejectsBadRequests(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name     string
		clientID string
		scopes   []string
	}{
		{"no client", "", []string{"openid"}},
		{"empty scope", "instance-a", []string{"openid", ""}},
		{"scope with a space", "instance-a", []string{"openid profile"}},
		{"scope with a quote", "instance-a", []string{`a"b`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.svc.Start(context.Background(), tt.clientID, tt.scopes); err == nil {
				t.Fatal("started")
			}
		})
	}
	var n int
	testenv.Must(t, f.db.QueryRow(context.Background(), `SELECT count(*) FROM device_authorizations`).Scan(&n))
	if n != 0 {
		t.Fatalf("%d rows written by refused starts", n)
	}
}

func TestStartDropsRepeatedScopes(t *testing.T) {
	f := newFixture(t)
	a, err := f.svc.Start(context.Background(), "instance-a", []string{"openid", "profile:read", "openid"})
	testenv.Must(t, err)
	p, err := f.svc.Lookup(context.Background(), a.UserCode)
	testenv.Must(t, err)
	if strings.Join(p.Scopes, " ") != "openid profile:read" {
		t.Fatalf("scopes %q, want openid profile:read", p.Scopes)
	}
}

// TestPrune: expired rows stay an hour (a late poll is told expired_token),
// then go, whether by Prune or by the next Start.
func TestPrune(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	old := f.start(t)
	f.clock.Advance(10*time.Minute + 59*time.Minute)
	if n, err := f.svc.Prune(ctx); err != nil || n != 0 {
		t.Fatalf("prune within the hour after expiry: %d, %v; want 0", n, err)
	}
	if _, err := f.svc.Poll(ctx, "instance-a", old.DeviceCode); !errors.Is(err, device.ErrExpiredToken) {
		t.Fatalf("poll expired code: %v, want expired_token", err)
	}
	f.clock.Advance(2 * time.Minute)
	if n, err := f.svc.Prune(ctx); err != nil || n != 1 {
		t.Fatalf("prune: %d, %v; want 1", n, err)
	}
	if _, err := f.svc.Poll(ctx, "instance-a", old.DeviceCode); !errors.Is(err, device.ErrInvalidGrant) {
		t.Fatalf("poll pruned code: %v, want invalid_grant", err)
	}

	// The next Start prunes on its own.
	f.start(t)
	f.clock.Advance(2 * time.Hour)
	f.start(t)
	var n int
	testenv.Must(t, f.db.QueryRow(ctx, `SELECT count(*) FROM device_authorizations`).Scan(&n))
	if n != 1 {
		t.Fatalf("%d rows after a Start two hours on, want 1 (the expired one pruned)", n)
	}
}

// TestStartRetriesTakenUserCodes forces collisions: a taken code is redrawn,
// and a Start that draws only taken codes fails instead of looping.
func TestStartRetriesTakenUserCodes(t *testing.T) {
	ctx := context.Background()
	s := newFixture(t).svc
	draws := []string{"BBBBBBBB", "BBBBBBBB", "CCCCCCCC"}
	t.Cleanup(device.SetUserCodeDraw(func() string {
		if len(draws) == 0 {
			return "BBBBBBBB"
		}
		c := draws[0]
		draws = draws[1:]
		return c
	}))

	first, err := s.Start(ctx, "c", nil)
	testenv.Must(t, err)
	second, err := s.Start(ctx, "c", nil)
	testenv.Must(t, err)
	if first.UserCode != "BBBB-BBBB" || second.UserCode != "CCCC-CCCC" {
		t.Fatalf("user codes %q then %q, want BBBB-BBBB then CCCC-CCCC", first.UserCode, second.UserCode)
	}
	if _, err := s.Start(ctx, "c", nil); err == nil {
		t.Fatal("started with every draw taken")
	}
	if _, err := s.Lookup(ctx, "bbbb-bbbb"); err != nil {
		t.Fatalf("the first flow was disturbed: %v", err)
	}
	if p, err := s.Lookup(ctx, "CCCCCCCC"); err != nil || p.UserCode != "CCCC-CCCC" {
		t.Fatalf("lookup CCCCCCCC: %+v, %v", p, err)
	}
}
