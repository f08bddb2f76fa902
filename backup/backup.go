// Package backup takes encrypted backups of the PostgreSQL database and
// restores them. A backup is pg_dump's plain SQL, gzipped, then encrypted
// with a Tink streaming AEAD (AES-256-GCM-HKDF, 1 MB segments) into
// <dir>/caido-cloud-<UTC time>.backup, with a manifest next to it
// (<dir>/caido-cloud-<UTC time>.manifest.json) that describes it.
//
// OpenFGA's tuples are not in a backup: PostgreSQL is the system of record
// and they are rebuilt from it by `caido-cloud fga reconcile` after a restore.
package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/streamingaead"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// FormatVersion is the layout of a backup file this package writes: gzipped
// plain SQL in a Tink streaming AEAD whose associated data is
// associatedData(file name). Restore refuses other versions.
const FormatVersion = 1

const (
	prefix      = "caido-cloud-"
	backupExt   = ".backup"
	manifestExt = ".manifest.json"
	tempSuffix  = ".tmp"
	nameTime    = "20060102T150405Z"
)

// DefaultPrune is the age past which backups are pruned unless told
// otherwise: the promise is 30 days of daily backups.
const DefaultPrune = 30 * 24 * time.Hour

// OpenFGANote is the manifest's statement of what the backup leaves out.
const OpenFGANote = "OpenFGA tuples are not in this backup: they are derived from PostgreSQL. " +
	"After restoring, run `caido-cloud migrate` (it creates an OpenFGA store if OpenFGA has lost it), " +
	"then `caido-cloud fga reconcile`, which rebuilds the tuples from the restored rows."

// MasterKeyNote reminds that the signing keys in the dump stay sealed.
const MasterKeyNote = "Signing keys in this backup are sealed under CAIDO_CLOUD_MASTER_KEY: " +
	"the restored service needs the same master key to sign with them (with another one it refuses to start)."

// ErrCorrupt is the error of every backup that fails its checksum or its
// authentication: a changed, truncated or swapped file, or the wrong keyset.
var ErrCorrupt = errors.New("backup file is corrupt or was encrypted with another key")

// ErrNotEmpty is Restore's refusal of a database that already has tables.
var ErrNotEmpty = errors.New("the target database is not empty")

// Manifest describes one backup file. It is not secret and not trusted:
// the checksum catches damage early, the encryption's authentication (which
// binds the file name) is what makes a changed or swapped file fail.
type Manifest struct {
	Format    int       `json:"format"`
	ID        string    `json:"id"`
	File      string    `json:"file"`
	CreatedAt time.Time `json:"created_at"`
	// Size and SHA256 are of the encrypted file, as stored.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// KeyID is the keyset's primary key id, the key that encrypted the file.
	KeyID      uint32 `json:"key_id"`
	Encryption string `json:"encryption"`
	Content    string `json:"content"`
	// PostgresVersion is the server's, PgDumpVersion the tool's; SchemaVersion
	// is the highest migration applied, so the operator knows which binary
	// (or `caido-cloud migrate`) fits the restored database.
	PostgresVersion string   `json:"postgres_version"`
	PgDumpVersion   string   `json:"pg_dump_version"`
	SchemaVersion   int      `json:"schema_version"`
	Notes           []string `json:"notes"`
}

// NewKeyset returns a new keyset of one AES-256-GCM-HKDF (1 MB segments)
// streaming AEAD key, as the JSON CAIDO_CLOUD_BACKUP_KEYSET takes.
//
// The keyset is kept in cleartext (in a secret, like the master key) on
// purpose: wrapping it needs a key-encryption key, and a self-hosted
// deployment has no KMS to hold one; a second secret stored next to the
// first would protect nothing. What protects the backups is that the keyset
// is never stored with them: keep it in the secret store, plus an offline
// copy, since losing it makes every backup unreadable.
func NewKeyset() (string, error) {
	h, err := keyset.NewHandle(streamingaead.AES256GCMHKDF1MBKeyTemplate())
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		return "", err
	}
	var out bytes.Buffer
	// One line: it goes into an environment variable.
	if err := json.Compact(&out, buf.Bytes()); err != nil {
		return "", err
	}
	return out.String(), nil
}

// ParseKeyset reads a cleartext Tink keyset in JSON and checks that it makes
// a streaming AEAD. Its errors never quote the input: it is a secret.
func ParseKeyset(s string) (*keyset.Handle, error) {
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(strings.NewReader(s)))
	if err != nil {
		return nil, errors.New("want a Tink keyset in JSON; generate one with `caido-cloud backup keygen`")
	}
	if _, err := streamingaead.New(h); err != nil {
		return nil, errors.New("the keyset holds no streaming AEAD key; generate one with `caido-cloud backup keygen`")
	}
	return h, nil
}

