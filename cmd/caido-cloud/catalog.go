package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"

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
		var known bool
		if err := a.DB.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM plans WHERE name = $1)`, plan).Scan(&known); err != nil {
			return err
		}
		if !known {
			return fmt.Errorf("no plan %q (see the plans table: basic, individual, team, enterprise by default)", plan)
		}
		if email != "" {
			if given.has("entitlements") || given.has("monthly-credits") {
				return fmt.Errorf("--email sets a user's plan; --entitlements and --monthly-credits change a plan: give one or the other: %w", errUsage)
			}
			tag, err := a.DB.Exec(ctx, `UPDATE users SET plan = $2 WHERE lower(email) = lower($1)`, email, plan)
			if err != nil {
				return fmt.Errorf("set plan: %w", err)
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("no user with email %s", email)
			}
			return nil
		}
		if !given.has("entitlements") && !given.has("monthly-credits") {
			return fmt.Errorf("give --email (a user's plan), or --entitlements and/or --monthly-credits (the plan's): %w", errUsage)
		}
		if credits < 0 {
			return fmt.Errorf("--monthly-credits must be 0 or more: %w", errUsage)
		}
		return pgx.BeginFunc(ctx, a.DB, func(tx pgx.Tx) error {
			if given.has("monthly-credits") {
				if _, err := tx.Exec(ctx, `UPDATE plans SET monthly_credits = $2 WHERE name = $1`, plan, credits); err != nil {
					return fmt.Errorf("set monthly credits: %w", err)
				}
			}
			if !given.has("entitlements") {
				return nil
			}
			var names []string
			for _, e := range strings.Split(entitlements, ",") {
				if e = strings.TrimSpace(e); e != "" {
					names = append(names, e)
				}
			}
			if _, err := tx.Exec(ctx, `DELETE FROM plan_entitlements WHERE plan = $1`, plan); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO plan_entitlements (plan, entitlement) SELECT $1, unnest($2::text[])`, plan, names); err != nil {
				return fmt.Errorf("set entitlements: %w", err)
			}
			return nil
		})
	})
}
