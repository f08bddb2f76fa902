package pats_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/pats"
)

type patsFixture struct {
	a     *app.App
	svc   *pats.Service
	clock *testenv.Clock
}

func newPatsFixture(t *testing.T) *patsFixture {
	t.Helper()
	clock := testenv.NewClock(time.Date(2026, 11, 2, 10, 0, 30, 0, time.UTC))
	a := testenv.App(t, testenv.Config(t), testenv.Options{Clock: clock})
	testenv.RunOutbox(t, a)
	return &patsFixture{a: a, clock: clock, svc: a.PATs}
}

func (f *patsFixture) create(t *testing.T, n pats.NewToken) (string, pats.Token) {
	t.Helper()
	if n.Via == "" {
		n.Via = pats.ViaOperator
	}
	secret, tok, err := f.svc.Create(context.Background(), n)
	testenv.Must(t, err)
	return secret, tok
}

var tokenForm = regexp.MustCompile(`^caido_[a-z2-7]{52}$`)

// TestPatsCreateAndAuthenticate: a token has 256 random bits after its
// prefix, authenticates as its creator, and is stored only as its SHA-256.
func TestPatsCreateAndAuthenticate(t *testing.T) {
	f := newPatsFixture(t)
	ctx := context.Background()
	u := testenv.User(t, f.a, "anne@example.test")
	exp := f.clock.Now().Add(720 * time.Hour)
	secret, tok := f.create(t, pats.NewToken{UserID: u.ID, Name: " ci ", ExpiresAt: &exp})
	if !tokenForm.MatchString(secret) {
		t.Fatalf("token %q is not caido_ and 52 base32 characters (260 bits, at least 256 random)", secret)
	}
	if tok.ID == "" || tok.UserID != u.ID || tok.Name != "ci" || tok.TeamID != "" || !tok.ExpiresAt.Equal(exp) || !tok.CreatedAt.Equal(f.clock.Now()) {
		t.Fatalf("created %+v", tok)
	}
	got, err := f.svc.Authenticate(ctx, secret)
	testenv.Must(t, err)
	if got.ID != tok.ID || got.UserID != u.ID || got.Name != "ci" {
		t.Fatalf("authenticated as %+v, want %+v", got, tok)
	}
	other, _ := f.create(t, pats.NewToken{UserID: u.ID, Name: "ci"})
	if other == secret {
		t.Fatal("two tokens are equal")
	}

	// Nothing in the table, in any form, holds the token or its secret part.
	var rows []string
	r, err := f.a.DB.Query(ctx, `SELECT t::text, encode(token_hash, 'hex'), encode(token_hash, 'escape') FROM personal_access_tokens t`)
	testenv.Must(t, err)
	for r.Next() {
		var a, b, c string
		testenv.Must(t, r.Scan(&a, &b, &c))
		rows = append(rows, a, b, c)
	}
	testenv.Must(t, r.Err())
	all := strings.Join(rows, "\n")
	for _, s := range []string{secret, other} {
		if strings.Contains(all, s) || strings.Contains(all, strings.TrimPrefix(s, "caido_")) {
			t.Fatalf("the table holds a token in clear:\n%s", all)
		}
	}
	var stored []byte
	testenv.Must(t, f.a.DB.QueryRow(ctx, `SELECT token_hash FROM personal_access_tokens WHERE id = $1`, tok.ID).Scan(&stored))
	if sum := sha256.Sum256([]byte(secret)); string(stored) != string(sum[:]) {
		t.Fatal("the stored hash is not the token's SHA-256")
	}
}

