package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hostconformance"
	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/internal/failpoint"
	"github.com/berthhq/berth/internal/testenv"
)

// deniedEnv names the locked directory when this test binary runs as its
// own child, as an unprivileged user (see deniedAsTestUser).
const deniedEnv = "BERTH_LOCAL_DENIED_DIR"

func TestConformance(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("the local conformance suite runs as root (as CI does): it checks ownership changes and permission errors as another user")
	}
	testenv.TestUserIDs(t) // OtherUser must exist
	// berth serve's local hosts share one HashCache for the daemon's life:
	// every host made by New shares one here too.
	hashes := local.NewHashCache()
	for _, tt := range []struct {
		name string
		new  func() host.Host
	}{
		{"plain", func() host.Host { return local.New() }},
		{"hash cache", func() host.Host { return local.NewWithCache(hashes) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(testenv.Dir(t), "conformance")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			hostconformance.Run(t, hostconformance.Target{
				New:       func(*testing.T) host.Host { return tt.new() },
				Dir:       dir,
				OtherUser: testenv.TestUser,
				Denied:    deniedAsTestUser,
				FullDir:   testenv.Tmpfs(t, 1<<20),
				InterruptBatch: func(t *testing.T, ops []host.BatchOp, after int) {
					interruptedChild(t, ops, after)
				},
			})
		})
	}
}

// batchOpsEnv names the file holding the ops TestBatchChild applies.
const batchOpsEnv = "BERTH_LOCAL_BATCH_OPS"

// interruptedChild runs TestBatchChild in a copy of this test process
// with the failpoint mid-batch armed at the (after+1)-th rename: the
// process SIGKILLs itself there, as in a power cut.
func interruptedChild(t *testing.T, ops []host.BatchOp, after int) {
	b, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ops.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run", "^TestBatchChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=mid-batch#%d", failpoint.Env, after+1), batchOpsEnv+"="+file)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("TestBatchChild: %v, want it killed by the failpoint\n%s", err, out)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("TestBatchChild ended with %v, want SIGKILL from the failpoint\n%s", err, out)
	}
}

// TestBatchChild is the half of TestConformance's WriteBatchInterrupted
// case that is killed mid-batch; run on its own it has nothing to do.
func TestBatchChild(t *testing.T) {
	file := os.Getenv(batchOpsEnv)
	if file == "" {
		t.Log("runs only as the child of TestConformance")
		return
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var ops []host.BatchOp
	if err := json.Unmarshal(b, &ops); err != nil {
		t.Fatal(err)
	}
	res, err := local.New().WriteBatch(context.Background(), ops)
	t.Fatalf("the failpoint %s did not fire: WriteBatch returned %v, %+v", os.Getenv(failpoint.Env), err, res)
}

// deniedAsTestUser runs TestDeniedChild in a copy of this test binary as
// testenv.TestUser: a process cannot be root and not root at once, and the
// local driver acts with its process's credentials.
func deniedAsTestUser(t *testing.T, locked string) {
	testenv.TestUserIDs(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The go build directory is private to root; copy the binary out.
	bin := filepath.Join(testenv.Dir(t), "local.test")
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("runuser", "-u", testenv.TestUser, "--", bin, "-test.run", "^TestDeniedChild$", "-test.v", "-test.count=1")
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = append(os.Environ(), deniedEnv+"="+locked)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("TestDeniedChild as %s failed: %v\n%s", testenv.TestUser, err, out)
	}
	t.Logf("TestDeniedChild as %s:\n%s", testenv.TestUser, out)
}

// TestDeniedChild is the unprivileged half of TestConformance's
// PermissionDenied case; run on its own it has nothing to check.
func TestDeniedChild(t *testing.T) {
	locked := os.Getenv(deniedEnv)
	if locked == "" {
		t.Log("runs only as the child of TestConformance")
		return
	}
	if os.Getuid() == 0 {
		t.Fatal("TestDeniedChild must run as a user who is not root")
	}
	hostconformance.CheckDenied(t, local.New(), locked)
}
