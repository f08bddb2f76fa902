package backup

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Restore loads the backup at path into the database at databaseURL.
//
// It refuses a database that has any table in schema public, unless force,
// which replaces the schema's contents. Before touching the database it
// checks the file against its manifest's checksum and decrypts it once to
// the end: a damaged file, one renamed or swapped, or the wrong keyset fail
// with ErrCorrupt and change nothing. Then it decrypts again into psql, in
// one transaction that is committed only once the whole stream has
// decrypted and every statement succeeded; any failure leaves the database
// as it was.
//
// Afterwards OpenFGA's tuples must be rebuilt: `caido-cloud migrate`, then
// `caido-cloud fga reconcile` (see OpenFGANote).
func Restore(ctx context.Context, path, databaseURL string, ks *keyset.Handle, force bool) (Manifest, error) {
	aead, _, err := primitive(ks)
	if err != nil {
		return Manifest{}, err
	}
	conn, err := parseConn(databaseURL)
	if err != nil {
		return Manifest{}, err
	}
	psql, err := tool("psql")
	if err != nil {
		return Manifest{}, err
	}
	m, err := ReadManifest(path)
	if err != nil {
		return Manifest{}, err
	}
	name := filepath.Base(path)
	if m.File != name {
		// The name is authenticated; a renamed file would fail to decrypt.
		return m, fmt.Errorf("%w: %s was renamed (its manifest names %s); put the original name back", ErrCorrupt, name, m.File)
	}
	if m.Format != FormatVersion {
		return m, fmt.Errorf("%s is backup format %d; this version of caido-cloud reads format %d", name, m.Format, FormatVersion)
	}
	if !force {
		if err := ensureEmpty(ctx, databaseURL, conn); err != nil {
			return m, err
		}
	}
	if err := verify(path, m, aead); err != nil {
		return m, err
	}
	return m, load(ctx, path, m, aead, conn, psql, force)
}

// ensureEmpty refuses a database with any relation in schema public: a
// restore on top of live data would fail halfway or mix two states.
func ensureEmpty(ctx context.Context, databaseURL string, conn connInfo) error {
	db, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %s", conn.scrub(err.Error()))
	}
	defer db.Close(context.WithoutCancel(ctx))
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')`).Scan(&n); err != nil {
		return fmt.Errorf("look at the target database: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("%w: it has %d tables, views or sequences in schema public; restore into an empty database, or pass --force to replace its contents (stop every replica first)", ErrNotEmpty, n)
	}
	return nil
}

// verify checks the file's size and SHA-256 against the manifest, then
// decrypts and decompresses it to the end without keeping anything.
func verify(path string, m Manifest, aead tink.StreamingAEAD) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	sum := sha256.New()
	n, err := io.Copy(sum, f)
	f.Close()
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if n != m.Size || hex.EncodeToString(sum.Sum(nil)) != m.SHA256 {
		return fmt.Errorf("%w: %s does not match the size and SHA-256 in its manifest", ErrCorrupt, m.File)
	}
	return decrypt(path, m, aead, func(r io.Reader) error {
		_, err := io.Copy(io.Discard, r)
		return err
	})
}

// decrypt streams the plain SQL of the backup at path to fn. Every error
// of the decryption or decompression is ErrCorrupt; errors reading the
// file are themselves.
func decrypt(path string, m Manifest, aead tink.StreamingAEAD, fn func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	src := &readErr{r: f}
	dec, err := aead.NewDecryptingReader(src, associatedData(m.File))
	if err != nil {
		return fmt.Errorf("decrypt: %w", err)
	}
	return fn(&plaintext{src: src, dec: dec, name: m.File})
}

// plaintext is the decrypted, decompressed stream, which names what failed.
type plaintext struct {
	src  *readErr
	dec  io.Reader
	gz   *gzip.Reader
	name string
}

func (p *plaintext) Read(b []byte) (int, error) {
	var err error
	if p.gz == nil {
		p.gz, err = gzip.NewReader(p.dec)
		if err == io.EOF {
			// Not even a gzip header: an empty stream is no backup.
			err = errors.New("no gzip data")
		}
	}
	n := 0
	if err == nil {
		n, err = p.gz.Read(b)
	}
	if err == nil || err == io.EOF {
		return n, err
	}
	if p.src.err != nil {
		return n, fmt.Errorf("read %s: %w", p.name, p.src.err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) && p.src.eof {
		return n, fmt.Errorf("%w: %s is truncated", ErrCorrupt, p.name)
	}
	return n, fmt.Errorf("%w: %s: %v", ErrCorrupt, p.name, err)
}

// readErr remembers the file's own errors, to tell them from the
// decryption's.
type readErr struct {
	r   io.Reader
	err error
	eof bool
}

func (r *readErr) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if err == io.EOF {
		r.eof = true
	} else if err != nil {
		r.err = err
	}
	return n, err
}

// load runs the dump through psql inside a transaction this code opens and
// commits itself, rather than psql --single-transaction: psql commits that
// one at the end of its input, and a stream cut short by a decryption
// failure would end the input early. Here COMMIT is written only after the
// last byte has decrypted; on any failure psql is killed first, so the
// server rolls the transaction back.
func load(ctx context.Context, path string, m Manifest, aead tink.StreamingAEAD, conn connInfo, psql string, force bool) error {
	cmd := conn.command(ctx, psql, "--no-psqlrc", "--no-password", "--quiet", "--set=ON_ERROR_STOP=1", "--file=-")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	cmd.Stdout = io.Discard
	stderr := &tail{max: 4096}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start psql: %w", err)
	}
	head := "BEGIN;\n"
	if force {
		// Inside the transaction: the old contents go only if the new ones
		// arrive whole. pg_dump does not create schema public, so it is
		// recreated as a new database has it.
		head += "DROP SCHEMA public CASCADE;\nCREATE SCHEMA public AUTHORIZATION pg_database_owner;\nGRANT USAGE ON SCHEMA public TO PUBLIC;\n"
	}
	in := &writeErr{w: stdin}
	var corrupt error
	_, werr := io.WriteString(in, head)
	if werr == nil {
		werr = decrypt(path, m, aead, func(r io.Reader) error {
			_, err := io.Copy(in, r)
			return err
		})
		if errors.Is(werr, ErrCorrupt) {
			corrupt, werr = werr, nil
		}
	}
	if corrupt == nil && werr == nil {
		_, werr = io.WriteString(in, "\nCOMMIT;\n")
	}
	// An error that is not psql's (it stopped reading): the backup failed.
	readFailed := werr != nil && in.err == nil
	if corrupt != nil || readFailed {
		_ = cmd.Process.Kill()
	}
	stdin.Close()
	waitErr := cmd.Wait()
	switch {
	case corrupt != nil:
		return fmt.Errorf("%w; nothing was restored", corrupt)
	case readFailed:
		return fmt.Errorf("restore failed and was rolled back: %w", werr)
	case waitErr != nil:
		// psql stopped at a failing statement (werr is then the broken pipe
		// that followed); the transaction died with it.
		return fmt.Errorf("restore failed and was rolled back: %w", conn.failure(psql, waitErr, stderr))
	case werr != nil:
		return fmt.Errorf("restore failed and was rolled back: %w", werr)
	}
	return nil
}

// writeErr remembers the errors of writing to psql, to tell them from the
// backup's.
type writeErr struct {
	w   io.Writer
	err error
}

func (w *writeErr) Write(b []byte) (int, error) {
	n, err := w.w.Write(b)
	if err != nil {
		w.err = err
	}
	return n, err
}
