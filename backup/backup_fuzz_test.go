package backup

// Fuzz targets for what restore and list read from a backup folder, none
// of which is trusted: manifests, file names, and the backup files
// themselves. No database: restore's checks before psql are the parsers.

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/streamingaead"
)

const fuzzName = "caido-cloud-20300102T150405Z.backup"

// FuzzReadManifest: whatever a manifest holds, ReadManifest reads it or
// says why not, exactly when it is (or is not) a JSON manifest; List shows
// the backup either way, with the manifest or the problem; and a manifest
// read, written again, reads the same (write(read(write(m))) == write(m)).
func FuzzReadManifest(f *testing.F) {
	real, err := json.MarshalIndent(Manifest{
		Format: FormatVersion, ID: "caido-cloud-20300102T150405Z", File: fuzzName,
		CreatedAt: time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC), Size: 1234, SHA256: strings.Repeat("ab", 32),
		KeyID: 42, Encryption: "Tink streaming AEAD", Content: "pg_dump plain SQL, gzip", PostgresVersion: "17.2",
		PgDumpVersion: "pg_dump (PostgreSQL) 17.2", SchemaVersion: 20, Notes: []string{OpenFGANote, MasterKeyNote},
	}, "", "  ")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(real), `{}`, `null`, ``, `[]`, `{"format":2}`, `{"format":"1"}`, `{"size":-1,"key_id":4294967296}`,
		`{"created_at":"0000-01-01T00:00:00Z"}`, `{"created_at":"9999-12-31T23:59:59.999999999+23:59"}`,
		`{"created_at":"2030-01-02"}`, `{"created_at":1893456000}`, `{"file":"../../etc/passwd"}`, `{"file":"\u0000"}`,
		`{"notes":[null,"x"]}`, `{"format":1e400}`, "{\"id\":\"\xff\"}", `{"id":"\ud800"}`, `{"format":1}{"format":2}`,
		`{"notes":` + strings.Repeat("[", 100),
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	path := filepath.Join(dir, fuzzName)
	if err := os.WriteFile(path, []byte("not a backup"), 0o600); err != nil {
		f.Fatal(err)
	}
	mpath := filepath.Join(dir, manifestName(fuzzName))
	f.Fuzz(func(t *testing.T, body []byte) {
		if err := os.WriteFile(mpath, body, 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := ReadManifest(path)
		var want Manifest
		if (err == nil) != (json.Unmarshal(body, &want) == nil) {
			t.Fatalf("ReadManifest(%q): %v; json.Unmarshal disagrees", body, err)
		}
		list, lerr := List(dir)
		if lerr != nil || len(list) != 1 || list[0].Name != fuzzName || (list[0].Problem == "") != (err == nil) {
			t.Fatalf("List: %+v, %v (ReadManifest: %v)", list, lerr, err)
		}
		if err != nil {
			if !strings.Contains(err.Error(), mpath) {
				t.Fatalf("ReadManifest's error does not name the manifest: %v", err)
			}
			return
		}
		once, err := json.Marshal(m)
		if err != nil {
			return // a time past year 9999 (an offset can take it there) does not write back
		}
		var again Manifest
		if err := json.Unmarshal(once, &again); err != nil {
			t.Fatalf("the manifest %s, written back, does not read: %v", once, err)
		}
		if twice, _ := json.Marshal(again); !bytes.Equal(once, twice) {
			t.Fatalf("manifest round trip:\n%s\n%s", once, twice)
		}
	})
}

