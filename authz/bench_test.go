package authz_test

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// BenchmarkCheck is one permission check through OpenFGA, the cost every
// hot-path decision pays without a cache.
func BenchmarkCheck(b *testing.B) {
	a := testenv.App(b, testenv.Config(b), testenv.Options{})
	testenv.RunOutbox(b, a)
	anne := testenv.User(b, a, "anne@example.test")
	box := testenv.ClaimedInstance(b, a, anne.ID, anne.DefaultWorkspaceID, "laptop")
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		ok, err := a.Authz.Check(ctx, authz.UserObject(anne.ID), "can_use", authz.InstanceObject(box.ID))
		if err != nil || !ok {
			b.Fatalf("check: %v %v", ok, err)
		}
	}
}

// BenchmarkOutboxApply measures applying queued tuple writes to OpenFGA in
// full batches; entries/s is the outbox's drain rate after an outage.
func BenchmarkOutboxApply(b *testing.B) {
	a := testenv.App(b, testenv.Config(b), testenv.Options{NoWait: true})
	ctx := context.Background()
	const perBatch = 100
	n := 0
	for b.Loop() {
		b.StopTimer()
		testenv.Must(b, pgx.BeginFunc(ctx, a.DB, func(tx pgx.Tx) error {
			ops := make([]authz.Op, perBatch)
			for i := range ops {
				ops[i] = authz.Write(authz.Tuple{User: authz.UserObject(fmt.Sprint("u", n, "-", i)), Relation: "member", Object: authz.TeamObject("bench")})
			}
			n++
			_, err := authz.Enqueue(ctx, tx, ops...)
			return err
		}))
		b.StartTimer()
		applied, err := a.Outbox.ApplyPending(ctx)
		if err != nil || applied != perBatch {
			b.Fatalf("applied %d: %v", applied, err)
		}
	}
	b.ReportMetric(float64(n*perBatch)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkOpenFGAHealthz is the ceiling for BenchmarkCheck: the cheapest
// request to the same OpenFGA server through the same traced HTTP client.
func BenchmarkOpenFGAHealthz(b *testing.B) {
	a := testenv.App(b, testenv.Config(b), testenv.Options{NoMigrate: true})
	client := a.Telemetry.HTTPClient("openfga")
	for b.Loop() {
		resp, err := client.Get(a.Config.OpenFGAURL + "/healthz")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("healthz: %s", resp.Status)
		}
	}
}
