package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"

	"github.com/caido-cloud/caido-cloud/app"
)

var identitySettings = []string{"DATABASE_URL", "OPENFGA_API_URL", "CAIDO_CLOUD_MASTER_KEY"}

func rotateKeys(ctx context.Context, args []string) error {
	return withApp(ctx, "keys rotate", args, identitySettings, nil, func(a *app.App) error {
		kids, err := a.Keys.RotateAll(ctx)
		if err != nil {
			return err
		}
		algs := slices.Sorted(maps.Keys(kids))
		for _, alg := range algs {
			fmt.Printf("%s: new key %s\n", alg, kids[alg])
		}
		return nil
	})
}

// clientFlag adds --client-id, which instance commands take.
func clientFlag(id *string) func(*flag.FlagSet) {
	return func(fs *flag.FlagSet) { fs.StringVar(id, "client-id", "", "the instance's OAuth client id") }
}

func resetSecret(ctx context.Context, args []string) error {
	var clientID string
	return withApp(ctx, "instance reset-secret", args, identitySettings, clientFlag(&clientID), func(a *app.App) error {
		if clientID == "" {
			return fmt.Errorf("--client-id is required: %w", errUsage)
		}
		secret, err := a.Clients.ResetSecret(ctx, clientID)
		if err != nil {
			return err
		}
		fmt.Println(secret) // stdout only, for the operator to hand to the instance
		return nil
	})
}

func deleteInstance(ctx context.Context, args []string) error {
	var clientID string
	return withApp(ctx, "instance delete", args, identitySettings, clientFlag(&clientID), func(a *app.App) error {
		if clientID == "" {
			return fmt.Errorf("--client-id is required: %w", errUsage)
		}
		c, err := a.Clients.Get(ctx, clientID)
		if err != nil {
			return err
		}
		ch, err := a.Access.DeleteInstance(ctx, c.InstanceID)
		if err != nil {
			return err
		}
		fmt.Printf("deleted instance %s (client %s)%s\n", c.InstanceID, clientID, map[bool]string{true: "; access changes still pending in OpenFGA", false: ""}[ch.Pending])
		return nil
	})
}
