package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	fga "github.com/openfga/go-sdk"
)

const (
	// outboxChannel is NOTIFYed by every transaction that enqueues, so that
	// the worker of every replica wakes at commit.
	outboxChannel = "authz_outbox"
	// ApplierLock is the advisory lock that makes one replica at a time the
	// applier, which keeps the entries in order across replicas. Whoever
	// holds it (a test, to keep changes pending) pauses every worker.
	ApplierLock = 7_414_003
	// OpenFGA takes at most 100 tuples in one write by default.
	outboxBatch = 100
	// How long applied entries stay, for whoever investigates a decision.
	outboxRetention = 7 * 24 * time.Hour
)

// Op is one tuple write or delete, queued by the change that implies it.
type Op struct {
	Delete bool
	Tuple  Tuple
}

// Write returns an Op that makes t hold.
func Write(t Tuple) Op { return Op{Tuple: t} }

// Delete returns an Op that removes t.
func Delete(t Tuple) Op { return Op{Delete: true, Tuple: t} }

// Enqueue records ops in tx, the transaction of the change that implies them,
// and returns the id of the last one (0 for none): pass it to Outbox.Await
// after commit.
func Enqueue(ctx context.Context, tx pgx.Tx, ops ...Op) (int64, error) {
	var last int64
	for _, op := range ops {
		kind := "write"
		if op.Delete {
			kind = "delete"
		}
		var condName *string
		var condCtx []byte
		if name, c := op.Tuple.condition(); name != "" && !op.Delete {
			condName = &name
			if c != nil {
				condCtx, _ = json.Marshal(c)
			}
		}
		err := tx.QueryRow(ctx, `INSERT INTO authz_outbox (operation, tuple_user, relation, object, condition_name, condition_context)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			kind, op.Tuple.User, op.Tuple.Relation, op.Tuple.Object, condName, condCtx).Scan(&last)
		if err != nil {
			return 0, fmt.Errorf("enqueue tuple %s: %w", op.Tuple, err)
		}
	}
	if len(ops) > 0 {
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, outboxChannel); err != nil {
			return 0, err
		}
	}
	return last, nil
}

// Outbox applies queued tuple changes to OpenFGA, in order, in batches, with
// retries, and lets a request wait briefly for its own changes.
type Outbox struct {
	db     *pgxpool.Pool
	client *Client
	log    *slog.Logger
	// AwaitFor bounds how long Await waits (read-your-writes for the admin).
	AwaitFor time.Duration
	// Idle is how often an idle worker looks for work without a notification.
	Idle time.Duration
	kick chan struct{}
}

// NewOutbox returns an outbox over db that applies through client.
func NewOutbox(db *pgxpool.Pool, client *Client, log *slog.Logger) *Outbox {
	return &Outbox{
		db: db, client: client, log: log,
		AwaitFor: 2 * time.Second,
		Idle:     time.Second,
		kick:     make(chan struct{}, 1),
	}
}

// Kick wakes the local worker.
func (o *Outbox) Kick() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// Await waits up to AwaitFor for the entry lastID (and so every entry before
// it) to be applied. false means still pending: the change is committed and
// will reach OpenFGA when it can.
func (o *Outbox) Await(ctx context.Context, lastID int64) (bool, error) {
	if lastID == 0 {
		return true, nil
	}
	o.Kick()
	ctx, cancel := context.WithTimeout(ctx, o.AwaitFor)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var status string
		err := o.db.QueryRow(ctx, `SELECT status FROM authz_outbox WHERE id = $1`, lastID).Scan(&status)
		switch {
		case err == nil && status != "pending":
			return true, nil
		case err != nil && ctx.Err() == nil:
			return false, err
		}
		select {
		case <-ctx.Done():
			return false, nil
		case <-tick.C:
		}
	}
}

// Run applies entries until ctx ends.
func (o *Outbox) Run(ctx context.Context) {
	go o.listen(ctx)
	backoff := time.Duration(0)
	lastPrune := time.Time{}
	for ctx.Err() == nil {
		n, err := o.ApplyPending(ctx)
		if err != nil && ctx.Err() == nil {
			backoff = min(max(2*backoff, 100*time.Millisecond), 10*time.Second)
			o.log.Warn("authz outbox: OpenFGA write failed, will retry", "error", err, "retry_in", backoff)
			sleep(ctx, backoff/2+rand.N(backoff/2+1)) // jitter, so replicas do not retry in step
			continue
		}
		backoff = 0
		if n > 0 {
			continue // there may be more
		}
		if time.Since(lastPrune) > time.Hour {
			o.prune(ctx)
			lastPrune = time.Now()
		}
		select {
		case <-ctx.Done():
		case <-o.kick:
		case <-time.After(o.Idle):
		}
	}
}

// listen turns NOTIFYs from any replica's commits into kicks.
func (o *Outbox) listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := func() error {
			conn, err := o.db.Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			if _, err := conn.Exec(ctx, "LISTEN "+outboxChannel); err != nil {
				return err
			}
			// A connection that held LISTEN must not go back to the pool listening.
			defer conn.Exec(context.WithoutCancel(ctx), "UNLISTEN "+outboxChannel) //nolint:errcheck
			for {
				if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
					return err
				}
				o.Kick()
			}
		}()
		if ctx.Err() == nil {
			o.log.Debug("authz outbox: listen interrupted", "error", err)
			sleep(ctx, time.Second)
		}
	}
}

type entry struct {
	id int64
	op Op
}

// ApplyPending applies the next batch of pending entries, if this replica
// holds the applier lock, and returns how many it settled.
func (o *Outbox) ApplyPending(ctx context.Context) (int, error) {
	tx, err := o.db.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit

	var locked bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, ApplierLock).Scan(&locked); err != nil || !locked {
		return 0, err
	}
	batch, err := pendingBatch(ctx, tx)
	if err != nil || len(batch) == 0 {
		return 0, err
	}

	writeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	applied, dead, applyErr := o.apply(writeCtx, batch)
	for _, d := range dead {
		o.log.Error("authz outbox: OpenFGA rejected a tuple; it is dropped (run `caido-cloud fga reconcile` after fixing the model)",
			"entry", d.entry.id, "tuple", d.entry.op.Tuple.String(), "error", d.reason)
		if _, err := tx.Exec(ctx, `UPDATE authz_outbox SET status = 'dead', done_at = now(), attempts = attempts + 1, last_error = $2 WHERE id = $1`,
			d.entry.id, d.reason); err != nil {
			return 0, err
		}
	}
	if len(applied) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE authz_outbox SET status = 'applied', done_at = now(), attempts = attempts + 1 WHERE id = ANY($1)`, applied); err != nil {
			return 0, err
		}
	}
	settled := len(applied) + len(dead)
	if applyErr != nil && settled < len(batch) {
		next := batch[settled].id
		if _, err := tx.Exec(ctx, `UPDATE authz_outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1`, next, truncate(applyErr.Error(), 500)); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return settled, applyErr
}

// pendingBatch reads the oldest pending entries, stopping before the first
// one that touches a tuple already in the batch: OpenFGA refuses two changes
// to one tuple in a write, and their order matters.
func pendingBatch(ctx context.Context, tx pgx.Tx) ([]entry, error) {
	rows, err := tx.Query(ctx, `SELECT id, operation, tuple_user, relation, object, condition_name, condition_context
		FROM authz_outbox WHERE status = 'pending' ORDER BY id LIMIT $1`, outboxBatch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var batch []entry
	seen := map[string]bool{}
	for rows.Next() {
		var e entry
		var kind string
		var condName *string
		var condCtx []byte
		if err := rows.Scan(&e.id, &kind, &e.op.Tuple.User, &e.op.Tuple.Relation, &e.op.Tuple.Object, &condName, &condCtx); err != nil {
			return nil, err
		}
		e.op.Delete = kind == "delete"
		e.op.Tuple.WhileSeatsOff = condName != nil && *condName == conditionSeatsOff
		if condCtx != nil {
			var c struct {
				ExpiresAt time.Time `json:"expires_at"`
			}
			if err := json.Unmarshal(condCtx, &c); err != nil {
				return nil, fmt.Errorf("outbox entry %d: condition: %w", e.id, err)
			}
			e.op.Tuple.ExpiresAt = &c.ExpiresAt
		}
		if seen[e.op.Tuple.Key()] {
			break
		}
		seen[e.op.Tuple.Key()] = true
		batch = append(batch, e)
	}
	return batch, rows.Err()
}

type deadEntry struct {
	entry  entry
	reason string
}

// apply writes the batch in one OpenFGA transaction. When OpenFGA refuses it
// as invalid, usually because an earlier attempt applied part of it and died
// before recording so, it goes entry by entry: a write of a tuple that exists
// or a delete of one that does not is done already; any other refusal is
// permanent for that entry. Together, applied and dead are a prefix of the
// batch: it stops at the first entry that failed for a reason that may pass
// (OpenFGA unreachable), which stays pending.
func (o *Outbox) apply(ctx context.Context, batch []entry) (applied []int64, dead []deadEntry, err error) {
	writes, deletes := split(batch)
	err = o.client.write(ctx, writes, deletes)
	if err == nil {
		for _, e := range batch {
			applied = append(applied, e.id)
		}
		return applied, nil, nil
	}
	if _, ok := validationMessage(err); !ok {
		return nil, nil, err
	}
	for _, e := range batch {
		writes, deletes := split([]entry{e})
		err := o.client.write(ctx, writes, deletes)
		msg, invalid := validationMessage(err)
		switch {
		case err == nil, invalid && alreadyDone(msg):
			applied = append(applied, e.id)
		case invalid:
			dead = append(dead, deadEntry{entry: e, reason: truncate(msg, 500)})
		default:
			return applied, dead, err
		}
	}
	return applied, dead, nil
}

func split(batch []entry) (writes, deletes []Tuple) {
	for _, e := range batch {
		if e.op.Delete {
			deletes = append(deletes, e.op.Tuple)
		} else {
			writes = append(writes, e.op.Tuple)
		}
	}
	return writes, deletes
}

// validationMessage returns OpenFGA's message when it refused the request as
// invalid (HTTP 400), as opposed to not answering.
func validationMessage(err error) (string, bool) {
	var invalid fga.FgaApiValidationError
	if !errors.As(err, &invalid) {
		return "", false
	}
	if m, ok := invalid.Model().(fga.ValidationErrorMessageResponse); ok {
		return m.GetMessage(), true
	}
	return invalid.Error(), true
}

func alreadyDone(msg string) bool {
	return strings.Contains(msg, "tuple which already exists") || strings.Contains(msg, "tuple which does not exist")
}

func (o *Outbox) prune(ctx context.Context) {
	tag, err := o.db.Exec(ctx, `DELETE FROM authz_outbox WHERE status = 'applied' AND done_at < now() - make_interval(secs => $1)`,
		outboxRetention.Seconds())
	if err != nil {
		// Stopping cuts a prune short; it is housekeeping the next start redoes.
		if ctx.Err() == nil {
			o.log.Warn("authz outbox: prune failed", "error", err)
		}
		return
	}
	if tag.RowsAffected() > 0 {
		o.log.Debug("authz outbox: pruned applied entries", "count", tag.RowsAffected())
	}
}

// Pending counts entries not yet applied, for readiness details and metrics.
func (o *Outbox) Pending(ctx context.Context) (int64, error) {
	var n int64
	err := o.db.QueryRow(ctx, `SELECT count(*) FROM authz_outbox WHERE status = 'pending'`).Scan(&n)
	return n, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
