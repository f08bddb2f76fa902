package device_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc/device"
)

// TestUserCodeForms: what the user types is accepted in any case, with or
// without the dash, with spaces, by Lookup, Approve and Deny alike.
func TestUserCodeForms(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	forms := []struct {
		name string
		form func(shown string) string
	}{
		{"as shown", func(s string) string { return s }},
		{"lower case with dash", strings.ToLower},
		{"upper case without dash", func(s string) string { return strings.ReplaceAll(s, "-", "") }},
		{"spaces instead of the dash, around it too", func(s string) string {
			return " " + strings.ToLower(strings.ReplaceAll(s, "-", " ")) + " "
		}},
		{"mixed case", func(s string) string { return strings.ToLower(s[:2]) + s[2:] }},
	}
	for _, tt := range forms {
		t.Run(tt.name, func(t *testing.T) {
			a := f.start(t)
			typed := tt.form(a.UserCode)
			p, err := f.svc.Lookup(ctx, typed)
			testenv.Must(t, err)
			if p.UserCode != a.UserCode || p.ClientID != "instance-a" || !p.ExpiresAt.Equal(a.ExpiresAt) ||
				!slices.Equal(p.Scopes, []string{"openid", "profile:read"}) || p.ID == "" {
				t.Fatalf("lookup %q: %+v; want %s for instance-a, openid profile:read, expiring %v", typed, p, a.UserCode, a.ExpiresAt)
			}
			userID := f.user(t)
			testenv.Must(t, f.svc.Approve(ctx, typed, userID, []string{"openid"}))
			out := poll(t, f, a, nil)
			if out.UserID != userID || !slices.Equal(out.Scopes, []string{"openid"}) || out.ID != p.ID {
				t.Fatalf("approval %+v, want user %s with openid, flow %s", out, userID, p.ID)
			}

			denied := f.start(t)
			testenv.Must(t, f.svc.Deny(ctx, tt.form(denied.UserCode)))
			poll(t, f, denied, device.ErrAccessDenied)
		})
	}
}

// TestUnknownUserCodeTellsNothing: a code that never existed, is mistyped,
// expired or already decided gets the same error from Lookup.
func TestUnknownUserCodeTellsNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name string
		code func(t *testing.T) string
	}{
		// Well formed; one flow in 20^8 could have drawn it.
		{"never issued", func(t *testing.T) string { f.start(t); return "BCDF-GHJK" }},
		{"too short", func(*testing.T) string { return "BCDF-GHJ" }},
		{"not in the alphabet", func(*testing.T) string { return "AEIO-U012" }},
		{"empty", func(*testing.T) string { return "" }},
		{"expired", func(t *testing.T) string {
			a := f.start(t)
			f.clock.Advance(device.DefaultLifetime)
			return a.UserCode
		}},
		{"approved", func(t *testing.T) string {
			a, _ := f.approved(t)
			return a.UserCode
		}},
		{"denied", func(t *testing.T) string {
			a := f.start(t)
			testenv.Must(t, f.svc.Deny(ctx, a.UserCode))
			return a.UserCode
		}},
		{"redeemed", func(t *testing.T) string {
			a, _ := f.approved(t)
			poll(t, f, a, nil)
			return a.UserCode
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := tt.code(t)
			_, err := f.svc.Lookup(ctx, code)
			if err != device.ErrUnknownUserCode {
				t.Fatalf("lookup %q: %v, want exactly ErrUnknownUserCode", code, err)
			}
			if err := f.svc.Approve(ctx, code, f.user(t), nil); err != device.ErrUnknownUserCode {
				t.Fatalf("approve %q: %v, want exactly ErrUnknownUserCode", code, err)
			}
			if err := f.svc.Deny(ctx, code); err != device.ErrUnknownUserCode {
				t.Fatalf("deny %q: %v, want exactly ErrUnknownUserCode", code, err)
			}
		})
	}
}

