package password_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/caido-cloud/caido-cloud/accounts/password"
)

// cheap keeps the tests fast; the format and the checks are the same.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestPasswordHashAndVerify(t *testing.T) {
	h, err := password.HashWith("correct horse battery", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Count(h, "$") != 5 || strings.Contains(h, "=$") {
		t.Fatalf("hash %q is not the PHC form $argon2id$v=19$m=..,t=..,p=..$salt$hash (unpadded)", h)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("the hash contains the password")
	}
	if err := password.Verify("correct horse battery", h); err != nil {
		t.Fatalf("verify the right password: %v", err)
	}
	for _, wrong := range []string{"correct horse batterY", "", "correct horse battery ", strings.Repeat("x", 5000)} {
		if err := password.Verify(wrong, h); !errors.Is(err, password.ErrMismatch) {
			t.Fatalf("verify %q: %v, want ErrMismatch", wrong, err)
		}
	}
	again, _ := password.HashWith("correct horse battery", cheap)
	if again == h {
		t.Fatal("two hashes of one password are equal: the salt is not fresh")
	}
}

// TestPasswordDefaultIsArgon2id: the default parameters, and a hash made
// by another implementation's parameters (read from the string) verifies.
func TestPasswordDefaultParams(t *testing.T) {
	h, err := password.Hash("a default password")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("default hash %q", h)
	}
	if err := password.Verify("a default password", h); err != nil {
		t.Fatal(err)
	}
	if password.NeedsRehash(h) {
		t.Fatal("a default hash needs no rehash")
	}
	cheapHash, _ := password.HashWith("a default password", cheap)
	if !password.NeedsRehash(cheapHash) {
		t.Fatal("a hash with other parameters should be rehashed")
	}
}

// TestPasswordKnownVector: a hash built by hand from argon2.IDKey with a
// fixed salt verifies, so the encoding is the standard one.
func TestPasswordKnownVector(t *testing.T) {
	salt := []byte("saltsaltsaltsalt")
	key := argon2.IDKey([]byte("password"), salt, 2, 256, 1, 32)
	enc := "$argon2id$v=19$m=256,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + rawB64(key)
	if err := password.Verify("password", enc); err != nil {
		t.Fatalf("verify a hand-built hash: %v", err)
	}
}

func TestPasswordMalformed(t *testing.T) {
	good, _ := password.HashWith("something long", cheap)
	parts := strings.Split(good, "$")
	for _, enc := range []string{
		"", "plain", "$argon2i$v=19$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=16$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=99999999,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=64,t=1000,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=64,t=1,p=0$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=64,t=1,p=1$!!$" + parts[5],
		"$argon2id$v=19$m=64,t=1,p=1$" + parts[4] + "$",
		good + "$extra",
	} {
		if err := password.Verify("something long", enc); !errors.Is(err, password.ErrMalformed) {
			t.Errorf("verify against %q: %v, want ErrMalformed", enc, err)
		}
	}
}

func TestPasswordAcceptable(t *testing.T) {
	for pw, want := range map[string]error{
		"short":                   password.ErrTooShort,
		"éééééééé":                nil, // 8 characters, 16 bytes
		"long enough":             nil,
		strings.Repeat("a", 1025): password.ErrTooLong,
	} {
		if _, err := password.HashWith(pw, cheap); !errors.Is(err, want) {
			t.Errorf("hash %q: %v, want %v", pw, err, want)
		}
	}
}

func rawB64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }
