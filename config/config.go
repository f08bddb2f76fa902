// Package config reads the service's settings from environment variables
// (flags may override them) and says precisely what to set when one is wrong.
package config

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/caido-cloud/caido-cloud/backup"
)

// Config is every setting of the service.
type Config struct {
	ListenAddr       string
	PublicURL        string
	DatabaseURL      string
	OpenFGAURL       string
	OpenFGAToken     string
	OpenFGAStoreName string
	MasterKey        []byte
	LogFormat        string
	LogLevel         slog.Level
	ShutdownTimeout  time.Duration
	AuthzWait        time.Duration
	// SeatsOff: team members use the team's instances without a seat.
	SeatsOff bool
	DataDir  string

	// OpenFGATimeout bounds every OpenFGA call a request waits on.
	OpenFGATimeout time.Duration
	// Database*Timeout are PostgreSQL's statement_timeout and lock_timeout
	// on every connection of the pool.
	DatabaseStatementTimeout time.Duration
	DatabaseLockTimeout      time.Duration

	AccessTokenLifetime  time.Duration
	RefreshTokenLifetime time.Duration
	KeyRotation          time.Duration
	DeviceCodeLifetime   time.Duration
	DevicePollInterval   time.Duration
	RegistrationLimit    int
	// ShareMailLimit is how many shares by email (each a mail sent on the
	// sharer's behalf) a user may make per hour.
	ShareMailLimit     int
	RegistrationWindow time.Duration
	// SignInLimit failed sign-ins are allowed per account and per client
	// IP in each SignInWindow; CodeLimit wrong user codes per client IP and
	// per browser session on the device page in each CodeWindow.
	SignInLimit  int
	SignInWindow time.Duration
	CodeLimit    int
	CodeWindow   time.Duration
	// HeadlessCodeLimit wrong user codes are allowed in headless approval
	// per user and per client address in each HeadlessCodeWindow,
	// whatever the personal access tokens.
	HeadlessCodeLimit  int
	HeadlessCodeWindow time.Duration
	// DevicePendingLimit device authorizations may await a decision per
	// instance (OAuth client) at once.
	DevicePendingLimit int
	// SignUpLimit sign-ups are allowed per client address and SignUpTotal
	// from everyone in each SignUpWindow; SignedInLimit successful
	// sign-ins per client address in each SignInWindow.
	// SignInAccountLimit failed sign-ins per account in a SignInWindow
	// before the account is guessed from many addresses: then one attempt
	// per SignInSlowInterval (and browsers it signed in before).
	SignInAccountLimit int
	SignInSlowInterval time.Duration
	SignUpLimit        int
	SignUpTotal        int
	SignUpWindow       time.Duration
	SignedInLimit      int
	// SignUp is who may sign up: "open", "invite-only" or email domains
	// (accounts.ParseSignUpPolicy reads it; app refuses to start on a bad
	// one).
	SignUp string
	// ResetLifetime is how long a mailed password reset link works.
	ResetLifetime time.Duration
	// HashConcurrency password hashes run at once per process (0: the
	// number of CPUs), each waiting at most HashWait for its turn.
	HashConcurrency int
	HashWait        time.Duration

	AssistantBaseURL string
	AssistantAPIKey  string
	AssistantTimeout time.Duration

	// SMTP* send the service's mail (package mail); with no SMTPHost, mail
	// is written to the log instead.
	SMTPHost     string
	SMTPPort     int
	SMTPUsername string
	SMTPPassword string
	SMTPFrom     string

	// Backup* are the encrypted backups (package backup): serve backs up
	// every BackupInterval when BackupDir and BackupKeyset are both set.
	BackupDir       string
	BackupKeyset    *keyset.Handle
	BackupInterval  time.Duration
	BackupRetention time.Duration

	// TLS*: serve terminates TLS itself with these files when both are set.
	TLSCertFile string
	TLSKeyFile  string
	// TrustedProxies are the peers whose forwarding headers name the
	// client; empty: the socket's address is the client's.
	TrustedProxies []netip.Prefix
	// ClientIPHeader is the one forwarding header the trusted proxies set
	// (x-forwarded-for, forwarded or x-real-ip); no other is read.
	ClientIPHeader string
	// Admin*: the operator-only listener; off when AdminListenAddr is empty.
	AdminListenAddr string
	AdminToken      string

	// given holds the settings that had a value, valid or not, so that
	// Require does not call a malformed one missing.
	given map[string]bool
}

