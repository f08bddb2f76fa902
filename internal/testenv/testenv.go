// Package testenv gives tests real dependencies: a fresh PostgreSQL database
// and a fresh OpenFGA store each, on the servers `make test` started (or the
// ones DATABASE_URL and OPENFGA_API_URL name).
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/config"
	"github.com/caido-cloud/caido-cloud/devstack"
	"github.com/caido-cloud/caido-cloud/mail/mailtest"
	"github.com/caido-cloud/caido-cloud/telemetry"
)

// Env reads a variable `make test` sets, failing the test with what to do
// when it is missing: these tests never skip.
func Env(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the tests with `make test`, which starts PostgreSQL and OpenFGA and sets it", name)
	}
	return v
}

// NewDatabase creates an empty database and returns its URL; it is dropped
// when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	base := Env(t, "DATABASE_URL")
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to DATABASE_URL: %v", err)
	}
	defer admin.Close(ctx)
	name := "test_" + randomHex(8)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer admin.Close(ctx)
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Pool opens a pool on databaseURL, closed when the test ends.
func Pool(t testing.TB, databaseURL string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Config is a complete configuration for a fresh database and the shared
// OpenFGA server; each fresh database gets its own OpenFGA store on migrate.
func Config(t testing.TB) config.Config {
	t.Helper()
	cfg, err := config.Load(func(env string) (string, bool) {
		switch env {
		case "DATABASE_URL":
			return NewDatabase(t), true
		case "OPENFGA_API_URL", "OPENFGA_API_TOKEN":
			return os.Getenv(env), true
		case "CAIDO_CLOUD_MASTER_KEY":
			return config.NewMasterKey(), true
		case "CAIDO_CLOUD_LISTEN_ADDR":
			return "127.0.0.1:0", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	Env(t, "OPENFGA_API_URL")
	// A change answers as soon as OpenFGA has it; the bound only matters
	// when the machine is slow, and a test that expects a change applied
	// must not find it "pending" because a loaded machine took over 2 s.
	cfg.AuthzWait = 20 * time.Second
	// Every test browser signs up and in from 127.0.0.1, many times in
	// one test; the tests of these limits set them low themselves. A
	// loaded machine (-race, the whole suite at once) may take longer than
	// the default wait for a password-hashing slot.
	cfg.SignUpLimit, cfg.SignedInLimit = 10_000, 10_000
	cfg.HashWait = time.Minute
	return cfg
}

// Options adjust App.
type Options struct {
	// Spans, when set, receives every span the app makes.
	Spans sdktrace.SpanProcessor
	// Log receives the app's logs; nil discards them.
	Log io.Writer
	// NoMigrate leaves the database empty.
	NoMigrate bool
	// PublicURL, when set, is the issuer instead of the served address:
	// replicas of one service share it.
	PublicURL string
	// NoWait makes changes return at once instead of waiting for an outbox
	// worker, for tests that run none and apply entries themselves.
	NoWait bool
	// Mail, when set, is the SMTP server the app sends its mail to (its
	// CAIDO_CLOUD_SMTP_* settings point there); nil: mail goes to Log.
	Mail *mailtest.Server
	// Clock, when set, is the app's clock (app.Options.Now), which the test
	// moves; nil: the real one.
	Clock *Clock
}

// App builds the whole service on cfg, migrated (schema, store, model).
func App(t testing.TB, cfg config.Config, opts Options) *app.App {
	t.Helper()
	ctx := context.Background()
	var procs []sdktrace.SpanProcessor
	if opts.Spans != nil {
		procs = append(procs, opts.Spans)
	}
	tel, err := telemetry.Setup(ctx, "test", telemetry.Options{SpanProcessors: procs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(ctx) })
	// Logs nobody reads are not formatted at all (benchmarks would
	// measure it).
	log := slog.New(slog.DiscardHandler)
	if opts.Log != nil {
		log = slog.New(slog.NewTextHandler(opts.Log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.Mail != nil {
		cfg.SMTPHost, cfg.SMTPPort, cfg.SMTPFrom = opts.Mail.Host, opts.Mail.Port, "caido-cloud <noreply@caido-cloud.test>"
	}
	var appOpts app.Options
	if opts.Clock != nil {
		appOpts.Now = opts.Clock.Now
	}
	a, err := app.New(ctx, cfg, log, tel, appOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	if opts.NoWait {
		a.Outbox.AwaitFor = time.Millisecond
	}
	if !opts.NoMigrate {
		if err := a.Migrate(ctx); err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	return a
}

// RunOutbox runs the app's outbox worker until the test ends.
func RunOutbox(t testing.TB, a *app.App) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		a.Outbox.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// OpenFGA starts a private OpenFGA server, for tests that stop and start it.
// Its datastore is a fresh database; it is stopped when the test ends.
func OpenFGA(t testing.TB) *devstack.OpenFGA {
	t.Helper()
	bin := Env(t, "OPENFGA_BIN")
	f := &devstack.OpenFGA{
		Bin:          bin,
		DatastoreURI: NewDatabase(t),
		PresharedKey: randomHex(16),
		LogPath:      filepath.Join(t.TempDir(), "openfga.log"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	pick := func() error {
		httpPort, err := devstack.FreePort()
		if err != nil {
			return err
		}
		grpcPort, err := devstack.FreePort()
		f.HTTPAddr, f.GRPCAddr = "127.0.0.1:"+itoa(httpPort), "127.0.0.1:"+itoa(grpcPort)
		return err
	}
	Must(t, pick())
	Must(t, devstack.StartRetryingPorts(true, func() error { return f.Start(ctx) }, pick))
	t.Cleanup(func() { _ = f.Stop() })
	return f
}

func itoa(n int) string { return fmt.Sprint(n) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Serve builds the app on cfg (migrated) and serves it on a loopback port,
// with that address as its public URL (the issuer), until the test ends.
func Serve(t testing.TB, cfg config.Config, opts Options) (*app.App, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.PublicURL = "http://" + ln.Addr().String()
	if opts.PublicURL != "" {
		cfg.PublicURL = opts.PublicURL
	}
	a := App(t, cfg, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return a, "http://" + ln.Addr().String()
}
