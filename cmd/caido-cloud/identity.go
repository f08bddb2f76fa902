package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/oidc/signing"
)

var identitySettings = []string{"DATABASE_URL", "OPENFGA_API_URL", "CAIDO_CLOUD_MASTER_KEY"}

// rotateKeys schedules new signing keys, published in the JWKS ahead of
// signing (signing.PublishAhead), so that no verifier that caches the JWKS
// meets an unknown kid; --now switches at once, for a key thought
// compromised, and says what that costs.
func rotateKeys(ctx context.Context, args []string) error {
	var now *bool
	flags := func(fs *flag.FlagSet) {
		now = fs.Bool("now", false, "sign with the new keys at once (a compromised key): clients caching the JWKS may reject new tokens for up to its max-age")
	}
	return withApp(ctx, "keys rotate", args, identitySettings, flags, func(a *app.App) error {
		rotated, err := a.Keys.RotateAll(ctx, *now)
		if err != nil {
			return err
		}
		for _, alg := range slices.Sorted(maps.Keys(rotated)) {
			r := rotated[alg]
			if *now {
				fmt.Printf("%s: new key %s, signing now\n", alg, r.KID)
			} else {
				fmt.Printf("%s: new key %s, published now, signing from %s\n", alg, r.KID, r.SignsFrom.UTC().Format(time.RFC3339))
			}
		}
		if *now {
			fmt.Fprintln(os.Stderr, "warning: "+signing.RotateNowWarning)
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
