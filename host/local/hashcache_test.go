package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testenv"
)

// TestHashCache checks HashCache's contract (hashcache.go): a file that
// shows no change is not read again, and every change the kernel records
// in the file's ctime or inode is read — also under an unchanged size and
// mtime. The cache's clock is moved forward by an hour less a minute, so
// that the files written here are past the racy window.
func TestHashCache(t *testing.T) {
	old := []byte("server { listen 80; }\n")
	same := []byte("server { listen 81; }\n") // same size, other content
	tests := []struct {
		name string
		// change does something to the file after the first Observe;
		// wantSum is what the second Observe must report.
		change  func(t *testing.T, p string)
		wantSum []byte
		// clock: how far the cache's clock is ahead of the real one at the
		// second Observe (the first is always 59 minutes ahead).
		clock              time.Duration
		wantHits, wantMiss int64
	}{
		{name: "unchanged: read once", change: func(*testing.T, string) {}, wantSum: old,
			clock: 59 * time.Minute, wantHits: 1, wantMiss: 1},
		{name: "rewritten in place, size and mtime put back", change: func(t *testing.T, p string) {
			fi := stat(t, p)
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(same); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			if got := stat(t, p); got.ModTime() != fi.ModTime() || got.Size() != fi.Size() {
				t.Fatalf("mtime/size not restored: %v %d, want %v %d", got.ModTime(), got.Size(), fi.ModTime(), fi.Size())
			}
		}, wantSum: same, clock: 59 * time.Minute, wantMiss: 2},
		{name: "replaced by rename, size and mtime the same", change: func(t *testing.T, p string) {
			fi := stat(t, p)
			tmp := p + ".new"
			if err := os.WriteFile(tmp, same, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, p); err != nil {
				t.Fatal(err)
			}
		}, wantSum: same, clock: 59 * time.Minute, wantMiss: 2},
		{name: "chmod: ctime moves, read again", change: func(t *testing.T, p string) {
			if err := os.Chmod(p, 0o600); err != nil {
				t.Fatal(err)
			}
		}, wantSum: old, clock: 59 * time.Minute, wantMiss: 2},
		{name: "hash older than MaxAge: read again", change: func(*testing.T, string) {}, wantSum: old,
			clock: 2*time.Hour + time.Minute, wantMiss: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "site.conf")
			if err := os.WriteFile(p, old, 0o644); err != nil {
				t.Fatal(err)
			}
			c := NewHashCache()
			ahead := 59 * time.Minute
			c.now = func() time.Time { return time.Now().Add(ahead) }
			h := NewWithCache(c)
			if got := observeSum(t, h, p); got != sumOf(old) {
				t.Fatalf("first Observe: sum %s, want %s", got, sumOf(old))
			}
			nextTick(t, p)
			tt.change(t, p)
			ahead = tt.clock
			if got := observeSum(t, h, p); got != sumOf(tt.wantSum) {
				t.Errorf("second Observe: sum %s, want %s (%q)", got, sumOf(tt.wantSum), tt.wantSum)
			}
			if c.Hits != tt.wantHits || c.Misses != tt.wantMiss {
				t.Errorf("hits %d, misses %d; want %d, %d", c.Hits, c.Misses, tt.wantHits, tt.wantMiss)
			}
		})
	}
}

// TestHashCacheRacyWindow: a file whose ctime is within RacyWindow of the
// moment it is read may change again within the same timestamp tick, so
// its hash is not kept; once it is older, it is.
func TestHashCacheRacyWindow(t *testing.T) {
	p := filepath.Join(t.TempDir(), "site.conf")
	if err := os.WriteFile(p, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := NewHashCache()
	var ahead time.Duration // the clock is the real one: the file was just written
	c.now = func() time.Time { return time.Now().Add(ahead) }
	h := NewWithCache(c)
	observeSum(t, h, p)
	observeSum(t, h, p)
	if c.Hits != 0 || c.Misses != 2 {
		t.Fatalf("just written: hits %d, misses %d; want 0, 2 (never kept)", c.Hits, c.Misses)
	}
	ahead = c.RacyWindow + time.Second
	observeSum(t, h, p) // read, and now kept
	observeSum(t, h, p)
	if c.Hits != 1 || c.Misses != 3 {
		t.Fatalf("past the window: hits %d, misses %d; want 1, 3", c.Hits, c.Misses)
	}
}

// TestHashCacheFileSystems: the cache is used on the file systems known
// to keep ctime (here tmpfs and the test directory's), and the kernel
// reports a file system's type as ctimeKept expects.
func TestHashCacheFileSystems(t *testing.T) {
	for _, dir := range []string{testenv.Tmpfs(t, 1<<20), t.TempDir()} {
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		c := NewHashCache()
		c.now = func() time.Time { return time.Now().Add(time.Minute) }
		h := NewWithCache(c)
		observeSum(t, h, p)
		observeSum(t, h, p)
		if c.Hits != 1 {
			t.Errorf("%s: hits %d, want 1: is its file system missing from ctimeKept?", dir, c.Hits)
		}
	}
	if ctimeKept(0x6969) { // NFS
		t.Error("ctimeKept(NFS) = true; another client's change is not the local kernel's to stamp")
	}
}

// nextTick returns once the file system's clock has moved past p's ctime:
// a change made now gets a ctime of its own, as any change made later than
// the cache's racy window after the file was read does. (Without this, a
// change in the same tick as the file's creation keeps its ctime: that is
// the racy case, which the moved clock of these tests would hide.) It
// watches a probe file's ctime; a tick is at most a few milliseconds.
func nextTick(t *testing.T, p string) {
	t.Helper()
	probe := p + ".tick"
	defer os.Remove(probe)
	want := stat(t, p).Sys().(*syscall.Stat_t).Ctim
	for i := 0; ; i++ {
		if err := os.WriteFile(probe, []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
		if got := stat(t, probe).Sys().(*syscall.Stat_t).Ctim; got != want {
			return
		}
	}
}

func stat(t *testing.T, p string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func observeSum(t *testing.T, h *Host, p string) string {
	t.Helper()
	obs, err := h.Observe(context.Background(), []string{p})
	if err != nil {
		t.Fatal(err)
	}
	return obs[0].SHA256
}

func sumOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
