package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/regkeys"
)

// createRegKey makes a registration key for a workspace the user manages
// (their Default workspace unless --workspace says otherwise) and prints it.
func createRegKey(ctx context.Context, args []string) error {
	var email, workspace, prefix, description string
	var reusable bool
	var expiresIn time.Duration
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the user creating the key (must manage the workspace)")
		fs.StringVar(&workspace, "workspace", "", "the workspace id (default: the user's Default workspace)")
		fs.StringVar(&prefix, "prefix", "", "instances registered with the key are named PREFIX-xxxxxxxx")
		fs.StringVar(&description, "description", "", "what the key is for")
		fs.BoolVar(&reusable, "reusable", false, "let the key register any number of instances (default: one)")
		fs.DurationVar(&expiresIn, "expires-in", 0, "how long the key stays valid (default: until revoked)")
	}
	return withApp(ctx, "regkey create", args, identitySettings, flags, func(a *app.App) error {
		if email == "" || prefix == "" {
			return fmt.Errorf("--email and --prefix are required: %w", errUsage)
		}
		user, err := a.Access.AccountByEmail(ctx, email)
		if err != nil {
			return fmt.Errorf("no user with email %s", email)
		}
		// workspace "" is the user's Default one.
		n := regkeys.NewKey{WorkspaceID: workspace, CreatedBy: user.ID, Description: description, NamePrefix: prefix, Reusable: reusable}
		if expiresIn > 0 {
			at := time.Now().Add(expiresIn)
			n.ExpiresAt = &at
		}
		key, _, err := a.RegKeys.Create(ctx, n)
		if err != nil {
			return err
		}
		fmt.Println(key) // stdout only: the one time the key exists in the clear
		return nil
	})
}

func revokeRegKey(ctx context.Context, args []string) error {
	var id string
	return withApp(ctx, "regkey revoke", args, identitySettings, func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "the key's id (not the key)")
	}, func(a *app.App) error {
		if id == "" {
			return fmt.Errorf("--id is required: %w", errUsage)
		}
		return a.RegKeys.Revoke(ctx, id)
	})
}
