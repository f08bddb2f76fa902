package store

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caido-cloud/caido-cloud/migrations"
)

// migrateLock serialises replicas that start `migrate` at the same time.
const migrateLock = 7_414_001

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]migration, 0, len(names))
	for _, name := range names {
		num, _, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %q: name must start with a positive number and an underscore", name)
		}
		if len(out) > 0 && out[len(out)-1].version >= version {
			return nil, fmt.Errorf("migration %q: version %d repeats or goes backwards", name, version)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: version, name: name, sql: string(body)})
	}
	return out, nil
}

// Migrate applies every embedded migration the database does not have yet,
// each in its own transaction, and returns the names it applied.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	all, err := loadMigrations(migrations.FS)
	if err != nil {
		return nil, err
	}
	var applied []string
	err = WithAdvisoryLock(ctx, pool, migrateLock, func(conn *pgxpool.Conn) error {
		var err error
		applied, err = migrateLocked(ctx, conn.Conn(), all)
		return err
	})
	return applied, err
}

func migrateLocked(ctx context.Context, conn *pgx.Conn, all []migration) ([]string, error) {
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, err
	}
	done, err := appliedVersions(ctx, conn)
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range all {
		// Every missing one, not only those above the highest applied: two
		// branches may each have added a number.
		if done[m.version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", m.name, err)
		}
		applied = append(applied, m.name)
	}
	return applied, nil
}

// PendingMigrations names this binary's migrations that the database has
// not applied: `caido-cloud migrate` is due while there are any.
func PendingMigrations(ctx context.Context, db pgxQuerier) ([]string, error) {
	all, err := loadMigrations(migrations.FS)
	if err != nil {
		return nil, err
	}
	var exists bool
	if err := db.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, err
	}
	done := map[int]bool{}
	if exists {
		if done, err = appliedVersions(ctx, db); err != nil {
			return nil, err
		}
	}
	var pending []string
	for _, m := range all {
		if !done[m.version] {
			pending = append(pending, m.name)
		}
	}
	return pending, nil
}

type pgxQuerier interface {
	QueryRow(context.Context, string, ...any) pgx.Row
	Query(context.Context, string, ...any) (pgx.Rows, error)
}

func appliedVersions(ctx context.Context, db pgxQuerier) (map[int]bool, error) {
	rows, err := db.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	done := make(map[int]bool, len(versions))
	for _, v := range versions {
		done[v] = true
	}
	return done, err
}