func primitive(ks *keyset.Handle) (tink.StreamingAEAD, uint32, error) {
	if ks == nil {
		return nil, 0, errors.New("backup: no keyset (set CAIDO_CLOUD_BACKUP_KEYSET)")
	}
	aead, err := streamingaead.New(ks)
	if err != nil {
		return nil, 0, fmt.Errorf("backup keyset: %w", err)
	}
	return aead, ks.KeysetInfo().GetPrimaryKeyId(), nil
}

// associatedData binds a ciphertext to its file name (which holds its time):
// a file renamed to another backup's name, e.g. an old backup put in place
// of a newer one, fails to decrypt.
func associatedData(file string) []byte {
	return []byte(fmt.Sprintf("caido-cloud backup v%d\x00%s", FormatVersion, file))
}

func manifestName(backupFile string) string {
	return strings.TrimSuffix(backupFile, backupExt) + manifestExt
}

// timeOf reads the time out of a backup or manifest name.
func timeOf(name string) (time.Time, bool) {
	stem := strings.TrimSuffix(strings.TrimSuffix(name, backupExt), manifestExt)
	if !strings.HasPrefix(stem, prefix) || stem == name {
		return time.Time{}, false
	}
	t, err := time.Parse(nameTime, strings.TrimPrefix(stem, prefix))
	return t, err == nil
}

// Create dumps the database into a new encrypted backup in dir (created if
// missing) and writes its manifest. Nothing appears under the final names
// until the file is complete and synced.
func Create(ctx context.Context, databaseURL, dir string, ks *keyset.Handle) (Manifest, error) {
	return create(ctx, databaseURL, dir, ks, time.Now())
}

func create(ctx context.Context, databaseURL, dir string, ks *keyset.Handle, now time.Time) (_ Manifest, err error) {
	aead, keyID, err := primitive(ks)
	if err != nil {
		return Manifest{}, err
	}
	conn, err := parseConn(databaseURL)
	if err != nil {
		return Manifest{}, err
	}
	pgDump, err := tool("pg_dump")
	if err != nil {
		return Manifest{}, err
	}
	now = now.UTC().Truncate(time.Second)
	id := prefix + now.Format(nameTime)
	m := Manifest{
		Format: FormatVersion, ID: id, File: id + backupExt, CreatedAt: now, KeyID: keyID,
		Encryption: "Tink streaming AEAD (AES-256-GCM-HKDF, 1 MB segments with the keyset of `caido-cloud backup keygen`); associated data: format version and file name",
		Content:    "pg_dump plain SQL (no owners, no privileges), gzip",
		Notes:      []string{OpenFGANote, MasterKeyNote},
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Manifest{}, fmt.Errorf("backup folder: %w", err)
	}
	final := filepath.Join(dir, m.File)
	if _, err := os.Lstat(final); err == nil {
		return Manifest{}, fmt.Errorf("backup %s already exists", final)
	}
	if m.PostgresVersion, m.SchemaVersion, err = serverInfo(ctx, databaseURL, conn); err != nil {
		return Manifest{}, err
	}
	if m.PgDumpVersion, err = toolVersion(ctx, pgDump); err != nil {
		return Manifest{}, err
	}

	// A hidden temporary name: List and Prune ignore it, and a crash leaves
	// no file that looks like a backup.
	tmp, err := os.CreateTemp(dir, "."+id+".*"+tempSuffix)
	if err != nil {
		return Manifest{}, fmt.Errorf("backup folder: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	sum := sha256.New()
	size := &counter{}
	enc, err := aead.NewEncryptingWriter(io.MultiWriter(tmp, sum, size), associatedData(m.File))
	if err != nil {
		return Manifest{}, fmt.Errorf("encrypt: %w", err)
	}
	gz := newGzipWriter(enc)
	if err := conn.run(ctx, pgDump, nil, gz, dumpArgs()...); err != nil {
		return Manifest{}, err
	}
	if err := gz.Close(); err != nil {
		return Manifest{}, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := enc.Close(); err != nil { // writes the last, authenticated segment
		return Manifest{}, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return Manifest{}, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return Manifest{}, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return Manifest{}, err
	}
	m.Size, m.SHA256 = size.n, hex.EncodeToString(sum.Sum(nil))
	if err := writeManifest(dir, m); err != nil {
		os.Remove(final)
		return Manifest{}, err
	}
	return m, nil
}

// dumpArgs: plain SQL, so that Restore runs it in one transaction it
// controls; no owners or privileges, so that it restores as whichever role
// DATABASE_URL names; and a lock wait bound, so that a dump queued behind a
// migration's exclusive lock does not in turn queue every query behind it.
func dumpArgs() []string {
	return []string{"--format=plain", "--no-owner", "--no-privileges", "--no-password",
		"--encoding=UTF8", "--lock-wait-timeout=60s"}
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// serverInfo is the server's version and the schema's highest migration.
func serverInfo(ctx context.Context, databaseURL string, conn connInfo) (string, int, error) {
	db, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return "", 0, fmt.Errorf("connect to PostgreSQL: %s", conn.scrub(err.Error()))
	}
	defer db.Close(context.WithoutCancel(ctx))
	var version string
	var schema int
	err = db.QueryRow(ctx, `SELECT current_setting('server_version'),
		CASE WHEN to_regclass('schema_migrations') IS NULL THEN 0
		     ELSE (SELECT coalesce(max(version), 0) FROM schema_migrations) END`).Scan(&version, &schema)
	if err != nil {
		return "", 0, fmt.Errorf("read the server version: %w", err)
	}
	return version, schema, nil
}

func writeManifest(dir string, m Manifest) error {
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+m.ID+".*"+tempSuffix)
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(body, '\n'))
	err = errors.Join(err, tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, manifestName(m.File)))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write manifest: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes the renames durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ReadManifest reads the manifest next to the backup file at path.
func ReadManifest(path string) (Manifest, error) {
	mpath := filepath.Join(filepath.Dir(path), manifestName(filepath.Base(path)))
	body, err := os.ReadFile(mpath)
	if errors.Is(err, os.ErrNotExist) {
		return Manifest{}, fmt.Errorf("no manifest %s: a backup is two files, copy both", mpath)
	}
	if err != nil {
		return Manifest{}, err
	}
	var m Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return Manifest{}, fmt.Errorf("manifest %s: %w", mpath, err)
	}
	return m, nil
}

