package api_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestBrowserEmailVerificationAndPassword: a real browser signs up on the
// app, the verification mail reaches the test's SMTP server, the browser
// opens its link and the home page stops saying the address is
// unverified; then it changes the password through the settings page and
// the notice arrives.
func TestBrowserEmailVerificationAndPassword(t *testing.T) {
	webChromium(t) // fail first, before starting anything
	w, smtp := newMailWorld(t)
	browser := webBrowserContext(t)
	steps := append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(w.base + "/signup")}, webSignUp("Anne", "anne@example.test")...)
	steps = append(steps, chromedp.WaitVisible(chromedp.ID("unverified")))
	webRun(t, browser, "sign up", steps...)
	link := linkIn(t, w, smtp.WaitFor(t, "anne@example.test", mailTimeout))
	webRun(t, browser, "follow the mailed link",
		chromedp.Navigate(w.base+link),
		chromedp.WaitVisible(chromedp.ID("message")),
	)
	if msg := webText(t, browser, "#message"); !strings.Contains(msg, "anne@example.test is verified") {
		t.Fatalf("after the link: %s", msg)
	}
	webRun(t, browser, "change the password",
		chromedp.Navigate(w.base+"/"),
		chromedp.WaitVisible(chromedp.ID("to-password")),
		chromedp.Click(chromedp.ID("to-password")),
		chromedp.WaitVisible(chromedp.ID("current_password")),
		chromedp.SendKeys(chromedp.ID("current_password"), webPassword),
		chromedp.SendKeys(chromedp.ID("new_password"), "a brand new passphrase"),
		chromedp.SendKeys(chromedp.ID("new_password_again"), "a brand new passphrase"),
		chromedp.Click(chromedp.ID("change-password")),
		chromedp.WaitVisible(chromedp.ID("message")),
	)
	if msg := webText(t, browser, "#message"); !strings.Contains(msg, "Your password is changed and this browser stays signed in") {
		t.Fatalf("after the change: %s", msg)
	}
	if notice := smtp.WaitFor(t, "anne@example.test", mailTimeout); notice.Subject != "Your caido-cloud password was changed" {
		t.Fatalf("notice %q", notice.Subject)
	}
	webRun(t, browser, "back home", chromedp.Navigate(w.base+"/"), chromedp.WaitVisible(chromedp.ID("who")))
	n, err := chromedp.Run(browser, chromedp.Evaluate[int](`document.querySelectorAll('#unverified').length`))
	testenv.Must(t, err)
	if n != 0 {
		t.Fatal("home still says the address is not verified")
	}
}
