package clients

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
)

// secretPrefix marks client secrets so that secret scanners (and people)
// recognise one in a log, a paste or a repository.
const secretPrefix = "cs_"

// newClientID is 128 random bits, URL-safe: unguessable, so that knowing one
// instance's id says nothing about another's.
func newClientID() (string, error) {
	return randomString(clientIDBytes)
}

const clientIDBytes = 16

// newSecret is 256 random bits, URL-safe, prefixed.
func newSecret() (string, error) {
	s, err := randomString(32)
	if err != nil {
		return "", err
	}
	return secretPrefix + s, nil
}

// wellFormedClientID reports whether id has the shape newClientID gives.
func wellFormedClientID(id string) bool {
	if len(id) != base64.RawURLEncoding.EncodedLen(clientIDBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}

func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// hashSecret is a plain SHA-256. A slow password hash (bcrypt, argon2) is
// there to make guessing low-entropy passwords expensive; a 256-bit random
// secret cannot be guessed, so a fast hash loses nothing and keeps every
// token request cheap.
func hashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// absentHash stands in for the stored hash when the client id is unknown, so
// that an unknown id and a wrong secret take the same path.
var absentHash = hashSecret("no such client")

// secretMatches hashes the presented secret and compares it in constant time
// with stored, or with absentHash when stored is nil (unknown client); the
// result is then false whatever was presented.
func secretMatches(stored []byte, presented string) bool {
	known := stored != nil
	if !known {
		stored = absentHash
	}
	equal := subtle.ConstantTimeCompare(stored, hashSecret(presented)) == 1
	return known && equal && presented != ""
}
