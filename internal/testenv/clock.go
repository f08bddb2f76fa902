package testenv

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caido-cloud/caido-cloud/store"
)

// Clock is a settable time for the Now options of the services, safe to
// read from many goroutines ("replicas" in one test share one).
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts at start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// MigratedPool is a pool on a fresh database with the schema at head, for
// tests of one package's tables without the whole app.
func MigratedPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool := Pool(t, NewDatabase(t))
	_, err := store.Migrate(context.Background(), pool)
	Must(t, err)
	return pool
}
