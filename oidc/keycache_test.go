package oidc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/caido-cloud/caido-cloud/config"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/oidc"
	"github.com/caido-cloud/caido-cloud/oidc/signing"
)

// countedKeys is the real key store over PostgreSQL, counting how often the
// key set is read.
type countedKeys struct {
	*signing.Keys
	reads atomic.Int64
}

func (k *countedKeys) KeySet(ctx context.Context) ([]op.Key, error) {
	k.reads.Add(1)
	return k.Keys.KeySet(ctx)
}

// forgedToken is a well-formed access token signed by a key nobody
// published, under kid.
func forgedToken(t *testing.T, priv *ecdsa.PrivateKey, kid string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: &jose.JSONWebKey{Key: priv, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	testenv.Must(t, err)
	jws, err := signer.Sign([]byte(`{"iss":"https://cloud.test","sub":"u","aud":"c","client_id":"c","sid":"s","kind":"user","exp":4102444800}`))
	testenv.Must(t, err)
	raw, err := jws.CompactSerialize()
	testenv.Must(t, err)
	return raw
}

func newKeys(t *testing.T) (*countedKeys, func() *signing.Keys, *pgxpool.Pool) {
	t.Helper()
	pool := testenv.MigratedPool(t)
	master, err := base64.StdEncoding.DecodeString(config.NewMasterKey())
	testenv.Must(t, err)
	sealer, err := signing.NewSealer(master)
	testenv.Must(t, err)
	open := func() *signing.Keys { return signing.New(pool, sealer, signing.Options{}) }
	keys := &countedKeys{Keys: open()}
	testenv.Must(t, keys.Ensure(context.Background()))
	return keys, open, pool
}

// TestUnknownKeyIDsAreCheap: tokens with made-up kids cost at most one read
// of the key set every 2 s, shared by all the tokens waiting, not one read
// each; a kid found missing is refused at once the next time; the lock is
// not held while the set is read, so tokens of known keys verify while a
// read waits on PostgreSQL; a key another replica has just created is found
// by the next read, and a key this process signs with is known at once.
func TestUnknownKeyIDsAreCheap(t *testing.T) {
	ctx := context.Background()
	keys, open, pool := newKeys(t)
	m := oidc.NewMinter(keys, "https://cloud.test")
	sign := func(m *oidc.Minter, jti string) string {
		raw, err := m.Sign(ctx, oidc.Claims{Subject: "u", Audience: "c", ClientID: "c", SessionID: "s", Kind: oidc.KindUser,
			Expiry: time.Now().Add(time.Hour).Unix(), ID: jti})
		testenv.Must(t, err)
		return raw
	}
	if _, err := m.Verify(ctx, sign(m, "first")); err != nil {
		t.Fatal(err)
	}

	// 1,000 tokens with random kids, 50 at a time.
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	testenv.Must(t, err)
	forged := make([]string, 1000)
	for i := range forged {
		kid := make([]byte, 16)
		_, _ = rand.Read(kid)
		forged[i] = forgedToken(t, priv, hex.EncodeToString(kid))
	}
	before := keys.reads.Load()
	start := time.Now()
	var wg sync.WaitGroup
	var accepted atomic.Int64
	next := atomic.Int64{}
	for range 50 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(forged)); i = next.Add(1) - 1 {
				if _, err := m.Verify(ctx, forged[i]); !errors.Is(err, oidc.ErrInvalidToken) {
					accepted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := accepted.Load(); n > 0 {
		t.Fatalf("%d tokens with made-up kids were not refused as invalid", n)
	}
	reads := keys.reads.Load() - before
	t.Logf("1,000 tokens with random kids in %s: %d reads of the key set", elapsed.Round(time.Millisecond), reads)
	// One read begins every 2 s at most: the one under way when the flood
	// began, and the next, which every token waits for.
	if most := 2 + int64(elapsed/(2*time.Second)); reads > most || reads > 3 {
		t.Fatalf("1,000 tokens with random kids read the key set %d times in %s; want at most %d", reads, elapsed, min(most, 3))
	}
	// The same made-up kids again: refused at once, without a read.
	before, start = keys.reads.Load(), time.Now()
	for _, raw := range forged[:100] {
		if _, err := m.Verify(ctx, raw); !errors.Is(err, oidc.ErrInvalidToken) {
			t.Fatalf("a made-up kid seen before: %v", err)
		}
	}
	if got := keys.reads.Load() - before; got != 0 || time.Since(start) > time.Second {
		t.Fatalf("100 made-up kids seen before took %s and %d reads; want no read, at once", time.Since(start), got)
	}

	// A read waiting on PostgreSQL (the table locked by another
	// transaction) holds up no token of a known key.
	lock, err := pool.Begin(ctx)
	testenv.Must(t, err)
	defer lock.Rollback(ctx) //nolint:errcheck
	_, err = lock.Exec(ctx, `LOCK TABLE signing_keys IN ACCESS EXCLUSIVE MODE`)
	testenv.Must(t, err)
	before = keys.reads.Load()
	blocked := make(chan error, 1)
	go func() {
		_, err := m.Verify(ctx, forgedToken(t, priv, "made-up-while-locked"))
		blocked <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for keys.reads.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("the unknown kid did not make the key set be read")
		}
		time.Sleep(10 * time.Millisecond)
	}
	done := make(chan error, 1)
	go func() {
		_, err := m.Verify(ctx, sign(m, "while-the-set-is-read"))
		done <- err
	}()
	select {
	case err := <-done:
		testenv.Must(t, err)
	case <-time.After(time.Second):
		t.Fatal("a token of a known key waited for the read of the key set, which waits on PostgreSQL")
	}
	select {
	case err := <-blocked:
		t.Fatalf("the read of the locked table returned (%v) before the lock was released", err)
	default:
	}
	testenv.Must(t, lock.Rollback(ctx))
	if err := <-blocked; !errors.Is(err, oidc.ErrInvalidToken) {
		t.Fatalf("the made-up kid, once the set was read: %v, want invalid", err)
	}

	// Another replica rotates just after this one read the set: its new
	// key's token waits for the next read (at most 2 s) and verifies.
	other := oidc.NewMinter(open(), "https://cloud.test")
	_, err = open().RotateNow(ctx, jose.ES256)
	testenv.Must(t, err)
	start = time.Now()
	if _, err := m.Verify(ctx, sign(other, "by-the-other-replica")); err != nil {
		t.Fatalf("a token of the key another replica rotated to: %v", err)
	}
	if waited := time.Since(start); waited > 2*time.Second+time.Second {
		t.Fatalf("a token of the key another replica rotated to waited %s; want at most 2 s and a margin", waited)
	}

	// This process rotates: its new key's tokens verify here at once, with
	// no read of the set.
	_, err = keys.RotateNow(ctx, jose.ES256)
	testenv.Must(t, err)
	start = time.Now()
	if _, err := m.Verify(ctx, sign(m, "by-this-replica")); err != nil {
		t.Fatalf("a token of the key this replica just rotated to: %v", err)
	}
	if waited := time.Since(start); waited > 500*time.Millisecond {
		t.Fatalf("a token of the key this replica just rotated to waited %s; want at once", waited)
	}
}
