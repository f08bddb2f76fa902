package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"time"

	"github.com/tink-crypto/tink-go/v2/keyset"
)

// CreateAt is Create with the time of the backup's name given.
func CreateAt(ctx context.Context, databaseURL, dir string, ks *keyset.Handle, now time.Time) (Manifest, error) {
	return create(ctx, databaseURL, dir, ks, now)
}

// PruneAt is Prune as if it were now.
var PruneAt = prune

// ToolEnv is the environment and the password pg_dump and psql would get
// for databaseURL.
func ToolEnv(databaseURL string) ([]string, error) {
	c, err := parseConn(databaseURL)
	return c.env, err
}

// LoadUnchecked restores without the checks that come first (emptiness,
// checksum, a full decryption), as if the file changed after them.
func LoadUnchecked(ctx context.Context, path, databaseURL string, ks *keyset.Handle) error {
	aead, _, err := primitive(ks)
	if err != nil {
		return err
	}
	conn, err := parseConn(databaseURL)
	if err != nil {
		return err
	}
	psql, err := tool("psql")
	if err != nil {
		return err
	}
	m, err := ReadManifest(path)
	if err != nil {
		return err
	}
	return load(ctx, path, m, aead, conn, psql, false)
}

// SHA256File is the checksum a manifest records for the file at path.
func SHA256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(sum.Sum(nil)), nil
}
