package api_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/caido-cloud/caido-cloud/config"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestWebSignUpLimit: the sign-up page answers a flood from one address
// with 429 and Retry-After (CAIDO_CLOUD_SIGN_UP_LIMIT), creating no
// account, while another address still signs up.
func TestWebSignUpLimit(t *testing.T) {
	w := newWebWorld(t, func(cfg *config.Config, _ *testenv.Options) { cfg.SignUpLimit = 2 })
	b := w.browser(t)
	b.signUp("One", "one@example.test")
	b.post("/signout", url.Values{"csrf": {b.csrf("/signout")}})
	b.signUp("Two", "two@example.test")
	b.post("/signout", url.Values{"csrf": {b.csrf("/signout")}})
	before := webCountUsers(t, w)
	resp, body := b.post("/signup", url.Values{"csrf": {b.csrf("/signup")}, "name": {"Three"}, "email": {"three@example.test"}, "password": {webPassword}})
	webExpect(t, resp, body, http.StatusTooManyRequests, "Too many attempts", "sign-ups from this network")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if got := webCountUsers(t, w); got != before {
		t.Fatalf("users %d after a refused sign-up, want %d", got, before)
	}
}

// TestWebDeviceCookie: a browser that signs in keeps a device cookie
// (HttpOnly, a year and more) that outlives its sign-out; with it, a
// sign-in past the account's failure limit goes through.
func TestWebDeviceCookie(t *testing.T) {
	w := newWebWorld(t, func(cfg *config.Config, _ *testenv.Options) { cfg.SignInLimit, cfg.SignInAccountLimit = 100, 3 })
	anne := w.browser(t)
	anne.signUp("Anne", "anne@example.test")
	anne.post("/signout", url.Values{"csrf": {anne.csrf("/signout")}})
	resp := anne.signIn("anne@example.test", webPassword)
	var device *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "cc_device" {
			device = ck
		}
	}
	if resp.StatusCode != http.StatusSeeOther || device == nil || !device.HttpOnly || device.MaxAge < 365*24*3600 {
		t.Fatalf("sign-in: %d, device cookie %+v", resp.StatusCode, device)
	}
	anne.post("/signout", url.Values{"csrf": {anne.csrf("/signout")}})
	// Someone else's guesses (from this same test address) pass the
	// account's limit of 3.
	guesser := w.browser(t)
	for range 3 {
		if r := guesser.signIn("anne@example.test", "a guess!"); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess: %d", r.StatusCode)
		}
	}
	if r := guesser.signIn("anne@example.test", webPassword); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the guesser with the right password past the account's limit: %d, want 429", r.StatusCode)
	}
	if r := anne.signIn("anne@example.test", webPassword); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("Anne's browser past the account's limit: %d, want signed in", r.StatusCode)
	}
}