// Backup is one backup file found by List.
type Backup struct {
	Path string
	Name string
	// Time is the one in the name, when the dump started.
	Time time.Time
	// Size is the file's, as stored.
	Size     int64
	Manifest Manifest
	// Problem is set when the manifest is missing or unreadable: Restore
	// would refuse the file.
	Problem string
}

// List returns the backups in dir, oldest first. A missing dir has none.
func List(dir string) ([]Backup, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Backup
	for _, e := range entries {
		t, ok := timeOf(e.Name())
		if !ok || e.IsDir() || !strings.HasSuffix(e.Name(), backupExt) {
			continue
		}
		b := Backup{Path: filepath.Join(dir, e.Name()), Name: e.Name(), Time: t}
		if info, err := e.Info(); err == nil {
			b.Size = info.Size()
		}
		if b.Manifest, err = ReadManifest(b.Path); err != nil {
			b.Problem = err.Error()
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// Prune deletes the backups in dir (with their manifests) older than
// olderThan, except the newest one: backups that have been failing for
// longer than the retention must not leave none. It also deletes leftovers
// of interrupted runs. It returns the names it deleted.
func Prune(dir string, olderThan time.Duration) ([]string, error) {
	return prune(dir, olderThan, time.Now())
}

func prune(dir string, olderThan time.Duration, now time.Time) ([]string, error) {
	if olderThan <= 0 {
		return nil, errors.New("prune: the age must be positive")
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cutoff := now.Add(-olderThan)
	var newest string
	var newestTime time.Time
	for _, e := range entries {
		if t, ok := timeOf(e.Name()); ok && strings.HasSuffix(e.Name(), backupExt) && !t.Before(newestTime) {
			newest, newestTime = e.Name(), t
		}
	}
	// A temporary file is written to while its run lasts: one untouched for
	// a day (or the retention, if shorter) belongs to a run that died.
	tempCutoff := now.Add(-min(olderThan, 24*time.Hour))
	var removed []string
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == newest {
			continue
		}
		old := false
		if strings.HasPrefix(name, "."+prefix) && strings.HasSuffix(name, tempSuffix) {
			if info, err := e.Info(); err == nil {
				old = info.ModTime().Before(tempCutoff)
			}
		} else if t, ok := timeOf(name); ok {
			// The newest backup keeps its manifest too.
			old = t.Before(cutoff) && name != manifestName(newest)
		}
		if !old {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, name)
	}
	return removed, errors.Join(errs...)
}
