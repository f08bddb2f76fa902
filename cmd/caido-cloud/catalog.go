package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/instanceapi"
)

var dbSettings = []string{"DATABASE_URL", "OPENFGA_API_URL"}

// readJSON reads the --file flag's JSON, or stdin for "-".
func readJSON(path string) (json.RawMessage, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	body, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, err
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("%s is not JSON", path)
	}
	return body, nil
}

func fileFlag(path *string) func(*flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		fs.StringVar(path, "file", "-", "the JSON document, as the reference shows it (- for stdin)")
	}
}

func publishRelease(ctx context.Context, args []string) error {
	var path string
	return withApp(ctx, "release publish", args, dbSettings, fileFlag(&path), func(a *app.App) error {
		body, err := readJSON(path)
		if err != nil {
			return err
		}
		return instanceapi.New(a.DB).PublishRelease(ctx, body)
	})
}

func publishPackage(ctx context.Context, args []string) error {
	var path string
	return withApp(ctx, "package publish", args, dbSettings, fileFlag(&path), func(a *app.App) error {
		body, err := readJSON(path)
		if err != nil {
			return err
		}
		return instanceapi.New(a.DB).PublishPackage(ctx, body)
	})
}

// setPlan changes a user's plan, or a plan's entitlements and monthly
// credits. A plan is changed only in what the command names: no flag means
// nothing to change (a usage error), never "clear everything".
func setPlan(ctx context.Context, args []string) error {
	var email, plan, entitlements string
	var credits int64
	var given givenFlags
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the user whose plan to set")
		fs.StringVar(&plan, "plan", "", "the plan: basic, individual, team, enterprise (or another row of plans)")
		fs.StringVar(&entitlements, "entitlements", "", "with no --email: the plan's entitlements, comma-separated, replacing the current ones (\"\" for none)")
		fs.Int64Var(&credits, "monthly-credits", 0, "with no --email: the assistant credits each user of the plan gets per month")
		given.capture(fs)
	}
	return withApp(ctx, "plan set", args, dbSettings, flags, func(a *app.App) error {
		if plan == "" {
			return fmt.Errorf("--plan is required: %w", errUsage)
		}
		if email != "" {
			if given.has("entitlements") || given.has("monthly-credits") {
				return fmt.Errorf("--email sets a user's plan; --entitlements and --monthly-credits change a plan: give one or the other: %w", errUsage)
			}
			return a.Access.SetUserPlan(ctx, email, plan)
		}
		if !given.has("entitlements") && !given.has("monthly-credits") {
			return fmt.Errorf("give --email (a user's plan), or --entitlements and/or --monthly-credits (the plan's): %w", errUsage)
		}
		if credits < 0 {
			return fmt.Errorf("--monthly-credits must be 0 or more: %w", errUsage)
		}
		var change access.PlanChange
		if given.has("monthly-credits") {
			change.MonthlyCredits = &credits
		}
		if given.has("entitlements") {
			names := strings.Split(entitlements, ",")
			change.Entitlements = &names
		}
		return a.Access.ChangePlan(ctx, plan, change)
	})
}
