package signing_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc/signing"
)

var bothAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.RS256}

func TestEnsureStoresNoPrivateKeyInTheClear(t *testing.T) {
	ctx := context.Background()
	pool := testenv.MigratedPool(t)
	key := masterKey(t)
	keys := signing.New(pool, newSealer(t, key), signing.Options{})
	if err := keys.Ensure(ctx); err != nil {
		t.Fatal(err)
	}

	// Everything the table holds: each row as PostgreSQL prints it (bytea
	// in hex) and every bytea column's raw bytes.
	var haystack []byte
	rows, err := pool.Query(ctx, `SELECT t::text, t.public_key, t.private_key_sealed FROM signing_keys t`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var text string
		var public, sealed []byte
		if err := rows.Scan(&text, &public, &sealed); err != nil {
			t.Fatal(err)
		}
		haystack = append(append(append(haystack, text...), public...), sealed...)
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("%d signing keys, want one ES256 and one RS256", n)
	}

	for _, alg := range bothAlgorithms {
		sk, err := keys.SigningKeyFor(ctx, alg)
		if err != nil {
			t.Fatal(err)
		}
		// The scan must be able to see a key: the public one is there.
		public, err := x509.MarshalPKIXPublicKey(sk.Key().(crypto.Signer).Public())
		if err != nil {
			t.Fatal(err)
		}
		for _, enc := range encodings(public)[:2] {
			if !bytes.Contains(haystack, enc) {
				t.Fatalf("%s public key not found by the scan: the scan proves nothing", alg)
			}
		}
		secrets := append(privateSecrets(t, sk.Key()), key)
		assertNoSecret(t, string(haystack), secrets...)
	}
}

