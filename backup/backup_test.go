package backup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tink-crypto/tink-go/v2/keyset"

	caidocloud "github.com/caido-cloud/caido-cloud"
	"github.com/caido-cloud/caido-cloud/access"
	"github.com/caido-cloud/caido-cloud/app"
	"github.com/caido-cloud/caido-cloud/assistant"
	"github.com/caido-cloud/caido-cloud/assistant/assistanttest"
	"github.com/caido-cloud/caido-cloud/authz"
	"github.com/caido-cloud/caido-cloud/backup"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
	"github.com/caido-cloud/caido-cloud/store"
)

func newKeyset(t testing.TB) *keyset.Handle {
	t.Helper()
	js, err := backup.NewKeyset()
	testenv.Must(t, err)
	ks, err := backup.ParseKeyset(js)
	testenv.Must(t, err)
	return ks
}

// fingerprint is every table of schema public with its row count and a
// hash of its rows in a fixed order: two databases with equal fingerprints
// hold the same rows.
func fingerprint(t testing.TB, databaseURL string) map[string]string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, databaseURL)
	testenv.Must(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	testenv.Must(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	testenv.Must(t, err)
	out := map[string]string{}
	for _, table := range tables {
		var n int64
		var sum string
		testenv.Must(t, conn.QueryRow(ctx, fmt.Sprintf(`SELECT count(*), coalesce(md5(string_agg(t::text, E'\n' ORDER BY t::text)), '')
			FROM %s t`, pgx.Identifier{table}.Sanitize())).Scan(&n, &sum))
		out[table] = fmt.Sprintf("%d rows %s", n, sum)
	}
	return out
}

func tableCount(t testing.TB, databaseURL string) int {
	return len(fingerprint(t, databaseURL))
}

func sameRows(t testing.TB, what string, got, want map[string]string) {
	t.Helper()
	for table, w := range want {
		if g, ok := got[table]; !ok {
			t.Errorf("%s: table %s is missing", what, table)
		} else if g != w {
			t.Errorf("%s: table %s has %s, want %s", what, table, g, w)
		}
	}
	for table := range got {
		if _, ok := want[table]; !ok {
			t.Errorf("%s: unexpected table %s", what, table)
		}
	}
}

// instanceClient is a registered instance's credentials on a server.
type instanceClient struct {
	base, id, secret string
}

func register(t testing.TB, base string) instanceClient {
	t.Helper()
	resp, err := http.Post(base+"/oauth2/register", "application/json", strings.NewReader(
		`{"scope":"profile:read assistant offline","grant_types":["client_credentials","urn:ietf:params:oauth:grant-type:device_code","refresh_token"]}`))
	testenv.Must(t, err)
	defer resp.Body.Close()
	var reg struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	testenv.Must(t, json.NewDecoder(resp.Body).Decode(&reg))
	return instanceClient{base: base, id: reg.ClientID, secret: reg.ClientSecret}
}

// token posts to /oauth2/token as the instance and returns status and body.
func (c instanceClient) token(t testing.TB, form url.Values) (int, map[string]any) {
	t.Helper()
	form.Set("client_id", c.id)
	form.Set("client_secret", c.secret)
	resp, err := http.PostForm(c.base+"/oauth2/token", form)
	testenv.Must(t, err)
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// signIn runs the device flow for userID, approving it as the dashboard does.
func (c instanceClient) signIn(t testing.TB, a *app.App, userID, scope string) map[string]any {
	t.Helper()
	resp, err := http.PostForm(c.base+"/oauth2/device/authorize", url.Values{"client_id": {c.id}, "client_secret": {c.secret}, "scope": {scope}})
	testenv.Must(t, err)
	var da map[string]any
	testenv.Must(t, json.NewDecoder(resp.Body).Decode(&da))
	resp.Body.Close()
	testenv.Must(t, a.Devices.Approve(context.Background(), da["user_code"].(string), userID, strings.Fields(scope)))
	status, tok := c.token(t, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {da["device_code"].(string)}})
	if status != http.StatusOK {
		t.Fatalf("device token: %d %v", status, tok)
	}
	return tok
}

func get(t testing.TB, u, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	testenv.Must(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.String()
}

// TestBackupRestoreRoundTrip: a system with users, a claimed instance, a
// grant, an instance client with a user's session and refresh token, and
// a usage row is backed up, restored into a new empty database and served
// with a new, empty OpenFGA store rebuilt by reconcile: every row is back
// and works.
func TestBackupRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	up := assistanttest.New(t)
	cfg := testenv.Config(t)
	cfg.DevicePollInterval = time.Second
	cfg.AssistantBaseURL, cfg.AssistantAPIKey = up.BaseURL(), assistanttest.APIKey
	a, base := testenv.Serve(t, cfg, testenv.Options{})

	inst := register(t, base)
	c, err := a.Clients.Get(ctx, inst.id)
	testenv.Must(t, err)
	anne := testenv.User(t, a, "anne@example.test")
	bob := testenv.User(t, a, "bob@example.test")
	_, err = a.Access.ClaimInstance(ctx, c.InstanceID, anne.ID, anne.DefaultWorkspaceID, "laptop")
	testenv.Must(t, err)
	ch, err := a.Access.Grant(ctx, c.InstanceID, access.Grantee{UserID: bob.ID}, nil, anne.ID)
	testenv.Must(t, err)
	if ch.Pending {
		t.Fatal("the grant is still pending in OpenFGA")
	}
	testenv.AssertCheck(t, a, bob.ID, "can_use", authz.InstanceObject(c.InstanceID), true)
	tok := inst.signIn(t, a, bob.ID, "profile:read assistant offline")
	accessToken, refresh := tok["access_token"].(string), tok["refresh_token"].(string)
	for _, m := range assistanttest.Models() {
		testenv.Must(t, a.Assistant.UpsertModel(ctx, m))
	}
	_, err = a.DB.Exec(ctx, `UPDATE users SET plan = 'individual' WHERE id = $1`, bob.ID)
	testenv.Must(t, err)
	_, err = a.Assistant.Complete(ctx, assistant.Caller{UserID: bob.ID, InstanceID: c.InstanceID},
		assistant.Request{Model: "test-" + assistanttest.OK, Messages: []assistant.Message{{Role: "user", Content: "hello"}}})
	testenv.Must(t, err)

	want := fingerprint(t, cfg.DatabaseURL)
	if !strings.HasPrefix(want["assistant_usage"], "1 rows") || !strings.HasPrefix(want["instance_grants"], "1 rows") {
		t.Fatalf("the set-up lacks a usage row or a grant: %v", want)
	}
	dir := t.TempDir()
	ks := newKeyset(t)
	m, err := backup.Create(ctx, cfg.DatabaseURL, dir, ks)
	testenv.Must(t, err)
	// Nothing wrote between the two looks, so the backup holds exactly want.
	sameRows(t, "the source after the backup", fingerprint(t, cfg.DatabaseURL), want)

	file := filepath.Join(dir, m.File)
	raw, err := os.ReadFile(file)
	testenv.Must(t, err)
	if m.KeyID != ks.KeysetInfo().GetPrimaryKeyId() || m.Size != int64(len(raw)) || m.SchemaVersion == 0 || m.PostgresVersion == "" || m.Format != backup.FormatVersion {
		t.Errorf("manifest %+v does not describe the file (%d bytes) and key %d", m, len(raw), ks.KeysetInfo().GetPrimaryKeyId())
	}
	if !slices.Contains(m.Notes, backup.OpenFGANote) {
		t.Errorf("the manifest does not say OpenFGA's tuples are left out: %v", m.Notes)
	}
	if bytes.Contains(raw, []byte("bob@example.test")) || bytes.Contains(raw, []byte("CREATE TABLE")) {
		t.Error("the backup file holds plain text")
	}
	if info, err := os.Stat(file); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode %v (%v), want 0600", info.Mode(), err)
	}
	list, err := backup.List(dir)
	testenv.Must(t, err)
	if len(list) != 1 || list[0].Name != m.File || list[0].Problem != "" || list[0].Manifest.SHA256 != m.SHA256 {
		t.Errorf("List = %+v, want the one backup %s", list, m.File)
	}

	target := testenv.NewDatabase(t)
	_, err = backup.Restore(ctx, file, target, ks, false)
	testenv.Must(t, err)
	sameRows(t, "the restored database", fingerprint(t, target), want)

	// A new OpenFGA, as after losing it: the restored database names a
	// store it does not have. What `caido-cloud migrate` then `fga
	// reconcile` do: a new store, then every tuple rebuilt from the rows.
	fga := testenv.OpenFGA(t)
	cfg2 := cfg
	cfg2.DatabaseURL, cfg2.OpenFGAURL, cfg2.OpenFGAToken = target, fga.URL(), fga.PresharedKey
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	testenv.Must(t, err)
	base2 := "http://" + ln.Addr().String()
	// The same public URL (the issuer), as a restored deployment keeps it.
	cfg2.PublicURL = a.Config.PublicURL
	a2 := testenv.App(t, cfg2, testenv.Options{NoMigrate: true})
	applied, err := store.Migrate(ctx, a2.DB)
	testenv.Must(t, err)
	if len(applied) != 0 {
		t.Errorf("the restored schema was not at head: migrate applied %v", applied)
	}
	res, err := authz.EnsureModel(ctx, a2.DB, authz.Config{APIURL: cfg2.OpenFGAURL, APIToken: cfg2.OpenFGAToken, StoreName: cfg2.OpenFGAStoreName}, caidocloud.AuthorizationModel)
	testenv.Must(t, err)
	if !res.StoreCreated {
		t.Fatal("EnsureModel found the old store on a new OpenFGA")
	}
	report, err := a2.Reconcile(ctx, false)
	testenv.Must(t, err)
	grant := authz.Tuple{User: authz.UserObject(bob.ID), Relation: "grantee", Object: authz.InstanceObject(c.InstanceID)}
	if !slices.ContainsFunc(report.Written, func(x authz.Tuple) bool { return x.Key() == grant.Key() }) {
		t.Errorf("reconcile did not rebuild the grant %s; wrote %v", grant, report.Written)
	}
	serveCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- a2.Serve(serveCtx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})

	testenv.AssertCheck(t, a2, bob.ID, "can_use", authz.InstanceObject(c.InstanceID), true)
	testenv.AssertCheck(t, a2, anne.ID, "can_use", authz.InstanceObject(c.InstanceID), true)
	// The access token issued before the backup: same signing keys, same session.
	if status, body := get(t, base2+"/instance/user/session", accessToken); status != http.StatusOK {
		t.Errorf("the old access token on the restored server: %d %s", status, body)
	}
	inst2 := instanceClient{base: base2, id: inst.id, secret: inst.secret}
	status, body := inst2.token(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if status != http.StatusOK {
		t.Fatalf("the refresh token on the restored server: %d %v", status, body)
	}
	if status, page := get(t, base2+"/instance/user/session", body["access_token"].(string)); status != http.StatusOK {
		t.Errorf("the refreshed access token: %d %s", status, page)
	}
	if status, body := inst2.token(t, url.Values{"grant_type": {"client_credentials"}}); status != http.StatusOK {
		t.Errorf("the instance's own credentials on the restored server: %d %v", status, body)
	}
	balance, err := a2.Assistant.Balance(ctx, bob.ID)
	testenv.Must(t, err)
	if balance >= 500000 {
		t.Errorf("bob's balance is %d: the restored ledger lost what he spent", balance)
	}
}

