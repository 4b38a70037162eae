package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/internal/failpoint"
)

// Host is the machine berth runs on. The zero value is not usable; call New.
type Host struct {
	closed atomic.Bool
	ids    idCache
	hashes *HashCache // nil: every regular file is read on every Observe
}

var _ host.Host = (*Host)(nil)

// New returns the local host.
func New() *Host { return &Host{} }

// NewWithCache returns the local host, reusing the hashes c remembers
// (see HashCache for when it may) and remembering new ones there.
func NewWithCache(c *HashCache) *Host { return &Host{hashes: c} }

// Name returns "local".
func (h *Host) Name() string { return "local" }

// Close marks the host closed; later calls fail with host.ErrClosed.
func (h *Host) Close() error {
	h.closed.Store(true)
	return nil
}

func (h *Host) check(ctx context.Context) error {
	if h.closed.Load() {
		return fmt.Errorf("local: %w", host.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	return nil
}

// Run implements host.Host.
func (h *Host) Run(ctx context.Context, argv []string, opts host.RunOptions) (host.RunResult, error) {
	res := host.RunResult{ExitCode: -1}
	if err := h.check(ctx); err != nil {
		return res, err
	}
	if err := host.CheckArgv(argv); err != nil {
		return res, fmt.Errorf("local: %w", err)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = opts.Dir
	if len(opts.Env) > 0 {
		cmd.Env = append(os.Environ(), opts.Env...)
	}
	cmd.Stdin = opts.Stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if opts.Stdout != nil {
		cmd.Stdout = opts.Stdout
	}
	if opts.Stderr != nil {
		cmd.Stderr = io.MultiWriter(opts.Stderr, &stderr)
	}
	// A child that leaves a grandchild holding stdout open must not hang Run.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	res.Stdout, res.Stderr = stdout.Bytes(), stderr.Bytes()
	if opts.Stderr != nil {
		res.Stderr = nil
	}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	if err == nil {
		return res, nil
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("local: %s: %w", argv[0], ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && res.ExitCode >= 0 {
		return res, &host.ExitError{Host: "local", Argv: argv, Code: res.ExitCode, Stderr: stderr.Bytes()}
	}
	return res, fmt.Errorf("local: run %s: %w", argv[0], err)
}

// ReadFile implements host.Host.
func (h *Host) ReadFile(ctx context.Context, path string) ([]byte, error) {
	if err := h.checkPath(ctx, path); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("local: read %s: %w", path, err)
	}
	return b, nil
}

// WriteFile implements host.Host.
func (h *Host) WriteFile(ctx context.Context, path string, data []byte, opts host.WriteOptions) error {
	if err := h.checkPath(ctx, path); err != nil {
		return err
	}
	tmp, err := h.writeTemp(path, data, opts, true)
	if err != nil {
		return err
	}
	failpoint.Hit("mid-write") // a crash here leaves the temporary file only
	if err := ctx.Err(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("local: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("local: write %s: rename into place: %w", path, err)
	}
	// Make the rename itself durable. A failure here is reported, but the
	// new file is already in place.
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("local: write %s: %w", path, err)
	}
	return nil
}

// writeTemp writes data to a new temporary file next to path, with the
// mode and owner of opts, flushed to disk when fsync is set, and returns
// its name. On error no temporary file is left.
func (h *Host) writeTemp(path string, data []byte, opts host.WriteOptions, fsync bool) (_ string, err error) {
	uid, gid, err := h.ids.resolve(opts.Owner, opts.Group)
	if err != nil {
		return "", fmt.Errorf("local: write %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, host.TempPrefix+"*")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("local: write %s: parent directory %s does not exist; create it first: %w", path, dir, fs.ErrNotExist)
		}
		return "", fmt.Errorf("local: write %s: create temporary file in %s: %w", path, dir, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return "", fmt.Errorf("local: write %s: %w", path, err)
	}
	if err = f.Chmod(opts.FileMode()); err != nil {
		return "", fmt.Errorf("local: write %s: chmod: %w", path, err)
	}
	if uid >= 0 || gid >= 0 {
		if err = f.Chown(uid, gid); err != nil {
			return "", fmt.Errorf("local: write %s: chown to %s:%s: %w", path, opts.Owner, opts.Group, err)
		}
		// chown clears set-id bits; put them back.
		if opts.FileMode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			if err = f.Chmod(opts.FileMode()); err != nil {
				return "", fmt.Errorf("local: write %s: chmod: %w", path, err)
			}
		}
	}
	if fsync {
		if err = f.Sync(); err != nil {
			return "", fmt.Errorf("local: write %s: fsync: %w", path, err)
		}
	}
	if err = f.Close(); err != nil {
		return "", fmt.Errorf("local: write %s: %w", path, err)
	}
	return tmp, nil
}

// SweepTemp implements host.Host.
func (h *Host) SweepTemp(ctx context.Context, dirs []string) ([]string, error) {
	var removed []string
	for _, dir := range dirs {
		if err := h.checkPath(ctx, dir); err != nil {
			return removed, err
		}
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() {
			continue // absent, or not a directory (a link is not followed)
		}
		d, err := os.Open(dir)
		if err != nil {
			return removed, fmt.Errorf("local: sweep temporary files of %s: %w", dir, err)
		}
		names, err := d.Readdirnames(-1)
		d.Close()
		if err != nil {
			return removed, fmt.Errorf("local: sweep temporary files of %s: %w", dir, err)
		}
		for _, name := range names {
			if !strings.HasPrefix(name, host.TempPrefix) {
				continue
			}
			p := filepath.Join(dir, name)
			if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return removed, fmt.Errorf("local: sweep temporary file %s: %w", p, err)
			}
			removed = append(removed, p)
		}
	}
	return removed, nil
}

// Remove implements host.Host.
func (h *Host) Remove(ctx context.Context, path string) error {
	if err := h.checkPath(ctx, path); err != nil {
		return err
	}
	return h.remove(path)
}

func (h *Host) remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("local: remove %s: %w", path, host.ErrNotEmpty)
		}
		return fmt.Errorf("local: remove %s: %w", path, err)
	}
	return nil
}

