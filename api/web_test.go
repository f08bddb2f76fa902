package api_test

import (
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/config"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc/device"
)

// webWorld is a running caido-cloud, the app's own router: instances
// register and poll on the server whose pages the browsers use.
type webWorld struct {
	a    *app.App
	base string // the server, also its public URL unless a setting says another
}

const webPassword = "correct horse battery"

// webSetting changes a world's configuration or testenv options (its
// clock, limits, public URL) before the app is built.
type webSetting func(cfg *config.Config, opts *testenv.Options)

// newWebWorld is a running caido-cloud whose devices may poll every second.
func newWebWorld(t testing.TB, set ...webSetting) *webWorld {
	t.Helper()
	cfg := testenv.Config(t)
	cfg.DevicePollInterval = time.Second
	return serveWebWorld(t, cfg, testenv.Options{}, set...)
}

// serveWebWorld serves the app on cfg with opts, changed by set.
func serveWebWorld(t testing.TB, cfg config.Config, opts testenv.Options, set ...webSetting) *webWorld {
	t.Helper()
	for _, s := range set {
		s(&cfg, &opts)
	}
	w := &webWorld{}
	w.a, w.base = testenv.Serve(t, cfg, opts)
	// Answered once the server is up (its signing keys ready), so that even
	// a short test ends after its start.
	resp, err := http.Get(w.base + "/healthz")
	testenv.Must(t, err)
	resp.Body.Close()
	return w
}

// withClock makes clock the app's: the time of every service (sessions,
// device flows, limits, tokens' expiries) is the clock's, which stands
// still unless the test moves it.
func withClock(clock *testenv.Clock) webSetting {
	return func(_ *config.Config, opts *testenv.Options) { opts.Clock = clock }
}

// register registers an instance at the server.
func (w *webWorld) register(t testing.TB) testenv.Instance {
	t.Helper()
	return testenv.RegisterInstance(t, w.a, w.base, "profile:read assistant offline")
}

// webBrowser is a cookie-keeping client of the pages that does not follow
// redirects, so that each answer can be looked at.
type webBrowser struct {
	t    testing.TB
	base string
	c    *http.Client
}

func (w *webWorld) browser(t testing.TB) *webBrowser {
	jar, err := cookiejar.New(nil)
	testenv.Must(t, err)
	return &webBrowser{t: t, base: w.base, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *webBrowser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	testenv.Must(b.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	testenv.Must(b.t, err)
	return resp, string(raw)
}

func (b *webBrowser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base+path, nil)
	testenv.Must(b.t, err)
	return b.do(req)
}

func (b *webBrowser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	testenv.Must(b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "webtest/1.0")
	return b.do(req)
}

var webCSRFField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the token of the form on the page at path.
func (b *webBrowser) csrf(path string) string {
	b.t.Helper()
	_, body := b.get(path)
	m := webCSRFField.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no CSRF field on %s:\n%s", path, body)
	}
	return m[1]
}