// damagedFixture is a migrated database with enough incompressible rows
// that its backup spans several 1 MB segments, and that backup.
func damagedFixture(t *testing.T) (dir string, m backup.Manifest, ks *keyset.Handle) {
	t.Helper()
	ctx := context.Background()
	src := testenv.NewDatabase(t)
	pool := testenv.Pool(t, src)
	_, err := store.Migrate(ctx, pool)
	testenv.Must(t, err)
	_, err = pool.Exec(ctx, `CREATE TABLE filler (id int PRIMARY KEY, junk text NOT NULL);
		INSERT INTO filler SELECT i, md5(random()::text) || md5(random()::text) FROM generate_series(1, 60000) i`)
	testenv.Must(t, err)
	dir, ks = t.TempDir(), newKeyset(t)
	m, err = backup.Create(ctx, src, dir, ks)
	testenv.Must(t, err)
	if m.Size < 2<<20 {
		t.Fatalf("the backup is %d bytes: want several segments", m.Size)
	}
	return dir, m, ks
}

// flip changes one bit of the byte at offset.
func flip(t *testing.T, path string, offset int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	testenv.Must(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, offset)
	testenv.Must(t, err)
	b[0] ^= 0x10
	_, err = f.WriteAt(b, offset)
	testenv.Must(t, err)
}