// Setting is one environment variable: its default, its meaning, and how it
// lands in Config. The table below is the single source of the README's table.
type Setting struct {
	Env     string
	Default string
	Help    string
	set     func(*Config, string) error
}

// Settings lists every setting, in the order the README shows them.
var Settings = []Setting{
	{"CAIDO_CLOUD_LISTEN_ADDR", "127.0.0.1:8080", "Address the HTTP server listens on.", func(c *Config, v string) error {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("want host:port, e.g. 0.0.0.0:8080")
		}
		c.ListenAddr = v
		return nil
	}},
	{"CAIDO_CLOUD_PUBLIC_URL", "", "URL users and instances reach the service at (issuer, links): https, or http on a loopback host only (serve refuses others). Default: http:// + the listen address.", func(c *Config, v string) error {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("want an absolute http(s) URL with no path, e.g. https://cloud.example.com")
		}
		c.PublicURL = strings.TrimSuffix(v, "/")
		return nil
	}},
	{"DATABASE_URL", "", "PostgreSQL connection string (required; `make run` starts its own).", func(c *Config, v string) error {
		c.DatabaseURL = v
		return nil
	}},
	{"CAIDO_CLOUD_DATABASE_STATEMENT_TIMEOUT", "10s", "PostgreSQL's statement_timeout on every connection of the service: a statement still running after it is cancelled and its request answers 503 (retry) rather than hang. Migrations and other work under an advisory lock are exempt.", func(c *Config, v string) (err error) {
		c.DatabaseStatementTimeout, err = positiveDuration(v)
		return err
	}},
	{"CAIDO_CLOUD_DATABASE_LOCK_TIMEOUT", "5s", "PostgreSQL's lock_timeout on every connection: a statement waiting longer for a row or table lock fails and its request answers 503 (retry).", func(c *Config, v string) (err error) {
		c.DatabaseLockTimeout, err = positiveDuration(v)
		return err
	}},
	{"OPENFGA_API_URL", "", "OpenFGA HTTP API, e.g. http://openfga:8080 (required; `make run` starts its own).", func(c *Config, v string) error {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("want an absolute http(s) URL, e.g. http://127.0.0.1:8081")
		}
		c.OpenFGAURL = strings.TrimSuffix(v, "/")
		return nil
	}},
	{"OPENFGA_API_TOKEN", "", "Pre-shared key OpenFGA requires, if it requires one.", func(c *Config, v string) error {
		c.OpenFGAToken = v
		return nil
	}},
	{"OPENFGA_STORE_NAME", "caido-cloud", "Name of the OpenFGA store `migrate` creates when PostgreSQL names none.", func(c *Config, v string) error {
		c.OpenFGAStoreName = v
		return nil
	}},
	{"CAIDO_CLOUD_OPENFGA_TIMEOUT", "2s", "How long a request waits for one OpenFGA answer (a check, a batch of ten, readiness) before it answers 503 with Retry-After (OAuth endpoints: temporarily_unavailable). The outbox's writes, reconcile and migrate wait up to 30 s (or this, if longer).", func(c *Config, v string) (err error) {
		c.OpenFGATimeout, err = positiveDuration(v)
		return err
	}},
	{"CAIDO_CLOUD_MASTER_KEY", "", "32 bytes, base64: encrypts signing keys at rest (required by serve; generate with `caido-cloud keys master`).", func(c *Config, v string) error {
		key, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(key) != 32 {
			return fmt.Errorf("want 32 random bytes in standard base64; generate one with `caido-cloud keys master`")
		}
		c.MasterKey = key
		return nil
	}},
	{"CAIDO_CLOUD_LOG_FORMAT", "json", "Log format: json (production) or text.", func(c *Config, v string) error {
		if v != "json" && v != "text" {
			return fmt.Errorf("want json or text")
		}
		c.LogFormat = v
		return nil
	}},
	{"CAIDO_CLOUD_LOG_LEVEL", "info", "Log level: debug, info, warn or error.", func(c *Config, v string) error {
		return c.LogLevel.UnmarshalText([]byte(v))
	}},
	{"CAIDO_CLOUD_SHUTDOWN_TIMEOUT", "20s", "On SIGTERM, how long in-flight requests may take to finish.", func(c *Config, v string) (err error) {
		c.ShutdownTimeout, err = positiveDuration(v)
		return err
	}},
	{"CAIDO_CLOUD_AUTHZ_WAIT", "2s", "How long a change of access waits for OpenFGA before answering that it is pending.", func(c *Config, v string) (err error) {
		c.AuthzWait, err = positiveDuration(v)
		return err
	}},
	{"CAIDO_CLOUD_SEATS", "enforced", "enforced: a team member uses the team's instances only with a seat of its Team or Enterprise subscription (as Caido); off: every member does (for self-hosters who do not bill).", func(c *Config, v string) error {
		if v != "enforced" && v != "off" {
			return fmt.Errorf("want enforced or off")
		}
		c.SeatsOff = v == "off"
		return nil
	}},
	{"CAIDO_CLOUD_ACCESS_TOKEN_LIFETIME", "168h", "Lifetime of access tokens (instance and user).", func(c *Config, v string) (err error) {
		c.AccessTokenLifetime, err = positiveDuration(v)
		return err
	}},
	{"CAIDO_CLOUD_REFRESH_TOKEN_LIFETIME", "2160h", "Lifetime of a refresh token (each use rotates it).", func(c *Config, v string) (err error) {
		c.RefreshTokenLifetime, err = positiveDuration(v)
		return err
	}},
	{"CAIDO_CLOUD_KEY_ROTATION", "720h", "How often a new signing key replaces the current one (old keys stay published until their tokens expire).", func(c *Config, v string) (err error) {
		c.KeyRotation, err = positiveDuration(v)
		return err
	}},
	{"CAIDO_CLOUD_DEVICE_CODE_LIFETIME", "10m", "How long a device flow's codes stay valid (expires_in).", func(c *Config, v string) (err error) {
		c.DeviceCodeLifetime, err = positiveDuration(v)
		return err
	}},
	{"CAIDO_CLOUD_DEVICE_POLL_INTERVAL", "5s", "The polling interval a device is told to keep (interval).", func(c *Config, v string) (err error) {
		c.DevicePollInterval, err = positiveDuration(v)
		return err
	}},
	{"CAIDO_CLOUD_DEVICE_PENDING_LIMIT", "10", "Device authorizations (sign-ins started at an instance, not yet approved, denied or expired) allowed per instance at once; past it, 429 with Retry-After.", func(c *Config, v string) (err error) {
		c.DevicePendingLimit, err = positiveInt(v)
		return err
	}},
	{"CAIDO_CLOUD_REGISTRATION_LIMIT", "20", "Instance registrations allowed per client IP per window.", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("want a positive whole number")
		}
		c.RegistrationLimit = n
		return nil
	}},
	{"CAIDO_CLOUD_REGISTRATION_WINDOW", "1h", "The window of CAIDO_CLOUD_REGISTRATION_LIMIT.", func(c *Config, v string) (err error) {
		c.RegistrationWindow, err = positiveDuration(v)
		return err
	}},
	{"CAIDO_CLOUD_SHARE_MAIL_LIMIT", "20", "Shares by email (each mails the address) a user may make per hour.", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("want a positive whole number")
		}
		c.ShareMailLimit = n
		return nil
	}},
	{"CAIDO_CLOUD_SIGN_IN_LIMIT", "10", "Failed sign-ins (wrong current passwords included) allowed per account from one client address, and per address, per window.", func(c *Config, v string) (err error) {
		c.SignInLimit, err = positiveInt(v)
		return err
	}},
	{"CAIDO_CLOUD_SIGN_IN_WINDOW", "15m", "The window of CAIDO_CLOUD_SIGN_IN_LIMIT.", func(c *Config, v string) (err error) {
		c.SignInWindow, err = positiveDuration(v)
		return err
	}},
	{"CAIDO_CLOUD_CODE_LIMIT", "10", "Wrong user codes allowed on the device page per client IP and per browser session per window.", func(c *Config, v string) (err error) {
		c.CodeLimit, err = positiveInt(v)
		return err
	}},
	{"CAIDO_CLOUD_CODE_WINDOW", "10m", "The window of CAIDO_CLOUD_CODE_LIMIT.", func(c *Config, v string) (err error) {
		c.CodeWindow, err = positiveDuration(v)
		return err
	}},
	{"CAIDO_CLOUD_SIGN_IN_ACCOUNT_LIMIT", "50", "Failed sign-ins per account from all addresses per CAIDO_CLOUD_SIGN_IN_WINDOW; past it, browsers that signed in to it before still do, others get one attempt per CAIDO_CLOUD_SIGN_IN_SLOW_INTERVAL.", func(c *Config, v string) (err error) {
		c.SignInAccountLimit, err = positiveInt(v)
		return err
	}},
	{"CAIDO_CLOUD_SIGN_IN_SLOW_INTERVAL", "30s", "How often an account whose password is being guessed takes a sign-in from a browser it does not know.", func(c *Config, v string) (err error) {
		c.SignInSlowInterval, err = positiveDuration(v)
		return err
	}},
	{"CAIDO_CLOUD_HEADLESS_CODE_LIMIT", "20", "Wrong user codes allowed in headless approval (/oauth2/device/information, approve, deny) per user and per client address (an IPv6 address by its /64) per window, whatever the personal access tokens; each token also has ten a minute.", func(c *Config, v string) (err error) {
		c.HeadlessCodeLimit, err = positiveInt(v)
		return err
	}},
	{"CAIDO_CLOUD_HEADLESS_CODE_WINDOW", "10m", "The window of CAIDO_CLOUD_HEADLESS_CODE_LIMIT.", func(c *Config, v string) (err error) {
		c.HeadlessCodeWindow, err = positiveDuration(v)
		return err
	}},
	{"CAIDO_CLOUD_SIGN_UP_LIMIT", "10", "Sign-ups allowed per client address (an IPv6 address by its /64) per window.", func(c *Config, v string) (err error) {
		c.SignUpLimit, err = positiveInt(v)
		return err
	}},
	{"CAIDO_CLOUD_SIGN_UP_TOTAL", "1000", "Sign-ups allowed from every address together per window.", func(c *Config, v string) (err error) {
		c.SignUpTotal, err = positiveInt(v)
		return err
	}},
	{"CAIDO_CLOUD_SIGN_UP_WINDOW", "1h", "The window of CAIDO_CLOUD_SIGN_UP_LIMIT and CAIDO_CLOUD_SIGN_UP_TOTAL.", func(c *Config, v string) (err error) {
		c.SignUpWindow, err = positiveDuration(v)
		return err
	}},
	{"CAIDO_CLOUD_SIGNED_IN_LIMIT", "60", "Successful sign-ins allowed per client address per CAIDO_CLOUD_SIGN_IN_WINDOW (each costs a password hash).", func(c *Config, v string) (err error) {
		c.SignedInLimit, err = positiveInt(v)
		return err
	}},
	{"CAIDO_CLOUD_SIGNUP", "open", "Who may sign up on the pages: open, invite-only (an address with an open team invitation or a share waiting for it), or a comma-separated list of email domains. `user create` is not limited by it.", func(c *Config, v string) error {
		c.SignUp = v
		return nil
	}},
	{"CAIDO_CLOUD_PASSWORD_RESET_LIFETIME", "1h", "How long a mailed password reset link works (it works once).", func(c *Config, v string) (err error) {
		c.ResetLifetime, err = positiveDuration(v)
		return err
	}},
	{"CAIDO_CLOUD_HASH_CONCURRENCY", "", "Password hashes (Argon2id, 64 MiB each) computed at once per process. Default: the number of CPUs.", func(c *Config, v string) (err error) {
		c.HashConcurrency, err = positiveInt(v)
		return err
	}},
	{"CAIDO_CLOUD_HASH_WAIT", "3s", "How long a sign-in or sign-up waits for a free hash slot before 503 with Retry-After.", func(c *Config, v string) (err error) {
		c.HashWait, err = positiveDuration(v)
		return err
	}},
	{"CAIDO_CLOUD_ASSISTANT_BASE_URL", "", "OpenAI-compatible API the assistant proxies to, e.g. https://api.openai.com/v1 (unset: the assistant answers that it is unavailable).", func(c *Config, v string) error {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("want an absolute http(s) URL, e.g. https://api.openai.com/v1")
		}
		c.AssistantBaseURL = strings.TrimSuffix(v, "/")
		return nil
	}},
	{"CAIDO_CLOUD_ASSISTANT_API_KEY", "", "API key sent to the assistant's upstream.", func(c *Config, v string) error {
		c.AssistantAPIKey = v
		return nil
	}},
	{"CAIDO_CLOUD_ASSISTANT_TIMEOUT", "60s", "How long one upstream completion may take before the call fails (retryably) and its reservation is released.", func(c *Config, v string) (err error) {
		c.AssistantTimeout, err = positiveDuration(v)
		return err
	}},
	{"CAIDO_CLOUD_SMTP_HOST", "", "SMTP server the service sends its mail through (address verification, security notices). Unset: each mail is written to the log at INFO instead, links included, for development.", func(c *Config, v string) error {
		if _, _, err := net.SplitHostPort(v); err == nil || strings.ContainsAny(v, "/ ") {
			return fmt.Errorf("want a host name alone, e.g. smtp.example.com (the port is CAIDO_CLOUD_SMTP_PORT)")
		}
		c.SMTPHost = v
		return nil
	}},
	{"CAIDO_CLOUD_SMTP_PORT", "587", "Port of CAIDO_CLOUD_SMTP_HOST: STARTTLS is used whenever the server offers it; 465 speaks TLS from the start.", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 65535 {
			return fmt.Errorf("want a port number, e.g. 587")
		}
		c.SMTPPort = n
		return nil
	}},
	{"CAIDO_CLOUD_SMTP_USERNAME", "", "User name for AUTH PLAIN (sent only over TLS or to localhost); unset: no authentication.", func(c *Config, v string) error {
		c.SMTPUsername = v
		return nil
	}},
	{"CAIDO_CLOUD_SMTP_PASSWORD", "", "Password of CAIDO_CLOUD_SMTP_USERNAME (secret).", func(c *Config, v string) error {
		c.SMTPPassword = v
		return nil
	}},
	{"CAIDO_CLOUD_SMTP_FROM", "", "Sender of the mail, e.g. `caido-cloud <noreply@example.com>` (required with CAIDO_CLOUD_SMTP_HOST).", func(c *Config, v string) error {
		if _, err := mail.ParseAddress(v); err != nil {
			return fmt.Errorf("want an address, e.g. noreply@example.com or caido-cloud <noreply@example.com>")
		}
		c.SMTPFrom = v
		return nil
	}},
	{"CAIDO_CLOUD_BACKUP_DIR", "", "Folder of the encrypted backups. With CAIDO_CLOUD_BACKUP_KEYSET, serve backs up every CAIDO_CLOUD_BACKUP_INTERVAL (on one replica) and prunes; the `backup` commands use it too.", func(c *Config, v string) error {
		c.BackupDir = v
		return nil
	}},
	{"CAIDO_CLOUD_BACKUP_KEYSET", "", "Tink streaming-AEAD keyset, JSON, that encrypts backups (secret; generate with `caido-cloud backup keygen`; keep a copy apart from the backups: without it they cannot be read).", func(c *Config, v string) (err error) {
		// The error never quotes the value: it is a secret.
		c.BackupKeyset, err = backup.ParseKeyset(v)
		return err
	}},
	{"CAIDO_CLOUD_BACKUP_INTERVAL", "24h", "How often serve backs up: once per period of this length (24h: once per UTC day).", func(c *Config, v string) (err error) {
		c.BackupInterval, err = positiveDuration(v)
		if err == nil && c.BackupInterval < time.Minute {
			err = fmt.Errorf("want at least 1m, e.g. 24h")
		}
		return err
	}},
	{"CAIDO_CLOUD_BACKUP_RETENTION", "720h", "How long backups are kept: serve prunes older ones after each backup (never the newest); `backup prune` by default.", func(c *Config, v string) (err error) {
		c.BackupRetention, err = positiveDuration(v)
		return err
	}},
	{"CAIDO_CLOUD_TLS_CERT_FILE", "", "PEM certificate chain: serve terminates TLS itself (TLS 1.2 or better), reloading both files on SIGHUP and when they change. Needs CAIDO_CLOUD_TLS_KEY_FILE.", func(c *Config, v string) error {
		c.TLSCertFile = v
		return nil
	}},
	{"CAIDO_CLOUD_TLS_KEY_FILE", "", "PEM private key of CAIDO_CLOUD_TLS_CERT_FILE (a secret: keep the file readable by the service only).", func(c *Config, v string) error {
		c.TLSKeyFile = v
		return nil
	}},
	{"CAIDO_CLOUD_TRUSTED_PROXIES", "", "Comma-separated addresses or CIDR ranges of reverse proxies whose CAIDO_CLOUD_CLIENT_IP_HEADER names the client. Empty: no header is believed; the socket's address is the client's.", func(c *Config, v string) error {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			p, err := netip.ParsePrefix(part)
			if err != nil {
				a, aerr := netip.ParseAddr(part)
				if aerr != nil {
					return fmt.Errorf("%q is neither an address nor a CIDR range (e.g. 10.0.0.0/8)", part)
				}
				p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
			}
			c.TrustedProxies = append(c.TrustedProxies, p.Masked())
		}
		return nil
	}},
	{"CAIDO_CLOUD_CLIENT_IP_HEADER", "x-forwarded-for", "The one header the trusted proxies set to the client's address: x-forwarded-for, forwarded (RFC 7239) or x-real-ip, read from the right past trusted hops. No other header is read, so the proxy must overwrite this one (Caddy and nginx pass a client's own Forwarded and X-Real-IP through unless told to remove them).", func(c *Config, v string) error {
		v = strings.ToLower(v)
		if v != "x-forwarded-for" && v != "forwarded" && v != "x-real-ip" {
			return fmt.Errorf("want x-forwarded-for, forwarded or x-real-ip")
		}
		c.ClientIPHeader = v
		return nil
	}},
	{"CAIDO_CLOUD_ADMIN_LISTEN_ADDR", "127.0.0.1:9090", "Address of the operator-only listener (/metrics, /admin/v1/*), apart from the public one. Keep it off the public network; `none` turns it off.", func(c *Config, v string) error {
		if v == "none" {
			c.AdminListenAddr = ""
			return nil
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("want host:port, e.g. 127.0.0.1:9090, or none")
		}
		c.AdminListenAddr = v
		return nil
	}},
	{"CAIDO_CLOUD_ADMIN_TOKEN", "", "Operator credential (Bearer) for /admin/v1/* on the admin listener; without it those answer 401. At least 32 characters; generate with `caido-cloud keys master`.", func(c *Config, v string) error {
		if len(v) < 32 {
			return fmt.Errorf("want at least 32 characters; generate one with `caido-cloud keys master`")
		}
		c.AdminToken = v
		return nil
	}},
	{"CAIDO_CLOUD_DATA_DIR", ".data", "Folder of `make run`'s PostgreSQL, OpenFGA binary, master key and logs.", func(c *Config, v string) error {
		c.DataDir = v
		return nil
	}},
}

