package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWritersWhileServeRuns: berth serve holds the state directory for as
// long as it runs. Every command that writes to hosts or the store gives up
// within its --wait with exit status 1 and an error that names the daemon
// and says what to do; none hangs, none runs beside the daemon. Once the
// daemon stopped, the same commands run.
func TestWritersWhileServeRuns(t *testing.T) {
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "berth.yaml"), []byte("environments:\n  production: { branch: main }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(base, "state")
	p := startServe(t, "--repo", repo, "--state-dir", stateDir, "--poll", "0", "--drift-interval", "0")
	listen := strings.TrimPrefix(p.api, "http://")
	daemon := []string{`"berth serve"`, "pid " + strconv.Itoa(p.cmd.Process.Pid), "API on " + listen}
	shared := []string{"--env", "production", "--repo", repo, "--state-dir", stateDir}

	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"apply", append([]string{"apply", "--auto-approve", "--wait", "1s"}, shared...), []string{
			"berth apply: state dir " + stateDir + " is in use by berth", "gave up after waiting 1s",
			"POST", "http://" + listen + "/api/v1/environments/production/reconcile", "operator token", "stop it",
		}},
		{"apply without waiting", append([]string{"apply", "--auto-approve", "--wait", "0"}, shared...), []string{
			"berth apply: state dir " + stateDir + " is in use by berth", "/api/v1/environments/production/reconcile",
		}},
		{"backup", append([]string{"backup", "a.example.com", "--wait", "1s"}, shared...), []string{
			"berth backup: state dir " + stateDir + " is in use", "gave up after waiting 1s", "stop it (systemctl stop berth), run berth backup",
		}},
		{"backup --due", append([]string{"backup", "--due", "--wait", "0"}, shared...), []string{
			"berth backup: state dir " + stateDir + " is in use", "stop it (systemctl stop berth), run berth backup",
		}},
		{"restore", append([]string{"restore", "a.example.com", "--backup", "20260101T000000Z", "--wait", "1s"}, shared...), []string{
			"berth restore: state dir " + stateDir + " is in use", "gave up after waiting 1s", "run berth restore",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stderr := berthProcess(t, c.args...)
			if code != 1 {
				t.Errorf("exit status %d, want 1\n%s", code, stderr)
			}
			for _, want := range append(c.want, daemon...) {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr)
				}
			}
		})
	}

	// Reading never waits for the daemon.
	if code, stderr := berthProcess(t, append([]string{"plan"}, shared...)...); code != 0 {
		t.Errorf("plan while berth serve runs: exit status %d\n%s", code, stderr)
	}

	// The daemon gone, the directory is free.
	p.stop()
	for _, args := range [][]string{
		append([]string{"backup", "--due", "--wait", "0"}, shared...),
		append([]string{"apply", "--auto-approve", "--wait", "0"}, shared...),
	} {
		if code, stderr := berthProcess(t, args...); code != 0 {
			t.Errorf("berth %s after berth serve stopped: exit status %d\n%s", args[0], code, stderr)
		}
	}
}

// berthProcess runs berth (this test binary standing in for it) as a
// process and returns its exit status and standard error. The timeout is a
// safety net that turns a hang into a failure, not a measurement.
func berthProcess(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "BERTH_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("berth %s did not return within 2 minutes: it hangs\n%s", strings.Join(args, " "), stderr.String())
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run berth %s: %v", args[0], err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}
