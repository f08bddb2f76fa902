package accounts_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

func newAccounts(t *testing.T, opts accounts.Options) (*app.App, *accounts.Service) {
	t.Helper()
	a := testenv.App(t, testenv.Config(t), testenv.Options{})
	testenv.RunOutbox(t, a)
	if opts.Now == nil {
		// Stopped: the limits count in fixed windows of the clock, and a
		// test that crossed into the next one would find its count gone.
		opts.Now = testenv.NewClock(time.Now()).Now
	}
	if opts.SignUpLimit == 0 {
		// The tests sign many up from no address ("" is one address);
		// TestSignUpLimits sets its own.
		opts.SignUpLimit = 1000
	}
	return a, accounts.New(a.DB, a.Access, opts)
}

func countUsers(t *testing.T, a *app.App) int {
	t.Helper()
	var n int
	testenv.Must(t, a.DB.QueryRow(context.Background(), `SELECT count(*) FROM users`).Scan(&n))
	return n
}

func TestAccountSignUp(t *testing.T) {
	ctx := context.Background()
	a, s := newAccounts(t, accounts.Options{})
	acct, err := s.SignUp(ctx, accounts.SignUp{Name: " Anne ", Email: "Anne@Example.test", Password: "correct horse battery", UserAgent: "Mozilla/5.0 test"})
	testenv.Must(t, err)
	if acct.Name != "Anne" || acct.Email != "Anne@Example.test" || acct.DefaultWorkspaceID == "" {
		t.Fatalf("account = %+v", acct)
	}
	var hash, ua string
	var verified *time.Time
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT password_hash, signup_user_agent, email_verified_at FROM users WHERE id = $1`, acct.ID).
		Scan(&hash, &ua, &verified))
	if !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, "correct horse") {
		t.Errorf("stored password hash %q is not an argon2id hash", hash)
	}
	if ua != "Mozilla/5.0 test" {
		t.Errorf("signup_user_agent = %q", ua)
	}
	if verified != nil {
		t.Errorf("email_verified_at = %v, want NULL until verification exists", verified)
	}
	testenv.AssertCheck(t, a, acct.ID, "can_add_instance", "workspace:"+acct.DefaultWorkspaceID, true)

	before := countUsers(t, a)
	for _, tc := range []struct {
		name  string
		in    accounts.SignUp
		field string
		err   error
	}{
		{"bad email", accounts.SignUp{Name: "B", Email: "not-an-email", Password: "long enough password"}, "email", nil},
		{"email with a display name", accounts.SignUp{Name: "B", Email: "Bob <bob@example.test>", Password: "long enough password"}, "email", nil},
		{"short password", accounts.SignUp{Name: "B", Email: "bob@example.test", Password: "short"}, "password", nil},
		{"no name", accounts.SignUp{Name: "  ", Email: "bob@example.test", Password: "long enough password"}, "name", nil},
		{"duplicate email in another case", accounts.SignUp{Name: "A2", Email: "aNNE@example.TEST", Password: "long enough password"}, "", accounts.ErrEmailTaken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.SignUp(ctx, tc.in)
			var fe *accounts.FieldError
			switch {
			case tc.err != nil && !errors.Is(err, tc.err):
				t.Fatalf("err = %v, want %v", err, tc.err)
			case tc.err == nil && (!errors.As(err, &fe) || fe.Field != tc.field):
				t.Fatalf("err = %v, want a field error on %s", err, tc.field)
			}
		})
	}
	if n := countUsers(t, a); n != before {
		t.Fatalf("refused sign-ups stored users: %d, was %d", n, before)
	}
}

func TestAccountSignInAndSessions(t *testing.T) {
	ctx := context.Background()
	_, s := newAccounts(t, accounts.Options{})
	acct, err := s.SignUp(ctx, accounts.SignUp{Name: "Anne", Email: "anne@example.test", Password: "correct horse battery"})
	testenv.Must(t, err)
	if _, err := s.SignIn(ctx, "anne@example.test", "wrong password!", "192.0.2.1"); !errors.Is(err, accounts.ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := s.SignIn(ctx, "nobody@example.test", "correct horse battery", "192.0.2.1"); !errors.Is(err, accounts.ErrBadCredentials) {
		t.Fatalf("unknown email: %v", err)
	}
	got, err := s.SignIn(ctx, "ANNE@example.test ", "correct horse battery", "192.0.2.1")
	testenv.Must(t, err)
	if got.ID != acct.ID || got.DefaultWorkspaceID != acct.DefaultWorkspaceID {
		t.Fatalf("signed in as %+v, want %+v", got, acct)
	}
	sess, err := s.StartSession(ctx, got.ID)
	testenv.Must(t, err)
	if len(sess.Token) != 43 || len(sess.CSRF) != 43 || sess.Token == sess.CSRF {
		t.Fatalf("session token %d chars, CSRF %d chars", len(sess.Token), len(sess.CSRF))
	}
	found, err := s.Session(ctx, sess.Token)
	testenv.Must(t, err)
	if found.Account.ID != acct.ID || found.CSRF != sess.CSRF {
		t.Fatalf("session = %+v", found)
	}
	if !accounts.SameToken(found.CSRF, sess.CSRF) || accounts.SameToken(found.CSRF, "") || accounts.SameToken("", "") {
		t.Fatal("SameToken")
	}
	testenv.Must(t, s.EndSession(ctx, found))
	if _, err := s.Session(ctx, sess.Token); !errors.Is(err, accounts.ErrNoSession) {
		t.Fatalf("ended session: %v", err)
	}
	if _, err := s.Session(ctx, "garbage"); !errors.Is(err, accounts.ErrNoSession) {
		t.Fatalf("garbage token: %v", err)
	}
}

func TestAccountSessionExpires(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewClock(time.Now())
	_, s := newAccounts(t, accounts.Options{SessionLifetime: time.Hour, Now: clock.Now})
	acct, err := s.SignUp(ctx, accounts.SignUp{Name: "Anne", Email: "anne@example.test", Password: "correct horse battery"})
	testenv.Must(t, err)
	sess, err := s.StartSession(ctx, acct.ID)
	testenv.Must(t, err)
	clock.Advance(time.Hour + time.Second)
	if _, err := s.Session(ctx, sess.Token); !errors.Is(err, accounts.ErrNoSession) {
		t.Fatalf("expired session: %v", err)
	}
}

func TestAccountSignInLimit(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewClock(time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC))
	_, s := newAccounts(t, accounts.Options{SignInLimit: 3, SignInWindow: 15 * time.Minute, Now: clock.Now})
	for _, e := range []string{"anne@example.test", "bob@example.test"} {
		_, err := s.SignUp(ctx, accounts.SignUp{Name: "X", Email: e, Password: "correct horse battery"})
		testenv.Must(t, err)
	}
	// A right password does not count.
	_, err := s.SignIn(ctx, "anne@example.test", "correct horse battery", "192.0.2.1")
	testenv.Must(t, err)
	for range 3 {
		if _, err := s.SignIn(ctx, "anne@example.test", "wrong password!", "192.0.2.1"); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	// Per account at the address: even the right password.
	_, err = s.SignIn(ctx, "ANNE@example.test", "correct horse battery", "192.0.2.1")
	var le *accounts.LimitError
	if !errors.As(err, &le) || le.RetryAfter != 15*time.Minute {
		t.Fatalf("over the account's limit at the address: %v", err)
	}
	// Per address: another account from the same one.
	if _, err := s.SignIn(ctx, "bob@example.test", "correct horse battery", "192.0.2.1"); !errors.Is(err, accounts.ErrRateLimited) {
		t.Fatalf("over the address's limit: %v", err)
	}
	// Another account from another address is not affected.
	_, err = s.SignIn(ctx, "bob@example.test", "correct horse battery", "192.0.2.2")
	testenv.Must(t, err)
	// The next window starts afresh.
	clock.Advance(15 * time.Minute)
	_, err = s.SignIn(ctx, "anne@example.test", "correct horse battery", "192.0.2.1")
	testenv.Must(t, err)
}

func TestAccountCodeAttempts(t *testing.T) {
	ctx := context.Background()
	_, s := newAccounts(t, accounts.Options{CodeLimit: 2, CodeWindow: 10 * time.Minute})
	acct, err := s.SignUp(ctx, accounts.SignUp{Name: "Anne", Email: "anne@example.test", Password: "correct horse battery"})
	testenv.Must(t, err)
	sess, err := s.StartSession(ctx, acct.ID)
	testenv.Must(t, err)
	other, err := s.StartSession(ctx, acct.ID)
	testenv.Must(t, err)
	// Right codes are taken back and never count.
	for range 5 {
		att, err := s.CodeAttempt(ctx, sess, "192.0.2.1")
		testenv.Must(t, err)
		testenv.Must(t, att.Right(ctx))
	}
	for range 2 {
		_, err := s.CodeAttempt(ctx, sess, "192.0.2.1")
		testenv.Must(t, err)
	}
	if _, err := s.CodeAttempt(ctx, sess, "192.0.2.2"); !errors.Is(err, accounts.ErrRateLimited) {
		t.Fatalf("over the session's limit: %v", err)
	}
	if _, err := s.CodeAttempt(ctx, other, "192.0.2.1"); !errors.Is(err, accounts.ErrRateLimited) {
		t.Fatalf("over the address's limit: %v", err)
	}
	_, err = s.CodeAttempt(ctx, other, "192.0.2.3")
	testenv.Must(t, err)
}