// signUp signs up and then in, as a person does from the page that
// answers a sign-up.
func (b *webBrowser) signUp(name, email string) {
	b.t.Helper()
	resp, body := b.post("/signup", url.Values{"csrf": {b.csrf("/signup")}, "name": {name}, "email": {email}, "password": {webPassword}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="signedup"`) {
		b.t.Fatalf("sign up: %d\n%s", resp.StatusCode, body)
	}
	if resp := b.signIn(email, webPassword); resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("sign in after the sign-up: %d", resp.StatusCode)
	}
}

func (b *webBrowser) signIn(email, password string) *http.Response {
	b.t.Helper()
	resp, _ := b.post("/signin", url.Values{"csrf": {b.csrf("/signin")}, "email": {email}, "password": {password}})
	return resp
}

func webCountUsers(t testing.TB, w *webWorld) int {
	t.Helper()
	var n int
	testenv.Must(t, w.a.DB.QueryRow(context.Background(), `SELECT count(*) FROM users`).Scan(&n))
	return n
}

var webTags = regexp.MustCompile(`<[^>]*>`)

// webExpect checks an answer's status and that its page holds each text,
// in the HTML or in the words a reader sees.
func webExpect(t testing.TB, resp *http.Response, body string, status int, texts ...string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d\n%s", resp.StatusCode, status, body)
	}
	text := html.UnescapeString(body)
	words := strings.Join(strings.Fields(html.UnescapeString(webTags.ReplaceAllString(body, ""))), " ")
	for _, s := range texts {
		if !strings.Contains(text, s) && !strings.Contains(words, s) {
			t.Fatalf("page lacks %q:\n%s", s, body)
		}
	}
}

func TestWebSignUpValidation(t *testing.T) {
	w := newWebWorld(t)
	b := w.browser(t)
	b.signUp("Anne", "anne@example.test")
	b2 := w.browser(t)
	before := webCountUsers(t, w)
	for _, tc := range []struct {
		name, email, password string
		status                int
		says                  string
	}{
		{"Bob", "bob.example.test", webPassword, http.StatusBadRequest, "Enter an email address"},
		{"Bob", "bob@example.test", "short", http.StatusBadRequest, "at least 8 characters"},
		{"", "bob@example.test", webPassword, http.StatusBadRequest, "Enter your name"},
	} {
		resp, body := b2.post("/signup", url.Values{"csrf": {b2.csrf("/signup")}, "name": {tc.name}, "email": {tc.email}, "password": {tc.password}})
		// The page comes back with the form and what was typed (never the password).
		webExpect(t, resp, body, tc.status, tc.says, `action="/signup"`, `value="`+tc.email+`"`)
		if tc.password != "" && strings.Contains(body, tc.password) {
			t.Fatal("the password was sent back")
		}
	}
	// A taken address gets the page a new one gets (TestWebSignUpTellsNoOne).
	resp, body := b2.post("/signup", url.Values{"csrf": {b2.csrf("/signup")}, "name": {"Anne again"}, "email": {"ANNE@Example.Test"}, "password": {webPassword}})
	webExpect(t, resp, body, http.StatusOK, "If ANNE@Example.Test is new here")
	if n := webCountUsers(t, w); n != before {
		t.Fatalf("refused sign-ups stored users: %d, was %d", n, before)
	}
	var ua string
	testenv.Must(t, w.a.DB.QueryRow(context.Background(), `SELECT signup_user_agent FROM users WHERE email = 'anne@example.test'`).Scan(&ua))
	if ua != "webtest/1.0" {
		t.Fatalf("signup_user_agent = %q", ua)
	}
}

func TestWebSignInAndOut(t *testing.T) {
	w := newWebWorld(t)
	w.browser(t).signUp("Anne", "anne@example.test")
	b := w.browser(t)
	resp := b.signIn("anne@example.test", "wrong password")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "cc_session" {
			t.Fatal("a wrong password set a session cookie")
		}
	}
	resp = b.signIn("anne@example.test", webPassword)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("sign in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "cc_session" {
			session = ck
		}
	}
	if session == nil {
		t.Fatal("no session cookie")
	}
	resp, body := b.get("/")
	webExpect(t, resp, body, http.StatusOK, "signed in as", "Anne", "anne@example.test")

	// Signing out ends the session server-side: the old cookie no longer works.
	resp, _ = b.post("/signout", url.Values{"csrf": {b.csrf("/")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d", resp.StatusCode)
	}
	var n int
	testenv.Must(t, w.a.DB.QueryRow(context.Background(), `SELECT count(*) FROM web_sessions`).Scan(&n))
	if n != 1 { // the sign-up's session, in the other browser
		t.Fatalf("%d sessions left, want 1", n)
	}
	replay := w.browser(t)
	u, _ := url.Parse(w.base)
	replay.c.Jar.SetCookies(u, []*http.Cookie{{Name: session.Name, Value: session.Value, Path: "/"}})
	resp, _ = replay.get("/")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin") {
		t.Fatalf("old cookie after sign-out: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestWebCookieFlags(t *testing.T) {
	for _, tc := range []struct {
		publicURL, prefix string
		secure            bool
	}{
		{"", "", false},
		{"https://cloud.example.test", "__Host-", true},
	} {
		// A server of each public URL, both serving plain http: the pages
		// mark their cookies by the public URL alone.
		w := newWebWorld(t, func(_ *config.Config, opts *testenv.Options) { opts.PublicURL = tc.publicURL })
		// Signed up by the service, not a browser: its jar would not send
		// the https server's Secure form cookie back over http.
		_, err := w.a.Accounts.SignUp(context.Background(), accounts.SignUp{Name: "Anne", Email: "anne@example.test", Password: webPassword})
		testenv.Must(t, err)
		// Cookies by hand, not through a jar: it would not send a Secure
		// cookie over http.
		resp, err := http.Get(w.base + "/signin")
		testenv.Must(t, err)
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		form := webCookie(t, resp, tc.prefix+"cc_form", tc.secure)
		req, _ := http.NewRequest(http.MethodPost, w.base+"/signin", strings.NewReader(url.Values{
			"csrf": {webCSRFField.FindStringSubmatch(string(page))[1]}, "email": {"anne@example.test"}, "password": {webPassword}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(form)
		resp, body := w.browser(t).do(req)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign in: %d\n%s", resp.StatusCode, body)
		}
		webCookie(t, resp, tc.prefix+"cc_session", tc.secure)
	}
}

// webCookie finds a cookie the answer sets and checks its attributes.
func webCookie(t testing.TB, resp *http.Response, name string, secure bool) *http.Cookie {
	t.Helper()
	for _, raw := range resp.Header.Values("Set-Cookie") {
		if !strings.HasPrefix(raw, name+"=") {
			continue
		}
		for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="} {
			if !strings.Contains(raw, attr) {
				t.Errorf("cookie %q lacks %s", raw, attr)
			}
		}
		if strings.Contains(raw, "Secure") != secure {
			t.Errorf("cookie %q: Secure should be %v", raw, secure)
		}
		ck, err := http.ParseSetCookie(raw)
		testenv.Must(t, err)
		return &http.Cookie{Name: ck.Name, Value: ck.Value}
	}
	t.Fatalf("no %s cookie in %q", name, resp.Header.Values("Set-Cookie"))
	return nil
}

func TestWebSignInLimit(t *testing.T) {
	// A stopped clock: the limit counts in fixed windows, and a test that
	// crossed into the next one would find its count gone.
	w := newWebWorld(t, withClock(testenv.NewClock(time.Now())))
	w.browser(t).signUp("Anne", "anne@example.test")
	b := w.browser(t)
	for i := range accounts.DefaultSignInLimit {
		if resp := b.signIn("anne@example.test", "wrong password"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, resp.StatusCode)
		}
	}
	resp, body := b.post("/signin", url.Values{"csrf": {b.csrf("/signin")}, "email": {"anne@example.test"}, "password": {webPassword}})
	webExpect(t, resp, body, http.StatusTooManyRequests, "Too many attempts", "try again in")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

func TestWebCSRF(t *testing.T) {
	ctx := context.Background()
	w := newWebWorld(t)
	in := w.register(t)
	da := in.StartDeviceFlow(t, "profile:read")
	code := da.UserCode
	b := w.browser(t)
	b.signUp("Anne", "anne@example.test")
	_, page := b.get("/device?user_code=" + code)
	ws := regexp.MustCompile(`<option value="([^"]+)"`).FindStringSubmatch(page)
	if ws == nil {
		t.Fatalf("no workspace to pick:\n%s", page)
	}
	before := webCountUsers(t, w)
	for _, tc := range []struct {
		name, path string
		form       url.Values
	}{
		{"approve without token", "/device/approve", url.Values{"user_code": {code}, "instance_name": {"laptop"}, "workspace_id": {ws[1]}}},
		{"approve with a wrong token", "/device/approve", url.Values{"csrf": {accounts.NewToken()}, "user_code": {code}, "instance_name": {"laptop"}, "workspace_id": {ws[1]}}},
		{"deny with a wrong token", "/device/deny", url.Values{"csrf": {"x"}, "user_code": {code}}},
		{"sign out without token", "/signout", url.Values{}},
		{"sign up without token", "/signup", url.Values{"name": {"Bob"}, "email": {"bob@example.test"}, "password": {webPassword}}},
		{"sign in with a wrong token", "/signin", url.Values{"csrf": {accounts.NewToken()}, "email": {"anne@example.test"}, "password": {webPassword}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := b.post(tc.path, tc.form)
			webExpect(t, resp, body, http.StatusForbidden, "This form has expired")
		})
	}
	// Nothing changed: the flow is pending, the instance unclaimed, the
	// session alive, no user added.
	if _, err := w.a.Devices.Lookup(ctx, code); err != nil {
		t.Fatalf("flow after refused forms: %v", err)
	}
	if in, err := w.a.Access.InstanceInfo(ctx, in.ID); err != nil || in.Claimed {
		t.Fatalf("instance after refused forms: %+v %v", in, err)
	}
	if resp, _ := b.get("/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("session after refused sign-out: %d", resp.StatusCode)
	}
	if n := webCountUsers(t, w); n != before {
		t.Fatalf("users: %d, was %d", n, before)
	}
}

