package store_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/store"
)

// TestPoolTimeouts: a statement past the pool's statement_timeout, or
// waiting for a lock past its lock_timeout, fails as Unavailable; work
// under an advisory lock (migrations) is exempt, and the connection gets
// its timeouts back afterwards.
func TestPoolTimeouts(t *testing.T) {
	ctx := context.Background()
	base := testenv.NewDatabase(t)
	withParams := func(params ...string) string {
		u, err := url.Parse(base)
		testenv.Must(t, err)
		q := u.Query()
		for i := 0; i+1 < len(params); i += 2 {
			q.Set(params[i], params[i+1])
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	// Two connections: the same ones are reused below.
	dbURL := withParams("pool_max_conns", "2")
	pool, err := store.OpenWith(ctx, dbURL, noop.NewTracerProvider(),
		store.Options{StatementTimeout: 300 * time.Millisecond, LockTimeout: 200 * time.Millisecond})
	testenv.Must(t, err)
	t.Cleanup(pool.Close)

	if _, err := pool.Exec(ctx, `SELECT pg_sleep(1)`); !store.Unavailable(err) {
		t.Fatalf("a statement of 1 s under a 300 ms statement_timeout: %v, want it cancelled as Unavailable", err)
	}

	// A lock held by another transaction.
	_, err = pool.Exec(ctx, `CREATE TABLE locked (id int PRIMARY KEY); INSERT INTO locked VALUES (1)`)
	testenv.Must(t, err)
	holder, err := pool.Begin(ctx)
	testenv.Must(t, err)
	_, err = holder.Exec(ctx, `SELECT 1 FROM locked WHERE id = 1 FOR UPDATE`)
	testenv.Must(t, err)
	start := time.Now()
	_, err = pool.Exec(ctx, `UPDATE locked SET id = 1 WHERE id = 1`)
	if !store.Unavailable(err) || time.Since(start) > 2*time.Second {
		t.Fatalf("an update of a row locked elsewhere: %v after %s, want Unavailable after 200 ms", err, time.Since(start))
	}
	testenv.Must(t, holder.Rollback(ctx))

	// Under an advisory lock: a long statement runs to its end.
	err = store.WithAdvisoryLock(ctx, pool, 42, func(conn *pgxpool.Conn) error {
		_, err := conn.Exec(ctx, `SELECT pg_sleep(0.6)`)
		return err
	})
	testenv.Must(t, err)
	// And every connection has its timeouts again.
	for range 4 {
		if _, err := pool.Exec(ctx, `SELECT pg_sleep(1)`); !store.Unavailable(err) {
			t.Fatalf("after the advisory lock, a statement of 1 s: %v, want it cancelled", err)
		}
	}
	// A URL that sets statement_timeout itself wins.
	own, err := store.OpenWith(ctx, withParams("pool_max_conns", "2", "statement_timeout", "5000"), noop.NewTracerProvider(), store.Options{StatementTimeout: 300 * time.Millisecond})
	testenv.Must(t, err)
	t.Cleanup(own.Close)
	if _, err := own.Exec(ctx, `SELECT pg_sleep(0.6)`); err != nil {
		t.Fatalf("with statement_timeout=5000 in the URL, a statement of 600 ms: %v", err)
	}
}
