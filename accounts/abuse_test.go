package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestSignUpLimits: sign-ups are limited per client address (an IPv6
// address by its /64) and from everyone together; the operator's CLI (no
// address) is not. A refused sign-up stores nothing.
func TestSignUpLimits(t *testing.T) {
	ctx := context.Background()
	a, s := newAccounts(t, accounts.Options{SignUpLimit: 2, SignUpTotal: 4, SignUpWindow: time.Hour})
	n := 0
	signUp := func(ip string) error {
		n++
		_, err := s.SignUp(ctx, accounts.SignUp{Name: "X", Email: fmt.Sprintf("u%d@example.test", n), Password: "correct horse battery", IP: ip})
		return err
	}
	for _, ip := range []string{"192.0.2.1", "192.0.2.1", "2001:db8:1:2::1"} {
		testenv.Must(t, signUp(ip))
	}
	before := countUsers(t, a)
	for _, ip := range []string{"192.0.2.1", "2001:db8:1:2::1"} {
		if err := signUp(ip); ip == "192.0.2.1" && !errors.Is(err, accounts.ErrRateLimited) || ip != "192.0.2.1" && err != nil {
			t.Fatalf("sign-up from %s: %v", ip, err)
		}
	}
	// The same /64: one client, whatever its last 64 bits.
	if err := signUp("2001:db8:1:2:ffff::9"); !errors.Is(err, accounts.ErrRateLimited) {
		t.Fatalf("a third sign-up from the same /64: %v, want the limit", err)
	}
	// Four made: everyone's limit, from an address that made none.
	if err := signUp("198.51.100.7"); !errors.Is(err, accounts.ErrRateLimited) {
		t.Fatalf("a fifth sign-up in all: %v, want the limit", err)
	}
	if got := countUsers(t, a); got != before+1 {
		t.Fatalf("users: %d, want %d (refused sign-ups store nothing)", got, before+1)
	}
	n++
	_, err := s.SignUp(ctx, accounts.SignUp{Name: "X", Email: fmt.Sprintf("u%d@example.test", n), Password: "correct horse battery", ByOperator: true})
	testenv.Must(t, err) // the operator's `user create`
}

// TestSuccessfulSignInsLimited: right passwords are limited per address
// too (each costs a hash); wrong ones do not count against that limit.
func TestSuccessfulSignInsLimited(t *testing.T) {
	ctx := context.Background()
	_, s := newAccounts(t, accounts.Options{SignedInLimit: 2, SignInLimit: 10})
	_, err := s.SignUp(ctx, accounts.SignUp{Name: "Anne", Email: "anne@example.test", Password: "correct horse battery"})
	testenv.Must(t, err)
	for range 3 {
		if _, err := s.SignIn(ctx, "anne@example.test", "wrong password!", "192.0.2.1"); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	for range 2 {
		_, err := s.SignIn(ctx, "anne@example.test", "correct horse battery", "192.0.2.1")
		testenv.Must(t, err)
	}
	if _, err := s.SignIn(ctx, "anne@example.test", "correct horse battery", "192.0.2.1"); !errors.Is(err, accounts.ErrRateLimited) {
		t.Fatalf("a third sign-in from the address: %v, want the limit", err)
	}
	_, err = s.SignIn(ctx, "anne@example.test", "correct horse battery", "192.0.2.2")
	testenv.Must(t, err)
}

// TestPasswordHashingIsBounded: with one hashing slot and no time to wait
// for it, sign-ins that arrive together are refused with ErrBusy rather
// than computed side by side; a refusal counts as no failed attempt, and
// one sign-in alone goes through.
func TestPasswordHashingIsBounded(t *testing.T) {
	ctx := context.Background()
	// Eight attempts are counted at once below, before any is given back.
	_, s := newAccounts(t, accounts.Options{HashConcurrency: 1, HashWait: time.Millisecond, SignInLimit: 8})
	_, err := s.SignUp(ctx, accounts.SignUp{Name: "Anne", Email: "anne@example.test", Password: "correct horse battery"})
	testenv.Must(t, err)
	var busy, ok atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			_, err := s.SignIn(ctx, "anne@example.test", "correct horse battery", "192.0.2."+strconv.Itoa(i))
			switch {
			case errors.Is(err, accounts.ErrBusy):
				busy.Add(1)
			case err == nil:
				ok.Add(1)
			default:
				t.Errorf("sign-in: %v", err)
			}
		})
	}
	wg.Wait()
	if busy.Load() == 0 || ok.Load() == 0 {
		t.Fatalf("8 sign-ins at once on one slot: %d busy, %d signed in; want some of each", busy.Load(), ok.Load())
	}
	// The busy refusals were given back like the right passwords: eight
	// wrong ones in a row (one at a time, so none is busy) all still count
	// as failures under the limit of 8.
	for i := range 8 {
		if _, err := s.SignIn(ctx, "anne@example.test", "wrong password!", "192.0.2.200"); !errors.Is(err, accounts.ErrBadCredentials) {
			t.Fatalf("wrong password %d after the busy ones: %v", i+1, err)
		}
	}
}

