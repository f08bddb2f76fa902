package authz

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caido-cloud/caido-cloud/store"
)

// ReconcileReport lists what reconcile changed in OpenFGA.
type ReconcileReport struct {
	Written []Tuple // missing from OpenFGA, or held there with another condition
	Deleted []Tuple // in OpenFGA but implied by nothing in PostgreSQL
}

// Reconcile makes OpenFGA's tuples equal to desired, the tuples that
// PostgreSQL implies. It holds the outbox applier lock throughout, so no
// replica applies entries meanwhile; entries still pending afterwards are
// newer than the snapshot or idempotent against it, and apply as usual.
// desired is called under the lock, so it reads a state no worker races.
func (o *Outbox) Reconcile(ctx context.Context, desired func(context.Context) ([]Tuple, error), dryRun bool) (ReconcileReport, error) {
	var report ReconcileReport
	err := store.WithAdvisoryLock(ctx, o.db, ApplierLock, func(*pgxpool.Conn) error {
		var err error
		report, err = o.reconcileLocked(ctx, desired, dryRun)
		return err
	})
	return report, err
}

func (o *Outbox) reconcileLocked(ctx context.Context, desired func(context.Context) ([]Tuple, error), dryRun bool) (ReconcileReport, error) {
	var report ReconcileReport
	want, err := desired(ctx)
	if err != nil {
		return report, fmt.Errorf("read the tuples PostgreSQL implies: %w", err)
	}
	have, err := o.client.readAll(ctx)
	if err != nil {
		return report, err
	}
	haveByKey := make(map[string]Tuple, len(have))
	for _, t := range have {
		haveByKey[t.Key()] = t
	}
	wantByKey := make(map[string]Tuple, len(want))
	for _, t := range want {
		wantByKey[t.Key()] = t
		if h, ok := haveByKey[t.Key()]; !ok || !h.SameCondition(t) {
			report.Written = append(report.Written, t)
		}
	}
	var stale []Tuple // held with another condition: delete, then write anew
	for _, h := range have {
		w, ok := wantByKey[h.Key()]
		switch {
		case !ok:
			report.Deleted = append(report.Deleted, h)
		case !w.SameCondition(h):
			stale = append(stale, h)
		}
	}
	sortTuples(report.Written)
	sortTuples(report.Deleted)
	if dryRun {
		return report, nil
	}
	// Deletes first, so that a tuple rewritten with a new condition never
	// meets its old self in one write.
	for _, chunk := range chunks(append(report.Deleted[:len(report.Deleted):len(report.Deleted)], stale...)) {
		if err := o.client.write(ctx, nil, chunk); err != nil {
			return report, fmt.Errorf("delete stale tuples: %w", err)
		}
	}
	for _, chunk := range chunks(report.Written) {
		if err := o.client.write(ctx, chunk, nil); err != nil {
			return report, fmt.Errorf("write missing tuples: %w", err)
		}
	}
	// What was pending is now reflected (or will be re-applied idempotently);
	// nothing needs marking, the order of later entries still holds.
	return report, nil
}

func chunks(ts []Tuple) [][]Tuple {
	var out [][]Tuple
	for len(ts) > 0 {
		n := min(len(ts), outboxBatch)
		out = append(out, ts[:n])
		ts = ts[n:]
	}
	return out
}

func sortTuples(ts []Tuple) {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Key() < ts[j].Key() })
}
