package signing_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// encodings returns secret as raw bytes and in the text forms it could leak
// in: hex (how PostgreSQL prints bytea) and every base64 alphabet.
func encodings(secret []byte) [][]byte {
	h := hex.EncodeToString(secret)
	return [][]byte{
		secret,
		[]byte(h),
		[]byte(strings.ToUpper(h)),
		[]byte(base64.StdEncoding.EncodeToString(secret)),
		[]byte(base64.RawStdEncoding.EncodeToString(secret)),
		[]byte(base64.URLEncoding.EncodeToString(secret)),
		[]byte(base64.RawURLEncoding.EncodeToString(secret)),
	}
}

// assertNoSecret fails when text holds any secret in any encoding.
func assertNoSecret(t *testing.T, text string, secrets ...[]byte) {
	t.Helper()
	for i, secret := range secrets {
		for _, enc := range encodings(secret) {
			if bytes.Contains([]byte(text), enc) {
				t.Fatalf("secret %d appears in %q", i, text)
			}
		}
	}
}

// privateSecrets returns a private key's PKCS#8 DER and its secret numbers.
func privateSecrets(t *testing.T, key any) [][]byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out := [][]byte{der}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		d, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	case *rsa.PrivateKey:
		out = append(out, k.D.Bytes(), k.Primes[0].Bytes(), k.Primes[1].Bytes())
	default:
		t.Fatalf("unexpected private key type %T", key)
	}
	return out
}

// sign returns a compact JWT over claims, made the way the provider makes
// one (op.SignerFromKey).
func sign(t *testing.T, key op.SigningKey, claims map[string]any) string {
	t.Helper()
	signer, err := op.SignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// jwks returns the key set as a verifier sees it: KeySet turned into the
// JSON document the provider serves, then parsed back.
func jwks(t *testing.T, set []op.Key) jose.JSONWebKeySet {
	t.Helper()
	doc := jose.JSONWebKeySet{}
	for _, k := range set {
		doc.Keys = append(doc.Keys, jose.JSONWebKey{KeyID: k.ID(), Algorithm: string(k.Algorithm()), Use: k.Use(), Key: k.Key()})
	}
	body, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var parsed jose.JSONWebKeySet
	if err := json.Unmarshal(body, &parsed); err != nil {
		t.Fatal(err)
	}
	return parsed
}

// verify checks token against the key of its kid in set, as a verifier does.
func verify(token string, set jose.JSONWebKeySet) error {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		return err
	}
	header := jws.Signatures[0].Header
	keys := set.Key(header.KeyID)
	if len(keys) != 1 {
		return fmt.Errorf("key set has %d keys with kid %s", len(keys), header.KeyID)
	}
	if keys[0].Algorithm != header.Algorithm {
		return fmt.Errorf("key %s is for %s, the token says %s", header.KeyID, keys[0].Algorithm, header.Algorithm)
	}
	_, err = jws.Verify(&keys[0])
	return err
}

func kids(set []op.Key) []string {
	var out []string
	for _, k := range set {
		out = append(out, k.ID())
	}
	return out
}
