package device

// These tests see the package's insides, so they cannot import testenv (it
// imports app, which imports this package): no database here.

import (
	"testing"
	"time"
)

func TestNormaliseUserCode(t *testing.T) {
	tests := []struct {
		typed, want string
		ok          bool
	}{
		{"BCDF-GHJK", "BCDFGHJK", true},
		{"bcdf-ghjk", "BCDFGHJK", true},
		{"BCDFGHJK", "BCDFGHJK", true},
		{" bcdf ghjk ", "BCDFGHJK", true},
		{"bC-dF-gH-jK", "BCDFGHJK", true},
		{"BCDF-GHJ", "", false},   // too short
		{"BCDF-GHJKL", "", false}, // too long
		{"BCDF-GHJA", "", false},  // a vowel
		{"BCDF-GHJ1", "", false},  // a digit
		{"BCDF_GHJK", "", false},  // other separators are typos, not codes
		{"ſCDF-GHJK", "", false},  // no Unicode case folding into the alphabet
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := normaliseUserCode(tt.typed)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normaliseUserCode(%q) = %q, %v; want %q, %v", tt.typed, got, ok, tt.want, tt.ok)
		}
	}
}

// TestJudge: the order in which RFC 8628's answers take precedence, and
// the pacing rule at its edges.
func TestJudge(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	pending := flow{clientID: "c", state: "pending", interval: 5 * time.Second, expiresAt: now.Add(time.Minute)}
	with := func(change func(*flow)) flow { f := pending; change(&f); return f }
	tests := []struct {
		name     string
		flow     flow
		client   string
		want     error
		interval time.Duration
	}{
		{"first poll", pending, "c", ErrAuthorizationPending, 5 * time.Second},
		{"another client", pending, "d", ErrInvalidGrant, 0},
		{"another client, approved", with(func(f *flow) { f.state = "approved" }), "d", ErrInvalidGrant, 0},
		{"redeemed, even once expired", with(func(f *flow) { f.state, f.expiresAt = "redeemed", now }), "c", ErrInvalidGrant, 0},
		{"expired at the instant", with(func(f *flow) { f.expiresAt = now }), "c", ErrExpiredToken, 0},
		{"expired beats approved", with(func(f *flow) { f.state, f.expiresAt = "approved", now.Add(-time.Second) }), "c", ErrExpiredToken, 0},
		{"denied", with(func(f *flow) { f.state = "denied" }), "c", ErrAccessDenied, 0},
		{"approved, even polled too soon", with(func(f *flow) { f.state, f.lastPolledAt = "approved", at(0) }), "c", nil, 0},
		{"on time", with(func(f *flow) { f.lastPolledAt = at(-5 * time.Second) }), "c", ErrAuthorizationPending, 5 * time.Second},
		{"at the tolerance", with(func(f *flow) { f.lastPolledAt = at(-4 * time.Second) }), "c", ErrAuthorizationPending, 5 * time.Second},
		{"past the tolerance", with(func(f *flow) { f.lastPolledAt = at(-4*time.Second + time.Microsecond) }), "c", ErrSlowDown, 10 * time.Second},
		{"at once", with(func(f *flow) { f.lastPolledAt = at(0) }), "c", ErrSlowDown, 10 * time.Second},
		{"slowed down before", with(func(f *flow) { f.interval, f.lastPolledAt = 10*time.Second, at(-6*time.Second) }), "c", ErrSlowDown, 15 * time.Second},
	}
	for _, tt := range tests {
		v := judge(tt.flow, tt.client, now)
		if v.err != tt.want || v.interval != tt.interval || v.record != (tt.interval != 0) {
			t.Errorf("%s: %v (record %v, interval %v); want %v, interval %v", tt.name, v.err, v.record, v.interval, tt.want, tt.interval)
		}
	}
}
