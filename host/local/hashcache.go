package local

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// HashCache remembers the SHA-256 of regular files Observe hashed, so that a
// later Observe by the same process need not read a file again when the
// kernel says nothing about it changed. It lives in memory only, for the
// life of the process that made it (berth serve keeps one for its life; a
// CLI run does not use one), and is safe for concurrent use by several
// Hosts.
//
// The contract. Observe still lstats every path every time; it reuses a
// remembered hash only when all of these hold:
//
//   - the path's device, inode, size, mtime and ctime (to the nanosecond)
//     are those of the file that was read. Every write, truncate, rename
//     over the path, chmod, chown or utimes sets the ctime to the current
//     time, and no system call lets a user set it back (touch -d sets the
//     mtime, never the ctime): content changed under an unchanged mtime,
//     or a file swapped for another of the same size and mtime, has a new
//     ctime or inode and is read again;
//   - that ctime was at least RacyWindow older than the moment the file
//     was read. A file changed twice within one tick of the file system's
//     timestamp clock (a few milliseconds; a second on some file systems)
//     keeps its ctime; a hash read in such a window is never reused;
//   - the file system is one known to keep ctime on every change (ext2/3/4,
//     XFS, Btrfs, tmpfs, F2FS, ZFS, bcachefs, overlayfs). Anything else
//     (NFS, FUSE, vfat, ...) is hashed every time;
//   - the hash is younger than MaxAge: even a file that shows no change is
//     read again at least that often.
//
// What it cannot see, until MaxAge: a change that leaves the ctime as it
// was. Two ways exist. Root can set the system clock back to the exact
// ctime (a root user can change berth itself, too). And a write through a
// shared writable mmap(2) updates the timestamps at the first write to a
// clean page only: further writes to a page not yet written back do not;
// a hash read in between stays in the cache until MaxAge.
type HashCache struct {
	mu      sync.Mutex
	entries map[string]hashEntry
	fsOK    map[uint64]bool // device -> its file system keeps ctime
	swept   time.Time
	now     func() time.Time // time.Now; tests move it

	// RacyWindow and MaxAge are read by Observe; set them before first use.
	RacyWindow time.Duration
	MaxAge     time.Duration

	// Hits and Misses count the hashes reused and the files read, for
	// tests and benchmarks.
	Hits, Misses int64
}

// hashEntry is one remembered hash: the stat of the file read, and when.
type hashEntry struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // nanoseconds since the epoch
	sum          string
	at           time.Time
}

// NewHashCache returns an empty cache with a RacyWindow of 2 s (the
// coarsest ctime granularity among the file systems it trusts is 1 s) and
// a MaxAge of one hour.
func NewHashCache() *HashCache {
	return &HashCache{entries: map[string]hashEntry{}, fsOK: map[uint64]bool{}, now: time.Now,
		RacyWindow: 2 * time.Second, MaxAge: time.Hour}
}

func statNanos(t unix.Timespec) int64 { return t.Sec*1e9 + t.Nsec }

// lookup returns the remembered hash of path if st, its lstat, shows the
// file read then, unchanged.
func (c *HashCache) lookup(path string, st *unix.Stat_t) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[path]
	if ok && e.dev == st.Dev && e.ino == st.Ino && e.size == st.Size &&
		e.mtime == statNanos(st.Mtim) && e.ctime == statNanos(st.Ctim) && c.now().Sub(e.at) < c.MaxAge {
		c.Hits++
		return e.sum, true
	}
	if ok {
		delete(c.entries, path)
	}
	c.Misses++
	return "", false
}

// store remembers sum as the hash of path, whose open file had the stat st
// when reading began at start, if the contract allows reusing it.
func (c *HashCache) store(path string, st *unix.Stat_t, start time.Time, sum string) {
	ctime := statNanos(st.Ctim)
	if ctime >= start.Add(-c.RacyWindow).UnixNano() {
		return // changed too recently: a second change may keep this ctime
	}
	c.mu.Lock()
	ok, known := c.fsOK[st.Dev]
	c.mu.Unlock()
	if !known {
		var fs unix.Statfs_t
		ok = unix.Statfs(path, &fs) == nil && ctimeKept(fs.Type)
		c.mu.Lock()
		c.fsOK[st.Dev] = ok
		c.mu.Unlock()
	}
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if now.Sub(c.swept) > c.MaxAge {
		// Forget what expired, paths no longer observed among it.
		for p, e := range c.entries {
			if now.Sub(e.at) >= c.MaxAge {
				delete(c.entries, p)
			}
		}
		c.swept = now
	}
	c.entries[path] = hashEntry{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: statNanos(st.Mtim), ctime: ctime, sum: sum, at: start}
}

// ctimeKept says whether a file system of type magic (statfs(2)'s f_type)
// is known to set a file's ctime on every change of its content.
func ctimeKept(magic int64) bool {
	switch magic {
	case unix.EXT4_SUPER_MAGIC, // also ext2 and ext3
		unix.XFS_SUPER_MAGIC,
		unix.BTRFS_SUPER_MAGIC,
		unix.TMPFS_MAGIC,
		unix.F2FS_SUPER_MAGIC,
		unix.OVERLAYFS_SUPER_MAGIC,
		0x2fc12fc1, // ZFS
		0xca451a4e: // bcachefs
		return true
	}
	return false
}