func TestEnsureCreatesOneKeyPerAlgorithm(t *testing.T) {
	ctx := context.Background()
	pool := testenv.MigratedPool(t)
	sealer := newSealer(t, masterKey(t))

	// Four replicas starting at once, each with its own Keys.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() { errs <- signing.New(pool, sealer, signing.Options{}).Ensure(ctx) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// And one more, later.
	if err := signing.New(pool, sealer, signing.Options{}).Ensure(ctx); err != nil {
		t.Fatal(err)
	}

	counts := map[string][2]int{}
	rows, err := pool.Query(ctx, `SELECT algorithm, count(*), count(*) FILTER (WHERE retired_at IS NULL) FROM signing_keys GROUP BY algorithm`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var alg string
		var all, active int
		if err := rows.Scan(&alg, &all, &active); err != nil {
			t.Fatal(err)
		}
		counts[alg] = [2]int{all, active}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int{"ES256": {1, 1}, "RS256": {1, 1}}
	if len(counts) != 2 || counts["ES256"] != want["ES256"] || counts["RS256"] != want["RS256"] {
		t.Fatalf("keys per algorithm (all, active) = %v, want %v", counts, want)
	}
}

func TestRotationWhileTokensAreInFlight(t *testing.T) {
	ctx := context.Background()
	pool := testenv.MigratedPool(t)
	clk := testenv.NewClock(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	const retain = 24 * time.Hour
	keys := signing.New(pool, newSealer(t, masterKey(t)), signing.Options{Now: clk.Now, RetainFor: retain})
	if err := keys.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	algs, _ := keys.SignatureAlgorithms(ctx)
	if !slices.Equal(algs, bothAlgorithms) {
		t.Fatalf("SignatureAlgorithms = %v, want %v", algs, bothAlgorithms)
	}

	old, err := keys.SigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if old.SignatureAlgorithm() != jose.ES256 {
		t.Fatalf("SigningKey is %s, want ES256 by default", old.SignatureAlgorithm())
	}
	rsaKey, err := keys.SigningKeyFor(ctx, jose.RS256)
	if err != nil {
		t.Fatal(err)
	}
	inFlight := sign(t, old, map[string]any{"sub": "user-1", "n": 1})
	idToken := sign(t, rsaKey, map[string]any{"sub": "user-1", "aud": "needs-rs256"})

	clk.Advance(time.Hour)
	kid, err := keys.Rotate(ctx, jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	// Scheduled: the old key signs until the new one has been published for
	// PublishAhead (TestScheduledKeyIsPublishedBeforeItSigns), then retires.
	clk.Advance(signing.PublishAhead)
	current, err := keys.SigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if current.ID() != kid || kid == old.ID() {
		t.Fatalf("after rotation SigningKey has kid %s, want the new %s (old %s)", current.ID(), kid, old.ID())
	}
	fresh := sign(t, current, map[string]any{"sub": "user-1", "n": 2})

	set, err := keys.KeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	published := jwks(t, set)
	for name, token := range map[string]string{"in flight (old key)": inFlight, "fresh (new key)": fresh, "RS256 ID token": idToken} {
		if err := verify(token, published); err != nil {
			t.Errorf("%s token does not verify against the key set %v: %v", name, kids(set), err)
		}
	}

	// Just before the retention (from the switch) ends the old key is still
	// published...
	clk.Advance(retain - time.Minute)
	set, err = keys.KeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(kids(set), old.ID()) {
		t.Fatalf("old key %s left the key set before RetainFor: %v", old.ID(), kids(set))
	}
	// ...and just after, it is gone; the active keys stay.
	clk.Advance(2 * time.Minute)
	set, err = keys.KeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := kids(set)
	slices.Sort(got)
	want := []string{kid, rsaKey.ID()}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("key set after RetainFor = %v, want the active keys %v", got, want)
	}
	if err := verify(inFlight, jwks(t, set)); err == nil {
		t.Fatal("a token of the expired key still verifies")
	}
}

// TestReplicaPicksUpRotatedKey: a key switched to at once (RotateNow) signs
// on every replica within RefreshEvery.
func TestReplicaPicksUpRotatedKey(t *testing.T) {
	ctx := context.Background()
	pool := testenv.MigratedPool(t)
	sealer := newSealer(t, masterKey(t))
	const refresh = 300 * time.Millisecond
	opts := signing.Options{Algorithms: []jose.SignatureAlgorithm{jose.ES256}, RefreshEvery: refresh}
	first, second := signing.New(pool, sealer, opts), signing.New(pool, sealer, opts)
	if err := first.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	before, err := second.SigningKey(ctx) // now cached by the second replica
	if err != nil {
		t.Fatal(err)
	}

	kid, err := first.RotateNow(ctx, jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	rotated := time.Now()
	if kid == before.ID() {
		t.Fatal("rotation kept the kid")
	}
	// The new key is published everywhere at once...
	set, err := second.KeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(kids(set), kid) {
		t.Fatalf("second replica's key set %v lacks the new key %s", kids(set), kid)
	}
	// ...and signed with everywhere within RefreshEvery (plus slack for a
	// query on a busy machine).
	for {
		sk, err := second.SigningKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if sk.ID() == kid {
			break
		}
		if sk.ID() != before.ID() {
			t.Fatalf("second replica signs with %s, neither the old %s nor the new %s", sk.ID(), before.ID(), kid)
		}
		if time.Since(rotated) > refresh+time.Second {
			t.Fatalf("second replica still signs with the old key %s after %s", before.ID(), time.Since(rotated))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("second replica switched %s after the rotation (RefreshEvery %s)", time.Since(rotated).Round(time.Millisecond), refresh)
}

func TestWrongMasterKeyIsNamed(t *testing.T) {
	ctx := context.Background()
	pool := testenv.MigratedPool(t)
	rightKey, wrongKey := masterKey(t), masterKey(t)
	right, wrong := newSealer(t, rightKey), newSealer(t, wrongKey)
	keys := signing.New(pool, right, signing.Options{})
	if err := keys.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	sk, err := keys.SigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}

	misconfigured := signing.New(pool, wrong, signing.Options{})
	_, err = misconfigured.SigningKey(ctx)
	if err == nil {
		t.Fatal("SigningKey succeeded under another master key")
	}
	var mismatch *signing.MasterKeyMismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("error %q is not a MasterKeyMismatchError", err)
	}
	msg := err.Error()
	for _, want := range []string{"the master key differs from the one that sealed key " + sk.ID(), right.Fingerprint(), wrong.Fingerprint()} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	assertNoSecret(t, msg, append(privateSecrets(t, sk.Key()), rightKey, wrongKey)...)

	// A replica started with it fails at start-up, the same way.
	if err := misconfigured.Ensure(ctx); !errors.As(err, &mismatch) {
		t.Fatalf("Ensure under another master key: %v, want a MasterKeyMismatchError", err)
	}
}

func TestSealedKeyCannotMoveToAnotherRow(t *testing.T) {
	ctx := context.Background()
	pool := testenv.MigratedPool(t)
	sealer := newSealer(t, masterKey(t))
	opts := signing.Options{Algorithms: []jose.SignatureAlgorithm{jose.ES256}}
	keys := signing.New(pool, sealer, opts)
	if err := keys.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.RotateNow(ctx, jose.ES256); err != nil {
		t.Fatal(err)
	}
	// Someone with write access to the table gives the active row the sealed
	// private key of the retired one (same master key, same algorithm).
	tag, err := pool.Exec(ctx, `UPDATE signing_keys a SET private_key_sealed = r.private_key_sealed
		FROM signing_keys r WHERE a.retired_at IS NULL AND r.retired_at IS NOT NULL`)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("swap sealed keys: %v (%d rows)", err, tag.RowsAffected())
	}
	_, err = signing.New(pool, sealer, opts).SigningKey(ctx)
	if err == nil {
		t.Fatal("a sealed key opened under another row's kid")
	}
	t.Logf("error: %v", err)
}

func TestOptionsThatBreakPromisesPanic(t *testing.T) {
	for name, opts := range map[string]signing.Options{
		"RefreshEvery over a minute":   {RefreshEvery: 61 * time.Second},
		"RetainFor under RefreshEvery": {RefreshEvery: time.Minute, RetainFor: time.Second},
		"unsupported algorithm":        {Algorithms: []jose.SignatureAlgorithm{jose.HS256}},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("New accepted the options")
				}
			}()
			signing.New(nil, nil, opts)
		})
	}
}
