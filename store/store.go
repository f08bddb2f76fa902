// Package store opens the PostgreSQL pool and applies the schema migrations.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"
)

// Options tune the pool; the zero value sets no timeouts.
type Options struct {
	// StatementTimeout and LockTimeout are PostgreSQL's statement_timeout
	// and lock_timeout on every connection (zero: the server's, which is
	// none by default). A statement past either fails (Unavailable), so a
	// request answers that it cannot now instead of waiting on a stuck
	// query or a lock held elsewhere for as long as its client does.
	// DATABASE_URL may set either itself; it then wins.
	StatementTimeout time.Duration
	LockTimeout      time.Duration
}

// Open connects a pool to databaseURL, tracing every query with tp, and
// checks that the server answers.
func Open(ctx context.Context, databaseURL string, tp trace.TracerProvider) (*pgxpool.Pool, error) {
	return OpenWith(ctx, databaseURL, tp, Options{})
}

// OpenWith is Open with opts.
func OpenWith(ctx context.Context, databaseURL string, tp trace.TracerProvider, opts Options) (*pgxpool.Pool, error) {
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
	for name, d := range map[string]time.Duration{"statement_timeout": opts.StatementTimeout, "lock_timeout": opts.LockTimeout} {
		if _, set := cfg.ConnConfig.RuntimeParams[name]; !set && d > 0 {
			cfg.ConnConfig.RuntimeParams[name] = strconv.FormatInt(d.Milliseconds(), 10)
		}
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

// Unavailable reports whether err means PostgreSQL could not answer now: a
// statement or lock wait past the pool's timeouts, or no connection. The
// request may be retried.
func Unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 57014 query_canceled (statement_timeout), 55P03 lock_not_available
		// (lock_timeout), 57P0x the server shutting down or restarting.
		switch pgErr.Code {
		case "57014", "55P03", "57P01", "57P02", "57P03":
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	return errors.As(err, &connectErr)
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
	// The work under such a lock (migrations, key rotation, backups) may
	// rightly take long, and so may waiting for the lock while another
	// replica does it: the pool's timeouts are for requests, not for it.
	// RESET gives the connection its pool defaults back.
	if _, err := conn.Exec(ctx, `SET statement_timeout = 0; SET lock_timeout = 0`); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `RESET statement_timeout; RESET lock_timeout`) //nolint:errcheck
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return err
	}
	// On failure the lock still goes with the session; the connection is
	// then closed by the pool, as one whose query failed.
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key) //nolint:errcheck
	return fn(conn)
}