func positiveInt(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a positive whole number")
	}
	return n, nil
}

func positiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want a positive duration such as 500ms, 20s or 1m")
	}
	return d, nil
}

// LocalEnvFile is where `caido-cloud dev run` writes the settings of the
// system it started, so that other subcommands run from the project root find
// it with nothing set. It exists only while `make run` is up.
func LocalEnvFile(dataDir string) string { return filepath.Join(dataDir, "local.env") }

// Flags registers a flag per setting on fs (--listen-addr for
// CAIDO_CLOUD_LISTEN_ADDR, --database-url for DATABASE_URL) and returns a
// function that loads the configuration with the flags set taking precedence
// over the environment. A flag fs already has is the subcommand's own and
// stays so (`team subscription --seats N` is not CAIDO_CLOUD_SEATS): there,
// that setting comes from the environment only.
func Flags(fs *flag.FlagSet) func() (Config, error) {
	values := map[string]*string{} // flag name → its value
	envOf := map[string]string{}   // flag name → setting
	for _, s := range Settings {
		name := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(s.Env, "CAIDO_CLOUD_"), "_", "-"))
		if fs.Lookup(name) != nil {
			continue
		}
		values[name] = fs.String(name, "", s.Help+" Overrides $"+s.Env+".")
		envOf[name] = s.Env
	}
	return func() (Config, error) {
		given := map[string]*string{} // setting → the flag's value
		fs.Visit(func(f *flag.Flag) {
			if env, ok := envOf[f.Name]; ok {
				given[env] = values[f.Name]
			}
		})
		return Load(func(env string) (string, bool) {
			if v, ok := given[env]; ok {
				return *v, true
			}
			return os.LookupEnv(env)
		})
	}
}

