package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// rsaBits is the RS256 modulus size: the common floor that every client
// library accepts, and still fast enough to sign with.
const rsaBits = 2048

// supported lists the algorithms this package can create keys for.
var supported = map[jose.SignatureAlgorithm]bool{jose.ES256: true, jose.RS256: true}

// newKID returns a random, URL-safe key id of 128 bits.
func newKID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random key id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// generate returns a new private key for alg.
func generate(alg jose.SignatureAlgorithm) (crypto.Signer, error) {
	switch alg {
	case jose.ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.RS256:
		return rsa.GenerateKey(rand.Reader, rsaBits)
	}
	return nil, fmt.Errorf("signing algorithm %s is not supported (want ES256 or RS256)", alg)
}

// newRow generates a key for alg and returns the row that stores it, its
// private part sealed under sealer with the kid as additional data.
func newRow(alg jose.SignatureAlgorithm, sealer *Sealer) (keyRow, error) {
	kid, err := newKID()
	if err != nil {
		return keyRow{}, err
	}
	priv, err := generate(alg)
	if err != nil {
		return keyRow{}, err
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return keyRow{}, fmt.Errorf("encode %s public key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return keyRow{}, fmt.Errorf("encode %s private key: %w", alg, err)
	}
	defer clear(der)
	sealed, err := sealer.Seal(der, []byte(kid))
	if err != nil {
		return keyRow{}, fmt.Errorf("seal %s key %s: %w", alg, kid, err)
	}
	return keyRow{kid: kid, alg: alg, public: pub, sealed: sealed, masterKeyID: sealer.Fingerprint()}, nil
}

// keyRow is one row of signing_keys.
type keyRow struct {
	kid         string
	alg         jose.SignatureAlgorithm
	public      []byte
	sealed      []byte
	masterKeyID string
}

// MasterKeyMismatchError says that a signing key was sealed under another
// master key than the one this process has. It carries fingerprints only.
type MasterKeyMismatchError struct {
	KID, SealedUnder, Configured string
}

func (e *MasterKeyMismatchError) Error() string {
	return fmt.Sprintf("the master key differs from the one that sealed key %s (sealed under master key %s, the configured one is %s): give every replica the master key the keys were sealed with",
		e.KID, e.SealedUnder, e.Configured)
}

// open unseals the row's private key.
func (r keyRow) open(sealer *Sealer) (*signingKey, error) {
	if r.masterKeyID != sealer.Fingerprint() {
		return nil, &MasterKeyMismatchError{KID: r.kid, SealedUnder: r.masterKeyID, Configured: sealer.Fingerprint()}
	}
	der, err := sealer.Open(r.sealed, []byte(r.kid))
	if err != nil {
		// Same master key, so the blob was altered or belongs to another row.
		return nil, fmt.Errorf("signing key %s: %w", r.kid, err)
	}
	defer clear(der)
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: private key is not PKCS#8", r.kid)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok || !matches(r.alg, signer) {
		return nil, fmt.Errorf("signing key %s: private key does not fit algorithm %s", r.kid, r.alg)
	}
	return &signingKey{id: r.kid, alg: r.alg, key: signer}, nil
}

func matches(alg jose.SignatureAlgorithm, key crypto.Signer) bool {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return alg == jose.ES256 && k.Curve == elliptic.P256()
	case *rsa.PrivateKey:
		return alg == jose.RS256 && k.N.BitLen() >= rsaBits
	}
	return false
}

// signingKey is an active private key; it implements op.SigningKey.
type signingKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key crypto.Signer
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

// publicKey is a published key; it implements op.Key.
type publicKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key crypto.PublicKey
}

func (k *publicKey) ID() string                         { return k.id }
func (k *publicKey) Algorithm() jose.SignatureAlgorithm { return k.alg }
func (k *publicKey) Use() string                        { return "sig" }
func (k *publicKey) Key() any                           { return k.key }
