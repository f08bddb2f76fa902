package instance_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc"
)

// TestPausedOpenFGAAnswers503: with OpenFGA paused (SIGSTOP: the kernel
// still accepts its connections, nothing answers), a request that needs a
// fresh OpenFGA decision answers 503 with Retry-After within the bound
// (CAIDO_CLOUD_OPENFGA_TIMEOUT) and a margin, never hangs: the instance API
// with temporarily_unavailable, the token endpoint with OAuth's
// temporarily_unavailable. A client that hangs up meanwhile is logged at
// DEBUG with 499, not as an ERROR. Once OpenFGA resumes, the same requests
// succeed.
func TestPausedOpenFGAAnswers503(t *testing.T) {
	fga := testenv.OpenFGA(t)
	cfg := testenv.Config(t)
	cfg.OpenFGAURL, cfg.OpenFGAToken = fga.URL(), fga.PresharedKey
	cfg.OpenFGATimeout = 2 * time.Second
	var logs testenv.Buffer
	a, base := testenv.Serve(t, cfg, testenv.Options{Log: &logs})

	access, refresh, form := signedIn(t, a, base, "anne@example.test")
	session := func(client *http.Client) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, base+"/instance/user/session", nil)
		req.Header.Set("Authorization", "Bearer "+access)
		return client.Do(req)
	}
	resp, err := session(http.DefaultClient)
	testenv.Must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("session before the pause: %d", resp.StatusCode)
	}

	testenv.Must(t, fga.Signal(syscall.SIGSTOP))
	t.Cleanup(func() { _ = fga.Signal(syscall.SIGCONT) }) // before the server's own cleanup stops it
	time.Sleep(oidc.DecisionTTL + 100*time.Millisecond)   // the cached decision has expired: the next needs OpenFGA

	// A client that gives up after 300 ms: no ERROR for it, a 499 at DEBUG.
	_, err = session(&http.Client{Timeout: 300 * time.Millisecond})
	if err == nil {
		t.Fatal("the session was answered with OpenFGA paused, within 300 ms")
	}
	line := waitForLine(t, &logs, "status=499")
	if !strings.Contains(line, "level=DEBUG") || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a client hanging up while OpenFGA is paused is logged as an error; want a 499 at DEBUG:\n%s", logs.String())
	}

	// The instance API: 503 within the bound and a margin.
	bound, margin := cfg.OpenFGATimeout, 3*time.Second
	start := time.Now()
	resp, err = session(&http.Client{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("GET /instance/user/session with OpenFGA paused: %v after %s (it hangs)", err, time.Since(start))
	}
	took := time.Since(start)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(body), `"temporarily_unavailable"`) || took > bound+margin {
		t.Fatalf("GET /instance/user/session with OpenFGA paused: %d Retry-After %q %s after %s; want 503 temporarily_unavailable with Retry-After within %s",
			resp.StatusCode, resp.Header.Get("Retry-After"), body, took, bound+margin)
	}

	// The token endpoint (refresh asks OpenFGA whether the user still may
	// use the instance): OAuth's temporarily_unavailable.
	start = time.Now()
	status, header, body2 := form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	took = time.Since(start)
	if status != http.StatusServiceUnavailable || body2["error"] != "temporarily_unavailable" || header.Get("Retry-After") == "" || took > bound+margin {
		t.Fatalf("refresh with OpenFGA paused: %d %v Retry-After %q after %s; want 503 temporarily_unavailable with Retry-After within %s",
			status, body2, header.Get("Retry-After"), took, bound+margin)
	}

	// Introspection of the user's token (active only while OpenFGA says the
	// user may use the instance): the same.
	start = time.Now()
	status, header, body2 = form("/oauth2/introspect", url.Values{"token": {access}})
	took = time.Since(start)
	if status != http.StatusServiceUnavailable || body2["error"] != "temporarily_unavailable" || header.Get("Retry-After") == "" || took > bound+margin {
		t.Fatalf("introspection with OpenFGA paused: %d %v Retry-After %q after %s; want 503 temporarily_unavailable with Retry-After within %s",
			status, body2, header.Get("Retry-After"), took, bound+margin)
	}

	// OpenFGA resumes: the same calls succeed.
	testenv.Must(t, fga.Signal(syscall.SIGCONT))
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err = session(&http.Client{Timeout: 10 * time.Second})
		testenv.Must(t, err)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session after OpenFGA resumed: %d", resp.StatusCode)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitForLine waits until a log line contains s and returns it.
