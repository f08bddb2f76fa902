package signing_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
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
	ctx := context.Background()
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

	loops, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, k := range replicas {
		wg.Go(func() { k.RunRotation(loops, every) })
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
	// The new keys are published ahead: the first keep signing until then.
	for _, k := range replicas {
		sk, err := k.SigningKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if sk.ID() != first[0].kid {
			t.Fatalf("a replica signs with %s before the new key was published for %s, want the first key %s", sk.ID(), signing.PublishAhead, first[0].kid)
		}
	}
	clk.Advance(signing.PublishAhead)
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

// TestScheduledKeyIsPublishedBeforeItSigns: a scheduled rotation's key is in
// every replica's JWKS from the rotation on, and no replica signs with it
// until it has been published for longer than a verifier may cache the JWKS
// plus the skew between replicas' clocks. Then both switch at that instant
// (not a RefreshEvery later), and the old key stays published RetainFor
// from there.
func TestScheduledKeyIsPublishedBeforeItSigns(t *testing.T) {
	if signing.PublishAhead <= signing.JWKSMaxAge+signing.ClockSkew {
		t.Fatalf("PublishAhead %s does not outlast the JWKS max-age %s plus the clock skew %s", signing.PublishAhead, signing.JWKSMaxAge, signing.ClockSkew)
	}
	ctx := context.Background()
	pool := testenv.MigratedPool(t)
	sealer := newSealer(t, masterKey(t))
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	clk := testenv.NewClock(t0)
	const retain = time.Hour
	// The default RefreshEvery (30 s): the switch must not wait for it.
	opts := signing.Options{Algorithms: []jose.SignatureAlgorithm{jose.ES256}, Now: clk.Now, RetainFor: retain}
	one, two := signing.New(pool, sealer, opts), signing.New(pool, sealer, opts)
	if err := one.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	old, err := two.SigningKey(ctx) // cached by two before the rotation
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := one.RotateAll(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	kid := rotated[jose.ES256].KID
	if kid == "" || kid == old.ID() {
		t.Fatalf("rotation gave %q (old %s)", kid, old.ID())
	}
	if want := t0.Add(signing.PublishAhead); !rotated[jose.ES256].SignsFrom.Equal(want) {
		t.Fatalf("SignsFrom = %s, want %s", rotated[jose.ES256].SignsFrom, want)
	}
	// Rotating again while a key is scheduled keeps it (and its time).
	if again, err := one.Rotate(ctx, jose.ES256); err != nil || again != kid {
		t.Fatalf("a second scheduled rotation: %q, %v; want the scheduled %s", again, err, kid)
	}

	replicas := map[string]*signing.Keys{"one": one, "two": two}
	signsWith := func(at time.Duration, want string) {
		t.Helper()
		for name, k := range replicas {
			sk, err := k.SigningKey(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sk.ID() != want {
				t.Fatalf("replica %s, %s after the rotation: signs with %s, want %s", name, at, sk.ID(), want)
			}
		}
	}
	publishes := func(at time.Duration, want ...string) {
		t.Helper()
		for name, k := range replicas {
			set, err := k.KeySet(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range want {
				if !slices.Contains(kids(set), w) {
					t.Fatalf("replica %s, %s after the rotation: JWKS %v lacks %s", name, at, kids(set), w)
				}
			}
		}
	}
	at := func(d time.Duration) { clk.Advance(t0.Add(d).Sub(clk.Now())) }
	for _, d := range []time.Duration{0, time.Second, signing.JWKSMaxAge, signing.JWKSMaxAge + signing.ClockSkew, signing.PublishAhead - time.Millisecond} {
		at(d)
		publishes(d, kid, old.ID())
		signsWith(d, old.ID())
	}
	// A token of the old key, and the JWKS a verifier fetched just before
	// the rotation: by the switch, that cache has expired, even read on a
	// clock ClockSkew behind.
	oldToken := sign(t, old, map[string]any{"sub": "user-1"})

	at(signing.PublishAhead)
	signsWith(signing.PublishAhead, kid)
	publishes(signing.PublishAhead, kid, old.ID())
	sk, err := two.SigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	set, err := one.KeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, token := range map[string]string{"old": oldToken, "new": sign(t, sk, map[string]any{"sub": "user-1"})} {
		if err := verify(token, jwks(t, set)); err != nil {
			t.Errorf("%s key's token: %v", name, err)
		}
	}

	// The old key's retention counts from the switch, when it stopped
	// signing, not from the rotation.
	at(signing.PublishAhead + retain - time.Minute)
	publishes(retain, kid, old.ID())
	at(signing.PublishAhead + retain + time.Minute)
	set, err = two.KeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := kids(set); len(got) != 1 || got[0] != kid {
		t.Fatalf("JWKS after the old key's retention = %v, want only %s", got, kid)
	}
}

// TestRotateNowSignsAtOnce: a key switched to at once (`keys rotate --now`,
// for a key thought compromised) signs at once on the replica that rotated
// and within RefreshEvery on the others, even over a scheduled key, which
// then never signs but stays published (a replica whose clock runs ahead may
// have started with it).
func TestRotateNowSignsAtOnce(t *testing.T) {
	ctx := context.Background()
	pool := testenv.MigratedPool(t)
	sealer := newSealer(t, masterKey(t))
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	clk := testenv.NewClock(t0)
	opts := signing.Options{Algorithms: []jose.SignatureAlgorithm{jose.ES256}, Now: clk.Now, RefreshEvery: 20 * time.Millisecond}
	one, two := signing.New(pool, sealer, opts), signing.New(pool, sealer, opts)
	if err := one.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	old, err := two.SigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	scheduled, err := one.Rotate(ctx, jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	rotated, err := one.RotateAll(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	now := rotated[jose.ES256]
	if now.KID == scheduled || now.KID == old.ID() || !now.SignsFrom.Equal(clk.Now()) {
		t.Fatalf("RotateAll(now) = %+v at %s; want a new key signing now (old %s, scheduled %s)", now, clk.Now(), old.ID(), scheduled)
	}
	if sk, err := one.SigningKey(ctx); err != nil || sk.ID() != now.KID {
		t.Fatalf("the rotating replica signs with %v (%v), want %s at once", sk, err, now.KID)
	}
	waitFor(t, "the other replica to sign with the new key", func() bool {
		sk, err := two.SigningKey(ctx)
		return err == nil && sk.ID() == now.KID
	})
	// Past the scheduled key's activation, it still does not sign.
	clk.Advance(signing.PublishAhead)
	for name, k := range map[string]*signing.Keys{"one": one, "two": two} {
		sk, err := k.SigningKey(ctx)
		if err != nil || sk.ID() != now.KID {
			t.Fatalf("replica %s past the replaced schedule signs with %v (%v), want %s", name, sk, err, now.KID)
		}
		set, err := k.KeySet(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := kids(set)
		for _, w := range []string{now.KID, scheduled, old.ID()} {
			if !slices.Contains(got, w) {
				t.Fatalf("replica %s's JWKS %v lacks %s", name, got, w)
			}
		}
	}
}