// MkdirAll implements host.Host.
func (h *Host) MkdirAll(ctx context.Context, path string, perm fs.FileMode) error {
	if err := h.checkPath(ctx, path); err != nil {
		return err
	}
	if err := os.MkdirAll(path, perm); err != nil {
		return fmt.Errorf("local: mkdir %s: %w", path, err)
	}
	return nil
}

// EnsureDir implements host.Host.
func (h *Host) EnsureDir(ctx context.Context, path string, opts host.WriteOptions) error {
	if err := h.checkPath(ctx, path); err != nil {
		return err
	}
	return h.ensureDir(path, opts)
}

func (h *Host) ensureDir(path string, opts host.WriteOptions) error {
	uid, gid, err := h.ids.resolve(opts.Owner, opts.Group)
	if err != nil {
		return fmt.Errorf("local: ensure directory %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("local: ensure directory %s: %w", path, err)
	}
	if err := os.Mkdir(path, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("local: ensure directory %s: %w", path, err)
	}
	st, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("local: ensure directory %s: %w", path, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("local: ensure directory %s: %w", path, syscall.ENOTDIR)
	}
	if opts.Owner != "" || opts.Group != "" {
		if err := os.Lchown(path, uid, gid); err != nil {
			return fmt.Errorf("local: ensure directory %s: chown to %s:%s: %w", path, opts.Owner, opts.Group, err)
		}
	}
	if err := os.Chmod(path, opts.FileMode()); err != nil {
		return fmt.Errorf("local: ensure directory %s: %w", path, err)
	}
	return nil
}

// Observe implements host.Host. The paths are examined by a few goroutines
// in parallel; "one round trip" is trivially true on the local machine.
func (h *Host) Observe(ctx context.Context, paths []string) ([]host.Observation, error) {
	if err := h.check(ctx); err != nil {
		return nil, err
	}
	for _, p := range paths {
		if err := host.CheckPath(p); err != nil {
			return nil, fmt.Errorf("local: observe: %w", err)
		}
	}
	out := make([]host.Observation, len(paths))
	workers := min(2*runtime.GOMAXPROCS(0), len(paths))
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		firstErr error
		errOnce  sync.Once
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := h.newObserver()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(paths) {
					return
				}
				if err := ctx.Err(); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("local: observe: %w", err) })
					return
				}
				o, err := w.observe(paths[i])
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				out[i] = o
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

func (h *Host) checkPath(ctx context.Context, path string) error {
	if err := h.check(ctx); err != nil {
		return err
	}
	if err := host.CheckPath(path); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	return nil
}

// idCache maps user and group IDs to names and back, remembering answers:
// Observe of 10,000 files owned by three users asks three times.
type idCache struct {
	mu     sync.Mutex
	users  map[int]string
	groups map[int]string
	uids   map[string]int // user name -> uid, from resolve
	gids   map[string]int // group name -> gid
}

func (c *idCache) userName(id int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.users[id]; ok {
		return n
	}
	n := strconv.Itoa(id)
	if u, err := user.LookupId(n); err == nil {
		n = u.Username
	}
	if c.users == nil {
		c.users = map[int]string{}
	}
	c.users[id] = n
	return n
}

func (c *idCache) groupName(id int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.groups[id]; ok {
		return n
	}
	n := strconv.Itoa(id)
	if g, err := user.LookupGroupId(n); err == nil {
		n = g.Name
	}
	if c.groups == nil {
		c.groups = map[int]string{}
	}
	c.groups[id] = n
	return n
}

// resolve turns owner and group names or numbers into IDs; -1 means "leave
// unchanged", as for os.Chown.
func (c *idCache) resolve(owner, group string) (uid, gid int, err error) {
	uid, gid = -1, -1
	if owner != "" {
		if uid, err = c.lookup(owner, &c.uids, func(n string) (string, error) {
			u, err := user.Lookup(n)
			if err != nil {
				return "", err
			}
			return u.Uid, nil
		}); err != nil {
			return -1, -1, fmt.Errorf("owner %q: no such user on this host; create it or fix the owner: %w", owner, err)
		}
	}
	if group != "" {
		if gid, err = c.lookup(group, &c.gids, func(n string) (string, error) {
			g, err := user.LookupGroup(n)
			if err != nil {
				return "", err
			}
			return g.Gid, nil
		}); err != nil {
			return -1, -1, fmt.Errorf("group %q: no such group on this host; create it or fix the group: %w", group, err)
		}
	}
	return uid, gid, nil
}

// lookup resolves a numeric or named ID, remembering names it resolved:
// converging thousands of files owned by one user looks it up once.
func (c *idCache) lookup(name string, cache *map[string]int, find func(string) (string, error)) (int, error) {
	if id, err := strconv.Atoi(name); err == nil {
		return id, nil
	}
	c.mu.Lock()
	id, ok := (*cache)[name]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	s, err := find(name)
	if err != nil {
		return -1, err
	}
	id, _ = strconv.Atoi(s)
	c.mu.Lock()
	if *cache == nil {
		*cache = map[string]int{}
	}
	(*cache)[name] = id
	c.mu.Unlock()
	return id, nil
}