// TestPatsAuthenticateRefuses: malformed, unknown, altered, revoked and
// expired tokens all get exactly ErrInvalidToken.
func TestPatsAuthenticateRefuses(t *testing.T) {
	f := newPatsFixture(t)
	ctx := context.Background()
	u := testenv.User(t, f.a, "anne@example.test")
	live, _ := f.create(t, pats.NewToken{UserID: u.ID, Name: "live"})
	revoked, rt := f.create(t, pats.NewToken{UserID: u.ID, Name: "revoked"})
	testenv.Must(t, f.svc.Revoke(ctx, u.ID, rt.ID))
	exp := f.clock.Now().Add(time.Hour)
	expiring, _ := f.create(t, pats.NewToken{UserID: u.ID, Name: "expiring", ExpiresAt: &exp})
	if _, err := f.svc.Authenticate(ctx, expiring); err != nil {
		t.Fatalf("a token before its expiry: %v", err)
	}
	f.clock.Advance(time.Hour)

	altered := []byte(live)
	altered[len(altered)-1] ^= 1
	for name, presented := range map[string]string{
		"empty":             "",
		"garbage":           "not a token",
		"no prefix":         strings.TrimPrefix(live, "caido_"),
		"upper case":        strings.ToUpper(live),
		"unknown":           "caido_" + strings.Repeat("a", 52),
		"one bit changed":   string(altered),
		"with a suffix":     live + "x",
		"revoked":           revoked,
		"expired (exactly)": expiring,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := f.svc.Authenticate(ctx, presented); err != pats.ErrInvalidToken {
				t.Fatalf("authenticate: %v, want exactly ErrInvalidToken", err)
			}
		})
	}
	if _, err := f.svc.Authenticate(ctx, live); err != nil {
		t.Fatalf("the live token after all that: %v", err)
	}
}

// TestPatsLastUsed: recorded on first use, then at most once a minute.
func TestPatsLastUsed(t *testing.T) {
	f := newPatsFixture(t)
	ctx := context.Background()
	u := testenv.User(t, f.a, "anne@example.test")
	secret, tok := f.create(t, pats.NewToken{UserID: u.ID, Name: "ci"})
	lastUsed := func() *time.Time {
		var at *time.Time
		testenv.Must(t, f.a.DB.QueryRow(ctx, `SELECT last_used_at FROM personal_access_tokens WHERE id = $1`, tok.ID).Scan(&at))
		return at
	}
	if lastUsed() != nil {
		t.Fatal("last_used_at set before any use")
	}
	first := f.clock.Now()
	_, err := f.svc.Authenticate(ctx, secret)
	testenv.Must(t, err)
	if at := lastUsed(); at == nil || !at.Equal(first) {
		t.Fatalf("last_used_at %v after the first use at %v", at, first)
	}
	f.clock.Advance(59 * time.Second)
	_, err = f.svc.Authenticate(ctx, secret)
	testenv.Must(t, err)
	if at := lastUsed(); !at.Equal(first) {
		t.Fatalf("last_used_at %v rewritten within the minute", at)
	}
	f.clock.Advance(time.Second)
	got, err := f.svc.Authenticate(ctx, secret)
	testenv.Must(t, err)
	if at := lastUsed(); !at.Equal(f.clock.Now()) || !got.LastUsedAt.Equal(f.clock.Now()) {
		t.Fatalf("last_used_at %v (returned %v) a minute later, want %v", at, got.LastUsedAt, f.clock.Now())
	}
}

