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
	// Ports left at 0 are picked here; a port free a moment ago may be
	// taken by the time the server binds it (other test runs pick too), so
	// a start that fails on that is retried on new ones.
	pickPG, pickFGA := opts.PostgresPort == 0, opts.OpenFGAHTTPPort == 0 && opts.OpenFGAGRPCPort == 0
	if err := pickPorts(&opts, pickPG, pickFGA); err != nil {
		return nil, err
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
	err = StartRetryingPorts(pickPG, func() error { return s.Postgres.Start(ctx) }, func() error {
		err := pickPorts(&opts, true, false)
		s.Postgres.Port = opts.PostgresPort
		return err
	})
	if err != nil {
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
	err = StartRetryingPorts(pickFGA, func() error { return fga.Start(ctx) }, func() error {
		err := pickPorts(&opts, false, true)
		fga.HTTPAddr = "127.0.0.1:" + strconv.Itoa(opts.OpenFGAHTTPPort)
		fga.GRPCAddr = "127.0.0.1:" + strconv.Itoa(opts.OpenFGAGRPCPort)
		return err
	})
	if err != nil {
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

// pickPorts sets free ports for PostgreSQL and/or OpenFGA.
func pickPorts(opts *Options, postgres, openfga bool) error {
	var ports []*int
	if postgres {
		ports = append(ports, &opts.PostgresPort)
	}
	if openfga {
		ports = append(ports, &opts.OpenFGAHTTPPort, &opts.OpenFGAGRPCPort)
	}
	for _, port := range ports {
		p, err := FreePort()
		if err != nil {
			return err
		}
		*port = p
	}
	return nil
}

// StartRetryingPorts runs start. When it fails because a port picked for it
// (picked) was taken by someone else between the pick and the bind, repick
// chooses new ports and start runs again, three times in all.
func StartRetryingPorts(picked bool, start, repick func() error) error {
	for attempt := 1; ; attempt++ {
		err := start()
		if err == nil || !picked || attempt == 3 || !portTaken(err) {
			return err
		}
		if err := repick(); err != nil {
			return err
		}
	}
}

// portTaken reports whether a server failed because its port was in use
// (its log's end is in the error).
func portTaken(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "address already in use") || strings.Contains(msg, "could not bind")
}
