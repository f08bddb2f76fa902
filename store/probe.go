package store

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Probe answers readiness questions about the database, so that the HTTP
// surfaces ask them without holding the pool.
type Probe struct{ db *pgxpool.Pool }

// NewProbe returns a Probe of db.
func NewProbe(db *pgxpool.Pool) *Probe { return &Probe{db: db} }

// Ping reports whether PostgreSQL answers.
func (p *Probe) Ping(ctx context.Context) error { return p.db.Ping(ctx) }

// PendingMigrations are the migrations this binary has that the database
// has not applied.
func (p *Probe) PendingMigrations(ctx context.Context) ([]string, error) {
	return PendingMigrations(ctx, p.db)
}
