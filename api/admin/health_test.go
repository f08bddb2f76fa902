package admin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/caido-cloud/caido-cloud/api/admin"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/store"
)

// countedProbe is the real PostgreSQL probe, counting how often readiness
// asks it.
type countedProbe struct {
	*store.Probe
	pings atomic.Int64
}

func (p *countedProbe) Ping(ctx context.Context) error {
	p.pings.Add(1)
	return p.Probe.Ping(ctx)
}

// TestPublicReadinessIsCached: the public /readyz answers a flood of
// requests from one probe of PostgreSQL and OpenFGA at most a second old;
// the operator's probes every time.
func TestPublicReadinessIsCached(t *testing.T) {
	a := testenv.App(t, testenv.Config(t), testenv.Options{})
	db := &countedProbe{Probe: store.NewProbe(a.DB)}
	checks := admin.Checks{Database: db, Authz: a.Authz, Outbox: a.Outbox}
	r := gin.New()
	r.GET("/readyz", admin.Readiness(checks, false))
	r.GET("/operator/readyz", admin.Readiness(checks, true))
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	get := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		testenv.Must(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}

	start := time.Now()
	var wg sync.WaitGroup
	var notReady atomic.Int64
	for range 200 {
		wg.Go(func() {
			if get("/readyz") != http.StatusOK {
				notReady.Add(1)
			}
		})
	}
	wg.Wait()
	for range 50 {
		if get("/readyz") != http.StatusOK {
			notReady.Add(1)
		}
	}
	elapsed := time.Since(start)
	if n := notReady.Load(); n > 0 {
		t.Fatalf("%d answers were not 200", n)
	}
	// One probe per second at most (a loaded machine may take more than a
	// second for the 250 requests).
	if got, most := db.pings.Load(), 1+int64(elapsed/admin.PublicReadinessMaxAge); got > most {
		t.Fatalf("250 public /readyz in %s probed PostgreSQL %d times; want at most %d", elapsed, got, most)
	}

	// Older than a second: probed again.
	before := db.pings.Load()
	time.Sleep(admin.PublicReadinessMaxAge + 100*time.Millisecond)
	get("/readyz")
	if db.pings.Load() != before+1 {
		t.Fatalf("a second later, /readyz probed %d times; want once", db.pings.Load()-before)
	}

	// The operator's readiness is never cached.
	before = db.pings.Load()
	for range 3 {
		get("/operator/readyz")
	}
	if got := db.pings.Load() - before; got != 3 {
		t.Fatalf("3 operator /readyz probed %d times; want 3", got)
	}
}
