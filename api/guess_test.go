package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/pats"
)

// guessWorld is a running service behind a trusted proxy (127.0.0.1, the
// test), so that each request names its client address in
// X-Forwarded-For, with a clock the test moves.
type guessWorld struct {
	a     *app.App
	base  string
	clock *testenv.Clock
}

func newGuessWorld(t *testing.T) *guessWorld {
	t.Helper()
	cfg := testenv.Config(t)
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	// Windows are aligned on the clock's zero: start on one's edge.
	w := &guessWorld{clock: testenv.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))}
	w.a, w.base = testenv.Serve(t, cfg, testenv.Options{Clock: w.clock})
	return w
}

// token is a new personal access token of userID's: tokens are free to
// make, so a guesser has as many as they like.
func (w *guessWorld) token(t *testing.T, userID string) string {
	t.Helper()
	secret, _, err := w.a.PATs.Create(context.Background(), pats.NewToken{UserID: userID, Name: "guess", Via: pats.ViaOperator})
	testenv.Must(t, err)
	return secret
}

// guess asks headless approval about code with pat from the address from.
func (w *guessWorld) guess(t *testing.T, pat, from, code string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, w.base+"/oauth2/device/information?"+url.Values{"user_code": {code}}.Encode(), nil)
	testenv.Must(t, err)
	req.Header.Set("Authorization", "Bearer "+pat)
	req.Header.Set("X-Forwarded-For", from)
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, resp.Header, out
}

// wrong makes n wrong guesses, each answered as an unknown code.
func (w *guessWorld) wrong(t *testing.T, n int, pat, from string) {
	t.Helper()
	for i := range n {
		if status, _, out := w.guess(t, pat, from, "BCDF-GHJ"+string(rune('K'+i%8))); status != http.StatusNotFound {
			t.Fatalf("wrong guess %d from %s: %d %v, want 404 invalid_user_code", i+1, from, status, out)
		}
	}
}

// limited wants the guess refused 429 with Retry-After within the window.
func (w *guessWorld) limited(t *testing.T, what, pat, from string) {
	t.Helper()
	status, header, out := w.guess(t, pat, from, "BCDF-GHJK")
	if status != http.StatusTooManyRequests || out["error"] != "rate_limited" {
		t.Fatalf("%s: %d %v, want 429 rate_limited", what, status, out)
	}
	if s, err := strconv.Atoi(header.Get("Retry-After")); err != nil || s < 1 || s > 600 {
		t.Fatalf("%s: Retry-After %q, want 1 to 600 seconds", what, header.Get("Retry-After"))
	}
}

// TestHeadlessGuessesPerUserAndAddress: wrong user codes are limited to 20
// per user and 20 per client address (an IPv6 address by its /64) in ten
// minutes, whichever tokens they come with, on top of each token's own
// ten a minute: new tokens and new addresses buy no more guesses.
func TestHeadlessGuessesPerUserAndAddress(t *testing.T) {
	w := newGuessWorld(t)
	user := func(email string) access.User { return testenv.User(t, w.a, email) }
	anne, bob := user("anne@example.test"), user("bob@example.test")

	// Anne: three tokens, three addresses, twenty wrong codes.
	w.wrong(t, 7, w.token(t, anne.ID), "198.51.100.1")
	w.wrong(t, 7, w.token(t, anne.ID), "198.51.100.2")
	w.wrong(t, 6, w.token(t, anne.ID), "198.51.100.3")
	w.limited(t, "anne's 21st wrong code, with a new token from a new address", w.token(t, anne.ID), "198.51.100.4")
	// Not the address's doing: bob guesses from there.
	w.wrong(t, 1, w.token(t, bob.ID), "198.51.100.4")

	// One /64: carol and dave, twenty wrong codes between them.
	carol, dave, erin := user("carol@example.test"), user("dave@example.test"), user("erin@example.test")
	w.wrong(t, 10, w.token(t, carol.ID), "2001:db8:1:2::a")
	w.wrong(t, 10, w.token(t, dave.ID), "2001:db8:1:2::b")
	w.limited(t, "erin's first wrong code from the same /64", w.token(t, erin.ID), "2001:db8:1:2::ffff")
	w.wrong(t, 1, w.token(t, erin.ID), "2001:db8:1:3::1")

	// A window later, anne and the /64 guess again.
	w.clock.Advance(10 * time.Minute)
	w.wrong(t, 1, w.token(t, anne.ID), "198.51.100.4")
	w.wrong(t, 1, w.token(t, erin.ID), "2001:db8:1:2::ffff")
}

// TestDevicePendingPerClient: an instance has at most ten device
// authorizations awaiting a decision; the eleventh is refused 429 with
// Retry-After (when the oldest expires) and an OAuth error body; a
// decided one frees its place, and other instances are not held back.
func TestDevicePendingPerClient(t *testing.T) {
	w := newGuessWorld(t)
	in := testenv.RegisterInstance(t, w.a, w.base, "profile:read")
	var first testenv.DeviceAuthorization
	for i := range 10 {
		da := in.StartDeviceFlow(t, "profile:read")
		if i == 0 {
			first = da
		}
	}
	status, out := in.PostForm(t, "/oauth2/device/authorize", url.Values{"scope": {"profile:read"}})
	if status != http.StatusTooManyRequests || out["error"] != "invalid_request" ||
		!strings.Contains(out["error_description"].(string), "pending") {
		t.Fatalf("an 11th pending device authorization: %d %v, want 429 invalid_request", status, out)
	}
	var rows int
	testenv.Must(t, w.a.DB.QueryRow(context.Background(), `SELECT count(*) FROM device_authorizations`).Scan(&rows))
	if rows != 10 {
		t.Fatalf("%d device authorizations stored, want 10", rows)
	}
	other := testenv.RegisterInstance(t, w.a, w.base, "profile:read")
	other.StartDeviceFlow(t, "profile:read")
	testenv.Must(t, w.a.Devices.Deny(context.Background(), first.UserCode))
	in.StartDeviceFlow(t, "profile:read")
}

// TestDevicePendingRetryAfter: the refusal's Retry-After is the time left
// until the oldest pending authorization expires.
func TestDevicePendingRetryAfter(t *testing.T) {
	w := newGuessWorld(t)
	in := testenv.RegisterInstance(t, w.a, w.base, "profile:read")
	for range 10 {
		in.StartDeviceFlow(t, "profile:read")
	}
	w.clock.Advance(4 * time.Minute)
	req, err := http.NewRequest(http.MethodPost, w.base+"/oauth2/device/authorize",
		strings.NewReader(url.Values{"scope": {"profile:read"}, "client_id": {in.ClientID}, "client_secret": {in.Secret}}.Encode()))
	testenv.Must(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "360" {
		t.Fatalf("%d, Retry-After %q; want 429 and the 6 minutes left of the oldest (360)", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