// BenchmarkSignUpFlood: 50 sign-ups at once, as the flood of the abuse
// issue sent them, with the default hashing bound (the CPU count) and
// with none to speak of (50 slots). It reports the process's peak
// resident memory (VmHWM), which the bound keeps near slots × 64 MiB above
// the process's own.
func BenchmarkSignUpFlood(b *testing.B) {
	a := testenv.App(b, testenv.Config(b), testenv.Options{})
	// The bounded run first: VmHWM only grows, so the unbounded one after
	// it shows what the bound saves.
	for _, slots := range []int{runtime.NumCPU(), 50} {
		b.Run(fmt.Sprintf("slots=%d", slots), func(b *testing.B) { signUpFlood(b, a, slots) })
	}
}

func signUpFlood(b *testing.B, a *app.App, slots int) {
	ctx := context.Background()
	s := accounts.New(a.DB, a.Access, accounts.Options{SignUpLimit: 1 << 30, SignUpTotal: 1 << 30, HashConcurrency: slots, HashWait: time.Minute})
	before := peakRSS(b)
	var n atomic.Int64
	for b.Loop() {
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				i := n.Add(1)
				_, err := s.SignUp(ctx, accounts.SignUp{Name: "X", Email: fmt.Sprintf("flood%d-%d@example.test", slots, i),
					Password: "correct horse battery", IP: fmt.Sprintf("10.%d.%d.%d", slots, i/250, i%250)})
				if err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(before)/1024, "rss-before-MiB")
	b.ReportMetric(float64(peakRSS(b))/1024, "peak-rss-MiB")
}

// peakRSS is the process's peak resident memory in KiB (Linux).
func peakRSS(b *testing.B) int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status: ", err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kib
		}
	}
	b.Skip("no VmHWM")
	return 0
}

// TestNoLockOut: guessing an account's password from many addresses does
// not lock its owner out. Past the account's limit, the browser that
// signed in before (its device cookie) signs in at once; a browser it does
// not know gets through only from an address with no failure on the
// account, one attempt per slow interval, so guessing slows to a crawl.
func TestNoLockOut(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewClock(time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC))
	_, s := newAccounts(t, accounts.Options{SignInLimit: 3, SignInAccountLimit: 6, SignInSlowInterval: 30 * time.Second,
		SignInWindow: 15 * time.Minute, Now: clock.Now})
	_, err := s.SignUp(ctx, accounts.SignUp{Name: "Anne", Email: "anne@example.test", Password: "correct horse battery"})
	testenv.Must(t, err)
	_, device, err := s.SignInBrowser(ctx, "anne@example.test", "correct horse battery", "192.0.2.1", "")
	testenv.Must(t, err)
	if device == "" {
		t.Fatal("no device cookie after a sign-in")
	}
	// The attacker: three guesses from each of two addresses reach the
	// account's limit of 6.
	for _, ip := range []string{"10.0.0.1", "10.0.0.2"} {
		for range 3 {
			if _, err := s.SignIn(ctx, "anne@example.test", "guess", ip); !errors.Is(err, accounts.ErrBadCredentials) {
				t.Fatalf("guess from %s: %v", ip, err)
			}
		}
	}
	// A fresh address takes the slow lane's one attempt; the next fresh
	// one waits for the interval.
	if _, err := s.SignIn(ctx, "anne@example.test", "guess", "10.0.0.3"); !errors.Is(err, accounts.ErrBadCredentials) {
		t.Fatalf("a guess in the slow lane: %v", err)
	}
	_, err = s.SignIn(ctx, "anne@example.test", "guess", "10.0.0.4")
	var le *accounts.LimitError
	if !errors.As(err, &le) || le.RetryAfter > 30*time.Second {
		t.Fatalf("a second guess in the interval: %v, want a wait of at most 30 s", err)
	}
	// An address that failed on the account stays refused.
	clock.Advance(30 * time.Second)
	if _, err := s.SignIn(ctx, "anne@example.test", "correct horse battery", "10.0.0.1"); !errors.Is(err, accounts.ErrRateLimited) {
		t.Fatalf("from an address that guessed: %v, want the limit", err)
	}
	// Anne's browser, from wherever she is, is not locked out.
	_, again, err := s.SignInBrowser(ctx, "anne@example.test", "correct horse battery", "198.51.100.5", device)
	testenv.Must(t, err)
	if again != device {
		t.Errorf("the known browser got another device cookie")
	}
	// Nor is Anne from a new browser at a clean address, in the slow lane.
	_, fresh, err := s.SignInBrowser(ctx, "anne@example.test", "correct horse battery", "198.51.100.6", "")
	testenv.Must(t, err)
	// Another account's device cookie is no key to this one.
	_, err = s.SignUp(ctx, accounts.SignUp{Name: "Mallory", Email: "mallory@example.test", Password: "correct horse battery"})
	testenv.Must(t, err)
	_, mallorys, err := s.SignInBrowser(ctx, "mallory@example.test", "correct horse battery", "10.0.0.9", "")
	testenv.Must(t, err)
	// (Anne's sign-ins gave the slow lane's attempt back: right passwords
	// count for nothing.) With it, guesses take the slow lane, one per
	// interval, as with none.
	if _, _, err := s.SignInBrowser(ctx, "anne@example.test", "guess", "10.0.0.10", mallorys); !errors.Is(err, accounts.ErrBadCredentials) {
		t.Fatalf("a guess with another account's device cookie: %v", err)
	}
	if _, _, err := s.SignInBrowser(ctx, "anne@example.test", "guess", "10.0.0.11", mallorys); !errors.Is(err, accounts.ErrRateLimited) {
		t.Fatalf("a second guess with another account's device cookie: %v, want the slow lane's limit", err)
	}
	if fresh == device || fresh == "" {
		t.Errorf("a new browser's device cookie: %q", fresh)
	}
}

