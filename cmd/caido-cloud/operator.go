package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/caido-cloud/caido-cloud/app"
)

// Operator actions on people, on request (the data-collection statement's
// rights of access and erasure), and on the assistant's model table. They
// talk to the database directly; the admin listener offers the same for
// scripts that cannot run the binary.

func emailFlag(email *string) func(*flag.FlagSet) {
	return func(fs *flag.FlagSet) { fs.StringVar(email, "email", "", "the user's email address") }
}

// showUser prints the user and their teams as JSON.
func showUser(ctx context.Context, args []string) error {
	var email string
	return withApp(ctx, "user show", args, dbSettings, emailFlag(&email), func(a *app.App) error {
		if email == "" {
			return fmt.Errorf("--email is required: %w", errUsage)
		}
		acct, err := a.Access.AccountByEmail(ctx, email)
		if err != nil {
			return err
		}
		teams, err := a.Access.Memberships(ctx, acct.ID)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"user": acct, "teams": teams})
	})
}

// exportUser prints everything kept about the user, as the settings page's
// download does.
func exportUser(ctx context.Context, args []string) error {
	var email string
	return withApp(ctx, "user export", args, dbSettings, emailFlag(&email), func(a *app.App) error {
		if email == "" {
			return fmt.Errorf("--email is required: %w", errUsage)
		}
		acct, err := a.Access.AccountByEmail(ctx, email)
		if err != nil {
			return err
		}
		doc, err := a.Access.Export(ctx, acct.ID)
		if err != nil {
			return err
		}
		_, err = fmt.Println(string(doc))
		return err
	})
}

// deleteUser deletes an account and what goes with it (access.DeleteAccount).
// --yes is required, so that a mistyped address in a script is not final.
func deleteUser(ctx context.Context, args []string) error {
	var email string
	var yes bool
	flags := func(fs *flag.FlagSet) {
		emailFlag(&email)(fs)
		fs.BoolVar(&yes, "yes", false, "really delete (it cannot be undone)")
	}
	return withApp(ctx, "user delete", args, dbSettings, flags, func(a *app.App) error {
		if email == "" || !yes {
			return fmt.Errorf("--email and --yes are required (deletion cannot be undone): %w", errUsage)
		}
		acct, err := a.Access.AccountByEmail(ctx, email)
		if err != nil {
			return err
		}
		ch, err := a.Access.DeleteAccount(ctx, acct.ID)
		if err != nil {
			return err
		}
		if ch.Pending {
			fmt.Fprintln(os.Stderr, "caido-cloud: the tuples' removal is not yet in OpenFGA; the running server's outbox will apply it")
		}
		fmt.Println("deleted", acct.ID)
		return nil
	})
}

// setModel adds or changes a row of the assistant's model table.
func setModel(ctx context.Context, args []string) error {
	var id, name, upstream string
	var credit int64
	var maxOutput int
	var disabled bool
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "the id instances send (letters, digits, . _ : -)")
		fs.StringVar(&name, "name", "", "the name instances show")
		fs.StringVar(&upstream, "upstream", "", "the model name the OpenAI-compatible upstream knows")
		fs.Int64Var(&credit, "token-credit", 1, "credits per token, prompt and completion alike")
		fs.IntVar(&maxOutput, "max-output-tokens", 4096, "the most completion tokens one call may produce")
		fs.BoolVar(&disabled, "disabled", false, "keep the row but refuse the model")
	}
	return withApp(ctx, "model set", args, dbSettings, flags, func(a *app.App) error {
		if id == "" || name == "" || upstream == "" {
			return fmt.Errorf("--id, --name and --upstream are required: %w", errUsage)
		}
		_, err := a.DB.Exec(ctx, `INSERT INTO assistant_models (id, name, upstream_model, token_credit, max_output_tokens, enabled)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (id) DO UPDATE SET name = $2, upstream_model = $3, token_credit = $4, max_output_tokens = $5, enabled = $6, updated_at = now()`,
			id, name, upstream, credit, maxOutput, !disabled)
		if err != nil && strings.Contains(err.Error(), "check constraint") {
			return fmt.Errorf("refused: the id must be 1 to 100 of letters, digits, . _ : -, and the credit and max output tokens positive: %w", errUsage)
		}
		return err
	})
}
