package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caido-cloud/caido-cloud/devstack"
	"github.com/caido-cloud/caido-cloud/internal/testenv"
)

// bin is the caido-cloud binary under test, built once by TestMain: these
// tests run it as users and `make` do.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "caido-cloud-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "caido-cloud")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "go build:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is how a finished run of the binary went.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the binary to completion (bounded) with env as its whole
// environment and dir as its working folder.
func run(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("caido-cloud %s: %v", strings.Join(args, " "), err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// environ is this process's environment without the variables named.
func environ(drop ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		dropped := strings.HasPrefix(name, "CAIDO_CLOUD_")
		for _, d := range drop {
			dropped = dropped || name == d
		}
		if !dropped {
			out = append(out, kv)
		}
	}
	return out
}

func TestUnknownSubcommand(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {}, {"dev"}, {"dev", "frobnicate"}} {
		t.Run(fmt.Sprintf("%q", args), func(t *testing.T) {
			r := run(t, t.TempDir(), environ(), args...)
			if r.code != 2 {
				t.Errorf("exit status %d, want 2 (a usage mistake); stderr:\n%s", r.code, r.stderr)
			}
			for _, want := range []string{"Usage: caido-cloud COMMAND", "serve", "dev run", "keys master"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("the usage on stderr lacks %q:\n%s", want, r.stderr)
				}
			}
		})
	}
}

func TestKeysMaster(t *testing.T) {
	var keys []string
	for range 2 {
		r := run(t, t.TempDir(), environ(), "keys", "master")
		if r.code != 0 {
			t.Fatalf("keys master: exit status %d; stderr:\n%s", r.code, r.stderr)
		}
		key := strings.TrimSpace(r.stdout)
		raw, err := base64.StdEncoding.DecodeString(key)
		if err != nil || len(raw) != 32 {
			t.Fatalf("keys master printed %q: want 32 bytes in standard base64 (decoded %d bytes, error %v)", r.stdout, len(raw), err)
		}
		keys = append(keys, key)
	}
	if keys[0] == keys[1] {
		t.Errorf("two runs of keys master printed the same key %s", keys[0])
	}
}

func TestServeConfigurationErrors(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		// An empty folder as working directory: no .data/local.env of a
		// running `make run` may fill in what is missing.
		r := run(t, t.TempDir(), environ("DATABASE_URL", "OPENFGA_API_URL", "OPENFGA_API_TOKEN"), "serve")
		if r.code != 1 {
			t.Errorf("exit status %d, want 1; stderr:\n%s", r.code, r.stderr)
		}
		// Every problem at once, each on its line with what to do.
		for env, todo := range map[string]string{
			"DATABASE_URL":           "make run",
			"OPENFGA_API_URL":        "make run",
			"CAIDO_CLOUD_MASTER_KEY": "caido-cloud keys master",
		} {
			line := lineWith(r.stderr, env+" is not set")
			if line == "" {
				t.Errorf("stderr does not say %s is not set:\n%s", env, r.stderr)
			} else if !strings.Contains(line, todo) {
				t.Errorf("the line about %s does not mention %q: %s", env, todo, line)
			}
		}
	})
	t.Run("bad master key", func(t *testing.T) {
		// Everything else is set: the key is the only problem.
		env := append(environ(), "CAIDO_CLOUD_MASTER_KEY=short", "CAIDO_CLOUD_LISTEN_ADDR=127.0.0.1:0")
		r := run(t, t.TempDir(), env, "serve")
		if r.code != 1 {
			t.Errorf("exit status %d, want 1; stderr:\n%s", r.code, r.stderr)
		}
		line := lineWith(r.stderr, "CAIDO_CLOUD_MASTER_KEY")
		if !strings.Contains(line, "32") || !strings.Contains(line, "base64") {
			t.Errorf("stderr does not say the master key wants 32 bytes in base64:\n%s", r.stderr)
		}
	})
}

// lineWith is the first line of text that contains substr, or "".
func lineWith(text, substr string) string {
	for line := range strings.Lines(text) {
		if strings.Contains(line, substr) {
			return line
		}
	}
	return ""
}

