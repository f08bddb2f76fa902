// Package devstack starts the dependencies of a development or test system on
// this machine: a private PostgreSQL cluster and a pinned OpenFGA server. It is
// what `make run` and `make test` stand on; production sets DATABASE_URL and
// OPENFGA_API_URL instead and never touches this package.
package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// process is a child we started and must stop.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

// startProcess runs cmd with its output appended to logPath, in a process
// group of its own: a Ctrl-C in the terminal reaches only us, and we stop the
// children in order. If we die without stopping them, the kernel sends them
// deathSignal.
func startProcess(name string, cmd *exec.Cmd, logPath string, deathSignal syscall.Signal) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = deathSignal
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig, waits up to grace, then kills.
func (p *process) stop(sig syscall.Signal, grace time.Duration) error {
	if p == nil || p.exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s did not stop within %s and was killed", p.name, grace)
	}
}

// failure describes a child that exited or never became ready, with the end
// of its log, which is where the reason is.
func (p *process) failure(what string) error {
	return fmt.Errorf("%s %s; the end of %s:\n%s", p.name, what, p.logPath, tail(p.logPath, 15))
}

func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	data = bytes.TrimRight(data, "\n")
	parts := bytes.Split(data, []byte("\n"))
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return string(bytes.Join(parts, []byte("\n")))
}

// waitFor polls ready until it succeeds, the process exits, ctx ends (a
// Ctrl-C during start-up), or timeout passes.
func waitFor(ctx context.Context, p *process, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for %s: %w", p.name, ctx.Err())
		}
		err := ready()
		if err == nil {
			return nil
		}
		if p.exited() {
			return p.failure("exited")
		}
		if time.Now().After(deadline) {
			return errors.Join(p.failure(fmt.Sprintf("was not ready within %s", timeout)), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
