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
// Retry-After it can act on, creating nothing; other addresses are not.
func TestRegistrationRateLimit(t *testing.T) {
	f := newFixture(t, clients.Options{Limit: 3, Window: time.Hour})
	for range 3 {
		f.register(t, instanceBody, "X-Test-IP", "198.51.100.7")
	}
	before := rowCounts(t, f.db)
	x := f.postJSON(t, instanceBody, "X-Test-IP", "198.51.100.7")
	refused(t, x, http.StatusTooManyRequests, "rate_limited", "retry in")
	retry, err := strconv.Atoi(x.resp.Header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 3600 {
		t.Errorf("Retry-After %q, want 1 to 3600 seconds", x.resp.Header.Get("Retry-After"))
	}
	sameCounts(t, before, rowCounts(t, f.db))

	f.register(t, instanceBody, "X-Test-IP", "2001:db8::1")

	_, err = f.svc.Register(context.Background(), clients.Metadata{GrantTypes: []string{"client_credentials"}}, "198.51.100.7")
	var limited *clients.RateLimitError
	if !errors.Is(err, clients.ErrRateLimited) || !errors.As(err, &limited) || limited.RetryAfter <= 0 {
		t.Errorf("Register past the limit: %v, want ErrRateLimited with a retry-after", err)
	}
}

// TestRegistrationRateLimitConcurrent: registrations racing from one address
// (as from several replicas) never get past the limit together.
func TestRegistrationRateLimitConcurrent(t *testing.T) {
	f := newFixture(t, clients.Options{Limit: 5, Window: time.Hour})
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
	f := newFixture(t, clients.Options{})
	_, err := f.db.Exec(ctx, `INSERT INTO oauth_registration_windows (ip, window_start, registrations)
		VALUES ('192.0.2.50', now() - interval '3 hours', 20), ('192.0.2.51', now() - interval '2 days', 1)`)
	testenv.Must(t, err)
	f.register(t, instanceBody)
	var ended, current int
	testenv.Must(t, f.db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE ip LIKE '192.0.2.5_'), count(*) FILTER (WHERE ip = '192.0.2.1')
		FROM oauth_registration_windows`).Scan(&ended, &current))
	if ended != 0 || current != 1 {
		t.Fatalf("%d ended windows left (want 0), %d current (want 1)", ended, current)
	}
}
