package api_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/config"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/mail/mailtest"
)

// mailTimeout is how long a test waits for a mail: sending is part of the
// request, so it is there when the page is.
const mailTimeout = 10 * time.Second

// newMailWorld is a running caido-cloud whose CAIDO_CLOUD_SMTP_* settings
// point at a real SMTP server of the test.
func newMailWorld(t testing.TB, set ...webSetting) (*webWorld, *mailtest.Server) {
	t.Helper()
	smtp := mailtest.Start(t, mailtest.Options{})
	return serveWebWorld(t, testenv.Config(t), testenv.Options{Mail: smtp}, set...), smtp
}

// withLog sends the app's logs to log.
func withLog(log *testenv.Buffer) webSetting {
	return func(_ *config.Config, opts *testenv.Options) { opts.Log = log }
}

var verifyLink = regexp.MustCompile(`(https?://\S+)(/verify-email\?token=[A-Za-z0-9_-]{43})\n`)

// linkIn is the verification link of a mail, as a path on the pages.
func linkIn(t testing.TB, w *webWorld, m *mailtest.Received) string {
	t.Helper()
	found := verifyLink.FindStringSubmatch(m.Text)
	if found == nil {
		t.Fatalf("no verification link in the mail:\n%s", m.Text)
	}
	if found[1] != w.base {
		t.Fatalf("the link goes to %s, not the public URL %s", found[1], w.base)
	}
	return found[2]
}

func emailVerified(t testing.TB, w *webWorld, email string) bool {
	t.Helper()
	var verified bool
	testenv.Must(t, w.a.DB.QueryRow(context.Background(),
		`SELECT email_verified_at IS NOT NULL FROM users WHERE lower(email) = lower($1)`, email).Scan(&verified))
	return verified
}

func mailCount(w *webWorld) int {
	var n int
	_ = w.a.DB.QueryRow(context.Background(), `SELECT count(*) FROM email_verifications`).Scan(&n)
	return n
}

func TestWebEmailVerification(t *testing.T) {
	var log testenv.Buffer
	w, smtp := newMailWorld(t, withLog(&log))
	b := w.browser(t)
	b.signUp("Anne", "anne@example.test")
	m := smtp.WaitFor(t, "anne@example.test", mailTimeout)
	if m.Subject != "Verify your email address for caido-cloud" || m.Header.Get("From") != `"caido-cloud" <noreply@caido-cloud.test>` {
		t.Fatalf("mail from %q: %q", m.Header.Get("From"), m.Subject)
	}
	link := linkIn(t, w, m)
	resp, body := b.get("/")
	webExpect(t, resp, body, http.StatusOK, "Your email address is not verified yet", `href="/verify-email"`)
	if emailVerified(t, w, "anne@example.test") {
		t.Fatal("verified before the link was followed")
	}

	// The link needs no session: another browser, signed out, follows it.
	other := w.browser(t)
	resp, body = other.get(link)
	webExpect(t, resp, body, http.StatusOK, "Email address verified", "anne@example.test is verified")
	if !emailVerified(t, w, "anne@example.test") {
		t.Fatal("email_verified_at is NULL after the link was followed")
	}
	resp, body = b.get("/")
	webExpect(t, resp, body, http.StatusOK, "signed in as")
	if strings.Contains(body, "not verified") {
		t.Fatalf("home still says not verified:\n%s", body)
	}
	resp, body = b.get("/verify-email")
	webExpect(t, resp, body, http.StatusOK, "anne@example.test is verified")

	// Once only.
	resp, body = other.get(link)
	webExpect(t, resp, body, http.StatusGone, "This link was already used", "works once")
	for _, bad := range []string{"/verify-email?token=", "/verify-email?token=garbage", "/verify-email?token=" + accounts.NewToken()} {
		resp, body = other.get(bad)
		webExpect(t, resp, body, http.StatusBadRequest, "This link is not valid", "Nothing was verified")
	}
	// The token travelled in the mail only.
	token := link[strings.Index(link, "=")+1:]
	if strings.Contains(log.String(), token) {
		t.Fatal("the verification token is in the log")
	}
}

