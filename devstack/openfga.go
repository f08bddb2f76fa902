package devstack

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// OpenFGA is the pinned upstream OpenFGA server on the PostgreSQL datastore,
// listening on loopback and requiring a pre-shared key.
type OpenFGA struct {
	Bin          string
	DatastoreURI string
	HTTPAddr     string
	GRPCAddr     string
	PresharedKey string
	LogPath      string

	proc *process
}

// env passes the secrets (datastore password, pre-shared key) in the
// environment, never in arguments that `ps` shows.
func (f *OpenFGA) env() []string {
	return append(os.Environ(),
		"OPENFGA_DATASTORE_ENGINE=postgres",
		"OPENFGA_DATASTORE_URI="+f.DatastoreURI,
		"OPENFGA_DATASTORE_MAX_OPEN_CONNS=20",
		"OPENFGA_HTTP_ADDR="+f.HTTPAddr,
		"OPENFGA_GRPC_ADDR="+f.GRPCAddr,
		"OPENFGA_AUTHN_METHOD=preshared",
		"OPENFGA_AUTHN_PRESHARED_KEYS="+f.PresharedKey,
		"OPENFGA_PLAYGROUND_ENABLED=false",
		"OPENFGA_METRICS_ENABLED=false",
		"OPENFGA_LOG_FORMAT=json",
		"OPENFGA_LOG_LEVEL=warn",
	)
}

// Migrate brings OpenFGA's own schema in its datastore to this version's.
func (f *OpenFGA) Migrate(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, f.Bin, "migrate", "--log-level", "warn")
	cmd.Env = f.env()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("openfga migrate: %w\n%s", err, lastBytes(out))
	}
	return nil
}

// Start runs the server and waits until it reports serving.
func (f *OpenFGA) Start(ctx context.Context) error {
	if _, err := os.Stat(f.Bin); err != nil {
		return fmt.Errorf("OpenFGA binary %s: %w (`make openfga` builds it)", f.Bin, err)
	}
	cmd := exec.Command(f.Bin, "run")
	cmd.Env = f.env()
	var err error
	if f.proc, err = startProcess("OpenFGA", cmd, f.LogPath, syscall.SIGTERM); err != nil {
		return err
	}
	return waitFor(ctx, f.proc, 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.URL()+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("OpenFGA /healthz: %s", resp.Status)
		}
		return nil
	})
}

// URL is the HTTP API's address.
func (f *OpenFGA) URL() string { return "http://" + f.HTTPAddr }

// Signal sends sig to the running server: tests pause it with SIGSTOP (it
// keeps accepting connections, the kernel does, and never answers) and
// resume it with SIGCONT.
func (f *OpenFGA) Signal(sig syscall.Signal) error {
	if f.proc == nil || f.proc.exited() {
		return fmt.Errorf("OpenFGA is not running")
	}
	return f.proc.cmd.Process.Signal(sig)
}

// Stop shuts the server down gracefully.
func (f *OpenFGA) Stop() error {
	if f.proc == nil {
		return nil
	}
	return f.proc.stop(syscall.SIGTERM, 15*time.Second)
}
