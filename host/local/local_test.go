package local_test

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hostconformance"
	"github.com/berthhq/berth/host/local"
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
	dir := filepath.Join(testenv.Dir(t), "conformance")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	hostconformance.Run(t, hostconformance.Target{
		New:       func(*testing.T) host.Host { return local.New() },
		Dir:       dir,
		OtherUser: testenv.TestUser,
		Denied:    deniedAsTestUser,
		FullDir:   testenv.Tmpfs(t, 1<<20),
	})
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