// Without CAIDO_CLOUD_SMTP_HOST (`make run`), the mail, link included, is
// written to the log: the development stand-in for a mailbox.
func TestWebVerificationMailInTheLog(t *testing.T) {
	var log testenv.Buffer
	w := serveWebWorld(t, testenv.Config(t), testenv.Options{Log: &log})
	w.browser(t).signUp("Anne", "anne@example.test")
	out := log.String()
	for _, want := range []string{"level=INFO", "mail not sent", "to=anne@example.test", "Verify your email address", "/verify-email?token="} {
		if !strings.Contains(out, want) {
			t.Fatalf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestWebEmailVerificationExpired(t *testing.T) {
	clock := testenv.NewClock(time.Now())
	w, smtp := newMailWorld(t, withClock(clock))
	b := w.browser(t)
	b.signUp("Bob", "bob@example.test")
	link := linkIn(t, w, smtp.WaitFor(t, "bob@example.test", mailTimeout))
	clock.Advance(accounts.VerificationLifetime + time.Second)
	resp, body := w.browser(t).get(link)
	webExpect(t, resp, body, http.StatusGone, "This link has expired", "48 hours", "Nothing was verified")
	if emailVerified(t, w, "bob@example.test") {
		t.Fatal("an expired link verified the address")
	}

	// A new link, asked for from the page, works.
	resp, body = b.post("/verify-email/send", url.Values{"csrf": {b.csrf("/verify-email")}})
	webExpect(t, resp, body, http.StatusOK, "We sent a new link to bob@example.test")
	fresh := linkIn(t, w, smtp.WaitFor(t, "bob@example.test", mailTimeout))
	if fresh == link {
		t.Fatal("the new mail has the old link")
	}
	resp, body = b.get(fresh)
	webExpect(t, resp, body, http.StatusOK, "Email address verified")
	if !emailVerified(t, w, "bob@example.test") {
		t.Fatal("the new link did not verify the address")
	}
}

func TestWebVerificationRequest(t *testing.T) {
	// A stopped clock: the limit counts in fixed windows (see TestWebSignInLimit).
	w, smtp := newMailWorld(t, withClock(testenv.NewClock(time.Now())))
	b := w.browser(t)
	b.signUp("Anne", "anne@example.test")
	smtp.WaitFor(t, "anne@example.test", mailTimeout)
	resp, body := b.get("/verify-email")
	webExpect(t, resp, body, http.StatusOK, "is not verified yet", `action="/verify-email/send"`)

	// Refused forms send nothing and store nothing.
	mails, links := len(smtp.Messages()), mailCount(w)
	for _, form := range []url.Values{{}, {"csrf": {accounts.NewToken()}}} {
		resp, body = b.post("/verify-email/send", form)
		webExpect(t, resp, body, http.StatusForbidden, "This form has expired")
	}
	resp, _ = w.browser(t).post("/verify-email/send", url.Values{"csrf": {"x"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin") {
		t.Fatalf("signed out: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if len(smtp.Messages()) != mails || mailCount(w) != links {
		t.Fatal("a refused form sent a mail or stored a link")
	}

	var link string
	for range accounts.VerificationMailLimit {
		resp, body = b.post("/verify-email/send", url.Values{"csrf": {b.csrf("/verify-email")}})
		webExpect(t, resp, body, http.StatusOK, "We sent a new link")
		link = linkIn(t, w, smtp.WaitFor(t, "anne@example.test", mailTimeout))
	}
	resp, body = b.post("/verify-email/send", url.Values{"csrf": {b.csrf("/verify-email")}})
	webExpect(t, resp, body, http.StatusTooManyRequests, "too many verification mails asked for", "try again in")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}

	resp, body = b.get(link)
	webExpect(t, resp, body, http.StatusOK, "Email address verified")
	resp, body = b.post("/verify-email/send", url.Values{"csrf": {b.csrf("/")}})
	webExpect(t, resp, body, http.StatusConflict, "already verified")
}

func TestWebChangePassword(t *testing.T) {
	ctx := context.Background()
	w, smtp := newMailWorld(t)
	a := w.browser(t)
	a.signUp("Anne", "anne@example.test")
	smtp.WaitFor(t, "anne@example.test", mailTimeout)
	other := w.browser(t)
	if resp := other.signIn("anne@example.test", webPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}
	storedHash := func() string {
		var h string
		testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT password_hash FROM users WHERE email = 'anne@example.test'`).Scan(&h))
		return h
	}
	before := storedHash()
	const newPassword = "a brand new passphrase"

	resp, body := a.get("/")
	webExpect(t, resp, body, http.StatusOK, `href="/settings/password"`)
	resp, body = a.get("/settings/password")
	webExpect(t, resp, body, http.StatusOK, "Change your password", `name="current_password"`, `name="new_password_again"`)
	csrf := a.csrf("/settings/password")
	for _, tc := range []struct {
		name                string
		current, new, again string
		says                string
	}{
		{"wrong current password", "not my password", newPassword, newPassword, "Your current password is wrong"},
		{"no current password", "", newPassword, newPassword, "Enter your current password"},
		{"new passwords differ", webPassword, newPassword, newPassword + "!", "not the same"},
		{"short", webPassword, "short", "short", "at least 8 characters"},
		{"the current one again", webPassword, webPassword, webPassword, "not your current one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := a.post("/settings/password", url.Values{"csrf": {csrf},
				"current_password": {tc.current}, "new_password": {tc.new}, "new_password_again": {tc.again}})
			webExpect(t, resp, body, http.StatusBadRequest, tc.says, "Nothing was changed", `action="/settings/password"`)
			for _, pw := range []string{tc.current, tc.new} {
				if len(pw) > 5 && strings.Contains(body, pw) {
					t.Fatal("a password was sent back")
				}
			}
		})
	}
	right := url.Values{"current_password": {webPassword}, "new_password": {newPassword}, "new_password_again": {newPassword}}
	for name, token := range map[string][]string{"no CSRF token": nil, "a wrong CSRF token": {accounts.NewToken()}, "the other session's token": {other.csrf("/settings/password")}} {
		t.Run(name, func(t *testing.T) {
			form := url.Values{"csrf": token}
			for k, v := range right {
				form[k] = v
			}
			resp, body := a.post("/settings/password", form)
			webExpect(t, resp, body, http.StatusForbidden, "This form has expired")
		})
	}
	// Nothing changed: the password, the other browser's session, no mail.
	if storedHash() != before {
		t.Fatal("a refused change changed the password")
	}
	if resp, _ := other.get("/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the other browser after refused changes: %d", resp.StatusCode)
	}
	if n := len(smtp.Messages()); n != 1 {
		t.Fatalf("%d mails, want only the verification", n)
	}

	form := url.Values{"csrf": {csrf}}
	for k, v := range right {
		form[k] = v
	}
	resp, body = a.post("/settings/password", form)
	webExpect(t, resp, body, http.StatusOK, "Password changed", "this browser stays signed in",
		"The other browser signed in to your account was signed out", "We sent a notice to anne@example.test")
	notice := smtp.WaitFor(t, "anne@example.test", mailTimeout)
	if notice.Subject != "Your caido-cloud password was changed" || !strings.Contains(notice.Text, "every other browser signed in to the account was signed out") {
		t.Fatalf("notice %q:\n%s", notice.Subject, notice.Text)
	}
	if strings.Contains(string(notice.Raw), newPassword) || strings.Contains(string(notice.Raw), webPassword) {
		t.Fatal("the notice carries a password")
	}
	if storedHash() == before {
		t.Fatal("the password hash did not change")
	}
	// The other browser is signed out, this one is not.
	resp, _ = other.get("/")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin") {
		t.Fatalf("the other browser after the change: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = a.get("/")
	webExpect(t, resp, body, http.StatusOK, "signed in as")
	// The old password no longer signs in; the new one does.
	third := w.browser(t)
	if resp := third.signIn("anne@example.test", webPassword); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("old password: %d", resp.StatusCode)
	}
	if resp := third.signIn("anne@example.test", newPassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("new password: %d", resp.StatusCode)
	}

	// Signed out, the page sends to sign in and back.
	signedOut := w.browser(t)
	for _, do := range []func() *http.Response{
		func() *http.Response { r, _ := signedOut.get("/settings/password"); return r },
		func() *http.Response { r, _ := signedOut.post("/settings/password", form); return r },
	} {
		if resp := do(); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin?next=%2Fsettings%2Fpassword" {
			t.Fatalf("signed out: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// A wrong current password is a failed sign-in: the form draws on the
// account's sign-in limit, and over it even the right one is refused.
func TestWebChangePasswordSignInLimit(t *testing.T) {
	// A stopped clock: the limit counts in fixed windows (see TestWebSignInLimit).
	w, smtp := newMailWorld(t, withClock(testenv.NewClock(time.Now())),
		func(cfg *config.Config, _ *testenv.Options) { cfg.SignInLimit = 2 })
	b := w.browser(t)
	b.signUp("Anne", "anne@example.test")
	smtp.WaitFor(t, "anne@example.test", mailTimeout)
	csrf := b.csrf("/settings/password")
	change := func(current string) (*http.Response, string) {
		return b.post("/settings/password", url.Values{"csrf": {csrf}, "current_password": {current},
			"new_password": {"a brand new passphrase"}, "new_password_again": {"a brand new passphrase"}})
	}
	for range 2 {
		resp, body := change("not my password")
		webExpect(t, resp, body, http.StatusBadRequest, "Your current password is wrong")
	}
	resp, body := change(webPassword)
	webExpect(t, resp, body, http.StatusTooManyRequests, "Too many attempts")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	// The account's sign-in is over its limit too, from another browser.
	if r := w.browser(t).signIn("anne@example.test", webPassword); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("sign-in over the limit: %d", r.StatusCode)
	}
}
