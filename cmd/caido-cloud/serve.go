package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net"

	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/config"
	"github.com/caido-cloud/caido-cloud/telemetry"
)

// loadConfig parses the flags of a subcommand (one per setting, plus any the
// subcommand adds with extra) and checks the settings it needs.
func loadConfig(name string, args []string, required []string, extra func(*flag.FlagSet)) (config.Config, []string, error) {
	fs := flag.NewFlagSet("caido-cloud "+name, flag.ContinueOnError)
	// The subcommand's own flags first: one named like a setting's
	// (team subscription --seats) keeps its meaning.
	if extra != nil {
		extra(fs)
	}
	load := config.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return config.Config{}, nil, err
	}
	cfg, err := load()
	// Malformed and missing settings are reported together.
	if err = errors.Join(err, cfg.Require(required...)); err != nil {
		return cfg, nil, fmt.Errorf("configuration:\n%w", err)
	}
	return cfg, fs.Args(), nil
}

// givenFlags tells which flags a command line set, once withApp has parsed
// it: commands that change a row change only what they were told to.
type givenFlags struct{ fs *flag.FlagSet }

// capture is called from the command's flag function, with its flag set.
func (g *givenFlags) capture(fs *flag.FlagSet) { g.fs = fs }

func (g *givenFlags) has(name string) bool {
	found := false
	g.fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// start builds the app from a checked configuration.
func start(ctx context.Context, cfg config.Config) (*app.App, func(), error) {
	log := cfg.Logger()
	tel, err := telemetry.Setup(ctx, version, telemetry.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry: %w", err)
	}
	a, err := app.New(ctx, cfg, log, tel, app.Options{})
	if err != nil {
		_ = tel.Shutdown(context.WithoutCancel(ctx))
		return nil, nil, err
	}
	return a, func() {
		a.Close()
		_ = tel.Shutdown(context.WithoutCancel(ctx))
	}, nil
}

// withApp loads the configuration of subcommand name, builds the app, runs
// fn with it, and releases it.
func withApp(ctx context.Context, name string, args, required []string, extra func(*flag.FlagSet), fn func(*app.App) error) error {
	cfg, _, err := loadConfig(name, args, required, extra)
	if err != nil {
		return err
	}
	a, done, err := start(ctx, cfg)
	if err != nil {
		return err
	}
	defer done()
	return fn(a)
}

func serve(ctx context.Context, args []string) error {
	return withApp(ctx, "serve", args, []string{"DATABASE_URL", "OPENFGA_API_URL", "CAIDO_CLOUD_MASTER_KEY"}, nil, func(a *app.App) error {
		if err := a.Config.SecureIssuer(); err != nil {
			return err
		}
		ln, err := net.Listen("tcp", a.Config.ListenAddr)
		if err != nil {
			return err
		}
		admin, err := adminListener(a)
		if err != nil {
			ln.Close()
			return err
		}
		a.Log.Info("serving", "addr", ln.Addr().String(), "public_url", a.Config.PublicURL, "tls", a.Config.TLSCertFile != "", "version", version)
		return a.Serve(ctx, ln, admin...)
	})
}

func migrate(ctx context.Context, args []string) error {
	return withApp(ctx, "migrate", args, []string{"DATABASE_URL", "OPENFGA_API_URL"}, nil, func(a *app.App) error {
		return a.Migrate(ctx)
	})
}

func reconcile(ctx context.Context, args []string) error {
	var dryRun *bool
	flags := func(fs *flag.FlagSet) {
		dryRun = fs.Bool("dry-run", false, "report the differences without fixing them")
	}
	return withApp(ctx, "fga reconcile", args, []string{"DATABASE_URL", "OPENFGA_API_URL"}, flags, func(a *app.App) error {
		report, err := a.Reconcile(ctx, *dryRun)
		return printReconcile(report, *dryRun, err)
	})
}

// printReconcile lists every tuple reconcile fixed (or would fix), then a
// count line.
func printReconcile(report authz.ReconcileReport, dryRun bool, err error) error {
	verb := ""
	if dryRun {
		verb = "would be "
	}
	for _, t := range report.Written {
		fmt.Printf("%swritten  %s\n", verb, t)
	}
	for _, t := range report.Deleted {
		fmt.Printf("%sdeleted  %s\n", verb, t)
	}
	if err != nil {
		return err
	}
	fmt.Printf("reconcile: %d %swritten, %d %sdeleted\n", len(report.Written), verb, len(report.Deleted), verb)
	return nil
}

func masterKey(_ context.Context, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("keys master takes no arguments: %w", errUsage)
	}
	fmt.Println(config.NewMasterKey())
	return nil
}

func encodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// adminListener opens the operator-only listener when one is configured.
func adminListener(a *app.App) ([]net.Listener, error) {
	if a.Config.AdminListenAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", a.Config.AdminListenAddr)
	if err != nil {
		return nil, fmt.Errorf("admin listener (CAIDO_CLOUD_ADMIN_LISTEN_ADDR, `none` turns it off): %w", err)
	}
	a.Log.Info("operator listener", "addr", ln.Addr().String(), "admin_api", a.Config.AdminToken != "")
	return []net.Listener{ln}, nil
}