// copyBackup copies a backup and its manifest into a new folder, with the
// manifest changed by edit.
func copyBackup(t *testing.T, dir string, m backup.Manifest, edit func(*backup.Manifest)) (string, backup.Manifest) {
	t.Helper()
	to := t.TempDir()
	raw, err := os.ReadFile(filepath.Join(dir, m.File))
	testenv.Must(t, err)
	testenv.Must(t, os.WriteFile(filepath.Join(to, m.File), raw, 0o600))
	if edit != nil {
		edit(&m)
	}
	body, err := json.Marshal(m)
	testenv.Must(t, err)
	testenv.Must(t, os.WriteFile(filepath.Join(to, strings.TrimSuffix(m.File, ".backup")+".manifest.json"), body, 0o600))
	return filepath.Join(to, m.File), m
}

func wantCorrupt(t *testing.T, err error, target string) {
	t.Helper()
	if !errors.Is(err, backup.ErrCorrupt) || !strings.Contains(err.Error(), "backup file is corrupt or was encrypted with another key") {
		t.Errorf("error %v, want the corrupt-or-other-key error", err)
	}
	if n := tableCount(t, target); n != 0 {
		t.Errorf("the target database has %d tables after the failed restore, want none", n)
	}
}

// TestRestoreRefusesADamagedFile: one flipped byte, with or without a
// manifest that matches it, a truncated file, another keyset, or a renamed
// file: each fails with the clear error, and the target stays empty.
func TestRestoreRefusesADamagedFile(t *testing.T) {
	ctx := context.Background()
	dir, m, ks := damagedFixture(t)

	t.Run("flipped byte", func(t *testing.T) {
		path, _ := copyBackup(t, dir, m, nil)
		flip(t, path, m.Size/2)
		target := testenv.NewDatabase(t)
		_, err := backup.Restore(ctx, path, target, ks, false)
		wantCorrupt(t, err, target)
	})
	t.Run("flipped byte, manifest to match", func(t *testing.T) {
		// The checksum is only an early check: the authentication of every
		// segment is what a rewritten manifest cannot get past.
		path, _ := copyBackup(t, dir, m, nil)
		flip(t, path, m.Size/2)
		path, _ = copyBackup(t, filepath.Dir(path), m, func(m *backup.Manifest) { m.SHA256 = sha256File(t, path) })
		target := testenv.NewDatabase(t)
		_, err := backup.Restore(ctx, path, target, ks, false)
		wantCorrupt(t, err, target)
	})
	t.Run("truncated, manifest to match", func(t *testing.T) {
		path, _ := copyBackup(t, dir, m, nil)
		cut := m.Size - 100
		testenv.Must(t, os.Truncate(path, cut))
		path, _ = copyBackup(t, filepath.Dir(path), m, func(m *backup.Manifest) { m.Size, m.SHA256 = cut, sha256File(t, path) })
		target := testenv.NewDatabase(t)
		_, err := backup.Restore(ctx, path, target, ks, false)
		wantCorrupt(t, err, target)
	})
	t.Run("another keyset", func(t *testing.T) {
		target := testenv.NewDatabase(t)
		_, err := backup.Restore(ctx, filepath.Join(dir, m.File), target, newKeyset(t), false)
		wantCorrupt(t, err, target)
	})
	t.Run("renamed", func(t *testing.T) {
		// An older backup put in the place of a newer one, manifest and all:
		// the name is authenticated.
		other := "caido-cloud-" + m.CreatedAt.Add(24*time.Hour).Format("20060102T150405Z") + ".backup"
		path, _ := copyBackup(t, dir, m, func(m *backup.Manifest) { m.File, m.ID = other, strings.TrimSuffix(other, ".backup") })
		testenv.Must(t, os.Rename(filepath.Join(filepath.Dir(path), m.File), filepath.Join(filepath.Dir(path), other)))
		target := testenv.NewDatabase(t)
		_, err := backup.Restore(ctx, filepath.Join(filepath.Dir(path), other), target, ks, false)
		wantCorrupt(t, err, target)
	})
	t.Run("damage found mid-restore", func(t *testing.T) {
		// Past the checks that run before the restore (a file that changed
		// between them and the load): the first segments have gone to psql
		// when the damaged last one fails, and the transaction rolls back.
		path, _ := copyBackup(t, dir, m, nil)
		flip(t, path, m.Size-10)
		target := testenv.NewDatabase(t)
		err := backup.LoadUnchecked(ctx, path, target, ks)
		wantCorrupt(t, err, target)
	})
	t.Run("intact", func(t *testing.T) {
		target := testenv.NewDatabase(t)
		_, err := backup.Restore(ctx, filepath.Join(dir, m.File), target, ks, false)
		testenv.Must(t, err)
		if !strings.HasPrefix(fingerprint(t, target)["filler"], "60000 rows") {
			t.Error("the intact backup did not restore the filler rows")
		}
	})
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	sum, err := backup.SHA256File(path)
	testenv.Must(t, err)
	return sum
}

