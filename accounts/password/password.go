// Package password hashes account passwords with Argon2id and checks them,
// in the PHC string form other tools read:
// $argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash> (unpadded standard base64).
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are Argon2id's cost parameters. Hashes carry their own, so
// raising them later leaves older hashes verifiable.
type Params struct {
	// Memory in KiB.
	Memory  uint32
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// Default follows RFC 9106 §4's second recommended option (64 MiB, 3
// passes), with 2 lanes: about 50 ms on one core of these machines.
var Default = Params{Memory: 64 * 1024, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 32}

// MaxLength bounds what is hashed, so that a huge body cannot cost much
// more than a normal one.
const MaxLength = 1024

var (
	// ErrMismatch is a wrong password.
	ErrMismatch = errors.New("password does not match")
	// ErrMalformed is a stored string that is not an Argon2id hash.
	ErrMalformed = errors.New("not an argon2id hash")
	// ErrTooShort and ErrTooLong refuse a new password.
	ErrTooShort = errors.New("password must be at least 8 characters")
	ErrTooLong  = fmt.Errorf("password must be at most %d bytes", MaxLength)
)

var b64 = base64.RawStdEncoding

// Hash returns the encoded Argon2id hash of pw with a fresh salt and the
// Default parameters.
func Hash(pw string) (string, error) {
	return HashWith(pw, Default)
}

// HashWith is Hash with other parameters (tests use cheap ones).
func HashWith(pw string, p Params) (string, error) {
	if err := Acceptable(pw); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (it crashes instead).
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Acceptable says why pw cannot be a new password, if it cannot.
func Acceptable(pw string) error {
	switch {
	case len([]rune(pw)) < 8:
		return ErrTooShort
	case len(pw) > MaxLength:
		return ErrTooLong
	}
	return nil
}

// Verify checks pw against an encoded hash in constant time: nil when it
// matches, ErrMismatch when not, ErrMalformed for a hash it cannot read.
func Verify(pw, encoded string) error {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return err
	}
	if len(pw) > MaxLength {
		return ErrMismatch
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return ErrMismatch
	}
	return nil
}

// NeedsRehash reports whether encoded was made with parameters other than
// Default, so that a sign-in can store a fresh hash.
func NeedsRehash(encoded string) bool {
	p, _, _, err := decode(encoded)
	return err != nil || p != Default
}

// Limits on what a stored hash may ask for, so that a corrupted or hostile
// row cannot make a check allocate gigabytes or spin for minutes.
const (
	maxMemory = 1 << 20 // 1 GiB in KiB
	maxTime   = 100
)

func decode(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrMalformed
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Params{}, nil, nil, ErrMalformed
	}
	var p Params
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads) != parts[3] {
		return Params{}, nil, nil, ErrMalformed
	}
	if p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory || p.Time < 1 || p.Time > maxTime || p.Threads < 1 {
		return Params{}, nil, nil, ErrMalformed
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return Params{}, nil, nil, ErrMalformed
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return Params{}, nil, nil, ErrMalformed
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}