func TestDevExec(t *testing.T) {
	// DATABASE_URL and OPENFGA_API_URL are set (by `make test`), so dev exec
	// starts nothing and only runs the command.
	testenv.Env(t, "DATABASE_URL")
	testenv.Env(t, "OPENFGA_API_URL")

	t.Run("exit status", func(t *testing.T) {
		r := run(t, t.TempDir(), environ(), "dev", "exec", "--", "sh", "-c", "exit 3")
		if r.code != 3 {
			t.Errorf("exit status %d, want the command's 3; stderr:\n%s", r.code, r.stderr)
		}
		if strings.Contains(r.stderr, "test system up") {
			t.Errorf("dev exec started a test system although DATABASE_URL and OPENFGA_API_URL are set:\n%s", r.stderr)
		}
	})
	t.Run("OPENFGA_BIN", func(t *testing.T) {
		// A relative --openfga-bin, as `make test` passes: the child sees it
		// absolute, since `go test` runs each package in its own folder.
		dir := t.TempDir()
		r := run(t, dir, environ(), "dev", "exec", "--openfga-bin", "bin/openfga", "--", "sh", "-c", `printf %s "$OPENFGA_BIN"`)
		if r.code != 0 {
			t.Fatalf("exit status %d; stderr:\n%s", r.code, r.stderr)
		}
		if want := filepath.Join(dir, "bin/openfga"); r.stdout != want {
			t.Errorf("the command saw OPENFGA_BIN=%q, want %q", r.stdout, want)
		}
	})
}

// devRunProc is one `caido-cloud dev run` in a process group of its own.
type devRunProc struct {
	cmd     *exec.Cmd
	addr    string
	exited  chan struct{}
	mu      sync.Mutex
	output  bytes.Buffer // stdout and stderr, for failure messages
	waitErr error
}

func (d *devRunProc) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.output.String()
}

// lockedWriter lets stdout's scanner and stderr's copier share one buffer.
type lockedWriter struct{ d *devRunProc }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	return w.d.output.Write(p)
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// startDevRun starts `dev run` on dataDir and waits (bounded) until it
// prints that it is up. The listen port is picked here and bound by the run
// only once PostgreSQL and OpenFGA are up, seconds later; should another
// test's socket have taken it meanwhile, it starts again on another.
func startDevRun(t *testing.T, dataDir string) *devRunProc {
	t.Helper()
	for attempt := 1; ; attempt++ {
		d, portTaken := tryDevRun(t, dataDir)
		if !portTaken {
			return d
		}
		if attempt == 3 {
			t.Fatalf("dev run found its listen port taken %d times:\n%s", attempt, d.log())
		}
		t.Logf("dev run's listen port %s was taken before it bound it; again on another", d.addr)
	}
}

func tryDevRun(t *testing.T, dataDir string) (d *devRunProc, portTaken bool) {
	t.Helper()
	d = &devRunProc{addr: "127.0.0.1:" + strconv.Itoa(freePort(t)), exited: make(chan struct{})}
	d.cmd = exec.Command(bin, "dev", "run",
		"--data-dir", dataDir,
		"--listen-addr", d.addr,
		"--admin-listen-addr", "127.0.0.1:0",
		// 0: dev run picks free ports itself, and picks again if another
		// test's server takes one between the pick and the bind.
		"--postgres-port", "0",
		"--openfga-http-port", "0",
		"--openfga-grpc-port", "0",
		"--openfga-bin", testenv.Env(t, "OPENFGA_BIN"),
	)
	// No DATABASE_URL or OPENFGA_API_URL: dev run starts its own system, as
	// on a developer's machine.
	d.cmd.Env = environ("DATABASE_URL", "OPENFGA_API_URL", "OPENFGA_API_TOKEN")
	// The working folder must be one the postgres user may enter too: the
	// cluster inherits it (and complains in its log otherwise).
	d.cmd.Dir = dataDir
	// Its own process group, as a shell gives a foreground job: the
	// group is what a terminal's Ctrl-C signals.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stderr = lockedWriter{d}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	up := make(chan struct{})
	var upOnce sync.Once
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(lockedWriter{d}, line)
			if strings.HasPrefix(line, "caido-cloud is up") {
				upOnce.Do(func() { close(up) })
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		d.waitErr = d.cmd.Wait()
		close(d.exited)
	}()
	// Whatever happens to the test, the run and what it started stop.
	t.Cleanup(func() {
		select {
		case <-d.exited:
			return
		default:
		}
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-d.exited:
		case <-time.After(60 * time.Second):
			_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
			<-d.exited
		}
	})
	select {
	case <-up:
	case <-d.exited:
		if strings.Contains(d.log(), "listen tcp "+d.addr+": bind: address already in use") {
			return d, true
		}
		t.Fatalf("dev run exited before it was up (%v):\n%s", d.waitErr, d.log())
	case <-time.After(90 * time.Second):
		t.Fatalf("dev run was not up within 90s:\n%s", d.log())
	}
	return d, false
}

