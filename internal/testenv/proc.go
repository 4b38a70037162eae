package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a daemon started by a helper. It is stopped by PID in t.Cleanup.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Log  string // file holding the daemon's stdout and stderr

	// StopSignal asks the daemon to stop; SIGTERM unless a helper set
	// another (PostgreSQL: SIGINT, its fast shutdown).
	StopSignal syscall.Signal

	exited  chan struct{}
	waitErr error
	once    sync.Once
}

// PID returns the process ID.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Exited is closed when the process has exited and been reaped.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// start runs argv with output to logFile, reaps it in the background and
// stops it when the test ends.
func start(t testing.TB, name, logFile string, argv []string, setup func(*exec.Cmd)) *Proc {
	t.Helper()
	lf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("testenv: %s: open log: %v", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if setup != nil {
		setup(cmd)
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		t.Fatalf("testenv: start %s (%s): %v", name, strings.Join(argv, " "), err)
	}
	p := &Proc{Name: name, Cmd: cmd, Log: logFile, StopSignal: syscall.SIGTERM, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		lf.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("testenv: %s log (%s):\n%s", name, logFile, tailFile(logFile, 4000))
		}
	})
	return p
}

// Stop sends StopSignal to the process (and its process group), waits up to
// ten seconds for it to exit, then kills it. It is safe to call twice.
func (p *Proc) Stop() {
	p.once.Do(func() {
		pid := p.Cmd.Process.Pid
		_ = syscall.Kill(pid, p.StopSignal)
		_ = syscall.Kill(-pid, p.StopSignal)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
			<-p.exited
		}
	})
}

// waitTCP polls until addr accepts a connection, the process exits, or
// the timeout passes.
func waitTCP(p *Proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before listening on %s (%v): %s", p.Name, addr, p.waitErr, tailFile(p.Log, 2000))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %s after %s: %w: %s", p.Name, addr, timeout, err, tailFile(p.Log, 2000))
		}
		time.Sleep(20 * time.Millisecond) // readiness poll, bounded by deadline
	}
}

// waitFor polls cond until it is true, the process exits, or the timeout
// passes.
func waitFor(p *Proc, what string, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before %s (%v): %s", p.Name, what, p.waitErr, tailFile(p.Log, 2000))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no %s after %s: %s", p.Name, what, timeout, tailFile(p.Log, 2000))
		}
		time.Sleep(20 * time.Millisecond) // readiness poll, bounded by deadline
	}
	return nil
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// run runs a setup command and fails the test with its output on error.
func run(t testing.TB, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: %s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// lockFile serialises setup steps that touch machine-wide state (users,
// packages, network addresses) across test processes: go test runs the
// packages of ./... in parallel.
func lockFile(t testing.TB, name string) func() {
	t.Helper()
	f, err := os.OpenFile("/tmp/berth-testenv-"+name+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("testenv: lock %s: %v", name, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		t.Fatalf("testenv: lock %s: %v", name, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}

// need makes sure program exists, installing pkg with apt-get when it does
// not; it returns the program's path. Tests that need real services do not
// skip: a program that cannot be installed fails the test.
func need(t testing.TB, program, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(program); err == nil {
		return p
	}
	unlock := lockFile(t, "apt")
	defer unlock()
	if p, err := exec.LookPath(program); err == nil {
		return p
	}
	t.Logf("testenv: %s is missing; installing Debian package %s (scripts/install-deps installs every package the tests use)", program, pkg)
	if out, err := exec.Command("apt-get", "install", "-y", "-qq", "--no-install-recommends", pkg).CombinedOutput(); err != nil {
		_ = exec.Command("apt-get", "update", "-qq").Run()
		if out2, err2 := exec.Command("apt-get", "install", "-y", "-qq", "--no-install-recommends", pkg).CombinedOutput(); err2 != nil {
			t.Fatalf("testenv: %s is not installed and apt-get install %s failed: %v\n%s\n%s\nrun scripts/install-deps as root", program, pkg, err2, out, out2)
		}
	}
	p, err := exec.LookPath(program)
	if err != nil {
		t.Fatalf("testenv: installed %s but %s is still not on PATH: %v", pkg, program, err)
	}
	return p
}

// tempRoot makes a directory under /tmp that other users may traverse
// (t.TempDir is private to root, but daemons drop privileges), removed
// when the test ends.
func tempRoot(t testing.TB, prefix string) string {
	t.Helper()
	d, err := os.MkdirTemp("", "berth-"+prefix+"-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
