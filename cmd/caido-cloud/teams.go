package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/app"
)

// The operator's team and billing commands: a team for an existing user,
// a team's subscription (seats), and voucher codes for individual plans.
// Billing happens elsewhere; these record its outcome.

// createTeam creates a team owned by an existing user, with its Default
// workspace; it prints the team's id.
func createTeam(ctx context.Context, args []string) error {
	var ownerEmail, name, billingEmail string
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&ownerEmail, "owner-email", "", "the email of the user who owns the team (an existing account)")
		fs.StringVar(&name, "name", "", "the team's name")
		fs.StringVar(&billingEmail, "billing-email", "", "where the team's invoices go")
	}
	return withApp(ctx, "team create", args, dbSettings, flags, func(a *app.App) error {
		if ownerEmail == "" || name == "" || billingEmail == "" {
			return fmt.Errorf("--owner-email, --name and --billing-email are required: %w", errUsage)
		}
		owner, err := a.Access.AccountByEmail(ctx, strings.TrimSpace(ownerEmail))
		if errors.Is(err, access.ErrNotFound) {
			return fmt.Errorf("no user with email %s", ownerEmail)
		}
		if err != nil {
			return err
		}
		t, ch, err := a.Access.CreateTeam(ctx, owner.ID, name, billingEmail)
		if err != nil {
			return err
		}
		if ch.Pending {
			fmt.Fprintln(os.Stderr, "caido-cloud: the team is not yet in OpenFGA; the running server's outbox will apply it")
		}
		fmt.Println(t.ID)
		return nil
	})
}

// setTeamSubscription creates or replaces a team's subscription.
func setTeamSubscription(ctx context.Context, args []string) error {
	var teamID, plan, endsAt string
	var seats int
	var trial bool
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&teamID, "team", "", "the team's id")
		fs.StringVar(&plan, "plan", "", "the plan (e.g. team)")
		fs.IntVar(&seats, "seats", -1, "how many members may use a seat")
		fs.BoolVar(&trial, "trial", false, "the subscription is a trial")
		fs.StringVar(&endsAt, "ends-at", "", "when it ends, RFC 3339 (e.g. 2030-01-31T00:00:00Z; default: it does not)")
	}
	return withApp(ctx, "team subscription", args, dbSettings, flags, func(a *app.App) error {
		if teamID == "" || plan == "" || seats < 0 {
			return fmt.Errorf("--team, --plan and --seats (0 or more) are required: %w", errUsage)
		}
		var ends *time.Time
		if endsAt != "" {
			at, err := time.Parse(time.RFC3339, endsAt)
			if err != nil {
				return fmt.Errorf("--ends-at must be an RFC 3339 time such as 2030-01-31T00:00:00Z: %w", errUsage)
			}
			ends = &at
		}
		sub, err := a.Access.SetTeamSubscription(ctx, teamID, plan, seats, trial, ends)
		if err != nil {
			return err
		}
		until := "no end"
		if sub.EndsAt != nil {
			until = "ends " + sub.EndsAt.UTC().Format(time.RFC3339)
		}
		kind := ""
		if sub.Trial {
			kind = " (trial)"
		}
		fmt.Printf("team %s: plan %s%s, %d seats, %d in use, %s\n", teamID, sub.Plan, kind, sub.Seats, sub.SeatsUsed, until)
		return nil
	})
}

// createVoucher makes a voucher code for an individual plan and prints only
// the code: the one time it exists in the clear.
func createVoucher(ctx context.Context, args []string) error {
	var plan string
	var days, claims int
	var expiresIn time.Duration
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&plan, "plan", "", "the plan the code gives (e.g. individual)")
		fs.IntVar(&days, "days", 0, "for how many days from the claim")
		fs.IntVar(&claims, "claims", 1, "how many people may claim it")
		fs.DurationVar(&expiresIn, "expires-in", 0, "how long the code may be claimed, e.g. 720h (default: until used up)")
	}
	return withApp(ctx, "voucher create", args, dbSettings, flags, func(a *app.App) error {
		if plan == "" || days <= 0 || claims <= 0 || expiresIn < 0 {
			return fmt.Errorf("--plan and --days (positive) are required; --claims must be positive and --expires-in not negative: %w", errUsage)
		}
		var expires *time.Time
		if expiresIn > 0 {
			at := time.Now().Add(expiresIn)
			expires = &at
		}
		code, err := a.Access.CreateVoucher(ctx, plan, days, claims, expires)
		if err != nil {
			return err
		}
		fmt.Println(code) // stdout only, for the operator to hand over
		return nil
	})
}
