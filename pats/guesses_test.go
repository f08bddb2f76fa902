package pats_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/pats"
)

// TestPatsGuessLimitPerUserAndAddress: twenty wrong codes in ten minutes
// per user and per client address, whatever the tokens, even tried all at
// once; the refusal says it is not the token's; a refund gives the try
// back to every count.
func TestPatsGuessLimitPerUserAndAddress(t *testing.T) {
	f := newPatsFixture(t)
	ctx := context.Background()
	anne := testenv.User(t, f.a, "anne@example.test")
	bob := testenv.User(t, f.a, "bob@example.test")
	var tokens []pats.Token
	for range 5 {
		_, tok := f.create(t, pats.NewToken{UserID: anne.ID, Name: "ci"})
		tokens = append(tokens, tok)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	var refused []error
	for i := range 35 {
		wg.Go(func() {
			// Seven a token (under its ten), each from an address of its own.
			_, err := f.svc.ReserveGuess(ctx, tokens[i%5], "192.0.2."+string(rune('1'+i%7)))
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				allowed++
			} else {
				refused = append(refused, err)
			}
		})
	}
	wg.Wait()
	if allowed != 20 || len(refused) != 15 {
		t.Fatalf("35 guesses of one user at once: %d allowed, %d refused, want 20 and 15", allowed, len(refused))
	}
	var gl *pats.GuessLimitError
	if !errors.As(refused[0], &gl) || gl.Token || !errors.Is(refused[0], pats.ErrTooManyGuesses) || gl.RetryAfter != 10*time.Minute-30*time.Second {
		t.Fatalf("refusal %v, want a user's GuessLimitError retrying in the window's 9m30s left", refused[0])
	}

	// Per address: bob, with two tokens, fills 2001:db8::/64; carol is
	// refused from elsewhere in it, not from another /64.
	_, bobs := f.create(t, pats.NewToken{UserID: bob.ID, Name: "ci"})
	_, bobs2 := f.create(t, pats.NewToken{UserID: bob.ID, Name: "ci2"})
	for i := range 20 {
		tok := bobs
		if i >= 10 {
			tok = bobs2
		}
		if _, err := f.svc.ReserveGuess(ctx, tok, "2001:db8::1"); err != nil {
			t.Fatalf("bob's guess %d: %v", i+1, err)
		}
	}
	carol := testenv.User(t, f.a, "carol@example.test")
	_, carols := f.create(t, pats.NewToken{UserID: carol.ID, Name: "ci"})
	if _, err := f.svc.ReserveGuess(ctx, carols, "2001:db8::ffff"); !errors.As(err, &gl) || gl.Token {
		t.Fatalf("carol from bob's /64: %v, want the address's GuessLimitError", err)
	}
	g, err := f.svc.ReserveGuess(ctx, carols, "2001:db8:0:1::1")
	testenv.Must(t, err)
	// A refund gives back the token's, the user's and the address's count.
	testenv.Must(t, f.svc.RefundGuess(ctx, g))
	for range 10 {
		_, err := f.svc.ReserveGuess(ctx, carols, "2001:db8:0:1::1")
		testenv.Must(t, err)
	}
}
