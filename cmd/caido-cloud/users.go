package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/accounts"
	"github.com/caido-cloud/caido-cloud/accounts/password"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/pats"
)

// readPassword reads the password from stdin: its first line, without the
// line ending, so that `echo pw |` and a here-document both work. Nothing
// is echoed or logged.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, password.MaxLength+3)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if pw == "" {
		return "", fmt.Errorf("give the password on stdin (e.g. `caido-cloud user create … < password-file`): %w", errUsage)
	}
	return pw, nil
}

// createUser creates an account with a password, and its Default
// workspace; it prints the user's id.
func createUser(ctx context.Context, args []string) error {
	var email, name string
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the user's email address (how they sign in)")
		fs.StringVar(&name, "name", "", "the user's name")
	}
	return withApp(ctx, "user create", args, dbSettings, flags, func(a *app.App) error {
		if email == "" || name == "" {
			return fmt.Errorf("--email and --name are required (the password comes on stdin): %w", errUsage)
		}
		pw, err := readPassword(os.Stdin)
		if err != nil {
			return err
		}
		// The sign-up page's rules and its one transaction.
		u, err := a.Accounts.SignUp(ctx, accounts.SignUp{Name: name, Email: email, Password: pw, ByOperator: true})
		var fe *accounts.FieldError
		if errors.As(err, &fe) {
			return errors.New(fe.Message)
		}
		if err != nil {
			return err
		}
		fmt.Println(u.ID)
		return nil
	})
}

// createPAT makes a personal access token for a user and prints only the
// token, the one time it is ever shown.
func createPAT(ctx context.Context, args []string) error {
	var email, name, teamID string
	var expiresIn time.Duration
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the user the token acts as")
		fs.StringVar(&name, "name", "", "what the token is for (shown in token lists)")
		fs.DurationVar(&expiresIn, "expires-in", 0, "how long the token lives, e.g. 720h (0: it never expires)")
		fs.StringVar(&teamID, "team", "", "a team of the user's: instances the token approves are claimed into its Default workspace when the user may add instances there")
	}
	return withApp(ctx, "pat create", args, dbSettings, flags, func(a *app.App) error {
		if email == "" || name == "" {
			return fmt.Errorf("--email and --name are required: %w", errUsage)
		}
		if expiresIn < 0 {
			return fmt.Errorf("--expires-in must be positive (or 0: never): %w", errUsage)
		}
		user, err := a.Access.AccountByEmail(ctx, strings.TrimSpace(email))
		if errors.Is(err, access.ErrNotFound) {
			return fmt.Errorf("no user with email %s", email)
		}
		if err != nil {
			return err
		}
		n := pats.NewToken{UserID: user.ID, Name: name, TeamID: teamID, Via: pats.ViaOperator}
		if expiresIn > 0 {
			at := time.Now().Add(expiresIn)
			n.ExpiresAt = &at
		}
		secret, _, err := pats.New(a.DB, a.Authz, pats.Options{Log: a.Log}).Create(ctx, n)
		if err != nil {
			return err
		}
		fmt.Println(secret) // stdout only, for the operator to hand over
		return nil
	})
}