// Load reads every setting through lookup. When DATABASE_URL is not set and
// the data folder holds a local.env (a running `make run`), its values fill
// what lookup does not give. Every problem is reported at once.
func Load(lookup func(string) (string, bool)) (Config, error) {
	var c Config
	dataDir := ".data"
	if v, ok := lookup("CAIDO_CLOUD_DATA_DIR"); ok && v != "" {
		dataDir = v
	}
	local := map[string]string{}
	if _, ok := lookup("DATABASE_URL"); !ok {
		local, _ = readEnvFile(LocalEnvFile(dataDir))
	}
	var problems []error
	c.given = map[string]bool{}
	for _, s := range Settings {
		v, ok := lookup(s.Env)
		if !ok {
			v, ok = local[s.Env]
		}
		c.given[s.Env] = ok && v != ""
		if !ok || v == "" {
			v = s.Default
		}
		if v == "" {
			continue
		}
		if err := s.set(&c, v); err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", s.Env, err))
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		problems = append(problems, fmt.Errorf("CAIDO_CLOUD_TLS_CERT_FILE and CAIDO_CLOUD_TLS_KEY_FILE: set both to serve TLS, or neither"))
	}
	if c.PublicURL == "" {
		scheme := "http://"
		if c.TLSCertFile != "" {
			scheme = "https://"
		}
		c.PublicURL = scheme + c.ListenAddr
	}
	return c, errors.Join(problems...)
}

