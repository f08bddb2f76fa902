package api_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestWebSessionsPage: /settings/sessions lists where the user is signed
// in (browsers with their User-Agent, this one marked; instances with
// their scopes) and signs out any of them: a browser's cookie stops
// working, an instance's tokens are refused. Another user's session is no
// one's to end here (404, and it stays). None of this existed before.
func TestWebSessionsPage(t *testing.T) {
	ctx := context.Background()
	w := newWebWorld(t)
	home, laptop := w.browser(t), w.browser(t)
	home.signUp("Anne", "anne@example.test")
	if r := laptop.signIn("anne@example.test", webPassword); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("second browser: %d", r.StatusCode)
	}
	acct, err := w.a.Access.AccountByEmail(ctx, "anne@example.test")
	testenv.Must(t, err)
	ws, err := w.a.Access.DefaultWorkspace(ctx, acct.ID)
	testenv.Must(t, err)
	inst := w.register(t)
	_, err = w.a.Access.ClaimInstance(ctx, inst.ID, acct.ID, ws, "anne's box")
	testenv.Must(t, err)
	tok := inst.SignIn(t, w.a, acct.ID, "profile:read offline")

	resp, body := home.get("/settings/sessions")
	webExpect(t, resp, body, http.StatusOK, "webtest/1.0", "(this browser)", "anne's box", "profile:read offline")
	ends := regexp.MustCompile(`action="(/settings/sessions/(browsers|instances)/[0-9a-f-]{36}/end)"`).FindAllStringSubmatch(body, -1)
	if len(ends) != 3 {
		t.Fatalf("%d sign-out forms, want 2 browsers and 1 instance:\n%s", len(ends), body)
	}
	csrf := webCSRFField.FindStringSubmatch(body)[1]

	// Bob cannot end Anne's sessions, even knowing their ids.
	bob := w.browser(t)
	bob.signUp("Bob", "bob@example.test")
	for _, e := range ends {
		resp, body := bob.post(e[1], url.Values{"csrf": {bob.csrf("/settings/sessions")}})
		webExpect(t, resp, body, http.StatusNotFound, "No such session")
	}

	// Anne signs out the laptop (the browser that is not this one) and the instance.
	var laptopEnd, instanceEnd string
	for _, row := range regexp.MustCompile(`(?s)<tr>.*?</tr>`).FindAllString(body, -1) {
		end := regexp.MustCompile(`action="(/settings/sessions/(browsers|instances)/[0-9a-f-]{36}/end)"`).FindStringSubmatch(row)
		switch {
		case end == nil:
		case end[2] == "instances":
			instanceEnd = end[1]
		case !regexp.MustCompile(`\(this browser\)`).MatchString(row):
			laptopEnd = end[1]
		}
	}
	if laptopEnd == "" || instanceEnd == "" {
		t.Fatalf("no sign-out form for the laptop or the instance:\n%s", body)
	}
	if resp, _ := home.post(laptopEnd, url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out the laptop: %d", resp.StatusCode)
	}
	if resp, _ := laptop.get("/settings"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the laptop after being signed out: %d, want sent to sign in", resp.StatusCode)
	}
	if resp, _ := home.get("/settings"); resp.StatusCode != http.StatusOK {
		t.Fatalf("this browser after signing out the other: %d", resp.StatusCode)
	}
	if resp, _ := home.post(instanceEnd, url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out the instance: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(5 * time.Second) // within the decision cache's bound
	for {
		req, _ := http.NewRequest(http.MethodGet, w.base+"/instance/user/session", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		testenv.Must(t, err)
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the instance's user token after its session was ended: %d", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, body = home.get("/settings/sessions")
	webExpect(t, resp, body, http.StatusOK, "(this browser)", "You are signed in at no instance")
	if n := len(regexp.MustCompile(`class="end-browser"`).FindAllString(body, -1)); n != 1 {
		t.Fatalf("%d browsers listed after signing one out, want 1", n)
	}
}
