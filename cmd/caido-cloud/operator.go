package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/caido-cloud/caido-cloud/assistant"

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
	var given givenFlags
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "the id instances send (letters, digits, . _ : -)")
		fs.StringVar(&name, "name", "", "the name instances show (required for a new model)")
		fs.StringVar(&upstream, "upstream", "", "the model name the OpenAI-compatible upstream knows (required for a new model)")
		fs.Int64Var(&credit, "token-credit", 1, "credits per token, prompt and completion alike")
		fs.IntVar(&maxOutput, "max-output-tokens", 4096, "the most completion tokens one call may produce")
		fs.BoolVar(&disabled, "disabled", false, "keep the row but refuse the model (--disabled=false enables it again)")
		given.capture(fs)
	}
	return withApp(ctx, "model set", args, dbSettings, flags, func(a *app.App) error {
		if id == "" {
			return fmt.Errorf("--id is required: %w", errUsage)
		}
		// A change touches only the fields named, so that renaming a model
		// does not reset its price or enable it again; a new model takes the
		// defaults for what is not named.
		if given.has("name") && strings.TrimSpace(name) == "" || given.has("upstream") && strings.TrimSpace(upstream) == "" {
			return fmt.Errorf("--name and --upstream may not be empty: %w", errUsage)
		}
		change := assistant.ModelChange{ID: id}
		if given.has("name") {
			change.Name = &name
		}
		if given.has("upstream") {
			change.UpstreamModel = &upstream
		}
		if given.has("token-credit") {
			change.TokenCredit = &credit
		}
		if given.has("max-output-tokens") {
			change.MaxOutputTokens = &maxOutput
		}
		if given.has("disabled") {
			enabled := !disabled
			change.Enabled = &enabled
		}
		err := a.Assistant.SetModel(ctx, change)
		switch {
		case errors.Is(err, assistant.ErrNewModelIncomplete):
			return fmt.Errorf("no model %q yet: --name and --upstream are required to add it: %w", id, errUsage)
		case errors.Is(err, assistant.ErrInvalidRequest):
			return fmt.Errorf("refused: %v: %w", err, errUsage)
		}
		return err
	})
}
