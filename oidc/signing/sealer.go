package signing

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// MasterKeySize is the length of the operator's master key (AES-256).
const MasterKeySize = 32

// masterKeyIDLabel separates the fingerprint hash from any other use of a
// hash of the master key.
const masterKeyIDLabel = "caido-cloud master key id"

// errNotOpened is the only thing Open says on failure: which of nonce,
// ciphertext, tag, AAD or key was wrong is not knowable, and the key and
// plaintext must never appear in an error.
var errNotOpened = errors.New("sealed data does not open: wrong master key, wrong additional data, or corrupted")

// Sealer encrypts secrets at rest (signing keys' private parts) with
// AES-256-GCM under the operator's master key.
type Sealer struct {
	aead        cipher.AEAD
	fingerprint string
}

// NewSealer returns a Sealer for masterKey, which must be 32 bytes. It keeps
// no copy of the key beyond the AES key schedule.
func NewSealer(masterKey []byte) (*Sealer, error) {
	if len(masterKey) != MasterKeySize {
		return nil, fmt.Errorf("master key must be %d bytes, got %d", MasterKeySize, len(masterKey))
	}
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	return &Sealer{aead: aead, fingerprint: masterKeyFingerprint(masterKey)}, nil
}

// masterKeyFingerprint names a master key without revealing it: the first 8
// bytes of SHA-256 over a fixed label and the key, in hex. Stored beside each
// sealed key so that a wrong master key is reported as such.
func masterKeyFingerprint(masterKey []byte) string {
	h := sha256.New()
	h.Write([]byte(masterKeyIDLabel))
	h.Write(masterKey)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Fingerprint identifies the master key (see masterKeyFingerprint).
func (s *Sealer) Fingerprint() string { return s.fingerprint }

// Seal encrypts plaintext and binds it to aad (the row it belongs to), so a
// sealed blob copied to another row does not open there. The result is the
// random 12-byte nonce followed by the ciphertext and the 16-byte tag.
func (s *Sealer) Seal(plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: read random nonce: %w", err)
	}
	return s.aead.Seal(nonce, nonce, plaintext, aad), nil
}

// Open decrypts what Seal returned for the same aad.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, fmt.Errorf("sealed data is %d bytes, shorter than a nonce and a tag", len(sealed))
	}
	plaintext, err := s.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, errNotOpened
	}
	return plaintext, nil
}
