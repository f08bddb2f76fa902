package accounts_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

func TestAccountEmailVerification(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewClock(time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC))
	a, s := newAccounts(t, accounts.Options{Now: clock.Now})
	acct, err := s.SignUp(ctx, accounts.SignUp{Name: "Anne", Email: "Anne@example.test", Password: "correct horse battery"})
	testenv.Must(t, err)
	v, err := s.NewVerification(ctx, acct.ID)
	testenv.Must(t, err)
	if len(v.Token) != 43 || v.Email != "Anne@example.test" || !v.ExpiresAt.Equal(clock.Now().Add(48*time.Hour)) {
		t.Fatalf("verification = %d-character token, %q, expires %v", len(v.Token), v.Email, v.ExpiresAt)
	}
	// Only the token's SHA-256 is stored.
	sum := sha256.Sum256([]byte(v.Token))
	var stored []byte
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT token_hash FROM email_verifications WHERE user_id = $1`, acct.ID).Scan(&stored))
	if string(stored) != string(sum[:]) {
		t.Fatal("the stored value is not the token's SHA-256")
	}
	verifiedAt := func() *time.Time {
		var at *time.Time
		testenv.Must(t, a.DB.QueryRow(ctx, `SELECT email_verified_at FROM users WHERE id = $1`, acct.ID).Scan(&at))
		return at
	}
	sess, err := s.StartSession(ctx, acct.ID)
	testenv.Must(t, err)
	if sess.Account.EmailVerified || verifiedAt() != nil {
		t.Fatal("verified before the link was followed")
	}

	for _, bad := range []string{"", "garbage", accounts.NewToken()} {
		if _, err := s.VerifyEmail(ctx, bad); !errors.Is(err, accounts.ErrVerificationUnknown) {
			t.Fatalf("token %q: %v", bad, err)
		}
	}
	clock.Advance(48*time.Hour - time.Second)
	got, err := s.VerifyEmail(ctx, v.Token)
	testenv.Must(t, err)
	if got.UserID != acct.ID || got.Email != "Anne@example.test" {
		t.Fatalf("verified %+v", got)
	}
	if at := verifiedAt(); at == nil || !at.Equal(clock.Now()) {
		t.Fatalf("email_verified_at = %v, want %v", at, clock.Now())
	}
	if sess, err := s.Session(ctx, sess.Token); err != nil || !sess.Account.EmailVerified {
		t.Fatalf("session after verification: %+v %v", sess.Account, err)
	}
	if _, err := s.VerifyEmail(ctx, v.Token); !errors.Is(err, accounts.ErrVerificationUsed) {
		t.Fatalf("second use: %v", err)
	}
	if _, err := s.NewVerification(ctx, acct.ID); !errors.Is(err, accounts.ErrAlreadyVerified) {
		t.Fatalf("new link once verified: %v", err)
	}
	if _, err := s.RequestVerification(ctx, acct.ID); !errors.Is(err, accounts.ErrAlreadyVerified) {
		t.Fatalf("asked-for link once verified: %v", err)
	}
}

func TestAccountEmailVerificationExpires(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewClock(time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC))
	a, s := newAccounts(t, accounts.Options{Now: clock.Now})
	acct, err := s.SignUp(ctx, accounts.SignUp{Name: "Bob", Email: "bob@example.test", Password: "correct horse battery"})
	testenv.Must(t, err)
	v, err := s.NewVerification(ctx, acct.ID)
	testenv.Must(t, err)
	clock.Advance(48 * time.Hour)
	if _, err := s.VerifyEmail(ctx, v.Token); !errors.Is(err, accounts.ErrVerificationExpired) {
		t.Fatalf("expired link: %v", err)
	}
	var verified bool
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT email_verified_at IS NOT NULL FROM users WHERE id = $1`, acct.ID).Scan(&verified))
	if verified {
		t.Fatal("an expired link verified the address")
	}
	// A link for an address the user no longer has verifies nothing.
	v2, err := s.NewVerification(ctx, acct.ID)
	testenv.Must(t, err)
	_, err = a.DB.Exec(ctx, `UPDATE users SET email = 'robert@example.test' WHERE id = $1`, acct.ID)
	testenv.Must(t, err)
	if _, err := s.VerifyEmail(ctx, v2.Token); !errors.Is(err, accounts.ErrVerificationUnknown) {
		t.Fatalf("link for an old address: %v", err)
	}
}

func TestAccountVerificationMailLimit(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewClock(time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC))
	_, s := newAccounts(t, accounts.Options{Now: clock.Now})
	acct, err := s.SignUp(ctx, accounts.SignUp{Name: "Anne", Email: "anne@example.test", Password: "correct horse battery"})
	testenv.Must(t, err)
	// The sign-up's link is not counted.
	_, err = s.NewVerification(ctx, acct.ID)
	testenv.Must(t, err)
	for range accounts.VerificationMailLimit {
		_, err := s.RequestVerification(ctx, acct.ID)
		testenv.Must(t, err)
	}
	_, err = s.RequestVerification(ctx, acct.ID)
	var le *accounts.LimitError
	if !errors.As(err, &le) || le.RetryAfter <= 0 || le.RetryAfter > accounts.VerificationMailWindow {
		t.Fatalf("over the limit: %v", err)
	}
	clock.Advance(accounts.VerificationMailWindow)
	_, err = s.RequestVerification(ctx, acct.ID)
	testenv.Must(t, err)
}

