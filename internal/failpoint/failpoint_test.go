package failpoint

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		name string
		n    int64
	}{
		{"", "", 1},
		{"before-check", "before-check", 1},
		{"after-write:vhost#3", "after-write:vhost", 3},
		{"mid-delete#0", "mid-delete", 1},
		{"mid-delete#x", "mid-delete", 1},
	} {
		name, n := parse(tc.in)
		if name != tc.name || n != tc.n {
			t.Errorf("parse(%q) = %q, %d; want %q, %d", tc.in, name, n, tc.name, tc.n)
		}
	}
}

// TestHitKills runs this test binary as a child with a failpoint armed: the
// child must die of SIGKILL at the armed hit and not before.
func TestHitKills(t *testing.T) {
	if os.Getenv("FAILPOINT_CHILD") == "1" {
		Hit("other")
		Hit("point")
		os.Stdout.WriteString("survived first hit\n")
		Hit("point")
		os.Stdout.WriteString("survived second hit\n")
		return
	}
	for _, tc := range []struct {
		env      string
		killed   bool
		wantText string
	}{
		{"point", true, ""},
		{"point#2", true, "survived first hit\n"},
		{"point#3", false, "survived first hit\nsurvived second hit\n"},
		{"", false, "survived first hit\nsurvived second hit\n"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHitKills$")
		cmd.Env = append(os.Environ(), "FAILPOINT_CHILD=1", Env+"="+tc.env)
		out, err := cmd.Output()
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if killed := ws.Signaled() && ws.Signal() == syscall.SIGKILL; killed != tc.killed {
			t.Errorf("%s=%q: killed = %v (err %v), want %v", Env, tc.env, killed, err, tc.killed)
		}
		if tc.killed && string(out) != tc.wantText {
			t.Errorf("%s=%q: output %q, want %q", Env, tc.env, out, tc.wantText)
		}
		if !tc.killed && err != nil {
			t.Errorf("%s=%q: %v", Env, tc.env, err)
		}
	}
}