// SecureIssuer refuses a public URL that is not https unless its host is
// loopback: it is the issuer of every token, and RFC 8414 §2 (as OpenID
// Connect Discovery) has the issuer use https; over plain http anyone on
// the way reads and changes tokens and sign-ins.
func (c Config) SecureIssuer() error {
	u, err := url.Parse(c.PublicURL)
	if err != nil {
		return fmt.Errorf("CAIDO_CLOUD_PUBLIC_URL: %w", err)
	}
	if u.Scheme == "https" {
		return nil
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return nil
	}
	return fmt.Errorf("CAIDO_CLOUD_PUBLIC_URL is %s: the issuer must be https (RFC 8414 §2) unless its host is loopback; "+
		"serve behind a TLS proxy (deploy/Caddyfile) and set CAIDO_CLOUD_PUBLIC_URL=https://…, or serve TLS with "+
		"CAIDO_CLOUD_TLS_CERT_FILE and CAIDO_CLOUD_TLS_KEY_FILE", c.PublicURL)
}

// Require reports each named setting that is empty, with what to do.
func (c Config) Require(envs ...string) error {
	var problems []error
	for _, env := range envs {
		missing := false
		switch env {
		case "DATABASE_URL":
			missing = c.DatabaseURL == ""
		case "OPENFGA_API_URL":
			missing = c.OpenFGAURL == ""
		case "CAIDO_CLOUD_MASTER_KEY":
			missing = c.MasterKey == nil
		case "CAIDO_CLOUD_BACKUP_DIR":
			missing = c.BackupDir == ""
		case "CAIDO_CLOUD_BACKUP_KEYSET":
			missing = c.BackupKeyset == nil
		default:
			panic("config: Require of an unknown setting " + env)
		}
		if missing && !c.given[env] {
			problems = append(problems, fmt.Errorf("%s is not set: %s", env, help(env)))
		}
	}
	return errors.Join(problems...)
}