func TestWebDeviceClaimAndApprove(t *testing.T) {
	ctx := context.Background()
	w := newWebWorld(t)
	in := w.register(t)
	da := in.StartDeviceFlow(t, "profile:read assistant offline")
	code := da.UserCode
	complete, err := url.Parse(da.VerificationURIComplete)
	testenv.Must(t, err)
	b := w.browser(t)

	// Signed out: to sign in, and from there to sign up, then back.
	resp, _ := b.get(complete.RequestURI())
	next := "/device?user_code=" + code
	if want := "/signin?next=" + url.QueryEscape(next); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
		t.Fatalf("signed out: %d to %q, want %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	_, body := b.get(resp.Header.Get("Location"))
	if !strings.Contains(strings.ToUpper(body), strings.ToUpper(`href="/signup?next=`+url.QueryEscape(next)+`"`)) {
		t.Fatalf("sign-in page has no sign-up link with next:\n%s", body)
	}
	resp, body = b.post("/signup", url.Values{"csrf": {b.csrf("/signup")}, "next": {next}, "name": {"Anne"}, "email": {"anne@example.test"}, "password": {webPassword}})
	if !strings.Contains(strings.ToUpper(body), strings.ToUpper(`href="/signin?next=`+url.QueryEscape(next)+`"`)) {
		t.Fatalf("sign up: %d, no sign-in link with next:\n%s", resp.StatusCode, body)
	}
	resp, _ = b.post("/signin", url.Values{"csrf": {b.csrf("/signin")}, "next": {next}, "email": {"anne@example.test"}, "password": {webPassword}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != next {
		t.Fatalf("sign in after the sign-up: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = b.get(next)
	webExpect(t, resp, body, http.StatusOK, code, "not yet claimed", "Registered", "Name of the instance",
		"Default (yours)", "profile:read, required", `value="assistant" checked`, `value="offline" checked`)
	ws := regexp.MustCompile(`<option value="([^"]+)"`).FindStringSubmatch(body)[1]
	csrf := webCSRFField.FindStringSubmatch(body)[1]

	// Bad input comes back with a message and a 4xx, nothing claimed.
	for _, tc := range []struct {
		form url.Values
		says string
	}{
		{url.Values{"instance_name": {"  "}, "workspace_id": {ws}}, "Name the instance"},
		{url.Values{"instance_name": {"laptop"}, "workspace_id": {"00000000-0000-0000-0000-000000000000"}}, "Pick the workspace"},
		{url.Values{"instance_name": {"laptop"}, "workspace_id": {"not a uuid"}}, "Pick the workspace"},
	} {
		tc.form.Set("csrf", csrf)
		tc.form.Set("user_code", code)
		tc.form["scope"] = []string{"assistant"}
		resp, body := b.post("/device/approve", tc.form)
		webExpect(t, resp, body, http.StatusBadRequest, tc.says, "Approve")
		if strings.Contains(body, `value="offline" checked`) || !strings.Contains(body, `value="assistant" checked`) {
			t.Fatalf("the scope choices were not kept:\n%s", body)
		}
	}
	if st, _, _ := in.PollDevice(t, da.DeviceCode); st != http.StatusBadRequest {
		t.Fatalf("poll before approval: %d", st)
	}

	// Approve with assistant, without offline.
	resp, body = b.post("/device/approve", url.Values{"csrf": {csrf}, "user_code": {code}, "instance_name": {"work laptop"},
		"workspace_id": {ws}, "scope": {"assistant"}})
	webExpect(t, resp, body, http.StatusOK, "You approved the sign-in of work laptop")
	inst, err := w.a.Access.InstanceInfo(ctx, in.ID)
	testenv.Must(t, err)
	if !inst.Claimed || inst.Name != "work laptop" || inst.Workspace.ID != ws {
		t.Fatalf("instance after approval: %+v", inst)
	}
	// The claim is in the audit log, as the user's, from the browser's address.
	var actor, ip string
	testenv.Must(t, w.a.DB.QueryRow(ctx, `SELECT actor_label, host(ip) FROM audit_log WHERE action = 'instance.claim' AND target_id = $1`,
		in.ID).Scan(&actor, &ip))
	if actor != "anne@example.test" || ip != "127.0.0.1" {
		t.Fatalf("claim audited as %q from %q", actor, ip)
	}
	var status int
	var tok map[string]any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(1100 * time.Millisecond) {
		if status, tok, _ = in.PollDevice(t, da.DeviceCode); status != http.StatusBadRequest || tok["error"] != "slow_down" {
			break
		}
	}
	if status != http.StatusOK || tok["access_token"] == nil {
		t.Fatalf("poll after approval: %d %v", status, tok)
	}
	if tok["scope"] != "profile:read assistant" || tok["refresh_token"] != nil {
		t.Fatalf("granted %q (refresh token %v), want profile:read assistant and no refresh token", tok["scope"], tok["refresh_token"] != nil)
	}

	// The same code again: the one wrong-code answer.
	resp, body = b.post("/device/approve", url.Values{"csrf": {csrf}, "user_code": {code}, "instance_name": {"x"}, "workspace_id": {ws}})
	webExpect(t, resp, body, http.StatusBadRequest, "That code is not valid")

	// A second flow of the now claimed instance: approved without claiming.
	da = in.StartDeviceFlow(t, "profile:read offline")
	_, body = b.get("/device?user_code=" + strings.ToLower(strings.ReplaceAll(da.UserCode, "-", "")))
	webExpect(t, &http.Response{StatusCode: http.StatusOK}, body, http.StatusOK, "work laptop", "Default (Anne)", "Approve")
	if strings.Contains(body, "Name of the instance") {
		t.Fatal("a claimed instance is offered to be claimed")
	}
	resp, body = b.post("/device/deny", url.Values{"csrf": {csrf}, "user_code": {da.UserCode}})
	webExpect(t, resp, body, http.StatusOK, "You refused the sign-in")
	time.Sleep(1100 * time.Millisecond)
	if status, tok, _ = in.PollDevice(t, da.DeviceCode); tok["error"] != "access_denied" {
		t.Fatalf("poll after deny: %d %v", status, tok)
	}
}

func TestWebDeviceNotAllowed(t *testing.T) {
	ctx := context.Background()
	w := newWebWorld(t)
	anne := testenv.User(t, w.a, "anne@example.test")
	in := w.register(t)
	_, err := w.a.Access.ClaimInstance(ctx, in.ID, anne.ID, anne.DefaultWorkspaceID, "anne's laptop")
	testenv.Must(t, err)
	team, _, err := w.a.Access.CreateTeam(ctx, anne.ID, "Red Team", "billing@example.test")
	testenv.Must(t, err)
	teamInstance := w.register(t)
	_, err = w.a.Access.ClaimInstance(ctx, teamInstance.ID, anne.ID, team.DefaultWorkspaceID, "team box")
	testenv.Must(t, err)

	b := w.browser(t)
	b.signUp("Bob", "bob@example.test")
	for _, tc := range []struct {
		in  testenv.Instance
		ask string
	}{
		{in, "Ask anne, who manages"},
		{teamInstance, "Ask an admin of the team Red Team, who manages"},
	} {
		da := tc.in.StartDeviceFlow(t, "profile:read")
		code := da.UserCode
		resp, body := b.get("/device?user_code=" + code)
		webExpect(t, resp, body, http.StatusForbidden, "You may not use this instance", tc.ask, "Nothing was approved")
		if strings.Contains(body, `id="approve"`) {
			t.Fatal("the page offers to approve")
		}
		resp, body = b.post("/device/approve", url.Values{"csrf": {b.csrf("/")}, "user_code": {code}, "scope": {"profile:read"}})
		webExpect(t, resp, body, http.StatusForbidden, tc.ask)
		if _, err := w.a.Devices.Lookup(ctx, code); err != nil {
			t.Fatalf("the flow is no longer pending: %v", err)
		}
	}
}

func TestWebWrongCodeIdentical(t *testing.T) {
	ctx := context.Background()
	w := newWebWorld(t)
	in := w.register(t)
	b := w.browser(t)
	b.signUp("Anne", "anne@example.test")
	anne, err := w.a.Accounts.SignIn(ctx, "anne@example.test", webPassword, "192.0.2.1")
	testenv.Must(t, err)
	_, err = w.a.Access.ClaimInstance(ctx, in.ID, anne.ID, anne.DefaultWorkspaceID, "laptop")
	testenv.Must(t, err)

	expired := in.StartDeviceFlow(t, "profile:read").UserCode
	_, err = w.a.DB.Exec(ctx, `UPDATE device_authorizations SET created_at = now() - interval '1 hour', expires_at = now() - interval '1 minute'
		WHERE user_code = $1`, strings.ReplaceAll(expired, "-", ""))
	testenv.Must(t, err)
	used := in.StartDeviceFlow(t, "profile:read").UserCode
	testenv.Must(t, w.a.Devices.Approve(ctx, used, anne.ID, []string{"profile:read"}))
	denied := in.StartDeviceFlow(t, "profile:read").UserCode
	testenv.Must(t, w.a.Devices.Deny(ctx, denied))
	never := "BCDF-GHJK"
	for _, c := range []string{expired, used, denied} {
		if c == never {
			t.Skip("drew the never-issued code") // 1 in 20^8
		}
	}

	var first string
	for _, code := range []string{never, expired, used, denied, "not a code at all"} {
		resp, body := b.get("/device?user_code=" + url.QueryEscape(code))
		webExpect(t, resp, body, http.StatusBadRequest, "That code is not valid")
		// The page shows the typed code back; apart from it, every answer is the same.
		body = strings.ReplaceAll(body, html.EscapeString(code), "CODE")
		if first == "" {
			first = body
		} else if body != first {
			t.Fatalf("the answer to %q differs:\n%s\nfrom:\n%s", code, body, first)
		}
	}
	if _, err := w.a.Devices.Lookup(ctx, used); !errors.Is(err, device.ErrUnknownUserCode) {
		t.Fatal(err)
	}
}

func TestWebCodeLimit(t *testing.T) {
	// A stopped clock, as in TestWebSignInLimit.
	w := newWebWorld(t, withClock(testenv.NewClock(time.Now())), func(cfg *config.Config, _ *testenv.Options) { cfg.CodeLimit = 3 })
	in := w.register(t)
	b := w.browser(t)
	b.signUp("Anne", "anne@example.test")
	code := in.StartDeviceFlow(t, "profile:read").UserCode
	// Right codes do not count.
	for range 5 {
		if resp, body := b.get("/device?user_code=" + code); resp.StatusCode != http.StatusOK {
			t.Fatalf("right code: %d\n%s", resp.StatusCode, body)
		}
	}
	for range 3 {
		if resp, _ := b.get("/device?user_code=BCDF-GHJK"); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("wrong code: %d", resp.StatusCode)
		}
	}
	resp, body := b.get("/device?user_code=" + code)
	webExpect(t, resp, body, http.StatusTooManyRequests, "too many wrong codes", "try again in")
	resp, body = b.post("/device/deny", url.Values{"csrf": {b.csrf("/")}, "user_code": {code}})
	webExpect(t, resp, body, http.StatusTooManyRequests, "too many wrong codes")
}

func TestWebSignedOutRedirects(t *testing.T) {
	w := newWebWorld(t)
	b := w.browser(t)
	for path, want := range map[string]string{
		"/":                               "/signin?next=%2F",
		"/device":                         "/signin?next=%2Fdevice",
		"/device?user_code=bcdf-ghjk":     "/signin?next=%2Fdevice%3Fuser_code%3Dbcdf-ghjk",
		"/signin?next=//evil.example":     "",
		"/signin?next=https://evil.test/": "",
	} {
		resp, body := b.get(path)
		if want == "" {
			webExpect(t, resp, body, http.StatusOK, `name="next" value="/"`)
			continue
		}
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("%s: %d to %q, want %q", path, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
	resp, _ := b.post("/device/approve", url.Values{"user_code": {"BCDF-GHJK"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signed-out approve: %d", resp.StatusCode)
	}
}