func TestPatsCreateRules(t *testing.T) {
	f := newPatsFixture(t)
	ctx := context.Background()
	anne := testenv.User(t, f.a, "anne@example.test")
	bob := testenv.User(t, f.a, "bob@example.test")
	team, _, err := f.a.Access.CreateTeam(ctx, anne.ID, "Acme", "billing@example.test")
	testenv.Must(t, err)
	past := f.clock.Now().Add(-time.Second)
	now := f.clock.Now()
	for name, n := range map[string]pats.NewToken{
		"empty name":             {UserID: anne.ID, Name: "  "},
		"long name":              {UserID: anne.ID, Name: strings.Repeat("n", 201)},
		"expired already":        {UserID: anne.ID, Name: "x", ExpiresAt: &past},
		"expiring now":           {UserID: anne.ID, Name: "x", ExpiresAt: &now},
		"a team not theirs":      {UserID: bob.ID, Name: "x", TeamID: team.ID},
		"a team that is no uuid": {UserID: anne.ID, Name: "x", TeamID: "acme"},
		"no such user":           {UserID: "00000000-0000-0000-0000-000000000000", Name: "x"},
		"a user that is no uuid": {UserID: "anne", Name: "x"},
	} {
		t.Run(name, func(t *testing.T) {
			n.Via = pats.ViaOperator
			if _, _, err := f.svc.Create(ctx, n); !errors.Is(err, pats.ErrInvalid) {
				t.Fatalf("create: %v, want ErrInvalid", err)
			}
		})
	}
	// Only a signed-in session and the operator make tokens: a token does
	// not, whatever it asks for, and a caller that does not say is refused.
	for via, want := range map[pats.Credential]error{pats.ViaPAT: pats.ErrMadeWithPAT, "": nil, "access_token": nil} {
		_, _, err := f.svc.Create(ctx, pats.NewToken{UserID: anne.ID, Name: "child", Via: via})
		if err == nil || want != nil && !errors.Is(err, want) || want == nil && errors.Is(err, pats.ErrInvalid) {
			t.Errorf("create via %q: %v, want a refusal (%v)", via, err, want)
		}
	}
	_, tok := f.create(t, pats.NewToken{UserID: anne.ID, Name: "team ci", TeamID: team.ID, Via: pats.ViaSession})
	if tok.TeamID != team.ID {
		t.Fatalf("team token %+v", tok)
	}
	var n int
	testenv.Must(t, f.a.DB.QueryRow(ctx, `SELECT count(*) FROM personal_access_tokens`).Scan(&n))
	if n != 1 {
		t.Fatalf("%d rows after one good creation", n)
	}
}

func TestPatsRevokeAndList(t *testing.T) {
	f := newPatsFixture(t)
	ctx := context.Background()
	anne := testenv.User(t, f.a, "anne@example.test")
	bob := testenv.User(t, f.a, "bob@example.test")
	carl := testenv.User(t, f.a, "carl@example.test")
	team, _, err := f.a.Access.CreateTeam(ctx, anne.ID, "Acme", "billing@example.test")
	testenv.Must(t, err)
	_, err = f.a.Access.SetTeamMember(ctx, team.ID, bob.ID, access.RoleMember, false)
	testenv.Must(t, err)
	_, err = f.a.Access.SetTeamMember(ctx, team.ID, carl.ID, access.RoleAdmin, false)
	testenv.Must(t, err)

	_, a1 := f.create(t, pats.NewToken{UserID: anne.ID, Name: "first"})
	f.clock.Advance(time.Second)
	_, a2 := f.create(t, pats.NewToken{UserID: anne.ID, Name: "second", TeamID: team.ID})
	f.clock.Advance(time.Second)
	bobSecret, b1 := f.create(t, pats.NewToken{UserID: bob.ID, Name: "bob's", TeamID: team.ID})

	names := func(ts []pats.Token) string {
		var out []string
		for _, tk := range ts {
			out = append(out, tk.Name)
		}
		return strings.Join(out, ",")
	}
	mine, err := f.svc.List(ctx, anne.ID)
	testenv.Must(t, err)
	if names(mine) != "second,first" || mine[1].ID != a1.ID {
		t.Fatalf("anne's tokens: %s", names(mine))
	}
	for _, who := range []string{anne.ID, carl.ID} {
		ts, err := f.svc.ListForTeam(ctx, who, team.ID)
		testenv.Must(t, err)
		if names(ts) != "bob's,second" {
			t.Fatalf("team tokens listed by %s: %s", who, names(ts))
		}
	}
	for _, who := range []string{bob.ID, testenv.User(t, f.a, "dora@example.test").ID} {
		if _, err := f.svc.ListForTeam(ctx, who, team.ID); !errors.Is(err, pats.ErrForbidden) {
			t.Fatalf("team tokens listed by a non-admin: %v, want ErrForbidden", err)
		}
	}

	// Only the creator revokes, once; nobody learns whether another's exists.
	for _, tc := range []struct{ who, id string }{
		{anne.ID, b1.ID}, {carl.ID, b1.ID}, {bob.ID, "00000000-0000-0000-0000-000000000000"}, {bob.ID, "nope"},
	} {
		if err := f.svc.Revoke(ctx, tc.who, tc.id); err != pats.ErrNotFound {
			t.Fatalf("revoke %s as %s: %v, want ErrNotFound", tc.id, tc.who, err)
		}
	}
	if _, err := f.svc.Authenticate(ctx, bobSecret); err != nil {
		t.Fatalf("bob's token after refused revocations: %v", err)
	}
	testenv.Must(t, f.svc.Revoke(ctx, bob.ID, b1.ID))
	if err := f.svc.Revoke(ctx, bob.ID, b1.ID); err != pats.ErrNotFound {
		t.Fatalf("revoke twice: %v", err)
	}
	if _, err := f.svc.Authenticate(ctx, bobSecret); err != pats.ErrInvalidToken {
		t.Fatalf("a revoked token: %v", err)
	}
	ts, err := f.svc.ListForTeam(ctx, anne.ID, team.ID)
	testenv.Must(t, err)
	if names(ts) != "second" || ts[0].ID != a2.ID {
		t.Fatalf("team tokens after a revocation: %s", names(ts))
	}
	ts, err = f.svc.List(ctx, bob.ID)
	testenv.Must(t, err)
	if len(ts) != 0 || ts == nil {
		t.Fatalf("bob's tokens after revoking his only one: %v", ts)
	}
}

