// Package store opens the PostgreSQL pool and applies the schema migrations.
package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"
)

// Open connects a pool to databaseURL, tracing every query with tp, and
// checks that the server answers.
func Open(ctx context.Context, databaseURL string, tp trace.TracerProvider) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// The parse error can echo the URL, password included: never return it.
		return nil, fmt.Errorf("DATABASE_URL is not a valid PostgreSQL connection string")
	}
	cfg.ConnConfig.Tracer = newQueryTracer(tp)
	// pgx's default (4 on small machines) is too few for a server whose
	// outbox worker also holds one connection for LISTEN.
	if !strings.Contains(databaseURL, "pool_max_conns") {
		cfg.MaxConns = 16
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return pool, nil
}

// WithAdvisoryLock runs fn on one connection while it holds the session-level
// advisory lock key, waiting for the lock if another session holds it. The
// lock serialises work across replicas (migrations, model writes, reconcile).
func WithAdvisoryLock(ctx context.Context, pool *pgxpool.Pool, key int64, fn func(*pgxpool.Conn) error) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return err
	}
	// On failure the lock still goes with the session; the connection is
	// then closed by the pool, as one whose query failed.
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key) //nolint:errcheck
	return fn(conn)
}
