package signing_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc/signing"
)

// keyRow is what the rotation test looks at in signing_keys.
type keyRow struct {
	kid, alg string
	retired  bool
}

func keyRows(t *testing.T, pool *pgxpool.Pool) []keyRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT kid, algorithm, retired_at IS NOT NULL FROM signing_keys ORDER BY algorithm, created_at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []keyRow
	for rows.Next() {
		var r keyRow
		if err := rows.Scan(&r.kid, &r.alg, &r.retired); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// perAlgorithm counts rows per algorithm.
func perAlgorithm(rows []keyRow) map[string]int {
	out := map[string]int{}
	for _, r := range rows {
		out[r.alg]++
	}
	return out
}

// waitFor polls until cond holds, failing after a bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunRotationRotatesOldKeysOnceAcrossReplicas(t *testing.T) {
	pool := testenv.MigratedPool(t)
	sealer := newSealer(t, masterKey(t))
	clk := testenv.NewClock(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	const (
		every  = 24 * time.Hour
		retain = 48 * time.Hour
		tick   = 20 * time.Millisecond
	)
	opts := signing.Options{Now: clk.Now, RefreshEvery: tick, RetainFor: retain}
	replicas := []*signing.Keys{signing.New(pool, sealer, opts), signing.New(pool, sealer, opts)}
	if err := replicas[0].Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := keyRows(t, pool)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, k := range replicas {
		wg.Go(func() { k.RunRotation(ctx, every) })
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})

	// Young keys are left alone.
	time.Sleep(10 * tick)
	if rows := keyRows(t, pool); len(rows) != 2 {
		t.Fatalf("keys younger than the period were rotated: %v", rows)
	}

	// Once the keys are older than the period, each algorithm is rotated,
	// once, although both replicas look.
	clk.Advance(every + time.Minute)
	waitFor(t, "rotation", func() bool {
		n := perAlgorithm(keyRows(t, pool))
		return n["ES256"] >= 2 && n["RS256"] >= 2
	})
	time.Sleep(10 * tick) // both replicas have looked again meanwhile
	rows := keyRows(t, pool)
	if n := perAlgorithm(rows); n["ES256"] != 2 || n["RS256"] != 2 {
		t.Fatalf("want each algorithm rotated exactly once, got %v", rows)
	}
	for i, r := range rows {
		if r.retired != (r.kid == first[0].kid || r.kid == first[1].kid) {
			t.Fatalf("row %d %+v: only the first keys should be retired", i, r)
		}
	}
	for _, k := range replicas {
		sk, err := k.SigningKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if sk.ID() == first[0].kid || sk.ID() == first[1].kid {
			t.Fatalf("a replica still signs with the retired key %s", sk.ID())
		}
	}

	// Past the retention of the first keys (and another period): rotated
	// again, and the first keys are deleted, not merely unpublished.
	before := map[string]bool{}
	for _, r := range rows {
		before[r.kid] = true
	}
	clk.Advance(retain)
	waitFor(t, "second rotation and the first keys deleted", func() bool {
		// The deletion is a statement of its own after the rotation: wait
		// for both rather than guess how long it takes.
		newActive, firstLeft := 0, 0
		for _, r := range keyRows(t, pool) {
			if !r.retired && !before[r.kid] {
				newActive++
			}
			if r.kid == first[0].kid || r.kid == first[1].kid {
				firstLeft++
			}
		}
		return newActive == 2 && firstLeft == 0
	})
	time.Sleep(10 * tick)
	rows = keyRows(t, pool)
	if n := perAlgorithm(rows); n["ES256"] != 2 || n["RS256"] != 2 {
		t.Fatalf("want per algorithm the retired second key and the active third, got %v", rows)
	}
	for _, r := range rows {
		if r.kid == first[0].kid || r.kid == first[1].kid {
			t.Fatalf("key %s outlived its retention in the table: %v", r.kid, rows)
		}
	}
}