// FuzzTimeOf: a file name is a backup's or manifest's only when it reads
// as caido-cloud-<UTC time><ext>; the time then comes back from the name
// made of it (the name's whole seconds), whichever extension.
func FuzzTimeOf(f *testing.F) {
	for _, s := range []string{
		fuzzName, manifestName(fuzzName), "caido-cloud-20300102T150405Z", "caido-cloud-20300102T150405Z.backup.tmp",
		".caido-cloud-20300102T150405Z.123.tmp", "caido-cloud-20300102T150405.5Z.backup", "caido-cloud-2030010T150405Z.backup",
		"caido-cloud-20301302T150405Z.backup", "caido-cloud-.backup", "caido-cloud-20300102T150405Z.manifest.json.backup",
		"other-20300102T150405Z.backup", "", "caido-cloud-20300102T150405Z\x00.backup",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		at, ok := timeOf(name)
		if !ok {
			if !at.IsZero() {
				t.Fatalf("timeOf(%q) = %v, false", name, at)
			}
			return
		}
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, backupExt) && !strings.HasSuffix(name, manifestExt) {
			t.Fatalf("timeOf(%q) = %v: not a backup's name", name, at)
		}
		if at.Location() != time.UTC {
			t.Fatalf("timeOf(%q) = %v: not UTC", name, at)
		}
		made := prefix + at.Format(nameTime)
		for _, n := range []string{made + backupExt, manifestName(made + backupExt)} {
			if back, ok := timeOf(n); !ok || !back.Equal(at.Truncate(time.Second)) {
				t.Fatalf("timeOf(%q) = %v, but timeOf(%q) = %v, %v", name, at, n, back, ok)
			}
		}
	})
}

// FuzzVerify: a backup file is untrusted. Whatever its bytes, restore's
// check refuses it with ErrCorrupt (after checking it against the size and
// SHA-256 a manifest would record) unless it is a backup this keyset made
// under this name, which then decrypts to what was written.
func FuzzVerify(f *testing.F) {
	h, err := keyset.NewHandle(streamingaead.AES256GCMHKDF4KBKeyTemplate())
	if err != nil {
		f.Fatal(err)
	}
	aead, _, err := primitive(h)
	if err != nil {
		f.Fatal(err)
	}
	encrypt := func(name string, sql []byte, gz bool) []byte {
		var buf bytes.Buffer
		enc, err := aead.NewEncryptingWriter(&buf, associatedData(name))
		if err != nil {
			f.Fatal(err)
		}
		if gz {
			w := gzip.NewWriter(enc)
			_, _ = w.Write(sql)
			_ = w.Close()
		} else {
			_, _ = enc.Write(sql)
		}
		if err := enc.Close(); err != nil {
			f.Fatal(err)
		}
		return buf.Bytes()
	}
	const sql = "CREATE TABLE t (a int);\nINSERT INTO t VALUES (1);\n"
	good := encrypt(fuzzName, []byte(sql), true)
	long := encrypt(fuzzName, bytes.Repeat([]byte(sql), 500), true) // several segments
	for _, s := range [][]byte{
		good, long, long[:len(long)/2], long[:len(long)-1], append(bytes.Clone(good), 0),
		encrypt("caido-cloud-20290102T150405Z.backup", []byte(sql), true), // another name
		encrypt(fuzzName, []byte(sql), false),                             // not gzip
		encrypt(fuzzName, nil, false), {}, good[:1], bytes.Repeat([]byte{0}, 100),
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	path := filepath.Join(dir, fuzzName)
	f.Fuzz(func(t *testing.T, file []byte) {
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(file)
		m := Manifest{Format: FormatVersion, File: fuzzName, Size: int64(len(file)), SHA256: hex.EncodeToString(sum[:])}
		err := verify(path, m, aead)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("verify: %v, want ErrCorrupt", err)
			}
		} else {
			var plain []byte
			if err := decrypt(path, m, aead, func(r io.Reader) error {
				var err error
				plain, err = io.ReadAll(r)
				return err
			}); err != nil {
				t.Fatalf("verified, then: %v", err)
			}
			if !bytes.Equal(file, good) && !bytes.Equal(file, long) {
				t.Fatalf("a file this test did not make passed as a backup (%d bytes, %q…)", len(file), plain[:min(len(plain), 40)])
			}
		}
		// The manifest is checked first: one byte off in size or sum fails.
		m.Size++
		if err := verify(path, m, aead); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("verify with the wrong size: %v", err)
		}
	})
}
