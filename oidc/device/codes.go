package device

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// deviceCodeBytes is 256 bits of entropy, twice RFC 8628 §5.2's minimum:
// the device code is a bearer secret polled for up to the lifetime.
const deviceCodeBytes = 32

// newDeviceCode returns a fresh device code (43 base64url characters).
func newDeviceCode() string {
	b := make([]byte, deviceCodeBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes instead).
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashDeviceCode is the stored form of a device code. A plain SHA-256 is
// enough: the code has 256 bits of entropy, so it cannot be guessed from
// the hash, and the lookup must be by equality.
func hashDeviceCode(code string) []byte {
	sum := sha256.Sum256([]byte(code))
	return sum[:]
}

// UserCodeAlphabet holds the characters of user codes: RFC 8628 §6.1's 20
// consonants. No vowels (A E I O U, and Y), so no word can be spelt; no
// digits, so nothing reads as 0/O, 1/I/L, 5/S, 2/Z or 8/B. Upper case only,
// where L cannot be taken for an I or a 1.
const UserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// userCodeLength characters of 20 give 20^8 ≈ 2^34.6 codes (RFC 8628 §6.1).
const userCodeLength = 8

// newUserCode returns a normalised user code, uniformly random.
func newUserCode() string {
	const n = len(UserCodeAlphabet)
	// Bytes ≥ 240 are rejected so that byte % 20 is uniform.
	const limit = 256 - 256%n
	out := make([]byte, 0, userCodeLength)
	buf := make([]byte, 2*userCodeLength)
	for len(out) < userCodeLength {
		_, _ = rand.Read(buf)
		for _, b := range buf {
			if int(b) < limit && len(out) < userCodeLength {
				out = append(out, UserCodeAlphabet[int(b)%n])
			}
		}
	}
	return string(out)
}

// normaliseUserCode turns what a user typed into the stored form: upper
// case, without dashes or spaces. ok is false when the result cannot be a
// user code, which saves a query.
func normaliseUserCode(typed string) (code string, ok bool) {
	var b strings.Builder
	for _, r := range typed {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		case 'a' <= r && r <= 'z':
			r -= 'a' - 'A'
		}
		if !strings.ContainsRune(UserCodeAlphabet, r) || b.Len() == userCodeLength {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != userCodeLength {
		return "", false
	}
	return b.String(), true
}

// FormatUserCode is how a user code is shown, XXXX-XXXX, whatever form it
// was typed in; anything that is not a user code comes back unchanged.
func FormatUserCode(typed string) string {
	code, ok := normaliseUserCode(typed)
	if !ok {
		return typed
	}
	return code[:4] + "-" + code[4:]
}
