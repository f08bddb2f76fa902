package config

import (
	"encoding/base64"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func lookupFrom(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func TestDefaults(t *testing.T) {
	c, err := Load(lookupFrom(map[string]string{"CAIDO_CLOUD_DATA_DIR": t.TempDir()}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != "127.0.0.1:8080" || c.PublicURL != "http://127.0.0.1:8080" || c.LogFormat != "json" ||
		c.ShutdownTimeout != 20*time.Second || c.AuthzWait != 2*time.Second || c.OpenFGAStoreName != "caido-cloud" {
		t.Fatalf("defaults: %+v", c)
	}
}

// TestEveryProblemIsReportedWithWhatToDo: one run tells the operator every
// wrong setting, each with the form it wants.
func TestEveryProblemIsReportedWithWhatToDo(t *testing.T) {
	_, err := Load(lookupFrom(map[string]string{
		"CAIDO_CLOUD_DATA_DIR":         t.TempDir(),
		"CAIDO_CLOUD_LISTEN_ADDR":      "8080",
		"CAIDO_CLOUD_PUBLIC_URL":       "cloud.example.com",
		"OPENFGA_API_URL":              "openfga:8080",
		"CAIDO_CLOUD_MASTER_KEY":       "c2hvcnQ=",
		"CAIDO_CLOUD_LOG_FORMAT":       "xml",
		"CAIDO_CLOUD_LOG_LEVEL":        "loud",
		"CAIDO_CLOUD_SHUTDOWN_TIMEOUT": "-1s",
		"CAIDO_CLOUD_AUTHZ_WAIT":       "soon",
	}))
	if err == nil {
		t.Fatal("bad settings accepted")
	}
	for _, want := range []string{
		"CAIDO_CLOUD_LISTEN_ADDR: want host:port",
		"CAIDO_CLOUD_PUBLIC_URL: want an absolute http(s) URL",
		"OPENFGA_API_URL: want an absolute http(s) URL",
		"CAIDO_CLOUD_MASTER_KEY: want 32 random bytes in standard base64; generate one with `caido-cloud keys master`",
		"CAIDO_CLOUD_LOG_FORMAT: want json or text",
		"CAIDO_CLOUD_LOG_LEVEL:",
		"CAIDO_CLOUD_SHUTDOWN_TIMEOUT: want a positive duration",
		"CAIDO_CLOUD_AUTHZ_WAIT: want a positive duration",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestRequireSaysWhatToSet(t *testing.T) {
	c, err := Load(lookupFrom(map[string]string{"CAIDO_CLOUD_DATA_DIR": t.TempDir()}))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Require("DATABASE_URL", "OPENFGA_API_URL", "CAIDO_CLOUD_MASTER_KEY")
	for _, want := range []string{"DATABASE_URL is not set", "OPENFGA_API_URL is not set", "CAIDO_CLOUD_MASTER_KEY is not set: generate one with `caido-cloud keys master`"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Require: %v, want it to contain %q", err, want)
		}
	}
	c.MasterKey = make([]byte, 32)
	c.DatabaseURL, c.OpenFGAURL = "postgres://x", "http://y"
	if err := c.Require("DATABASE_URL", "OPENFGA_API_URL", "CAIDO_CLOUD_MASTER_KEY"); err != nil {
		t.Fatal(err)
	}
}

func TestMasterKey(t *testing.T) {
	k1, k2 := NewMasterKey(), NewMasterKey()
	raw, err := base64.StdEncoding.DecodeString(k1)
	if err != nil || len(raw) != 32 || k1 == k2 {
		t.Fatalf("NewMasterKey: %q, %q", k1, k2)
	}
	c, err := Load(lookupFrom(map[string]string{"CAIDO_CLOUD_DATA_DIR": t.TempDir(), "CAIDO_CLOUD_MASTER_KEY": k1}))
	if err != nil || string(c.MasterKey) != string(raw) {
		t.Fatalf("Load of a good key: %v", err)
	}
}

// TestFlagsOverrideEnvironment: a flag given wins; a flag not given leaves
// the environment's value.
func TestFlagsOverrideEnvironment(t *testing.T) {
	t.Setenv("CAIDO_CLOUD_LISTEN_ADDR", "127.0.0.1:9000")
	t.Setenv("CAIDO_CLOUD_LOG_FORMAT", "text")
	t.Setenv("CAIDO_CLOUD_DATA_DIR", t.TempDir())
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	load := Flags(fs)
	if err := fs.Parse([]string{"--listen-addr", "127.0.0.1:9001", "--database-url", "postgres://flag"}); err != nil {
		t.Fatal(err)
	}
	c, err := load()
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != "127.0.0.1:9001" || c.DatabaseURL != "postgres://flag" || c.LogFormat != "text" {
		t.Fatalf("got %+v", c)
	}
}

// TestSubcommandFlagWins: a subcommand's own flag named like a setting's
// (team subscription --seats N) keeps its meaning; the setting
// (CAIDO_CLOUD_SEATS) then comes from the environment, and defaults to
// enforced.
func TestSubcommandFlagWins(t *testing.T) {
	t.Setenv("CAIDO_CLOUD_DATA_DIR", t.TempDir())
	for _, tc := range []struct {
		env  string
		off  bool
		seat int
	}{{"", false, 3}, {"off", true, 3}, {"enforced", false, 3}} {
		if tc.env != "" {
			t.Setenv("CAIDO_CLOUD_SEATS", tc.env)
		}
		fs := flag.NewFlagSet("team subscription", flag.ContinueOnError)
		seats := fs.Int("seats", -1, "how many members may use a seat")
		load := Flags(fs)
		if err := fs.Parse([]string{"--seats", "3"}); err != nil {
			t.Fatal(err)
		}
		c, err := load()
		if err != nil {
			t.Fatal(err)
		}
		if *seats != tc.seat || c.SeatsOff != tc.off {
			t.Errorf("CAIDO_CLOUD_SEATS=%q --seats 3: seats %d, SeatsOff %v; want %d, %v", tc.env, *seats, c.SeatsOff, tc.seat, tc.off)
		}
	}
	t.Setenv("CAIDO_CLOUD_SEATS", "sometimes")
	if _, err := Load(os.LookupEnv); err == nil || !strings.Contains(err.Error(), "CAIDO_CLOUD_SEATS") {
		t.Errorf("CAIDO_CLOUD_SEATS=sometimes: %v, want an error naming it", err)
	}
}

// TestLocalEnvFile: with nothing set, the settings of a running `make run`
// are found in its data folder; a DATABASE_URL in the environment wins over
// the whole file.
func TestLocalEnvFile(t *testing.T) {
	dir := t.TempDir()
	key := NewMasterKey()
	if err := WriteEnvFile(LocalEnvFile(dir), map[string]string{
		"DATABASE_URL": "postgres://local", "OPENFGA_API_URL": "http://127.0.0.1:18081", "CAIDO_CLOUD_MASTER_KEY": key,
	}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "local.env")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("local.env must be private: %v %v", fi.Mode(), err)
	}
	c, err := Load(lookupFrom(map[string]string{"CAIDO_CLOUD_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "postgres://local" || c.OpenFGAURL != "http://127.0.0.1:18081" || c.MasterKey == nil {
		t.Fatalf("from local.env: %+v", c)
	}
	c, err = Load(lookupFrom(map[string]string{"CAIDO_CLOUD_DATA_DIR": dir, "DATABASE_URL": "postgres://prod"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "postgres://prod" || c.OpenFGAURL != "" || c.MasterKey != nil {
		t.Fatalf("with DATABASE_URL set, local.env must be ignored: %+v", c)
	}
}

// TestSecureIssuer: serve refuses a public URL that is not https unless
// its host is loopback (RFC 8414 §2: the issuer uses https).
func TestSecureIssuer(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://cloud.example.com": true, "http://127.0.0.1:8080": true, "http://[::1]:8080": true,
		"http://localhost:8080": true, "http://dev.localhost": true,
		"http://cloud.example.com": false, "http://0.0.0.0:8080": false, "http://192.168.1.10": false,
	} {
		err := Config{PublicURL: u}.SecureIssuer()
		if (err == nil) != ok {
			t.Errorf("%s: %v, want ok %v", u, err, ok)
		}
	}
}
