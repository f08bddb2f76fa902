package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caido-cloud/caido-cloud/backup"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/store"
)

// TestBackupCommands runs keygen, create, list, restore (refused, forced,
// into an empty database) and prune as an operator would, and checks that
// no output quotes the keyset or the database password.
func TestBackupCommands(t *testing.T) {
	src := testenv.NewDatabase(t)
	_, err := store.Migrate(context.Background(), testenv.Pool(t, src))
	testenv.Must(t, err)
	dir := filepath.Join(t.TempDir(), "backups")
	cwd := t.TempDir() // no .data/local.env here

	r := run(t, cwd, environ(), "backup", "keygen")
	if r.code != 0 {
		t.Fatalf("backup keygen: exit status %d; stderr:\n%s", r.code, r.stderr)
	}
	keyset := strings.TrimSpace(r.stdout)
	if strings.Contains(keyset, "\n") {
		t.Errorf("the keyset spans lines; it goes into an environment variable:\n%s", keyset)
	}
	if _, err := backup.ParseKeyset(keyset); err != nil {
		t.Fatalf("backup keygen printed no usable keyset: %v", err)
	}
	u, err := url.Parse(src)
	testenv.Must(t, err)
	password, _ := u.User.Password()
	secrets := func(what string, r result) {
		t.Helper()
		for _, s := range []string{keyset, password} {
			if s != "" && (strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s)) {
				t.Errorf("%s printed a secret", what)
			}
		}
	}
	env := func(databaseURL string) []string {
		return append(environ("DATABASE_URL"), "DATABASE_URL="+databaseURL,
			"CAIDO_CLOUD_BACKUP_DIR="+dir, "CAIDO_CLOUD_BACKUP_KEYSET="+keyset)
	}

	r = run(t, cwd, env(src), "backup", "create")
	secrets("backup create", r)
	if r.code != 0 {
		t.Fatalf("backup create: exit status %d; stderr:\n%s", r.code, r.stderr)
	}
	list, err := backup.List(dir)
	testenv.Must(t, err)
	if len(list) != 1 {
		t.Fatalf("backup create left %d backups, want 1", len(list))
	}
	name := list[0].Name

	r = run(t, cwd, env(src), "backup", "list")
	if r.code != 0 || !strings.Contains(r.stdout, name) || !strings.Contains(lineWith(r.stdout, name), "ok") {
		t.Errorf("backup list: exit status %d, stdout:\n%s", r.code, r.stdout)
	}

	r = run(t, cwd, env(src), "backup", "restore", name)
	secrets("backup restore (refused)", r)
	if r.code != 1 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("restore into the non-empty source: exit status %d, want 1 naming --force; stderr:\n%s", r.code, r.stderr)
	}
	r = run(t, cwd, env(src), "backup", "restore", name, "--force")
	secrets("backup restore --force", r)
	if r.code != 0 || !strings.Contains(r.stdout, "fga reconcile") {
		t.Errorf("restore --force: exit status %d; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	target := testenv.NewDatabase(t)
	r = run(t, cwd, env(target), "backup", "restore", filepath.Join(dir, name))
	if r.code != 0 {
		t.Errorf("restore into an empty database: exit status %d; stderr:\n%s", r.code, r.stderr)
	}

	r = run(t, cwd, env(src), "backup", "prune", "--older-than", "1h")
	if r.code != 0 || !strings.Contains(r.stdout, "0 files deleted") {
		t.Errorf("backup prune: exit status %d; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
		t.Errorf("prune deleted the only backup: %v", err)
	}

	r = run(t, cwd, append(environ("DATABASE_URL"), "DATABASE_URL="+src, "CAIDO_CLOUD_BACKUP_DIR="+dir), "backup", "create")
	if r.code != 1 || !strings.Contains(lineWith(r.stderr, "CAIDO_CLOUD_BACKUP_KEYSET"), "backup keygen") {
		t.Errorf("backup create without a keyset: exit status %d; stderr:\n%s", r.code, r.stderr)
	}
	r = run(t, cwd, append(env(src), "CAIDO_CLOUD_BACKUP_KEYSET={\"not\":\"a keyset\"}"), "backup", "create")
	if r.code != 1 || strings.Contains(r.stderr, "a keyset\"") {
		t.Errorf("backup create with a bad keyset: exit status %d, want 1 without quoting it; stderr:\n%s", r.code, r.stderr)
	}
}
