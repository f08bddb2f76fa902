package api_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
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

// TestWebSignUpTellsNoOne: a sign-up with an address that has an account
// answers exactly as one with a new address (status, page, no session),
// and the address's owner learns of it by mail, at most three times per
// window; before, it answered 409 "already exists" at once.
func TestWebSignUpTellsNoOne(t *testing.T) {
	w, smtp := newMailWorld(t)
	w.browser(t).signUp("Anne", "anne@example.test")
	smtp.WaitFor(t, "anne@example.test", mailTimeout) // her verification mail
	page := func(email string) (int, string, bool) {
		b := w.browser(t)
		resp, body := b.post("/signup", url.Values{"csrf": {b.csrf("/signup")}, "name": {"Someone"}, "email": {email}, "password": {webPassword}})
		session := false
		for _, ck := range resp.Cookies() {
			session = session || ck.Name == "cc_session"
		}
		return resp.StatusCode, strings.ReplaceAll(body, email, "ADDRESS"), session
	}
	takenStatus, takenPage, takenSession := page("anne@example.test")
	newStatus, newPage, newSession := page("new@example.test")
	if takenStatus != http.StatusOK || takenStatus != newStatus || takenPage != newPage || takenSession || newSession {
		t.Fatalf("taken: %d (session %v), new: %d (session %v); pages alike: %v\n%s\n%s",
			takenStatus, takenSession, newStatus, newSession, takenPage == newPage, takenPage, newPage)
	}
	notice := smtp.WaitFor(t, "anne@example.test", mailTimeout)
	if !strings.Contains(notice.Subject, "tried to sign up") || !strings.Contains(notice.Text, "/signin") {
		t.Fatalf("the owner's notice: %q\n%s", notice.Subject, notice.Text)
	}
	if welcome := smtp.WaitFor(t, "new@example.test", mailTimeout); !strings.Contains(welcome.Text, "/verify-email?token=") {
		t.Fatalf("the new address's mail: %s", welcome.Text)
	}
	// Three notices per window: then the page stays the same, the mailbox quiet.
	for range 3 {
		if status, _, _ := page("anne@example.test"); status != http.StatusOK {
			t.Fatalf("another sign-up with the taken address: %d", status)
		}
	}
	// A notice is sent before the page answers (the SMTP server has it
	// once it accepted it), so none can still be on its way.
	notices := 0
	for _, m := range smtp.Messages() {
		if slices.Contains(m.To, "anne@example.test") && strings.Contains(m.Subject, "tried to sign up") {
			notices++
		}
	}
	if notices != 3 {
		t.Fatalf("%d notices to the owner, want 3", notices)
	}
}

// TestWebSignUpPolicy: with CAIDO_CLOUD_SIGNUP=invite-only the sign-up page
// refuses an address nobody invited (403, the form again, nothing stored).
func TestWebSignUpPolicy(t *testing.T) {
	w := newWebWorld(t, func(cfg *config.Config, _ *testenv.Options) { cfg.SignUp = "invite-only" })
	b := w.browser(t)
	before := webCountUsers(t, w)
	resp, body := b.post("/signup", url.Values{"csrf": {b.csrf("/signup")}, "name": {"Eve"}, "email": {"eve@example.test"}, "password": {webPassword}})
	webExpect(t, resp, body, http.StatusForbidden, "invited addresses only", `action="/signup"`)
	if got := webCountUsers(t, w); got != before {
		t.Fatalf("users %d, want %d", got, before)
	}
}
