package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/caido-cloud/caido-cloud/config"
	"github.com/caido-cloud/caido-cloud/devstack"
)

// devFlags are the flags of the dev commands beyond the settings.
type devFlags struct {
	openfgaBin                       *string
	exitWithParent                   *bool
	pgPort, fgaHTTPPort, fgaGRPCPort *int
}

func addDevFlags(fs *flag.FlagSet, ports bool) *devFlags {
	d := &devFlags{
		openfgaBin:     fs.String("openfga-bin", os.Getenv("OPENFGA_BIN"), "the pinned OpenFGA binary (`make openfga` builds it)"),
		exitWithParent: fs.Bool("exit-with-parent", false, "stop everything when the parent process (make) dies"),
	}
	if ports {
		d.pgPort = fs.Int("postgres-port", 54329, "loopback port of the private PostgreSQL (0: a free one)")
		d.fgaHTTPPort = fs.Int("openfga-http-port", 18081, "loopback port of OpenFGA's HTTP API (0: a free one)")
		d.fgaGRPCPort = fs.Int("openfga-grpc-port", 18082, "loopback port of OpenFGA's gRPC API (0: a free one)")
	}
	return d
}

// external reports whether the environment names the dependencies to use
// (production style), in which case nothing is started.
func external() bool {
	return os.Getenv("DATABASE_URL") != "" && os.Getenv("OPENFGA_API_URL") != ""
}

// devRun is `make run`: the whole system on this machine, nothing to
// configure, data kept in the data folder between runs.
func devRun(ctx context.Context, args []string) error {
	var d *devFlags
	cfg, _, err := loadConfig("dev run", args, nil, func(fs *flag.FlagSet) { d = addDevFlags(fs, true) })
	if err != nil {
		return err
	}
	if *d.exitWithParent {
		stopWithParent()
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	// A local.env left by a run that was killed must not be mistaken for
	// settings (config.Load reads it when DATABASE_URL is unset).
	envFile := config.LocalEnvFile(dataDir)
	_ = os.Remove(envFile)
	if os.Getenv("CAIDO_CLOUD_LOG_FORMAT") == "" {
		cfg.LogFormat = "text"
	}
	log := cfg.Logger()

	if !external() {
		stack, err := devstack.Start(ctx, devstack.Options{
			DataDir: dataDir, OpenFGABin: *d.openfgaBin,
			PostgresPort: *d.pgPort, OpenFGAHTTPPort: *d.fgaHTTPPort, OpenFGAGRPCPort: *d.fgaGRPCPort,
		}, log)
		if err != nil {
			return err
		}
		defer func() {
			if err := stack.Stop(); err != nil {
				log.Warn("stopping the local system", "error", err)
			}
		}()
		cfg.DatabaseURL = stack.DatabaseURL()
		cfg.OpenFGAURL = stack.OpenFGA.URL()
		cfg.OpenFGAToken = stack.OpenFGA.PresharedKey
		log.Info("PostgreSQL and OpenFGA are up", "logs", filepath.Join(dataDir, "logs"))
	}
	if cfg.MasterKey == nil {
		if cfg.MasterKey, err = localMasterKey(dataDir); err != nil {
			return err
		}
	}
	if err := cfg.Require("DATABASE_URL", "OPENFGA_API_URL"); err != nil {
		return err
	}

	a, done, err := start(ctx, cfg)
	if err != nil {
		return err
	}
	defer done()
	if err := a.Migrate(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return err
	}
	if err := config.WriteEnvFile(envFile, map[string]string{
		"DATABASE_URL":           cfg.DatabaseURL,
		"OPENFGA_API_URL":        cfg.OpenFGAURL,
		"OPENFGA_API_TOKEN":      cfg.OpenFGAToken,
		"CAIDO_CLOUD_MASTER_KEY": encodeKey(cfg.MasterKey),
		"CAIDO_CLOUD_PUBLIC_URL": cfg.PublicURL,
		"CAIDO_CLOUD_LOG_FORMAT": "text",
	}); err != nil {
		return err
	}
	defer os.Remove(envFile)
	admin, err := adminListener(a)
	if err != nil {
		ln.Close()
		return err
	}
	fmt.Printf("caido-cloud is up: open %s (Ctrl-C stops everything)\n", cfg.PublicURL)
	return a.Serve(ctx, ln, admin...)
}

// localMasterKey is the master key `make run` generated on its first run
// and keeps in the data folder.
func localMasterKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, "master.key")
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		raw = []byte(config.NewMasterKey())
		err = os.WriteFile(path, append(raw, '\n'), 0o600)
	}
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(func(env string) (string, bool) {
		if env == "CAIDO_CLOUD_MASTER_KEY" {
			return strings.TrimSpace(string(raw)), true
		}
		return "", env == "DATABASE_URL" // keep Load from reading local.env
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg.MasterKey, nil
}

// devExec is `make test`: it runs a command with DATABASE_URL, OPENFGA_API_URL,
// OPENFGA_API_TOKEN, OPENFGA_BIN and PG_BIN_DIR set for a throwaway
// PostgreSQL and OpenFGA, then removes them, and exits as the command did.
// With DATABASE_URL and OPENFGA_API_URL already set it starts nothing.
func devExec(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("caido-cloud dev exec", flag.ContinueOnError)
	d := addDevFlags(fs, false)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *d.exitWithParent {
		stopWithParent()
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return fmt.Errorf("dev exec needs a command after --: %w", errUsage)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	env := append(os.Environ(), "OPENFGA_BIN="+absPath(*d.openfgaBin))

	if !external() {
		dir, err := os.MkdirTemp("", "caido-cloud-test-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		// The cluster runs as the postgres user when we are root: it must be
		// able to enter the folder.
		if err := os.Chmod(dir, 0o755); err != nil {
			return err
		}
		stack, err := devstack.Start(ctx, devstack.Options{DataDir: dir, OpenFGABin: *d.openfgaBin, Throwaway: true}, log)
		if err != nil {
			return err
		}
		defer stack.Stop()
		binDir, _ := devstack.FindPostgres(log)
		env = append(env,
			"DATABASE_URL="+stack.DatabaseURL(),
			"OPENFGA_API_URL="+stack.OpenFGA.URL(),
			"OPENFGA_API_TOKEN="+stack.OpenFGA.PresharedKey,
			"PG_BIN_DIR="+binDir,
		)
		log.Info("test system up", "postgres_log", stack.Postgres.LogPath, "openfga_log", stack.OpenFGA.LogPath)
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The command shares our terminal and gets Ctrl-C itself; we only stop
	// the stack once it has exited.
	signal.Ignore(syscall.SIGINT)
	if err := cmd.Start(); err != nil {
		return err
	}
	// A SIGTERM to us (make was killed) is passed on, so the stack is
	// stopped once the command has wound down.
	stopForward := context.AfterFunc(ctx, func() { _ = cmd.Process.Signal(syscall.SIGTERM) })
	defer stopForward()
	err := cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exitCode(max(exit.ExitCode(), 1))
	}
	return err
}

func absPath(p string) string {
	if p == "" {
		return ""
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// stopWithParent asks the kernel for SIGTERM when our parent (make) dies, so
// that killing make, not only Ctrl-C in its terminal, stops the whole system.
// Opt-in: a parent that exits at once by design (a detaching shell) would
// stop us at once.
func stopWithParent() {
	const prSetPdeathsig = 1
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetPdeathsig, uintptr(syscall.SIGTERM), 0)
}
