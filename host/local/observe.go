package local

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthhq/berth/host"
)

// observer is one Observe goroutine's reusable state: a read buffer, a
// SHA-256 state and the owner names it looked up last.
type observer struct {
	h          *Host
	buf        []byte
	sum        hash.Hash
	uid, gid   int
	user, grup string
}

func (h *Host) newObserver() *observer {
	return &observer{h: h, buf: make([]byte, 64<<10), sum: sha256.New(), uid: -1, gid: -1}
}

// observe examines path without following a link: lstat(2) and, for a
// regular file, its SHA-256 (from the host's HashCache when that allows).
// A path replaced while it is examined is examined again.
func (w *observer) observe(path string) (host.Observation, error) {
	for try := 0; ; try++ {
		o, again, err := w.observeOnce(path)
		if !again {
			return o, err
		}
		if try == 3 {
			return o, fmt.Errorf("local: observe %s: it changed type or was replaced four times while being read; observe again when it stops changing", path)
		}
	}
}

// observeOnce is one attempt of observe; again reports that the path was
// replaced between its lstat and its open.
func (w *observer) observeOnce(path string) (o host.Observation, again bool, err error) {
	o = host.Observation{Path: path}
	var st unix.Stat_t
	if err := lstat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return o, false, nil
		}
		return o, false, fmt.Errorf("local: observe %s: %w", path, &fs.PathError{Op: "lstat", Path: path, Err: err})
	}
	o.Exists = true
	o.Mode = fileMode(st.Mode)
	o.Size = st.Size
	o.UID, o.GID = int(st.Uid), int(st.Gid)
	o.Owner, o.Group = w.names(o.UID, o.GID)
	switch {
	case o.Mode.IsRegular():
		if c := w.h.hashes; c != nil {
			if sum, ok := c.lookup(path, &st); ok {
				o.SHA256 = sum
				return o, false, nil
			}
		}
		sum, again, err := w.hash(path, &st)
		if again || err != nil {
			return o, again, err
		}
		o.SHA256 = sum
	case o.Mode&fs.ModeSymlink != 0:
		n, err := unix.Readlink(path, w.buf)
		if err != nil {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) {
				return o, true, nil // gone, or no longer a link
			}
			return o, false, fmt.Errorf("local: observe %s: %w", path, &fs.PathError{Op: "readlink", Path: path, Err: err})
		}
		if n == len(w.buf) {
			return o, false, fmt.Errorf("local: observe %s: link target longer than %d bytes", path, len(w.buf))
		}
		o.LinkTarget = string(w.buf[:n])
	}
	return o, false, nil
}

// hash reads the regular file at path, whose lstat was st, and returns its
// SHA-256. It opens without following a link and without blocking (a FIFO
// put in its place is not waited on), and reads only the file lstat saw:
// anything else there now makes again true.
func (w *observer) hash(path string, st *unix.Stat_t) (sum string, again bool, err error) {
	var start time.Time // when reading began, for the cache's racy window
	if c := w.h.hashes; c != nil {
		start = c.now()
	}
	fd, err := open(path)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return "", true, nil
		}
		return "", false, fmt.Errorf("local: observe %s: %w", path, &fs.PathError{Op: "open", Path: path, Err: err})
	}
	defer unix.Close(fd)
	var fst unix.Stat_t
	if err := fstat(fd, &fst); err != nil {
		return "", false, fmt.Errorf("local: observe %s: %w", path, &fs.PathError{Op: "fstat", Path: path, Err: err})
	}
	if fst.Dev != st.Dev || fst.Ino != st.Ino || fst.Mode&unix.S_IFMT != unix.S_IFREG {
		return "", true, nil
	}
	w.sum.Reset()
	for {
		n, err := read(fd, w.buf)
		if err != nil {
			return "", false, fmt.Errorf("local: observe %s: %w", path, &fs.PathError{Op: "read", Path: path, Err: err})
		}
		if n == 0 {
			break
		}
		w.sum.Write(w.buf[:n])
	}
	sum = hex.EncodeToString(w.sum.Sum(w.buf[:0]))
	if c := w.h.hashes; c != nil {
		c.store(path, &fst, start, sum)
	}
	return sum, false, nil
}

// names returns the user and group names of uid and gid, remembering the
// last ones: the paths of a host mostly share a few owners.
func (w *observer) names(uid, gid int) (string, string) {
	if uid != w.uid {
		w.uid, w.user = uid, w.h.ids.userName(uid)
	}
	if gid != w.gid {
		w.gid, w.grup = gid, w.h.ids.groupName(gid)
	}
	return w.user, w.grup
}

// fileMode converts stat(2)'s st_mode as os.Lstat does.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// The system calls of observe, called again on EINTR as package os does.

func lstat(path string, st *unix.Stat_t) error {
	for {
		if err := unix.Lstat(path, st); err != unix.EINTR {
			return err
		}
	}
}

func open(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

func fstat(fd int, st *unix.Stat_t) error {
	for {
		if err := unix.Fstat(fd, st); err != unix.EINTR {
			return err
		}
	}
}

func read(fd int, buf []byte) (int, error) {
	for {
		n, err := unix.Read(fd, buf)
		if err != unix.EINTR {
			return n, err
		}
	}
}
