package app_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/pats"
)

// TestClockReachesTheServices: the clock given to app.New is the one the
// services it builds keep time by, so that a test moves time for the whole
// object graph: a personal access token stops working, through the public
// API, once the clock passes its expiry.
func TestClockReachesTheServices(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewClock(time.Now())
	a := testenv.App(t, testenv.Config(t), testenv.Options{Clock: clock})
	anne := testenv.User(t, a, "anne@example.test")
	exp := clock.Now().Add(time.Hour)
	secret, _, err := a.PATs.Create(ctx, pats.NewToken{UserID: anne.ID, Name: "ci", ExpiresAt: &exp, Via: pats.ViaOperator})
	testenv.Must(t, err)
	list := func() int {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/api/v1/personal-access-tokens", nil)
		r.Header.Set("Authorization", "Bearer "+secret)
		a.Handler.ServeHTTP(w, r)
		return w.Code
	}
	if code := list(); code != http.StatusOK {
		t.Fatalf("with a live token: %d, want 200", code)
	}
	clock.Advance(time.Hour)
	if code := list(); code != http.StatusUnauthorized {
		t.Fatalf("an hour on, past the token's expiry: %d, want 401", code)
	}
}

// TestAttemptLimitsComeFromTheConfiguration: the sign-in limit is the
// configuration's, and its default is the accounts package's.
func TestAttemptLimitsComeFromTheConfiguration(t *testing.T) {
	cfg := testenv.Config(t)
	if cfg.SignInLimit != accounts.DefaultSignInLimit || cfg.SignInWindow != accounts.DefaultSignInWindow ||
		cfg.CodeLimit != accounts.DefaultCodeLimit || cfg.CodeWindow != accounts.DefaultCodeWindow {
		t.Errorf("default limits %d per %s and %d per %s, want accounts' %d per %s and %d per %s",
			cfg.SignInLimit, cfg.SignInWindow, cfg.CodeLimit, cfg.CodeWindow,
			accounts.DefaultSignInLimit, accounts.DefaultSignInWindow, accounts.DefaultCodeLimit, accounts.DefaultCodeWindow)
	}
	ctx := context.Background()
	cfg.SignInLimit = 2
	// Stopped: the limit counts in fixed windows of the clock.
	a := testenv.App(t, cfg, testenv.Options{Clock: testenv.NewClock(time.Now())})
	_, err := a.Accounts.SignUp(ctx, accounts.SignUp{Name: "Anne", Email: "anne@example.test", Password: "correct horse battery"})
	testenv.Must(t, err)
	for range 2 {
		if _, err := a.Accounts.SignIn(ctx, "anne@example.test", "wrong password!", "192.0.2.1"); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	var le *accounts.LimitError
	if _, err := a.Accounts.SignIn(ctx, "anne@example.test", "correct horse battery", "192.0.2.1"); !errors.As(err, &le) {
		t.Fatalf("after 2 failures with CAIDO_CLOUD_SIGN_IN_LIMIT=2: %v, want a *LimitError", err)
	}
}