func TestAccountChangePassword(t *testing.T) {
	ctx := context.Background()
	a, s := newAccounts(t, accounts.Options{SignInLimit: 3})
	acct, err := s.SignUp(ctx, accounts.SignUp{Name: "Anne", Email: "anne@example.test", Password: "correct horse battery"})
	testenv.Must(t, err)
	current, err := s.StartSession(ctx, acct.ID)
	testenv.Must(t, err)
	other, err := s.StartSession(ctx, acct.ID)
	testenv.Must(t, err)
	storedHash := func() string {
		var h string
		testenv.Must(t, a.DB.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, acct.ID).Scan(&h))
		return h
	}
	before := storedHash()
	for _, tc := range []struct {
		name  string
		in    accounts.PasswordChange
		field string
	}{
		{"short", accounts.PasswordChange{Current: "correct horse battery", New: "short", Again: "short"}, "new_password"},
		{"not the same twice", accounts.PasswordChange{Current: "correct horse battery", New: "a new long password", Again: "a new long passw0rd"}, "new_password_again"},
		{"no current password", accounts.PasswordChange{New: "a new long password", Again: "a new long password"}, "current_password"},
		{"the current one again", accounts.PasswordChange{Current: "correct horse battery", New: "correct horse battery", Again: "correct horse battery"}, "new_password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.ChangePassword(ctx, current, tc.in)
			var fe *accounts.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("err = %v, want a field error on %s", err, tc.field)
			}
		})
	}
	if _, err := s.ChangePassword(ctx, current, accounts.PasswordChange{Current: "wrong password!", New: "a new long password", Again: "a new long password", IP: "192.0.2.1"}); !errors.Is(err, accounts.ErrBadCredentials) {
		t.Fatalf("wrong current password: %v", err)
	}
	if storedHash() != before {
		t.Fatal("refused changes changed the password")
	}
	if _, err := s.Session(ctx, other.Token); err != nil {
		t.Fatalf("refused changes ended the other session: %v", err)
	}

	ended, err := s.ChangePassword(ctx, current, accounts.PasswordChange{Current: "correct horse battery", New: "a new long password", Again: "a new long password", IP: "192.0.2.1"})
	testenv.Must(t, err)
	if ended != 1 {
		t.Fatalf("ended %d sessions, want 1", ended)
	}
	if _, err := s.Session(ctx, other.Token); !errors.Is(err, accounts.ErrNoSession) {
		t.Fatalf("other session after the change: %v", err)
	}
	if _, err := s.Session(ctx, current.Token); err != nil {
		t.Fatalf("current session after the change: %v", err)
	}
	if _, err := s.SignIn(ctx, "anne@example.test", "correct horse battery", "192.0.2.2"); !errors.Is(err, accounts.ErrBadCredentials) {
		t.Fatalf("old password: %v", err)
	}
	_, err = s.SignIn(ctx, "anne@example.test", "a new long password", "192.0.2.2")
	testenv.Must(t, err)
}

// A wrong current password is a failed sign-in: both draw on one limit,
// the account's at that address.
func TestAccountChangePasswordLimit(t *testing.T) {
	ctx := context.Background()
	_, s := newAccounts(t, accounts.Options{SignInLimit: 2})
	acct, err := s.SignUp(ctx, accounts.SignUp{Name: "Anne", Email: "anne@example.test", Password: "correct horse battery"})
	testenv.Must(t, err)
	sess, err := s.StartSession(ctx, acct.ID)
	testenv.Must(t, err)
	wrong := accounts.PasswordChange{Current: "wrong password!", New: "a new long password", Again: "a new long password", IP: "192.0.2.1"}
	if _, err := s.ChangePassword(ctx, sess, wrong); !errors.Is(err, accounts.ErrBadCredentials) {
		t.Fatalf("wrong current password: %v", err)
	}
	if _, err := s.SignIn(ctx, "anne@example.test", "wrong password!", "192.0.2.1"); !errors.Is(err, accounts.ErrBadCredentials) {
		t.Fatalf("wrong sign-in: %v", err)
	}
	right := wrong
	right.Current = "correct horse battery"
	if _, err := s.ChangePassword(ctx, sess, right); !errors.Is(err, accounts.ErrRateLimited) {
		t.Fatalf("over the account's limit at the address: %v", err)
	}
	if _, err := s.SignIn(ctx, "anne@example.test", "correct horse battery", "192.0.2.1"); !errors.Is(err, accounts.ErrRateLimited) {
		t.Fatalf("sign-in over the account's limit at the address: %v", err)
	}
	// Elsewhere the owner still signs in: guessing does not lock them out.
	_, err = s.SignIn(ctx, "anne@example.test", "correct horse battery", "192.0.2.9")
	testenv.Must(t, err)
}