// TestPatsGuessLimit: ten wrong codes a minute per token, counted before
// the lookup so that concurrent tries cannot exceed it; found codes are
// refunded.
func TestPatsGuessLimit(t *testing.T) {
	f := newPatsFixture(t)
	ctx := context.Background()
	u := testenv.User(t, f.a, "anne@example.test")
	_, tok := f.create(t, pats.NewToken{UserID: u.ID, Name: "ci"})
	_, other := f.create(t, pats.NewToken{UserID: u.ID, Name: "other"})

	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	var limited []error
	for range 25 {
		wg.Go(func() {
			_, err := f.svc.ReserveGuess(ctx, tok, "")
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				allowed++
			} else {
				limited = append(limited, err)
			}
		})
	}
	wg.Wait()
	if allowed != 10 || len(limited) != 15 {
		t.Fatalf("25 concurrent guesses: %d allowed, %d refused, want 10 and 15", allowed, len(limited))
	}
	var gl *pats.GuessLimitError
	if !errors.As(limited[0], &gl) || !errors.Is(limited[0], pats.ErrTooManyGuesses) || gl.RetryAfter != 30*time.Second {
		t.Fatalf("refusal %v, want a GuessLimitError retrying in the window's 30 s left", limited[0])
	}
	// Another token has its own allowance.
	g, err := f.svc.ReserveGuess(ctx, other, "")
	testenv.Must(t, err)
	testenv.Must(t, f.svc.RefundGuess(ctx, g))

	// A refund gives one try back in the same window.
	f.clock.Advance(30 * time.Second) // the next window
	for range 10 {
		g, err := f.svc.ReserveGuess(ctx, tok, "")
		testenv.Must(t, err)
		testenv.Must(t, f.svc.RefundGuess(ctx, g))
	}
	for range 10 {
		_, err := f.svc.ReserveGuess(ctx, tok, "")
		testenv.Must(t, err)
	}
	if _, err := f.svc.ReserveGuess(ctx, tok, ""); !errors.Is(err, pats.ErrTooManyGuesses) {
		t.Fatalf("the 11th wrong guess: %v", err)
	}
	var windows int
	testenv.Must(t, f.a.DB.QueryRow(ctx, `SELECT count(*) FROM attempt_windows`).Scan(&windows))
	// The token's current window and its user's (ten minutes long).
	if windows != 2 {
		t.Fatalf("%d windows kept, want only the current ones, the token's and the user's (ended windows are pruned)", windows)
	}
}
