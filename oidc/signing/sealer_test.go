package signing_test

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/caido-cloud/caido-cloud/oidc/signing"
)

func masterKey(t *testing.T) []byte {
	t.Helper()
	key := make([]byte, signing.MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

func newSealer(t *testing.T, key []byte) *signing.Sealer {
	t.Helper()
	s, err := signing.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealerRoundTrip(t *testing.T) {
	s := newSealer(t, masterKey(t))
	plaintext := []byte("a private key, PKCS#8")
	aad := []byte("kid-1")
	a, err := s.Seal(plaintext, aad)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Seal(plaintext, aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal: the nonce is not random")
	}
	if len(a) != 12+len(plaintext)+16 {
		t.Fatalf("sealed length %d, want 12-byte nonce + %d + 16-byte tag", len(a), len(plaintext))
	}
	if bytes.Contains(a, plaintext) {
		t.Fatal("sealed data contains the plaintext")
	}
	got, err := s.Open(a, aad)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plaintext) {
		t.Fatalf("Open = %q, want %q", got, plaintext)
	}
}

func TestSealerRejectsTampering(t *testing.T) {
	key := masterKey(t)
	s := newSealer(t, key)
	plaintext := []byte("a private key, PKCS#8")
	aad := []byte("kid-1")
	sealed, err := s.Seal(plaintext, aad)
	if err != nil {
		t.Fatal(err)
	}
	for name, i := range map[string]int{"nonce": 3, "ciphertext": 12 + 5, "tag": len(sealed) - 2} {
		t.Run("flipped byte in "+name, func(t *testing.T) {
			bad := bytes.Clone(sealed)
			bad[i] ^= 0x01
			if _, err := s.Open(bad, aad); err == nil {
				t.Fatal("Open succeeded")
			}
		})
	}
	t.Run("truncated", func(t *testing.T) {
		if _, err := s.Open(sealed[:20], aad); err == nil {
			t.Fatal("Open succeeded")
		}
	})
	t.Run("another AAD", func(t *testing.T) {
		if _, err := s.Open(sealed, []byte("kid-2")); err == nil {
			t.Fatal("Open succeeded")
		}
	})
	t.Run("another master key", func(t *testing.T) {
		other := newSealer(t, masterKey(t))
		_, err := other.Open(sealed, aad)
		if err == nil {
			t.Fatal("Open succeeded")
		}
		if other.Fingerprint() == s.Fingerprint() {
			t.Fatal("two master keys have the same fingerprint")
		}
		assertNoSecret(t, err.Error(), key, plaintext)
	})
}

func TestNewSealerWantsThirtyTwoBytes(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		key := bytes.Repeat([]byte{0xAB}, n)
		_, err := signing.NewSealer(key)
		if err == nil {
			t.Fatalf("NewSealer accepted a %d-byte key", n)
		}
		if !strings.Contains(err.Error(), "32 bytes") {
			t.Errorf("error %q does not say what is wanted", err)
		}
		if n > 0 {
			assertNoSecret(t, err.Error(), key)
		}
	}
}

func TestFingerprintIsStable(t *testing.T) {
	key := masterKey(t)
	a, b := newSealer(t, key), newSealer(t, bytes.Clone(key))
	if a.Fingerprint() != b.Fingerprint() || len(a.Fingerprint()) != 16 {
		t.Fatalf("fingerprints %q and %q: want the same 16 hex digits", a.Fingerprint(), b.Fingerprint())
	}
}
