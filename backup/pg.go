package backup

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// libpqEnv maps the connection parameters pg_dump and psql understand to
// the environment variables libpq reads them from. The connection goes to
// the tools through the environment, never their arguments: arguments are
// visible to every user of the machine (ps, /proc/PID/cmdline), a process's
// environment only to its owner.
var libpqEnv = map[string]string{
	"host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE",
	"user": "PGUSER", "password": "PGPASSWORD", "passfile": "PGPASSFILE",
	"service": "PGSERVICE", "options": "PGOPTIONS", "application_name": "PGAPPNAME",
	"connect_timeout": "PGCONNECT_TIMEOUT", "client_encoding": "PGCLIENTENCODING",
	"sslmode": "PGSSLMODE", "requiressl": "PGREQUIRESSL", "sslcompression": "PGSSLCOMPRESSION",
	"sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "sslrootcert": "PGSSLROOTCERT",
	"sslcrl": "PGSSLCRL", "sslcrldir": "PGSSLCRLDIR", "sslsni": "PGSSLSNI",
	"sslcertmode": "PGSSLCERTMODE", "sslnegotiation": "PGSSLNEGOTIATION",
	"ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION", "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
	"requirepeer": "PGREQUIREPEER", "require_auth": "PGREQUIREAUTH", "channel_binding": "PGCHANNELBINDING",
	"gssencmode": "PGGSSENCMODE", "krbsrvname": "PGKRBSRVNAME", "gsslib": "PGGSSLIB",
	"gssdelegation": "PGGSSDELEGATION", "target_session_attrs": "PGTARGETSESSIONATTRS",
	"load_balance_hosts": "PGLOADBALANCEHOSTS",
}

// connInfo is DATABASE_URL as libpq environment variables.
type connInfo struct {
	env      []string
	password string
}

// parseConn turns DATABASE_URL (a URL or key=value pairs, as pgx takes it)
// into libpq environment variables. Parameters only pgx knows (pool_max_conns
// and the like) are left out: libpq would refuse them. Errors never quote
// the string, which holds the password.
func parseConn(databaseURL string) (connInfo, error) {
	params, err := connParams(databaseURL)
	if err != nil {
		return connInfo{}, errors.New("DATABASE_URL is not a valid PostgreSQL connection string")
	}
	if _, ok := params["sslpassword"]; ok {
		return connInfo{}, errors.New("DATABASE_URL sets sslpassword, which pg_dump and psql cannot be given without putting it on their command line: use an unencrypted client key file instead")
	}
	c := connInfo{password: params["password"]}
	if _, ok := params["application_name"]; !ok {
		params["application_name"] = "caido-cloud backup"
	}
	for k, v := range params {
		if name, ok := libpqEnv[k]; ok {
			c.env = append(c.env, name+"="+v)
		}
	}
	return c, nil
}

// connParams reads the libpq parameters of a connection string.
func connParams(s string) (map[string]string, error) {
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		return urlParams(s)
	}
	return keywordParams(s)
}

func urlParams(s string) (map[string]string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	p := map[string]string{}
	if u.User != nil {
		if name := u.User.Username(); name != "" {
			p["user"] = name
		}
		if pw, ok := u.User.Password(); ok {
			p["password"] = pw
		}
	}
	if u.Host != "" {
		// libpq takes several hosts as comma-separated lists of hosts and ports.
		var hosts, ports []string
		anyPort := false
		for _, hp := range strings.Split(u.Host, ",") {
			host, port, err := net.SplitHostPort(hp)
			if err != nil {
				host, port = strings.Trim(hp, "[]"), ""
			}
			anyPort = anyPort || port != ""
			hosts, ports = append(hosts, host), append(ports, port)
		}
		p["host"] = strings.Join(hosts, ",")
		if anyPort {
			for i := range ports {
				if ports[i] == "" {
					ports[i] = "5432"
				}
			}
			p["port"] = strings.Join(ports, ",")
		}
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		p["dbname"] = db
	}
	for k, vs := range u.Query() {
		if len(vs) > 0 {
			p[k] = vs[0]
		}
	}
	return p, nil
}

// keywordParams reads key=value strings such as host=h password='a b':
// values may be single-quoted, with backslash escapes.
func keywordParams(s string) (map[string]string, error) {
	p := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t\n\r")
		if s == "" {
			return p, nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, errors.New("want key=value")
		}
		key := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t\n\r")
		var val strings.Builder
		if strings.HasPrefix(s, "'") {
			s = s[1:]
			closed := false
			for len(s) > 0 {
				c := s[0]
				s = s[1:]
				if c == '\\' && len(s) > 0 {
					val.WriteByte(s[0])
					s = s[1:]
					continue
				}
				if c == '\'' {
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return nil, errors.New("unterminated quote")
			}
		} else {
			for len(s) > 0 && !strings.ContainsRune(" \t\n\r", rune(s[0])) {
				if s[0] == '\\' && len(s) > 1 {
					s = s[1:]
				}
				val.WriteByte(s[0])
				s = s[1:]
			}
		}
		p[key] = val.String()
	}
}

// scrub takes the password out of a message, should a tool ever echo it.
func (c connInfo) scrub(msg string) string {
	if c.password == "" {
		return msg
	}
	return strings.ReplaceAll(msg, c.password, "********")
}

// tool finds a PostgreSQL client program: in PG_BIN_DIR when it is set (the
// same variable `make test` sets), else on PATH. It must be of the server's
// major version or newer; pg_dump says so itself when it is not.
func tool(name string) (string, error) {
	if dir := os.Getenv("PG_BIN_DIR"); dir != "" {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("PG_BIN_DIR=%s has no %s", dir, name)
		}
		return path, nil
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s is not on PATH: install the PostgreSQL client programs (the server's major version or newer), or set PG_BIN_DIR to their folder", name)
	}
	return path, nil
}

func toolVersion(ctx context.Context, path string) (string, error) {
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", path, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// run runs a PostgreSQL program against the connection, with stdin and
// stdout as given; a failure carries the end of its stderr, scrubbed.
func (c connInfo) run(ctx context.Context, path string, stdin io.Reader, stdout io.Writer, args ...string) error {
	cmd := c.command(ctx, path, args...)
	cmd.Stdin, cmd.Stdout = stdin, stdout
	stderr := &tail{max: 4096}
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return c.failure(path, err, stderr)
	}
	return nil
}

func (c connInfo) command(ctx context.Context, path string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...)
	// Later entries win: these override any PG* variable inherited, as pgx's
	// own connection string overrides them.
	cmd.Env = append(os.Environ(), c.env...)
	return cmd
}

func (c connInfo) failure(path string, err error, stderr *tail) error {
	msg := strings.TrimSpace(stderr.String())
	if msg == "" {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return fmt.Errorf("%s: %w: %s", filepath.Base(path), err, c.scrub(msg))
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string { return string(bytes.ToValidUTF8(t.buf, nil)) }

func newGzipWriter(w io.Writer) *gzip.Writer {
	// BestSpeed: the dump is mostly text that compresses well anyway, and
	// the default level would make the CPU, not the disk, the bottleneck.
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	return gz
}
