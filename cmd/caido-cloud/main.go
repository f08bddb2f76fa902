// Command caido-cloud is the whole service in one binary: the server, its
// migrations, the local development system and the operator's tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand; name may have two words ("fga reconcile").
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = []command{
	{"serve", "run the HTTP server (production: settings from the environment)", serve},
	{"migrate", "apply database migrations and write the OpenFGA store and model", migrate},
	{"fga reconcile", "make OpenFGA's tuples equal to what PostgreSQL implies, and report the differences", reconcile},
	{"keys master", "print a new random master key for CAIDO_CLOUD_MASTER_KEY", masterKey},
	{"keys rotate", "publish new signing keys, which sign once clients caching the JWKS have them; --now: sign at once (old ones stay published until their tokens expire)", rotateKeys},
	{"instance reset-secret", "give an instance a new client secret (the old one stops working); prints it", resetSecret},
	{"release publish", "add or replace a release (the reference's Release JSON) served at /releases/latest", publishRelease},
	{"package publish", "add or replace a store package (the reference's PackagePayload JSON) served at /store/packages", publishPackage},
	{"plan set", "set a user's plan (--email E --plan P), or a plan's entitlements and allowance (--plan P [--entitlements a,b] [--monthly-credits N])", setPlan},
	{"regkey create", "make a registration key (ckey_…) that claims registering instances into a workspace; prints it", createRegKey},
	{"regkey revoke", "revoke a registration key", revokeRegKey},
	{"instance delete", "delete an instance: its client, grants, sessions and tokens end", deleteInstance},
	{"user create", "create a user with a password read from stdin (--email E --name N); prints the user id", createUser},
	{"user show", "print a user and their teams as JSON (--email E)", showUser},
	{"user export", "print everything kept about a user as JSON, on their request (--email E)", exportUser},
	{"user delete", "delete a user and their data on request (--email E --yes); their personal instances go too", deleteUser},
	{"model set", "add an assistant model (--id --name --upstream [--token-credit N] [--max-output-tokens N] [--disabled]), or change only the named fields of one", setModel},
	{"pat create", "create a personal access token for a user (--email E --name N [--expires-in 720h] [--team ID]); prints only the token", createPAT},
	{"team create", "create a team owned by an existing user (--owner-email E --name N --billing-email B); prints the team id", createTeam},
	{"team subscription", "set a team's subscription (--team ID --plan P --seats N [--trial] [--ends-at RFC3339])", setTeamSubscription},
	{"voucher create", "make a voucher code for a plan (--plan P --days D [--claims N] [--expires-in DUR]); prints only the code", createVoucher},
	{"backup keygen", "print a new Tink keyset for CAIDO_CLOUD_BACKUP_KEYSET", backupKeygen},
	{"backup create", "take an encrypted backup of the database into CAIDO_CLOUD_BACKUP_DIR now", backupCreate},
	{"backup list", "list the backups in CAIDO_CLOUD_BACKUP_DIR", backupList},
	{"backup restore", "restore a backup into an empty database (FILE [--force]); then run migrate and fga reconcile", backupRestore},
	{"backup prune", "delete backups older than --older-than (default CAIDO_CLOUD_BACKUP_RETENTION, 720h), keeping the newest", backupPrune},
	{"dev run", "start PostgreSQL, OpenFGA and the server on this machine (`make run`)", devRun},
	{"dev exec", "run a command (the tests) against a throwaway PostgreSQL and OpenFGA (`make test`)", devExec},
}

// errUsage marks a mistake in the command line: exit status 2, not 1.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := dispatch(ctx, os.Args[1:])
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2) // the flag package printed the help
	case errors.Is(err, errUsage):
		if err != errUsage { // a wrapped one says what was wrong
			fmt.Fprintln(os.Stderr, "caido-cloud:", strings.TrimSuffix(err.Error(), ": "+errUsage.Error()))
		}
		os.Exit(2)
	default:
		var exit exitCode
		if errors.As(err, &exit) {
			os.Exit(int(exit))
		}
		fmt.Fprintln(os.Stderr, "caido-cloud:", err)
		os.Exit(1)
	}
}

// exitCode passes a child's exit status through (dev exec).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func dispatch(ctx context.Context, args []string) error {
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return c.run(ctx, args[len(words):])
		}
	}
	usage()
	return errUsage
}

func usage() {
	fmt.Fprintf(os.Stderr, "caido-cloud %s\n\nUsage: caido-cloud COMMAND [flags]\n\nCommands:\n", version)
	cs := append([]command(nil), commands...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(os.Stderr, "  %-16s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(os.Stderr, "\nEvery command takes -h. Settings come from environment variables (see README.md); flags override them.")
}
