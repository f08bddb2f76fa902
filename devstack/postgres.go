package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a private PostgreSQL cluster: initdb on first start, reused
// after, listening on loopback TCP only (no socket in the system's folder).
type Postgres struct {
	BinDir   string
	DataDir  string // the cluster's folder
	Port     int
	Password string // of the superuser "postgres"
	LogPath  string
	// Throwaway trades durability for speed: for test clusters only.
	Throwaway bool

	proc *process
}

// FindPostgres returns the folder of the PostgreSQL server binaries: $PG_BIN_DIR,
// else the newest /usr/lib/postgresql/*/bin, else initdb's folder on $PATH.
// When there are none and we are root it installs Debian's postgresql package;
// otherwise it says which command does.
func FindPostgres(log *slog.Logger) (string, error) {
	if dir := os.Getenv("PG_BIN_DIR"); dir != "" {
		return dir, nil
	}
	find := func() string {
		dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
				return d
			}
		}
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p)
		}
		return ""
	}
	if dir := find(); dir != "" {
		return dir, nil
	}
	const install = "apt-get update && apt-get install -y postgresql"
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("the PostgreSQL server binaries are not installed; install them with: sudo sh -c '%s'", install)
	}
	log.Info("installing the PostgreSQL server binaries", "command", install)
	cmd := exec.Command("sh", "-c", install)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: %w\n%s", install, err, lastBytes(out))
	}
	if dir := find(); dir != "" {
		return dir, nil
	}
	return "", errors.New("installed postgresql, yet found no initdb")
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func lastBytes(out []byte) string {
	if len(out) > 2000 {
		out = out[len(out)-2000:]
	}
	return string(out)
}

// serverUser is who runs the cluster: PostgreSQL refuses to run as root, so
// root runs it as the "postgres" user that Debian's package creates.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs the system user \"postgres\" (created by Debian's postgresql package): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// Reachable reports whether the server user can enter dir, which it must to
// use a cluster there. Checked by trying, as that user.
func Reachable(dir string) bool {
	cred, err := serverUser()
	if err != nil {
		return false
	}
	if cred == nil {
		return true
	}
	cmd := exec.Command("/bin/sh", "-c", `cd "$1"`, "sh", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return cmd.Run() == nil
}

func (p *Postgres) command(name string, args ...string) (*exec.Cmd, error) {
	cred, err := serverUser()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(p.BinDir, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	return cmd, nil
}

// chown gives path to the server user when we run as root.
func chown(path string) error {
	cred, err := serverUser()
	if err != nil || cred == nil {
		return err
	}
	return os.Chown(path, int(cred.Uid), int(cred.Gid))
}

// Start creates the cluster if needed, starts it and waits until it accepts
// connections.
func (p *Postgres) Start(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(p.DataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := p.initdb(); err != nil {
			return err
		}
	}
	args := []string{"-D", p.DataDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(p.Port),
		"-c", "unix_socket_directories=",
		"-c", "max_connections=200",
	}
	if p.Throwaway {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd, err := p.command("postgres", args...)
	if err != nil {
		return err
	}
	// SIGQUIT on our death: PostgreSQL's immediate shutdown, which also ends
	// its backends (SIGKILL would leave them running).
	if p.proc, err = startProcess("PostgreSQL", cmd, p.LogPath, syscall.SIGQUIT); err != nil {
		return err
	}
	return waitFor(ctx, p.proc, 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, p.URL("postgres"))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
}

func (p *Postgres) initdb() error {
	if err := os.MkdirAll(p.DataDir, 0o700); err != nil {
		return err
	}
	if err := chown(p.DataDir); err != nil {
		return err
	}
	// initdb reads the password from a file, as the server user.
	pwFile := filepath.Join(filepath.Dir(p.DataDir), ".initdb-password") // initdb wants an empty folder
	if err := os.WriteFile(pwFile, []byte(p.Password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwFile)
	if err := chown(pwFile); err != nil {
		return err
	}
	args := []string{"-D", p.DataDir, "-U", "postgres", "--auth=scram-sha-256", "--pwfile=" + pwFile,
		"-E", "UTF8", "--locale=C"}
	if p.Throwaway {
		args = append(args, "--no-sync")
	}
	cmd, err := p.command("initdb", args...)
	if err != nil {
		return err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", p.DataDir, err, lastBytes(out))
	}
	return nil
}

// URL is the superuser's connection string for database db.
func (p *Postgres) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword("postgres", p.Password),
		Host:     "127.0.0.1:" + strconv.Itoa(p.Port),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CreateDatabase creates db unless it exists.
func (p *Postgres) CreateDatabase(ctx context.Context, db string) error {
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, db).Scan(&exists); err != nil || exists {
		return err
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize())
	return err
}

// Stop asks for a fast shutdown: open transactions are rolled back, data kept.
func (p *Postgres) Stop() error {
	if p.proc == nil {
		return nil
	}
	return p.proc.stop(syscall.SIGINT, 30*time.Second)
}
