// Package access owns the rows that decide who may use what: users, teams and
// their members, workspaces, instances and grants. Every change here queues
// the OpenFGA tuple changes it implies in the same transaction (authz.Enqueue),
// so PostgreSQL stays the system of record and nothing is lost while OpenFGA
// is down.
package access

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caido-cloud/caido-cloud/authz"
)

var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflicts with an existing record")
	ErrInvalid  = errors.New("invalid")
	// ErrAlreadyThere: a move to the workspace the instance is in, a
	// mistake rather than a change.
	ErrAlreadyThere = errors.New("already there")
)

// Service changes access rows and queues their tuples.
type Service struct {
	db     *pgxpool.Pool
	outbox *authz.Outbox

	// accessRemoved, when set, is told after a change that may have taken
	// instances away from a user, so that the user's sessions there end
	// (the identity side owns sessions).
	accessRemoved func(ctx context.Context, userID string, instanceIDs []string)

	// noLongerManager, when set, runs inside the transaction of a change
	// after which userID does not manage teamID's workspaces (see
	// OnNoLongerManager).
	noLongerManager func(ctx context.Context, tx pgx.Tx, teamID, userID string) error
}

// OnNoLongerManager sets what runs, in the change's own transaction, when a
// member is removed from a team or given a role that does not manage the
// team's workspaces: the registration keys they made for those workspaces
// are revoked there (regkeys.RevokeByCreatorTx). It is a hook because
// regkeys owns those rows and imports access, so access cannot call it; app
// wires the two. An error undoes the change.
func (s *Service) OnNoLongerManager(fn func(ctx context.Context, tx pgx.Tx, teamID, userID string) error) {
	s.noLongerManager = fn
}

func (s *Service) tellNoLongerManager(ctx context.Context, tx pgx.Tx, teamID, userID string) error {
	if s.noLongerManager == nil {
		return nil
	}
	return s.noLongerManager(ctx, tx, teamID, userID)
}

// OnAccessRemoved sets what is told when a change may have taken instances
// away from a user. It runs after the change has reached OpenFGA (or the
// wait for it ran out: then the sessions still stop working at their next
// check, when OpenFGA has the change).
// The change is committed by then: fn reports its own failures.
func (s *Service) OnAccessRemoved(fn func(ctx context.Context, userID string, instanceIDs []string)) {
	s.accessRemoved = fn
}

func (s *Service) tellAccessRemoved(ctx context.Context, userID string, instanceIDs []string) {
	if s.accessRemoved != nil && len(instanceIDs) > 0 {
		s.accessRemoved(ctx, userID, instanceIDs)
	}
}

// NewService returns a Service writing to db and queueing on outbox.
func NewService(db *pgxpool.Pool, outbox *authz.Outbox) *Service {
	return &Service{db: db, outbox: outbox}
}

// Change tells the caller whether OpenFGA already reflects a committed change.
type Change struct {
	// Pending is true when the change is committed in PostgreSQL but its
	// tuples had not reached OpenFGA within the outbox's wait bound; they
	// will, in order, once OpenFGA answers.
	Pending bool `json:"pending"`
}

// change runs fn in a transaction, queues the ops it returns in that same
// transaction, commits, then waits briefly for them to reach OpenFGA so that
// the actor's next request already sees the change.
func (s *Service) change(ctx context.Context, fn func(pgx.Tx) ([]authz.Op, error)) (Change, error) {
	var last int64
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		ops, err := fn(tx)
		if err != nil {
			return err
		}
		last, err = authz.Enqueue(ctx, tx, ops...)
		return err
	})
	if err != nil {
		return Change{}, err
	}
	applied, err := s.outbox.Await(ctx, last)
	if err != nil {
		// Committed all the same: only the wait failed.
		return Change{Pending: true}, nil
	}
	return Change{Pending: !applied}, nil
}

// bumpGeneration marks a change of access inside workspaces, so that
// instances and caches holding older decisions re-check.
func bumpGeneration(ctx context.Context, tx pgx.Tx, workspaceIDs ...string) error {
	if len(workspaceIDs) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE workspaces SET generation = generation + 1 WHERE id = ANY($1::uuid[])`, workspaceIDs)
	return err
}

// translate maps constraint violations to the package's errors.
func translate(err error, what string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505":
			return fmt.Errorf("%s: %w", what, ErrConflict)
		case "23503", "22P02":
			return fmt.Errorf("%s: %w", what, ErrNotFound)
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return err
}
