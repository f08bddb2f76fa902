package devstack

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Options say where a stack lives and which ports it takes.
type Options struct {
	// DataDir holds the cluster, the generated secrets and the logs.
	DataDir    string
	OpenFGABin string
	// Ports; 0 picks a free one.
	PostgresPort, OpenFGAHTTPPort, OpenFGAGRPCPort int
	// Throwaway is for test stacks: faster, not crash-safe.
	Throwaway bool
}

// Stack is a running PostgreSQL and OpenFGA.
type Stack struct {
	Postgres *Postgres
	OpenFGA  *OpenFGA
}

// Database is the name of our database in the stack's cluster.
const Database = "caido_cloud"

// Start brings up PostgreSQL, then OpenFGA on it (after `openfga migrate`).
// On error, whatever it started is stopped again.
func Start(ctx context.Context, opts Options, log *slog.Logger) (_ *Stack, err error) {
	binDir, err := FindPostgres(log)
	if err != nil {
		return nil, err
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	logDir := filepath.Join(dataDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	for _, port := range []*int{&opts.PostgresPort, &opts.OpenFGAHTTPPort, &opts.OpenFGAGRPCPort} {
		if *port == 0 {
			if *port, err = FreePort(); err != nil {
				return nil, err
			}
		}
	}
	pgPassword, err := secret(dataDir, "postgres.password")
	if err != nil {
		return nil, err
	}
	fgaKey, err := secret(dataDir, "openfga.key")
	if err != nil {
		return nil, err
	}
	s := &Stack{}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Stop())
		}
	}()

	s.Postgres = &Postgres{
		BinDir: binDir, DataDir: clusterDir(dataDir, log), Port: opts.PostgresPort,
		Password: pgPassword, LogPath: filepath.Join(logDir, "postgres.log"), Throwaway: opts.Throwaway,
	}
	if err := s.Postgres.Start(ctx); err != nil {
		return s, err
	}
	for _, db := range []string{Database, "openfga"} {
		if err := s.Postgres.CreateDatabase(ctx, db); err != nil {
			return s, fmt.Errorf("create database %s: %w", db, err)
		}
	}
	fga := &OpenFGA{
		Bin:          opts.OpenFGABin,
		DatastoreURI: s.Postgres.URL("openfga"),
		HTTPAddr:     "127.0.0.1:" + strconv.Itoa(opts.OpenFGAHTTPPort),
		GRPCAddr:     "127.0.0.1:" + strconv.Itoa(opts.OpenFGAGRPCPort),
		PresharedKey: fgaKey,
		LogPath:      filepath.Join(logDir, "openfga.log"),
	}
	if err := fga.Migrate(ctx); err != nil {
		return s, err
	}
	if err := fga.Start(ctx); err != nil {
		return s, err
	}
	s.OpenFGA = fga
	return s, nil
}

// DatabaseURL is our database's connection string.
func (s *Stack) DatabaseURL() string { return s.Postgres.URL(Database) }

// Stop stops OpenFGA, then PostgreSQL.
func (s *Stack) Stop() error {
	var errs []error
	if s.OpenFGA != nil {
		errs = append(errs, s.OpenFGA.Stop())
	}
	if s.Postgres != nil {
		errs = append(errs, s.Postgres.Stop())
	}
	return errors.Join(errs...)
}

// clusterDir is dataDir/postgres, unless the server user cannot reach it (a
// project under /root, run as root): then a folder of its own under
// /var/lib/caido-cloud, one per project folder.
func clusterDir(dataDir string, log *slog.Logger) string {
	dir := filepath.Join(dataDir, "postgres")
	if Reachable(dataDir) {
		return dir
	}
	sum := sha256.Sum256([]byte(dataDir))
	alt := filepath.Join("/var/lib/caido-cloud", hex.EncodeToString(sum[:6]), "postgres")
	_ = os.MkdirAll(filepath.Dir(alt), 0o755)
	log.Info("the postgres user cannot enter the data folder; the cluster lives elsewhere", "data_dir", dataDir, "cluster", alt)
	return alt
}

// secret returns the random value kept in dir/name, creating it on first use.
func secret(dir, name string) (string, error) {
	path := filepath.Join(dir, name)
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	v := hex.EncodeToString(b)
	return v, os.WriteFile(path, []byte(v+"\n"), 0o600)
}
