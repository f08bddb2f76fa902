package authz_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// TestPausedOpenFGAFailsWithinTheBound: with OpenFGA paused (SIGSTOP: it
// accepts connections and never answers), a check, a batch of checks (of
// several chunks) and readiness each fail with ErrUnavailable once
// CAIDO_CLOUD_OPENFGA_TIMEOUT has passed, instead of waiting for as long as
// their caller does; once it resumes, they answer again.
func TestPausedOpenFGAFailsWithinTheBound(t *testing.T) {
	ctx := context.Background()
	fga := testenv.OpenFGA(t)
	cfg := testenv.Config(t)
	cfg.OpenFGAURL, cfg.OpenFGAToken = fga.URL(), fga.PresharedKey
	cfg.OpenFGATimeout = time.Second
	a := testenv.App(t, cfg, testenv.Options{})
	testenv.RunOutbox(t, a)
	owner := testenv.User(t, a, "owner@acme.test")
	box := testenv.ClaimedInstance(t, a, owner.ID, owner.DefaultWorkspaceID, "box")
	user, object := authz.UserObject(owner.ID), authz.InstanceObject(box.ID)
	testenv.AssertCheck(t, a, owner.ID, "can_use", object, true) // the client knows its store and model

	testenv.Must(t, fga.Signal(syscall.SIGSTOP))
	t.Cleanup(func() { _ = fga.Signal(syscall.SIGCONT) }) // before the cleanup that stops it

	// The caller's own context would wait a minute.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	items := make([]authz.CheckItem, 25) // three chunks of at most ten
	for i := range items {
		items[i] = authz.CheckItem{User: user, Relation: "can_use", Object: object}
	}
	margin := 2 * time.Second
	for name, call := range map[string]func() error{
		"Check": func() error { _, err := a.Authz.Check(ctx, user, "can_use", object); return err },
		// Each chunk has its own bound: the first one fails the batch.
		"BatchCheck": func() error { _, err := a.Authz.BatchCheck(ctx, items); return err },
		"Ready":      func() error { return a.Authz.Ready(ctx) },
	} {
		start := time.Now()
		err := call()
		took := time.Since(start)
		if !errors.Is(err, authz.ErrUnavailable) || took > cfg.OpenFGATimeout+margin {
			t.Errorf("%s with OpenFGA paused: %v after %s; want ErrUnavailable within %s", name, err, took, cfg.OpenFGATimeout+margin)
		}
	}

	testenv.Must(t, fga.Signal(syscall.SIGCONT))
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := a.Authz.BatchCheck(ctx, items)
		if err == nil && len(got) == len(items) && got[0] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("BatchCheck after OpenFGA resumed: %v %v", got, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
