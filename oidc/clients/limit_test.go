package clients_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc/clients"
)

// TestRegistrationRateLimit: past the limit one address is refused with a
// Retry-After it can act on, creating nothing; other addresses are not;
// the next window lets it in again.
func TestRegistrationRateLimit(t *testing.T) {
	// 20 minutes into an hour's window: 40 left.
	clock := testenv.NewClock(time.Date(2026, 11, 2, 10, 20, 0, 0, time.UTC))
	f := newFixture(t, clients.Options{Limit: 3, Window: time.Hour, Now: clock.Now})
	for range 3 {
		f.register(t, instanceBody, "X-Test-IP", "198.51.100.7")
	}
	before := rowCounts(t, f.db)
	x := f.postJSON(t, instanceBody, "X-Test-IP", "198.51.100.7")
	refused(t, x, http.StatusTooManyRequests, "rate_limited", "retry in")
	if retry := x.resp.Header.Get("Retry-After"); retry != strconv.Itoa(40*60) {
		t.Errorf("Retry-After %q, want the window's 2400 seconds left", retry)
	}
	sameCounts(t, before, rowCounts(t, f.db))

	f.register(t, instanceBody, "X-Test-IP", "2001:db8::1")

	_, err := f.svc.Register(context.Background(), clients.Metadata{GrantTypes: []string{"client_credentials"}}, "198.51.100.7")
	var limited *clients.RateLimitError
	if !errors.Is(err, clients.ErrRateLimited) || !errors.As(err, &limited) || limited.RetryAfter != 40*time.Minute {
		t.Errorf("Register past the limit: %v, want ErrRateLimited retrying in 40m", err)
	}

	clock.Advance(40*time.Minute - time.Second)
	refused(t, f.postJSON(t, instanceBody, "X-Test-IP", "198.51.100.7"), http.StatusTooManyRequests, "rate_limited", "retry in")
	clock.Advance(time.Second)
	f.register(t, instanceBody, "X-Test-IP", "198.51.100.7")
}

// TestRegistrationRateLimitConcurrent: registrations racing from one address
// (as from several replicas) never get past the limit together.
func TestRegistrationRateLimitConcurrent(t *testing.T) {
	// A stopped clock: the race must not straddle two windows.
	f := newFixture(t, clients.Options{Limit: 5, Window: time.Hour, Now: testenv.NewClock(time.Now()).Now})
	var wg sync.WaitGroup
	statuses := make(chan int, 12)
	for range 12 {
		wg.Go(func() {
			// Not f.postJSON: t.Fatal must not run on this goroutine.
			req, _ := http.NewRequest(http.MethodPost, f.url+"/oauth2/register", strings.NewReader(instanceBody))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Test-IP", "203.0.113.9")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	if counts[http.StatusCreated] != 5 || counts[http.StatusTooManyRequests] != 7 {
		t.Fatalf("statuses %v, want 5 created and 7 refused", counts)
	}
	if got := rowCounts(t, f.db)["oauth_clients"]; got != 5 {
		t.Fatalf("%d clients, want 5", got)
	}
}

// TestEndedWindowsArePruned: a registration deletes the counts of windows
// that have ended, so the table does not grow with every address ever seen.
func TestEndedWindowsArePruned(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewClock(time.Date(2026, 11, 2, 10, 20, 0, 0, time.UTC))
	f := newFixture(t, clients.Options{Now: clock.Now})
	// The window that ended at 10:00 goes; the one of 10:00 stays.
	_, err := f.db.Exec(ctx, `INSERT INTO oauth_registration_windows (ip, window_start, registrations)
		VALUES ('192.0.2.50', $1, 20), ('192.0.2.51', $2, 1), ('192.0.2.60', $3, 1)`,
		clock.Now().Add(-80*time.Minute), clock.Now().Add(-48*time.Hour), clock.Now().Add(-20*time.Minute))
	testenv.Must(t, err)
	f.register(t, instanceBody)
	var ended, current int
	testenv.Must(t, f.db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE ip LIKE '192.0.2.5_'), count(*) FILTER (WHERE ip IN ('192.0.2.1', '192.0.2.60'))
		FROM oauth_registration_windows`).Scan(&ended, &current))
	if ended != 0 || current != 2 {
		t.Fatalf("%d ended windows left (want 0), %d current (want 2)", ended, current)
	}
}
