package api_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestWebSignUpLimit: the sign-up page answers a flood from one address
// with 429 and Retry-After (CAIDO_CLOUD_SIGN_UP_LIMIT), creating no
// account, while another address still signs up.
func TestWebSignUpLimit(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.SignUpLimit = 2
	a, base := testenv.Serve(t, cfg, testenv.Options{})
	w := &webWorld{a: a, base: base, web: base}
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