// TestSignUpPolicy: CAIDO_CLOUD_SIGNUP admits anyone (open), only the
// listed domains, or only invited addresses; the operator's `user create`
// is not bound by it.
func TestSignUpPolicy(t *testing.T) {
	for v, want := range map[string]accounts.SignUpPolicy{
		"open": {}, "": {}, "invite-only": {InviteOnly: true},
		"Example.com, @example.org": {Domains: []string{"example.com", "example.org"}},
	} {
		got, err := accounts.ParseSignUpPolicy(v)
		if err != nil || got.InviteOnly != want.InviteOnly || !slices.Equal(got.Domains, want.Domains) {
			t.Errorf("ParseSignUpPolicy(%q) = %+v, %v; want %+v", v, got, err, want)
		}
	}
	for _, bad := range []string{"closed", "example", "a@b.c", "example.com,,"} {
		if _, err := accounts.ParseSignUpPolicy(bad); err == nil {
			t.Errorf("ParseSignUpPolicy(%q): no error", bad)
		}
	}
	ctx := context.Background()
	signUp := func(s *accounts.Service, email string, operator bool) error {
		_, err := s.SignUp(ctx, accounts.SignUp{Name: "X", Email: email, Password: "correct horse battery", IP: "192.0.2.1", ByOperator: operator})
		return err
	}
	_, domains := newAccounts(t, accounts.Options{SignUpPolicy: accounts.SignUpPolicy{Domains: []string{"example.com"}}})
	testenv.Must(t, signUp(domains, "anne@EXAMPLE.com", false))
	for _, email := range []string{"bob@example.org", "eve@sub.example.com"} {
		if err := signUp(domains, email, false); !errors.Is(err, accounts.ErrSignUpClosed) {
			t.Errorf("%s under the domain list: %v, want ErrSignUpClosed", email, err)
		}
	}
	testenv.Must(t, signUp(domains, "ops@example.org", true))

	a, invited := newAccounts(t, accounts.Options{SignUpPolicy: accounts.SignUpPolicy{InviteOnly: true}})
	owner := testenv.User(t, a, "owner@example.test")
	team, _, err := a.Access.CreateTeam(ctx, owner.ID, "Red", "owner@example.test")
	testenv.Must(t, err)
	_, _, err = a.Access.Invite(ctx, team.ID, "bob@example.test", "member", false, time.Hour)
	testenv.Must(t, err)
	if err := signUp(invited, "eve@example.test", false); !errors.Is(err, accounts.ErrSignUpClosed) {
		t.Fatalf("an uninvited address under invite-only: %v", err)
	}
	testenv.Must(t, signUp(invited, "Bob@example.test", false))
}
