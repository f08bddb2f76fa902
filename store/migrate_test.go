package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/store"
	"go.opentelemetry.io/otel/trace/noop"
)

func TestMigrateFromEmptyToHeadOnce(t *testing.T) {
	ctx := context.Background()
	pool, err := store.Open(ctx, testenv.NewDatabase(t), noop.NewTracerProvider())
	testenv.Must(t, err)
	t.Cleanup(pool.Close)

	pending, err := store.PendingMigrations(ctx, pool)
	testenv.Must(t, err)
	if len(pending) < 1 {
		t.Fatalf("empty database: pending %v, want every migration", pending)
	}
	applied, err := store.Migrate(ctx, pool)
	testenv.Must(t, err)
	if strings.Join(applied, ",") != strings.Join(pending, ",") {
		t.Fatalf("applied %v, want %v", applied, pending)
	}
	after, err := store.PendingMigrations(ctx, pool)
	testenv.Must(t, err)
	if len(after) != 0 {
		t.Fatalf("after migrate: %v still pending", after)
	}
	again, err := store.Migrate(ctx, pool)
	testenv.Must(t, err)
	if len(again) != 0 {
		t.Fatalf("a second migrate applied %v", again)
	}
}

// TestConcurrentMigrationsApplyOnce: replicas starting together take turns
// on the advisory lock; each migration is applied exactly once.
func TestConcurrentMigrationsApplyOnce(t *testing.T) {
	ctx := context.Background()
	url := testenv.NewDatabase(t)
	errs := make(chan error, 4)
	total := make(chan int, 4)
	for range 4 {
		go func() {
			pool, err := store.Open(ctx, url, noop.NewTracerProvider())
			if err != nil {
				errs <- err
				return
			}
			defer pool.Close()
			applied, err := store.Migrate(ctx, pool)
			total <- len(applied)
			errs <- err
		}()
	}
	sum := 0
	for range 4 {
		testenv.Must(t, <-errs)
	}
	for range 4 {
		sum += <-total
	}
	fresh, err := store.PendingMigrations(ctx, testenv.Pool(t, testenv.NewDatabase(t)))
	testenv.Must(t, err)
	if sum != len(fresh) {
		t.Fatalf("4 concurrent migrates applied %d migrations in all, want %d", sum, len(fresh))
	}
}

func TestOpenHidesThePassword(t *testing.T) {
	_, err := store.Open(context.Background(), "postgres://u:s3cret-pw@127.0.0.1:1/db?connect_timeout=1", noop.NewTracerProvider())
	if err == nil {
		t.Fatal("connected to a closed port")
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("the error shows the password: %v", err)
	}
	_, err = store.Open(context.Background(), "postgres://u:s3cret-pw@[bad", noop.NewTracerProvider())
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("a malformed URL: %v", err)
	}
}