func waitForLine(t *testing.T, logs *testenv.Buffer, s string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, s) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q within 15 s:\n%s", s, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signedIn registers an instance, claims it for a new user, signs the user
// in at it (scopes profile:read offline) and returns the user's tokens and
// a way to call the OAuth endpoints as the instance.
func signedIn(t *testing.T, a *app.App, base, email string) (access, refresh string, form func(string, url.Values) (int, http.Header, map[string]any)) {
	t.Helper()
	ctx := context.Background()
	// An instance, claimed by its user, who signs in at it.
	var reg struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	resp, err := http.Post(base+"/oauth2/register", "application/json", strings.NewReader(
		`{"scope":"profile:read offline","grant_types":["client_credentials","urn:ietf:params:oauth:grant-type:device_code","refresh_token"]}`))
	testenv.Must(t, err)
	testenv.Must(t, json.NewDecoder(resp.Body).Decode(&reg))
	resp.Body.Close()
	client, err := a.Clients.Get(ctx, reg.ClientID)
	testenv.Must(t, err)
	user := testenv.User(t, a, email)
	_, err = a.Access.ClaimInstance(ctx, client.InstanceID, user.ID, user.DefaultWorkspaceID, "laptop")
	testenv.Must(t, err)
	form = func(path string, v url.Values) (int, http.Header, map[string]any) {
		v.Set("client_id", reg.ClientID)
		v.Set("client_secret", reg.ClientSecret)
		resp, err := (&http.Client{Timeout: 20 * time.Second}).PostForm(base+path, v)
		testenv.Must(t, err)
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, resp.Header, body
	}
	status, _, da := form("/oauth2/device/authorize", url.Values{"scope": {"profile:read offline"}})
	if status != http.StatusOK {
		t.Fatalf("device authorize: %d %v", status, da)
	}
	testenv.Must(t, a.Devices.Approve(ctx, da["user_code"].(string), user.ID, []string{"profile:read", "offline"}))
	status, _, tok := form("/oauth2/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
		"device_code": {da["device_code"].(string)}})
	if status != http.StatusOK {
		t.Fatalf("device token: %d %v", status, tok)
	}
	return tok["access_token"].(string), tok["refresh_token"].(string), form
}

// TestLockedRowAnswers503: a request whose statement waits for a row lock
// held elsewhere fails at the pool's lock_timeout
// (CAIDO_CLOUD_DATABASE_LOCK_TIMEOUT) and answers 503 with Retry-After,
// rather than wait for as long as the lock is held.
func TestLockedRowAnswers503(t *testing.T) {
	ctx := context.Background()
	cfg := testenv.Config(t)
	cfg.DatabaseLockTimeout = time.Second
	a, base := testenv.Serve(t, cfg, testenv.Options{})
	access, _, _ := signedIn(t, a, base, "anne@example.test")

	// The session's first interaction records a ping: an UPDATE of the
	// session's row, which another transaction holds.
	tx, err := a.DB.Begin(ctx)
	testenv.Must(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	_, err = tx.Exec(ctx, `SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1 FOR UPDATE OF s`, "anne@example.test")
	testenv.Must(t, err)

	req, _ := http.NewRequest(http.MethodGet, base+"/instance/user/session", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	start := time.Now()
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET /instance/user/session with its session row locked: %v after %s (it waits for the lock)", err, time.Since(start))
	}
	took := time.Since(start)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(body), `"temporarily_unavailable"`) || took > cfg.DatabaseLockTimeout+3*time.Second {
		t.Fatalf("GET /instance/user/session with its session row locked: %d Retry-After %q %s after %s; want 503 with Retry-After within %s",
			resp.StatusCode, resp.Header.Get("Retry-After"), body, took, cfg.DatabaseLockTimeout+3*time.Second)
	}
	testenv.Must(t, tx.Rollback(ctx))
	resp, err = http.DefaultClient.Do(req)
	testenv.Must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the session once the lock is released: %d", resp.StatusCode)
	}
}
