package api_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/mail/mailtest"
)

var resetLink = regexp.MustCompile(`https?://\S+(/reset-password\?token=[A-Za-z0-9_-]{43})\n`)

// TestWebPasswordRecovery: /forgot-password answers alike for a known
// and an unknown address and mails only the known one a link; the link
// sets a new password once, signs every browser of the account out and
// mails a notice; a used or expired link, and a fourth request for one
// address in the hour, are refused. None of this existed before.
func TestWebPasswordRecovery(t *testing.T) {
	clock := testenv.NewClock(time.Now())
	w, smtp := newMailWorld(t, withClock(clock))
	anne := w.browser(t)
	anne.signUp("Anne", "anne@example.test")
	smtp.WaitFor(t, "anne@example.test", mailTimeout) // the verification mail

	_, signin := w.browser(t).get("/signin")
	if !strings.Contains(signin, `href="/forgot-password"`) {
		t.Fatalf("no way to a forgotten password from /signin:\n%s", signin)
	}
	ask := func(email string) (*http.Response, string) {
		b := w.browser(t)
		resp, body := b.post("/forgot-password", url.Values{"csrf": {b.csrf("/forgot-password")}, "email": {email}})
		return resp, strings.ReplaceAll(body, email, "ADDRESS")
	}
	knownResp, known := ask("anne@example.test")
	unknownResp, unknown := ask("nobody@example.test")
	if knownResp.StatusCode != http.StatusOK || unknownResp.StatusCode != http.StatusOK || known != unknown {
		t.Fatalf("known: %d, unknown: %d; pages alike: %v\n%s", knownResp.StatusCode, unknownResp.StatusCode, known == unknown, known)
	}
	m := mailTo(t, smtp, "anne@example.test", "Set a new", 1)
	link := resetLink.FindStringSubmatch(m.Text)[1]

	// A short password is refused and uses nothing.
	b := w.browser(t)
	resp, body := b.get(link)
	webExpect(t, resp, body, http.StatusOK, "Set a new password")
	csrf := webCSRFField.FindStringSubmatch(body)[1]
	form := func(pw string) url.Values {
		return url.Values{"csrf": {csrf}, "token": {strings.TrimPrefix(link, "/reset-password?token=")},
			"new_password": {pw}, "new_password_again": {pw}}
	}
	resp, page := b.post("/reset-password", form("short"))
	webExpect(t, resp, page, http.StatusBadRequest, "Nothing was changed")
	resp, page = b.post("/reset-password", form("a brand new passphrase"))
	webExpect(t, resp, page, http.StatusOK, "Password set", "1 signed-in browser(s) were signed out")
	if resp, _ := anne.get("/settings"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("Anne's browser after the reset: %d, want sent to sign in", resp.StatusCode)
	}
	if r := w.browser(t).signIn("anne@example.test", webPassword); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the old password: %d", r.StatusCode)
	}
	if r := w.browser(t).signIn("anne@example.test", "a brand new passphrase"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("the new password: %d", r.StatusCode)
	}
	if notice := mailTo(t, smtp, "anne@example.test", "password was set", 1); !strings.Contains(notice.Text, "signed out") {
		t.Fatalf("the notice: %s", notice.Text)
	}
	// Used: refused, on the page and when posted again.
	resp, body = w.browser(t).get(link)
	webExpect(t, resp, body, http.StatusBadRequest, "This link no longer works")
	resp, page = b.post("/reset-password", form("another new passphrase"))
	webExpect(t, resp, page, http.StatusBadRequest, "This link no longer works")

	// Expired: a second link, an hour later.
	ask("anne@example.test")
	second := resetLink.FindStringSubmatch(mailTo(t, smtp, "anne@example.test", "Set a new", 2).Text)[1]
	clock.Advance(time.Hour + time.Second)
	resp, body = w.browser(t).get(second)
	webExpect(t, resp, body, http.StatusBadRequest, "This link no longer works")

	// Three requests per address per hour: the hour moved on above, so
	// the fourth from now is refused.
	for range 3 {
		if resp, _ := ask("anne@example.test"); resp.StatusCode != http.StatusOK {
			t.Fatalf("a request within the limit: %d", resp.StatusCode)
		}
	}
	resp, body = ask("anne@example.test")
	webExpect(t, resp, body, http.StatusTooManyRequests, "Too many attempts")
}

// mailTo waits for the n-th mail to addr whose subject holds subject: the
// recovery pages send theirs after they answer.
func mailTo(t *testing.T, smtp *mailtest.Server, addr, subject string, n int) *mailtest.Received {
	t.Helper()
	deadline := time.Now().Add(mailTimeout)
	for {
		var found []*mailtest.Received
		for _, m := range smtp.Messages() {
			if slices.Contains(m.To, addr) && strings.Contains(m.Subject, subject) {
				found = append(found, m)
			}
		}
		if len(found) >= n {
			return found[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d mails %q to %s, want %d", len(found), subject, addr, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
