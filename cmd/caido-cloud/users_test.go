package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caido-cloud/caido-cloud/accounts/password"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/pats"
)

// runStdin is run with stdin.
func runStdin(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = t.TempDir(), env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("caido-cloud %s: %v", strings.Join(args, " "), err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// usersSystem is a migrated database with an outbox worker, and the
// environment that points the binary at it.
func usersSystem(t *testing.T) (*app.App, []string) {
	t.Helper()
	cfg := testenv.Config(t)
	a := testenv.App(t, cfg, testenv.Options{})
	testenv.RunOutbox(t, a)
	env := append(environ("DATABASE_URL", "OPENFGA_API_URL", "OPENFGA_API_TOKEN"),
		"DATABASE_URL="+cfg.DatabaseURL, "OPENFGA_API_URL="+cfg.OpenFGAURL, "OPENFGA_API_TOKEN="+cfg.OpenFGAToken)
	return a, env
}

func TestUserCreate(t *testing.T) {
	a, env := usersSystem(t)
	ctx := context.Background()
	const pw = "correct horse battery"
	r := runStdin(t, env, pw+"\n", "user", "create", "--email", "anne@example.test", "--name", "Anne")
	if r.code != 0 {
		t.Fatalf("user create: exit %d\n%s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	var hash, name string
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT password_hash, name FROM users WHERE id = $1 AND email = 'anne@example.test'`, id).Scan(&hash, &name))
	if name != "Anne" || !strings.HasPrefix(hash, "$argon2id$v=19$") || strings.Contains(hash, pw) {
		t.Fatalf("stored %q, %q", name, hash)
	}
	testenv.Must(t, password.Verify(pw, hash))
	if strings.Contains(r.stdout+r.stderr, pw) {
		t.Fatal("the password was printed")
	}
	var workspaces int
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT count(*) FROM workspaces WHERE owner_user_id = $1 AND is_default`, id).Scan(&workspaces))
	if workspaces != 1 {
		t.Fatalf("%d Default workspaces", workspaces)
	}

	for _, tc := range []struct {
		name, stdin string
		args        []string
		code        int
	}{
		{"the same email again", pw, []string{"--email", "ANNE@example.test", "--name", "Anne"}, 1},
		{"a short password", "short\n", []string{"--email", "bob@example.test", "--name", "Bob"}, 1},
		{"no password", "", []string{"--email", "bob@example.test", "--name", "Bob"}, 2},
		{"no email", pw, []string{"--name", "Bob"}, 2},
		{"not an email", pw, []string{"--email", "bob", "--name", "Bob"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runStdin(t, env, tc.stdin, append([]string{"user", "create"}, tc.args...)...)
			if r.code != tc.code || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q, want %d and nothing\n%s", r.code, r.stdout, tc.code, r.stderr)
			}
		})
	}
	var users int
	testenv.Must(t, a.DB.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&users))
	if users != 1 {
		t.Fatalf("%d users after one good creation", users)
	}
}

func TestPATCreate(t *testing.T) {
	a, env := usersSystem(t)
	ctx := context.Background()
	anne := testenv.User(t, a, "anne@example.test")
	bob := testenv.User(t, a, "bob@example.test")
	team, _, err := a.Access.CreateTeam(ctx, anne.ID, "Acme", "billing@example.test")
	testenv.Must(t, err)
	svc := pats.New(a.DB, a.Authz, pats.Options{})

	r := runStdin(t, env, "", "pat", "create", "--email", "Anne@Example.test", "--name", "ci", "--expires-in", "720h", "--team", team.ID)
	if r.code != 0 {
		t.Fatalf("pat create: exit %d\n%s", r.code, r.stderr)
	}
	if !regexp.MustCompile(`^caido_[a-z2-7]{52}\n$`).MatchString(r.stdout) {
		t.Fatalf("stdout %q, want only the token and a newline", r.stdout)
	}
	secret := strings.TrimSpace(r.stdout)
	if strings.Contains(r.stderr, secret) {
		t.Fatal("the token is on stderr")
	}
	tok, err := svc.Authenticate(ctx, secret)
	testenv.Must(t, err)
	if tok.UserID != anne.ID || tok.TeamID != team.ID || tok.Name != "ci" || tok.ExpiresAt == nil ||
		time.Until(*tok.ExpiresAt) < 719*time.Hour || time.Until(*tok.ExpiresAt) > 720*time.Hour {
		t.Fatalf("token %+v", tok)
	}

	r = runStdin(t, env, "", "pat", "create", "--email", "bob@example.test", "--name", "forever")
	if r.code != 0 {
		t.Fatalf("pat create with no expiry: exit %d\n%s", r.code, r.stderr)
	}
	tok, err = svc.Authenticate(ctx, strings.TrimSpace(r.stdout))
	testenv.Must(t, err)
	if tok.UserID != bob.ID || tok.ExpiresAt != nil {
		t.Fatalf("token %+v", tok)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"someone else's team", []string{"--email", "bob@example.test", "--name", "x", "--team", team.ID}, 1},
		{"no such user", []string{"--email", "nobody@example.test", "--name", "x"}, 1},
		{"no name", []string{"--email", "bob@example.test"}, 2},
		{"a negative expiry", []string{"--email", "bob@example.test", "--name", "x", "--expires-in", "-1h"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runStdin(t, env, "", append([]string{"pat", "create"}, tc.args...)...)
			if r.code != tc.code || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q, want %d and nothing\n%s", r.code, r.stdout, tc.code, r.stderr)
			}
		})
	}
}