// interrupt sends SIGINT to the run's process group, as Ctrl-C in its
// terminal would, and waits (bounded) for it to exit 0.
func (d *devRunProc) interrupt(t *testing.T) {
	t.Helper()
	d.stop(t, -d.cmd.Process.Pid, syscall.SIGINT)
}

// stop sends sig to pid (a process group when negative) and waits (bounded)
// for the run to exit 0 with nothing logged at WARN or above.
func (d *devRunProc) stop(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(90 * time.Second):
		t.Fatalf("dev run did not exit within 90s of %s:\n%s", sig, d.log())
	}
	if d.waitErr != nil {
		t.Fatalf("dev run after %s: %v, want exit status 0:\n%s", sig, d.waitErr, d.log())
	}
	// A dependency that had to be killed is only a warning (the exit
	// status stays 0), so the log is where a stop that was not clean shows.
	for line := range strings.Lines(d.log()) {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			t.Errorf("dev run logged a problem: %s", line)
		}
	}
}

func (d *devRunProc) get(t *testing.T, path string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + d.addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// register registers an instance over HTTP and returns its credentials.
func (d *devRunProc) register(t *testing.T) (clientID, secret string) {
	t.Helper()
	resp, err := http.Post("http://"+d.addr+"/oauth2/register", "application/json",
		strings.NewReader(`{"scope":"","grant_types":["client_credentials"]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %s %v", resp.Status, err)
	}
	return r.ClientID, r.ClientSecret
}

// clientCredentials asks for an instance token and returns the status.
func (d *devRunProc) clientCredentials(t *testing.T, clientID, secret string) int {
	t.Helper()
	resp, err := http.PostForm("http://"+d.addr+"/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// readLocalEnv reads the settings dev run publishes in the data folder.
func readLocalEnv(t *testing.T, dataDir string) map[string]string {
	t.Helper()
	path := filepath.Join(dataDir, "local.env")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("while dev run runs: %v", err)
	}
	// It holds the database password and the master key.
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("local.env has mode %o, want 600", perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[k] = v
		}
	}
	for _, k := range []string{"DATABASE_URL", "OPENFGA_API_URL", "OPENFGA_API_TOKEN", "CAIDO_CLOUD_MASTER_KEY"} {
		if env[k] == "" {
			t.Errorf("local.env has no %s:\n%s", k, data)
		}
	}
	return env
}

// proc identifies a process across PID reuse: its PID and start time.
type proc struct {
	pid     int
	start   string
	cmdline string
}

// stat reads a process's parent and start time from /proc/PID/stat.
func stat(pid int) (ppid int, start string, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", false
	}
	// The command name (field 2) may hold spaces; fields after it don't.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, "", false
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 {
		return 0, "", false
	}
	ppid, _ = strconv.Atoi(fields[1]) // field 4
	return ppid, fields[19], true     // field 22, starttime
}

func allPIDs() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

func cmdline(pid int) string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(string(bytes.ReplaceAll(data, []byte{0}, []byte{' '})))
}

// descendants lists every process below pid now.
func descendants(pid int) []proc {
	children := map[int][]int{}
	starts := map[int]string{}
	for _, p := range allPIDs() {
		if ppid, start, ok := stat(p); ok {
			children[ppid] = append(children[ppid], p)
			starts[p] = start
		}
	}
	var out []proc
	queue := children[pid]
	for len(queue) > 0 {
		p := queue[0]
		queue = append(queue[1:], children[p]...)
		out = append(out, proc{pid: p, start: starts[p], cmdline: cmdline(p)})
	}
	return out
}

// assertAllStopped checks that nothing a run started outlives it: none of
// the processes it had, and no process naming its data folder.
func assertAllStopped(t *testing.T, dataDir string, had []proc) {
	t.Helper()
	for _, p := range had {
		if _, start, ok := stat(p.pid); ok && start == p.start {
			t.Errorf("process %d (%s) outlived dev run", p.pid, p.cmdline)
		}
	}
	for _, pid := range allPIDs() {
		if c := cmdline(pid); strings.Contains(c, dataDir) {
			t.Errorf("process %d (%s) names the data folder after dev run ended", pid, c)
		}
	}
	// PostgreSQL shut down cleanly each time it started: no crash recovery
	// on the next start.
	pgLog, err := os.ReadFile(filepath.Join(dataDir, "logs", "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	starts := strings.Count(string(pgLog), "starting PostgreSQL")
	stops := strings.Count(string(pgLog), "database system is shut down")
	if starts == 0 || stops != starts || strings.Contains(string(pgLog), "not properly shut down") {
		t.Errorf("PostgreSQL started %d times and shut down cleanly %d times; its log:\n%s", starts, stops, pgLog)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "local.env")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("local.env is still there after dev run ended (stat: %v); other commands would take it for a running system", err)
	}
}

// TestDevRun is `make run` twice on one data folder: it comes up from
// nothing, Ctrl-C stops all of it, and the second run finds the first's data.
func TestDevRun(t *testing.T) {
	// Not t.TempDir: as root, PostgreSQL runs as the postgres user, which
	// must be able to enter the folder (t.TempDir's are 0700) for the
	// cluster to live in it, as it does in a developer's checkout.
	dataDir, err := os.MkdirTemp("", "caido-cloud-devrun-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	if err := os.Chmod(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	email := fmt.Sprintf("dev-run-%d@example.com", time.Now().UnixNano())
	var masterKey string

	t.Run("first run", func(t *testing.T) {
		d := startDevRun(t, dataDir)
		if status, body := d.get(t, "/readyz"); status != http.StatusOK {
			t.Errorf("GET /readyz = %d, want 200: %s", status, body)
		}
		if _, err := os.Stat(filepath.Join(dataDir, "postgres", "PG_VERSION")); err != nil {
			t.Errorf("the PostgreSQL cluster is not in the data folder: %v", err)
		}
		env := readLocalEnv(t, dataDir)
		masterKey = env["CAIDO_CLOUD_MASTER_KEY"]
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, env["DATABASE_URL"])
		if err != nil {
			t.Fatalf("connect to local.env's DATABASE_URL: %v", err)
		}
		// Rows written behind the outbox's back: their tuple is missing from
		// OpenFGA until `fga reconcile`, run with nothing set but the data
		// folder, finds the running system through local.env and writes it.
		var workspaceID, userID string
		err = conn.QueryRow(ctx, `WITH u AS (INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id)
			INSERT INTO workspaces (name, owner_user_id, is_default) SELECT 'Default', id, true FROM u
			RETURNING id::text, owner_user_id::text`, email, "Dev Run").Scan(&workspaceID, &userID)
		conn.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		missing := "workspace:" + workspaceID + "#owner_user@user:" + userID
		noSettings := environ("DATABASE_URL", "OPENFGA_API_URL", "OPENFGA_API_TOKEN")
		dry := run(t, t.TempDir(), noSettings, "fga", "reconcile", "--dry-run", "--data-dir", dataDir)
		if dry.code != 0 || !strings.Contains(dry.stdout, "would be written  "+missing) || !strings.Contains(dry.stdout, "reconcile: 1 would be written, 0 would be deleted") {
			t.Fatalf("fga reconcile --dry-run: exit %d\n%s%s", dry.code, dry.stdout, dry.stderr)
		}
		fixed := run(t, t.TempDir(), noSettings, "fga", "reconcile", "--data-dir", dataDir)
		if fixed.code != 0 || !strings.Contains(fixed.stdout, "written  "+missing) || !strings.Contains(fixed.stdout, "reconcile: 1 written, 0 deleted") {
			t.Fatalf("fga reconcile: exit %d\n%s%s", fixed.code, fixed.stdout, fixed.stderr)
		}
		again := run(t, t.TempDir(), noSettings, "fga", "reconcile", "--data-dir", dataDir)
		if again.code != 0 || !strings.Contains(again.stdout, "reconcile: 0 written, 0 deleted") {
			t.Fatalf("a second fga reconcile: exit %d\n%s%s", again.code, again.stdout, again.stderr)
		}

		// The operator's identity commands, on the running system.
		// By default the new keys are published ahead, and say from when
		// they sign; a second run keeps the scheduled keys.
		keys := run(t, t.TempDir(), noSettings, "keys", "rotate", "--data-dir", dataDir)
		if keys.code != 0 || !strings.Contains(keys.stdout, "ES256: new key ") || !strings.Contains(keys.stdout, "RS256: new key ") ||
			strings.Count(keys.stdout, ", published now, signing from ") != 2 || strings.Contains(keys.stderr, "warning") {
			t.Fatalf("keys rotate: exit %d\n%s%s", keys.code, keys.stdout, keys.stderr)
		}
		if again := run(t, t.TempDir(), noSettings, "keys", "rotate", "--data-dir", dataDir); again.code != 0 || again.stdout != keys.stdout {
			t.Fatalf("keys rotate again: exit %d\n%s%s; want the scheduled keys again:\n%s", again.code, again.stdout, again.stderr, keys.stdout)
		}
		// --now switches at once, and warns of what that costs.
		now := run(t, t.TempDir(), noSettings, "keys", "rotate", "--now", "--data-dir", dataDir)
		if now.code != 0 || strings.Count(now.stdout, ", signing now") != 2 ||
			!strings.Contains(now.stderr, "warning: the new keys sign at once: verifiers that cached the JWKS may reject new tokens for up to 5m0s") {
			t.Fatalf("keys rotate --now: exit %d\n%s%s", now.code, now.stdout, now.stderr)
		}
		clientID, oldSecret := d.register(t)
		reset := run(t, t.TempDir(), noSettings, "instance", "reset-secret", "--client-id", clientID, "--data-dir", dataDir)
		newSecret := strings.TrimSpace(reset.stdout)
		if reset.code != 0 || !strings.HasPrefix(newSecret, "cs_") {
			t.Fatalf("instance reset-secret: exit %d\n%s%s", reset.code, reset.stdout, reset.stderr)
		}
		if code := d.clientCredentials(t, clientID, oldSecret); code != http.StatusUnauthorized {
			t.Fatalf("the old secret after reset: %d, want 401", code)
		}
		if code := d.clientCredentials(t, clientID, newSecret); code != http.StatusOK {
			t.Fatalf("the new secret after reset: %d, want 200", code)
		}
		del := run(t, t.TempDir(), noSettings, "instance", "delete", "--client-id", clientID, "--data-dir", dataDir)
		if del.code != 0 || !strings.Contains(del.stdout, "deleted instance ") {
			t.Fatalf("instance delete: exit %d\n%s%s", del.code, del.stdout, del.stderr)
		}
		if code := d.clientCredentials(t, clientID, newSecret); code != http.StatusUnauthorized {
			t.Fatalf("a deleted instance's secret: %d, want 401", code)
		}

		// The catalogue an operator fills, and a user's plan.
		releaseFile := filepath.Join(t.TempDir(), "release.json")
		if err := os.WriteFile(releaseFile, []byte(`{"id":"r1","version":"0.51.0","released_at":"2026-11-01T00:00:00Z","links":[]}`), 0o644); err != nil {
			t.Fatal(err)
		}
		if r := run(t, t.TempDir(), noSettings, "release", "publish", "--file", releaseFile, "--data-dir", dataDir); r.code != 0 {
			t.Fatalf("release publish: exit %d\n%s", r.code, r.stderr)
		}
		if status, body := d.get(t, "/releases/latest"); status != http.StatusOK || !strings.Contains(body, `"0.51.0"`) {
			t.Fatalf("GET /releases/latest after publishing: %d %s", status, body)
		}
		if r := run(t, t.TempDir(), noSettings, "plan", "set", "--email", email, "--plan", "individual", "--data-dir", dataDir); r.code != 0 {
			t.Fatalf("plan set: exit %d\n%s", r.code, r.stderr)
		}
		if r := run(t, t.TempDir(), noSettings, "plan", "set", "--email", email, "--plan", "platinum", "--data-dir", dataDir); r.code != 1 || !strings.Contains(r.stderr, "platinum") {
			t.Fatalf("plan set to an unknown plan: exit %d\n%s", r.code, r.stderr)
		}
		key := run(t, t.TempDir(), noSettings, "regkey", "create", "--email", email, "--prefix", "ci", "--data-dir", dataDir)
		if key.code != 0 || !strings.HasPrefix(key.stdout, "ckey_") {
			t.Fatalf("regkey create: exit %d\n%s%s", key.code, key.stdout, key.stderr)
		}

		had := descendants(d.cmd.Process.Pid)
		var names []string
		for _, p := range had {
			names = append(names, p.cmdline)
		}
		// Without PostgreSQL and OpenFGA among them, the check below would
		// prove nothing.
		joined := strings.Join(names, "\n")
		if !strings.Contains(joined, "postgres") || !strings.Contains(joined, "openfga") {
			t.Fatalf("dev run's processes do not include PostgreSQL and OpenFGA:\n%s", joined)
		}
		d.interrupt(t)
		assertAllStopped(t, dataDir, had)
	})
	if t.Failed() {
		return
	}

	t.Run("second run keeps the data", func(t *testing.T) {
		d := startDevRun(t, dataDir)
		if status, body := d.get(t, "/readyz"); status != http.StatusOK {
			t.Errorf("GET /readyz = %d, want 200: %s", status, body)
		}
		env := readLocalEnv(t, dataDir)
		if env["CAIDO_CLOUD_MASTER_KEY"] != masterKey {
			t.Errorf("the master key changed between runs: signing keys encrypted with the first would be lost")
		}
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, env["DATABASE_URL"])
		if err != nil {
			t.Fatalf("connect to local.env's DATABASE_URL: %v", err)
		}
		var name string
		err = conn.QueryRow(ctx, `SELECT name FROM users WHERE email = $1`, email).Scan(&name)
		conn.Close(ctx)
		if err != nil || name != "Dev Run" {
			t.Errorf("the user written in the first run: name %q, error %v; want it kept", name, err)
		}
		had := descendants(d.cmd.Process.Pid)
		d.interrupt(t)
		assertAllStopped(t, dataDir, had)
	})
	if t.Failed() {
		return
	}

	// Killing make rather than pressing Ctrl-C: the kernel sends SIGTERM to
	// dev run alone (stopWithParent), not to its group.
	t.Run("SIGTERM to dev run alone", func(t *testing.T) {
		d := startDevRun(t, dataDir)
		if status, body := d.get(t, "/readyz"); status != http.StatusOK {
			t.Errorf("GET /readyz = %d, want 200: %s", status, body)
		}
		had := descendants(d.cmd.Process.Pid)
		d.stop(t, d.cmd.Process.Pid, syscall.SIGTERM)
		assertAllStopped(t, dataDir, had)
	})
}