// TestRestoreRefusesANonEmptyDatabase: a database with a table is refused
// and left alone; --force replaces its contents with the backup's.
func TestRestoreRefusesANonEmptyDatabase(t *testing.T) {
	ctx := context.Background()
	src := testenv.NewDatabase(t)
	_, err := store.Migrate(ctx, testenv.Pool(t, src))
	testenv.Must(t, err)
	dir, ks := t.TempDir(), newKeyset(t)
	m, err := backup.Create(ctx, src, dir, ks)
	testenv.Must(t, err)
	file := filepath.Join(dir, m.File)

	target := testenv.NewDatabase(t)
	_, err = testenv.Pool(t, target).Exec(ctx, `CREATE TABLE precious (id int); INSERT INTO precious VALUES (1)`)
	testenv.Must(t, err)
	_, err = backup.Restore(ctx, file, target, ks, false)
	if !errors.Is(err, backup.ErrNotEmpty) || !strings.Contains(err.Error(), "--force") {
		t.Errorf("restore into a non-empty database: %v, want ErrNotEmpty naming --force", err)
	}
	if got := fingerprint(t, target); len(got) != 1 || got["precious"] == "" {
		t.Errorf("the refused target changed: %v", got)
	}

	_, err = backup.Restore(ctx, file, target, ks, true)
	testenv.Must(t, err)
	sameRows(t, "the forced restore", fingerprint(t, target), fingerprint(t, src))
}