// TestDecisionRules: a flow is decided once, only while pending and
// unexpired, only with scopes it asked for; a refused decision changes
// nothing.
func TestDecisionRules(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name string
		// decide makes the decision under test on a fresh flow (after any
		// earlier ones) and returns its error.
		decide func(t *testing.T, a device.Authorization) error
		want   error
		// then is what the device's next poll gets.
		then error
	}{
		{"approve a subset", func(t *testing.T, a device.Authorization) error {
			return f.svc.Approve(ctx, a.UserCode, f.user(t), []string{"profile:read"})
		}, nil, nil},
		{"approve no scope at all", func(t *testing.T, a device.Authorization) error {
			return f.svc.Approve(ctx, a.UserCode, f.user(t), nil)
		}, nil, nil},
		{"approve a scope not asked", func(t *testing.T, a device.Authorization) error {
			return f.svc.Approve(ctx, a.UserCode, f.user(t), []string{"openid", "admin"})
		}, device.ErrScopeNotRequested, device.ErrAuthorizationPending},
		{"approve a malformed scope", func(t *testing.T, a device.Authorization) error {
			if err := f.svc.Approve(ctx, a.UserCode, f.user(t), []string{"openid profile:read"}); err == nil {
				t.Fatal("approved a scope with a space")
			}
			return nil
		}, nil, device.ErrAuthorizationPending},
		{"approve for a user that does not exist", func(t *testing.T, a device.Authorization) error {
			for _, id := range []string{"00000000-0000-0000-0000-000000000000", "not-a-uuid"} {
				if err := f.svc.Approve(ctx, a.UserCode, id, []string{"openid"}); err == nil || errors.Is(err, device.ErrUnknownUserCode) {
					t.Fatalf("approve for user %q: %v, want an error about the user", id, err)
				}
			}
			return nil
		}, nil, device.ErrAuthorizationPending},
		{"approve after deny", func(t *testing.T, a device.Authorization) error {
			testenv.Must(t, f.svc.Deny(ctx, a.UserCode))
			return f.svc.Approve(ctx, a.UserCode, f.user(t), []string{"openid"})
		}, device.ErrUnknownUserCode, device.ErrAccessDenied},
		{"deny after approve", func(t *testing.T, a device.Authorization) error {
			testenv.Must(t, f.svc.Approve(ctx, a.UserCode, f.user(t), []string{"openid"}))
			return f.svc.Deny(ctx, a.UserCode)
		}, device.ErrUnknownUserCode, nil},
		{"approve twice", func(t *testing.T, a device.Authorization) error {
			testenv.Must(t, f.svc.Approve(ctx, a.UserCode, f.user(t), []string{"openid"}))
			return f.svc.Approve(ctx, a.UserCode, f.user(t), []string{"openid", "profile:read"})
		}, device.ErrUnknownUserCode, nil},
		{"deny twice", func(t *testing.T, a device.Authorization) error {
			testenv.Must(t, f.svc.Deny(ctx, a.UserCode))
			return f.svc.Deny(ctx, a.UserCode)
		}, device.ErrUnknownUserCode, device.ErrAccessDenied},
		{"approve when expired", func(t *testing.T, a device.Authorization) error {
			f.clock.Advance(device.DefaultLifetime)
			return f.svc.Approve(ctx, a.UserCode, f.user(t), []string{"openid"})
		}, device.ErrUnknownUserCode, device.ErrExpiredToken},
		{"approve a second before expiry", func(t *testing.T, a device.Authorization) error {
			f.clock.Advance(device.DefaultLifetime - time.Second)
			return f.svc.Approve(ctx, a.UserCode, f.user(t), []string{"openid"})
		}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := f.start(t)
			before := rowText(t, f)
			err := tt.decide(t, a)
			if !errors.Is(err, tt.want) {
				t.Fatalf("decision: %v, want %v", err, tt.want)
			}
			if tt.then == device.ErrAuthorizationPending && rowText(t, f) != before {
				t.Fatalf("a refused decision changed the flow:\n%s\nbecame\n%s", before, rowText(t, f))
			}
			poll(t, f, a, tt.then)
		})
	}
}

// TestApproveKeepsTheFirstDecision: an approval and a denial racing on one
// flow, from two connections: exactly one wins and the device sees it.
func TestApproveKeepsTheFirstDecision(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for range 10 {
		a := f.start(t)
		userID := f.user(t)
		errs := make(chan error, 2)
		go func() { errs <- f.svc.Approve(ctx, a.UserCode, userID, []string{"openid"}) }()
		go func() { errs <- f.svc.Deny(ctx, a.UserCode) }()
		e1, e2 := <-errs, <-errs
		if (e1 == nil) == (e2 == nil) || (e1 != nil && e1 != device.ErrUnknownUserCode) || (e2 != nil && e2 != device.ErrUnknownUserCode) {
			t.Fatalf("approve and deny racing: %v and %v, want one success and one ErrUnknownUserCode", e1, e2)
		}
		state := f.column(t, a.UserCode, "state")
		want := map[any]error{"approved": nil, "denied": device.ErrAccessDenied}
		then, ok := want[state]
		if !ok {
			t.Fatalf("state %v after the race", state)
		}
		poll(t, f, a, then)
	}
}

// rowText is every flow, as text, newest last.
func rowText(t *testing.T, f *fixture) string {
	t.Helper()
	rows, err := f.db.Query(context.Background(), `SELECT t::text FROM device_authorizations t ORDER BY created_at, id`)
	testenv.Must(t, err)
	var out []string
	for rows.Next() {
		var s string
		testenv.Must(t, rows.Scan(&s))
		out = append(out, s)
	}
	testenv.Must(t, rows.Err())
	return strings.Join(out, "\n")
}
