package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// webChromium finds Debian's chromium; these tests never skip.
func webChromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("chromium is not installed: install it with `apt-get update && apt-get install -y chromium` (as root; .ci/run does it when it is missing)")
	return ""
}

// webBrowserContext starts a headless chromium with a fresh profile, ended
// with the test.
func webBrowserContext(t *testing.T) context.Context {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(webChromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // root, in a container
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 1200),
	)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	// Registered after TempDir's: runs before it, so chromium has exited
	// when its profile is removed.
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// The first run starts the browser and must not carry a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// webRun runs browser steps within a bound; when a step fails it saves a
// screenshot and the page's text before failing the test.
func webRun(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	run, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := chromedp.Do(run, steps...)
	if err == nil {
		return
	}
	shot, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	where, _ := chromedp.Run(shot, chromedp.Location())
	text, _ := chromedp.Run(shot, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	path := "(none)"
	if png, serr := chromedp.Run(shot, chromedp.CaptureScreenshot()); serr == nil {
		path = filepath.Join(dashShotDir(t), fmt.Sprintf("%s-%s-%d.png", dashUnsafeName.ReplaceAllString(t.Name(), "_"),
			dashUnsafeName.ReplaceAllString(what, "_"), time.Now().UnixNano()))
		if werr := os.WriteFile(path, png, 0o644); werr != nil {
			path = "(not saved: " + werr.Error() + ")"
		}
	}
	t.Fatalf("%s: %v\nat %s, screenshot %s, page:\n%s", what, err, where, path, text)
}

// webSignUp fills in the sign-up form shown and sends it, then signs in
// from the page that answers, as a person does.
func webSignUp(name, email string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), webPassword),
		chromedp.Click(chromedp.ID("signup")),
		// The answer's own link: the sign-up page has a "Sign in" link too,
		// and following that one would cut the sign-up short.
		chromedp.WaitVisible(chromedp.ID("signedup")),
		chromedp.Click(chromedp.ID("signedup-signin")),
		chromedp.WaitVisible(chromedp.ID("signin")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), webPassword),
		chromedp.Click(chromedp.ID("signin")),
	}
}

func webText(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.Join(strings.Fields(text), " ")
}

// TestBrowserDeviceApproval: an instance starts a device flow on the real
// server; a real browser opens its verification_uri_complete on the pages,
// signs up, names the instance and approves; the instance's poll gets
// tokens. Then another user opens a code of that instance and is told whom
// to ask, and nothing is approved.
func TestBrowserDeviceApproval(t *testing.T) {
	webChromium(t) // fail first, before starting anything
	ctx := context.Background()
	w := newWebWorld(t)
	in := w.register(t)
	da := in.StartDeviceFlow(t, "profile:read assistant offline")
	code := da.UserCode
	complete, err := url.Parse(da.VerificationURIComplete)
	testenv.Must(t, err)
	if complete.Path != "/device" || complete.Query().Get("user_code") != code {
		t.Fatalf("verification_uri_complete = %s", complete)
	}

	browser := webBrowserContext(t)
	steps := append([]chromedp.Action[chromedp.Void]{
		chromedp.Navigate(w.base + complete.RequestURI()),
		chromedp.WaitVisible(chromedp.ID("to-signup")),
		chromedp.Click(chromedp.ID("to-signup")),
	}, webSignUp("Anne", "anne@example.test")...)
	steps = append(steps, chromedp.WaitVisible(chromedp.ID("instance_name")))
	webRun(t, browser, "open the code and go to sign up", steps...)
	page := webText(t, browser, "main")
	for _, want := range []string{code, "New, not yet claimed", "Registered", "Default (yours)",
		"See your name and email address (profile:read, required)", "(assistant)", "(offline)"} {
		if !strings.Contains(page, want) {
			t.Fatalf("approval page lacks %q:\n%s", want, page)
		}
	}
	checked, err := chromedp.Run(browser, chromedp.Evaluate[[]bool](
		`[...document.querySelectorAll('input[name=scope]')].map(e => e.checked)`))
	testenv.Must(t, err)
	if len(checked) != 2 || !checked[0] || !checked[1] {
		t.Fatalf("optional scopes checked: %v, want both", checked)
	}
	shot, err := chromedp.Run(browser, chromedp.CaptureScreenshot())
	testenv.Must(t, err)
	if !bytes.HasPrefix(shot, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatal("the screenshot is not a PNG")
	}
	testenv.Must(t, os.WriteFile(filepath.Join(t.TempDir(), "approval.png"), shot, 0o600))

	webRun(t, browser, "name the instance, leave offline out and approve",
		chromedp.SendKeys(chromedp.ID("instance_name"), "browser laptop"),
		chromedp.Click(chromedp.CSS(`input[name=scope][value=offline]`)),
		chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitVisible(chromedp.ID("message")),
	)
	if msg := webText(t, browser, "#message"); !strings.Contains(msg, "You approved the sign-in of browser laptop") {
		t.Fatalf("after approving: %s", msg)
	}
	tok := webPollTokens(t, in, da.DeviceCode)
	if tok["scope"] != "profile:read assistant" || tok["access_token"] == nil || tok["refresh_token"] != nil {
		t.Fatalf("tokens: scope %q, access token %v, refresh token %v", tok["scope"], tok["access_token"] != nil, tok["refresh_token"] != nil)
	}

	// Bob, in a browser context of his own, may not use Anne's instance.
	_, err = w.a.Accounts.SignUp(ctx, accounts.SignUp{Name: "Bob", Email: "bob@example.test", Password: webPassword})
	testenv.Must(t, err)
	da = in.StartDeviceFlow(t, "profile:read")
	code = da.UserCode
	complete, err = url.Parse(da.VerificationURIComplete)
	testenv.Must(t, err)
	bob, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancel()
	// Its first run opens its tab and must not carry a timeout.
	testenv.Must(t, chromedp.Do(bob, chromedp.Navigate("about:blank")))
	webRun(t, bob, "Bob opens the code and signs in",
		chromedp.Navigate(w.base+complete.RequestURI()),
		chromedp.WaitVisible(chromedp.ID("signin")),
		chromedp.SendKeys(chromedp.ID("email"), "bob@example.test"),
		chromedp.SendKeys(chromedp.ID("password"), webPassword),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("not-allowed")),
	)
	page = webText(t, bob, "main")
	for _, want := range []string{code, "browser laptop", "You may not use this instance. Ask Anne, who manages its workspace", "Nothing was approved"} {
		if !strings.Contains(page, want) {
			t.Fatalf("Bob's page lacks %q:\n%s", want, page)
		}
	}
	buttons, err := chromedp.Run(bob, chromedp.Evaluate[int](`document.querySelectorAll('button#approve, button#deny').length`))
	testenv.Must(t, err)
	if buttons != 0 {
		t.Fatal("Bob is offered to approve")
	}
	if _, err := w.a.Devices.Lookup(ctx, code); err != nil {
		t.Fatalf("Bob's flow is no longer pending: %v", err)
	}
	if status, body, _ := in.PollDevice(t, da.DeviceCode); body["error"] != "authorization_pending" {
		t.Fatalf("poll of Bob's flow: %d %v", status, body)
	}
}

// webPollTokens polls as a device does until it gets tokens.
func webPollTokens(t *testing.T, in testenv.Instance, deviceCode string) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(1100 * time.Millisecond) {
		status, body, _ := in.PollDevice(t, deviceCode)
		if status == http.StatusOK {
			return body
		}
		if e := body["error"]; e != "slow_down" && e != "authorization_pending" || time.Now().After(deadline) {
			t.Fatalf("poll: %d %v", status, body)
		}
	}
}
