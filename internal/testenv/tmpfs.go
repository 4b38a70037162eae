package testenv

import (
	"fmt"
	"os/exec"
	"testing"
)

// Tmpfs mounts a tmpfs of size bytes on a fresh directory (mode 0755) and
// unmounts it when the test ends: a small disk that fills up, for the
// disk-full cases.
func Tmpfs(t testing.TB, size int64) string {
	t.Helper()
	d := tempRoot(t, "tmpfs")
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "berth-test", d).CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: mount a %d-byte tmpfs on %s (needs root and CAP_SYS_ADMIN): %v\n%s", size, d, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", d).CombinedOutput(); err != nil {
			t.Errorf("testenv: umount %s: %v\n%s", d, err, out)
		}
	})
	return d
}

// TestUserIDs returns the uid and gid of TestUser, creating the user (and
// its passwordless sudo) when missing.
func TestUserIDs(t testing.TB) (uid, gid int) {
	t.Helper()
	u := ensureTestUser(t)
	return u.uid, u.gid
}

// Dir returns a fresh directory under /tmp that every user may traverse
// (mode 0755, unlike t.TempDir), removed when the test ends.
func Dir(t testing.TB) string {
	t.Helper()
	return tempRoot(t, "dir")
}