// TestPrune: backups older than the age go with their manifests, as do
// leftovers of interrupted runs; younger ones, the newest one whatever its
// age, and files that are not ours stay.
func TestPrune(t *testing.T) {
	now := time.Date(2026, time.April, 10, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	name := func(age time.Duration) string {
		return "caido-cloud-" + now.Add(-age).Format("20060102T150405Z")
	}
	day := 24 * time.Hour
	var files []string
	for _, age := range []time.Duration{40 * day, 31 * day, 29 * day, day} {
		files = append(files, name(age)+".backup", name(age)+".manifest.json")
	}
	leftover := "." + name(2*day) + ".123.tmp"
	files = append(files, leftover, "notes.txt", "."+name(0)+".456.tmp")
	for _, f := range files {
		testenv.Must(t, os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600))
	}
	old := now.Add(-2 * day)
	testenv.Must(t, os.Chtimes(filepath.Join(dir, leftover), old, old))
	testenv.Must(t, os.Chtimes(filepath.Join(dir, "notes.txt"), old.Add(-100*day), old.Add(-100*day)))

	removed, err := backup.PruneAt(dir, 30*day, now)
	testenv.Must(t, err)
	slices.Sort(removed)
	want := []string{leftover, name(40*day) + ".backup", name(40*day) + ".manifest.json", name(31*day) + ".backup", name(31*day) + ".manifest.json"}
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Errorf("Prune removed %v, want %v", removed, want)
	}
	for _, f := range files {
		_, err := os.Stat(filepath.Join(dir, f))
		if gone := slices.Contains(want, f); gone != errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: removed %v, stat %v", f, gone, err)
		}
	}

	// Only old backups: the newest stays.
	dir = t.TempDir()
	for _, age := range []time.Duration{50 * day, 45 * day} {
		for _, ext := range []string{".backup", ".manifest.json"} {
			testenv.Must(t, os.WriteFile(filepath.Join(dir, name(age)+ext), []byte("x"), 0o600))
		}
	}
	removed, err = backup.PruneAt(dir, 30*day, now)
	testenv.Must(t, err)
	slices.Sort(removed)
	if want := []string{name(50*day) + ".backup", name(50*day) + ".manifest.json"}; !slices.Equal(removed, want) {
		t.Errorf("Prune of only old backups removed %v, want %v (the newest stays)", removed, want)
	}
}

// TestToolEnvironment: the connection reaches pg_dump and psql through
// libpq's environment variables, password included, with pgx's own
// parameters left out; both forms of connection string are read.
func TestToolEnvironment(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want []string
	}{
		{"postgres://app:s3cr%40t@db.example:6432/caido?sslmode=require&pool_max_conns=8",
			[]string{"PGUSER=app", "PGPASSWORD=s3cr@t", "PGHOST=db.example", "PGPORT=6432", "PGDATABASE=caido", "PGSSLMODE=require"}},
		{"host=/run/postgresql dbname=caido user=app password='a b\\'c' pool_min_conns=1",
			[]string{"PGHOST=/run/postgresql", "PGDATABASE=caido", "PGUSER=app", "PGPASSWORD=a b'c"}},
	} {
		env, err := backup.ToolEnv(tc.url)
		testenv.Must(t, err)
		for _, w := range tc.want {
			if !slices.Contains(env, w) {
				t.Errorf("%s: environment %v lacks %s", tc.url, env, w)
			}
		}
		for _, kv := range env {
			if strings.Contains(strings.ToLower(kv), "pool") {
				t.Errorf("%s: pgx's own parameter reached libpq: %s", tc.url, kv)
			}
		}
	}
	if _, err := backup.ToolEnv("postgres://app:hunter2@[bad"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("a malformed URL: error %v, want one that does not quote it", err)
	}
}