func help(env string) string {
	if env == "CAIDO_CLOUD_MASTER_KEY" {
		return "generate one with `caido-cloud keys master` and keep it secret (losing it loses the signing keys)"
	}
	if env == "CAIDO_CLOUD_BACKUP_KEYSET" {
		return "generate one with `caido-cloud backup keygen`, keep it secret, and keep a copy apart from the backups (losing it loses every backup)"
	}
	if env == "CAIDO_CLOUD_BACKUP_DIR" {
		return "the folder that holds the encrypted backups"
	}
	for _, s := range Settings {
		if s.Env == env {
			return s.Help + " For a local system, run `make run` and use it from the project root."
		}
	}
	return ""
}

// NewMasterKey returns 32 random bytes in the form CAIDO_CLOUD_MASTER_KEY takes.
func NewMasterKey() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails on Linux (crypto/rand panics instead)
	return base64.StdEncoding.EncodeToString(key)
}

// readEnvFile reads KEY=VALUE lines; blank lines and # comments are skipped.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out, sc.Err()
}

// WriteEnvFile writes values as KEY=VALUE lines readable only by the owner:
// they include secrets.
func WriteEnvFile(path string, values map[string]string) error {
	var b strings.Builder
	b.WriteString("# Written by `caido-cloud dev run` while it runs; removed when it stops.\n")
	for _, s := range Settings {
		if v, ok := values[s.Env]; ok {
			fmt.Fprintf(&b, "%s=%s\n", s.Env, v)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// Logger returns the slog logger the settings ask for.
func (c Config) Logger() *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}
