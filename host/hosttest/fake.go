package hosttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berthhq/berth/host"
)

// Handler answers a command run on a Fake. argv is the full command; stdin
// is what the caller passed on standard input (nil when none). An error of
// type *host.ExitError (or a non-zero ExitCode) makes the command fail.
type Handler func(ctx context.Context, argv []string, stdin []byte) (host.RunResult, error)

// Call is one recorded call on a Fake.
type Call struct {
	Op   string // "run", "read", "write", "remove", "mkdir", "ensuredir", "observe", "sweep", "batch", "readfiles"
	Argv []string
	// Paths are the paths the call named (one, or all of an Observe).
	Paths []string
	Stdin []byte
	Dir   string
	Env   []string
}

// User is the identity a Fake acts as; UID 0 bypasses permission checks.
type User struct {
	Name     string
	UID, GID int
	Group    string
}

// Root is the identity a new Fake acts as.
var Root = User{Name: "root", Group: "root"}

type node struct {
	data     []byte
	mode     fs.FileMode
	uid, gid int
	link     string
}

// Fake is an in-memory host. Its zero value is not usable; call New. All
// methods are safe for concurrent use.
type Fake struct {
	name string

	mu          sync.Mutex
	files       map[string]*node
	users       map[int]string
	groups      map[int]string
	user        User
	limits      map[string]int64 // directory -> bytes its files may hold
	umask       fs.FileMode
	unreachable bool
	closed      bool
	handlers    map[string]Handler
	calls       []Call
	// interruptAfter, when >= 0, cuts the next WriteBatch off after that
	// many files were renamed into place (see InterruptBatch).
	interruptAfter int
	tmpSeq         int
}

var _ host.Host = (*Fake)(nil)

// New returns a Fake named name holding an empty root directory, acting as
// root with umask 022.
func New(name string) *Fake {
	f := &Fake{
		name:     name,
		files:    map[string]*node{"/": {mode: fs.ModeDir | 0o755}},
		users:    map[int]string{0: "root"},
		groups:   map[int]string{0: "root"},
		user:     Root,
		umask:    0o022,
		handlers: map[string]Handler{},
		limits:   map[string]int64{},

		interruptAfter: -1,
	}
	return f
}

// Name returns the name given to New.
func (f *Fake) Name() string { return f.name }

// SetUser makes the Fake act as u from now on (and registers its names).
func (f *Fake) SetUser(u User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.user = u
	f.users[u.UID] = u.Name
	f.groups[u.GID] = u.Group
}

// AddUser registers a user name and group for owner lookups.
func (f *Fake) AddUser(u User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[u.UID] = u.Name
	f.groups[u.GID] = u.Group
}

// LimitSpace makes dir behave like a small file system of n bytes: writes
// that would make the files under dir hold more fail with syscall.ENOSPC.
// Zero removes the limit.
func (f *Fake) LimitSpace(dir string, n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n == 0 {
		delete(f.limits, path.Clean(dir))
		return
	}
	f.limits[path.Clean(dir)] = n
}

// SetUnreachable makes every later call fail with host.ErrUnreachable
// (true) or work again (false), like a host that went down.
func (f *Fake) SetUnreachable(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unreachable = down
}

// Handle registers h for commands whose argv[0] is program, replacing any
// builtin of that name.
func (f *Fake) Handle(program string, h Handler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[program] = h
}

// Calls returns every call made so far, in order.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Commands returns the argv of every Run so far, in order.
func (f *Fake) Commands() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out [][]string
	for _, c := range f.calls {
		if c.Op == "run" {
			out = append(out, c.Argv)
		}
	}
	return out
}

// Files returns a copy of every regular file's contents, by path.
func (f *Fake) Files() map[string][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]byte{}
	for p, n := range f.files {
		if n.mode.IsRegular() {
			out[p] = bytes.Clone(n.data)
		}
	}
	return out
}

// Symlink creates a symbolic link at p pointing to target (test setup).
func (f *Fake) Symlink(target, p string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p = path.Clean(p)
	if _, err := f.parentForWrite("symlink", p); err != nil {
		return err
	}
	if _, ok := f.files[p]; ok {
		return &fs.PathError{Op: "symlink", Path: p, Err: fs.ErrExist}
	}
	f.files[p] = &node{mode: fs.ModeSymlink | 0o777, uid: f.user.UID, gid: f.user.GID, link: target}
	return nil
}

// Close marks the Fake closed; later calls fail with host.ErrClosed.
func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// begin records a call and checks the Fake can serve it. Called with f.mu held.
func (f *Fake) begin(ctx context.Context, c Call) error {
	f.calls = append(f.calls, c)
	switch {
	case f.closed:
		return fmt.Errorf("%s: %w", f.name, host.ErrClosed)
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %s: %w", f.name, c.Op, ctx.Err())
	case f.unreachable:
		return fmt.Errorf("%s: %s: %w (fake host set unreachable)", f.name, c.Op, host.ErrUnreachable)
	}
	for _, p := range c.Paths {
		if err := host.CheckPath(p); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return nil
}

// may reports whether the current user has permission bits want (4 read,
// 2 write, 1 search) on n.
func (f *Fake) may(n *node, want fs.FileMode) bool {
	if f.user.UID == 0 {
		return true
	}
	perm := n.mode.Perm()
	switch {
	case n.uid == f.user.UID:
		perm >>= 6
	case n.gid == f.user.GID:
		perm >>= 3
	}
	return perm&want == want
}

// lookup walks to p checking search permission on every ancestor.
func (f *Fake) lookup(op, p string) (*node, error) {
	p = path.Clean(p)
	if p != "/" {
		dir := path.Dir(p)
		d, err := f.lookup(op, dir)
		if err != nil {
			return nil, err
		}
		if !d.mode.IsDir() {
			return nil, &fs.PathError{Op: op, Path: p, Err: syscall.ENOTDIR}
		}
		if !f.may(d, 1) {
			return nil, &fs.PathError{Op: op, Path: p, Err: fs.ErrPermission}
		}
	}
	n, ok := f.files[p]
	if !ok {
		return nil, &fs.PathError{Op: op, Path: p, Err: fs.ErrNotExist}
	}
	return n, nil
}

// parentForWrite returns p's parent directory if the user may create
// entries in it.
func (f *Fake) parentForWrite(op, p string) (*node, error) {
	dir := path.Dir(path.Clean(p))
	d, err := f.lookup(op, dir)
	if err != nil {
		return nil, err
	}
	if !d.mode.IsDir() {
		return nil, &fs.PathError{Op: op, Path: p, Err: syscall.ENOTDIR}
	}
	if !f.may(d, 3) {
		return nil, &fs.PathError{Op: op, Path: p, Err: fs.ErrPermission}
	}
	return d, nil
}

// fits reports whether writing size bytes to p (replacing old) stays within
// every space limit covering p.
func (f *Fake) fits(p string, old *node, size int64) bool {
	for dir, limit := range f.limits {
		if !strings.HasPrefix(p, dir+"/") {
			continue
		}
		var used int64
		for q, x := range f.files {
			if strings.HasPrefix(q, dir+"/") {
				used += int64(len(x.data))
			}
		}
		if old != nil {
			used -= int64(len(old.data))
		}
		if used+size > limit {
			return false
		}
	}
	return true
}

// ReadFile implements host.Host.
func (f *Fake) ReadFile(ctx context.Context, p string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, Call{Op: "read", Paths: []string{p}}); err != nil {
		return nil, err
	}
	b, err := f.read(p)
	return bytes.Clone(b), err
}

// read is ReadFile with f.mu held; the slice is the fake's own.
func (f *Fake) read(p string) ([]byte, error) {
	n, err := f.lookup("read", p)
	if err == nil && n.mode&fs.ModeSymlink != 0 {
		n, err = f.lookup("read", f.resolve(p, n))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.name, err)
	}
	if n.mode.IsDir() {
		return nil, fmt.Errorf("%s: read %s: is a directory", f.name, p)
	}
	if !f.may(n, 4) {
		return nil, fmt.Errorf("%s: %w", f.name, &fs.PathError{Op: "read", Path: p, Err: fs.ErrPermission})
	}
	return n.data, nil
}

func (f *Fake) resolve(p string, n *node) string {
	if path.IsAbs(n.link) {
		return n.link
	}
	return path.Join(path.Dir(p), n.link)
}

// WriteFile implements host.Host. The swap is atomic because the Fake
// holds its lock for the whole call.
func (f *Fake) WriteFile(ctx context.Context, p string, data []byte, opts host.WriteOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, Call{Op: "write", Paths: []string{p}, Stdin: bytes.Clone(data)}); err != nil {
		return err
	}
	return f.write(p, data, opts)
}

// write is WriteFile with f.mu held.
func (f *Fake) write(p string, data []byte, opts host.WriteOptions) error {
	p = path.Clean(p)
	if _, err := f.parentForWrite("write", p); err != nil {
		return fmt.Errorf("%s: %w", f.name, err)
	}
	old := f.files[p]
	if old != nil && old.mode.IsDir() {
		return fmt.Errorf("%s: write %s: is a directory", f.name, p)
	}
	if !f.fits(p, old, int64(len(data))) {
		return fmt.Errorf("%s: write %s: %w", f.name, p, syscall.ENOSPC)
	}
	n := &node{data: bytes.Clone(data), mode: opts.FileMode(), uid: f.user.UID, gid: f.user.GID}
	if opts.Owner != "" || opts.Group != "" {
		if f.user.UID != 0 {
			return fmt.Errorf("%s: write %s: chown: %w", f.name, p, fs.ErrPermission)
		}
		var err error
		if opts.Owner != "" {
			if n.uid, err = f.id(f.users, opts.Owner); err != nil {
				return fmt.Errorf("%s: write %s: owner: %w", f.name, p, err)
			}
		}
		if opts.Group != "" {
			if n.gid, err = f.id(f.groups, opts.Group); err != nil {
				return fmt.Errorf("%s: write %s: group: %w", f.name, p, err)
			}
		}
	}
	f.files[p] = n
	return nil
}

func (f *Fake) id(names map[int]string, s string) (int, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, nil
	}
	for id, name := range names {
		if name == s {
			return id, nil
		}
	}
	return 0, fmt.Errorf("%q unknown on the fake host (register it with AddUser)", s)
}

// Remove implements host.Host.
func (f *Fake) Remove(ctx context.Context, p string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, Call{Op: "remove", Paths: []string{p}}); err != nil {
		return err
	}
	return f.remove(p)
}

// remove is Remove with f.mu held.
func (f *Fake) remove(p string) error {
	p = path.Clean(p)
	n, err := f.lookup("remove", p)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return fmt.Errorf("%s: %w", f.name, err)
	}
	if _, err := f.parentForWrite("remove", p); err != nil {
		return fmt.Errorf("%s: %w", f.name, err)
	}
	if n.mode.IsDir() {
		for q := range f.files {
			if strings.HasPrefix(q, p+"/") {
				return fmt.Errorf("%s: remove %s: %w", f.name, p, host.ErrNotEmpty)
			}
		}
	}
	delete(f.files, p)
	return nil
}

func isNotExist(err error) bool {
	pe, ok := err.(*fs.PathError)
	return ok && (pe.Err == fs.ErrNotExist || pe.Err == syscall.ENOTDIR)
}

// MkdirAll implements host.Host.
func (f *Fake) MkdirAll(ctx context.Context, p string, perm fs.FileMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, Call{Op: "mkdir", Paths: []string{p}}); err != nil {
		return err
	}
	return f.mkdirAll(path.Clean(p), perm)
}

// EnsureDir implements host.Host; it records one call.
func (f *Fake) EnsureDir(ctx context.Context, p string, opts host.WriteOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, Call{Op: "ensuredir", Paths: []string{p}}); err != nil {
		return err
	}
	return f.ensureDir(p, opts)
}

// ensureDir is EnsureDir with f.mu held.
func (f *Fake) ensureDir(p string, opts host.WriteOptions) error {
	p = path.Clean(p)
	if n, ok := f.files[p]; ok && !n.mode.IsDir() {
		return fmt.Errorf("%s: ensure directory %s: %w", f.name, p, syscall.ENOTDIR)
	}
	if err := f.mkdirAll(p, 0o755); err != nil {
		return err
	}
	n := f.files[p]
	if opts.Owner != "" {
		uid, err := f.id(f.users, opts.Owner)
		if err != nil {
			return fmt.Errorf("%s: ensure directory %s: %w", f.name, p, err)
		}
		n.uid = uid
	}
	if opts.Group != "" {
		gid, err := f.id(f.groups, opts.Group)
		if err != nil {
			return fmt.Errorf("%s: ensure directory %s: %w", f.name, p, err)
		}
		n.gid = gid
	}
	n.mode = fs.ModeDir | opts.FileMode()
	return nil
}

func (f *Fake) mkdirAll(p string, perm fs.FileMode) error {
	if n, ok := f.files[p]; ok {
		if n.mode.IsDir() {
			return nil
		}
		return fmt.Errorf("%s: mkdir %s: %w", f.name, p, syscall.ENOTDIR)
	}
	if err := f.mkdirAll(path.Dir(p), perm); err != nil {
		return err
	}
	if _, err := f.parentForWrite("mkdir", p); err != nil {
		return fmt.Errorf("%s: %w", f.name, err)
	}
	f.files[p] = &node{mode: fs.ModeDir | perm.Perm()&^f.umask, uid: f.user.UID, gid: f.user.GID}
	return nil
}

// SweepTemp implements host.Host; it records one call for all dirs.
func (f *Fake) SweepTemp(ctx context.Context, dirs []string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, Call{Op: "sweep", Paths: slices.Clone(dirs)}); err != nil {
		return nil, err
	}
	var removed []string
	for _, d := range dirs {
		d = path.Clean(d)
		if n, err := f.lookup("sweep", d); err != nil || !n.mode.IsDir() {
			continue
		}
		for p, n := range f.files {
			if path.Dir(p) == d && strings.HasPrefix(path.Base(p), host.TempPrefix) && n.mode.IsRegular() {
				removed = append(removed, p)
			}
		}
	}
	slices.Sort(removed)
	for _, p := range removed {
		delete(f.files, p)
	}
	return removed, nil
}

// Observe implements host.Host; it records one call for all paths.
func (f *Fake) Observe(ctx context.Context, paths []string) ([]host.Observation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, Call{Op: "observe", Paths: slices.Clone(paths)}); err != nil {
		return nil, err
	}
	out := make([]host.Observation, len(paths))
	for i, p := range paths {
		o := host.Observation{Path: p}
		n, err := f.lookup("observe", p)
		if err != nil {
			if !isNotExist(err) {
				return nil, fmt.Errorf("%s: %w", f.name, err)
			}
			out[i] = o
			continue
		}
		o.Exists = true
		o.Mode = n.mode
		o.UID, o.GID = n.uid, n.gid
		o.Owner, o.Group = f.nameOf(f.users, n.uid), f.nameOf(f.groups, n.gid)
		o.LinkTarget = n.link
		switch {
		case n.mode.IsRegular():
			if !f.may(n, 4) {
				return nil, fmt.Errorf("%s: %w", f.name, &fs.PathError{Op: "observe", Path: p, Err: fs.ErrPermission})
			}
			o.Size = int64(len(n.data))
			sum := sha256.Sum256(n.data)
			o.SHA256 = hex.EncodeToString(sum[:])
		case n.mode&fs.ModeSymlink != 0:
			o.Size = int64(len(n.link))
		default:
			o.Size = 4096
		}
		out[i] = o
	}
	return out, nil
}

func (f *Fake) nameOf(names map[int]string, id int) string {
	if n, ok := names[id]; ok {
		return n
	}
	return strconv.Itoa(id)
}

// Run implements host.Host: the handler registered for argv[0] answers,
// else a builtin (true, false, printf, cat, pwd, env), else the command
// fails with exit code 127 like a shell's "not found".
func (f *Fake) Run(ctx context.Context, argv []string, opts host.RunOptions) (host.RunResult, error) {
	res := host.RunResult{ExitCode: -1}
	var stdin []byte
	if opts.Stdin != nil {
		var err error
		if stdin, err = io.ReadAll(opts.Stdin); err != nil {
			return res, fmt.Errorf("%s: read stdin: %w", f.name, err)
		}
	}
	f.mu.Lock()
	err := f.begin(ctx, Call{Op: "run", Argv: slices.Clone(argv), Stdin: stdin, Dir: opts.Dir, Env: slices.Clone(opts.Env)})
	h := f.handlers[firstOr(argv)]
	f.mu.Unlock()
	if err != nil {
		return res, err
	}
	if err := host.CheckArgv(argv); err != nil {
		return res, fmt.Errorf("%s: %w", f.name, err)
	}
	if h == nil {
		h = f.builtin(argv[0], opts)
	}
	res, err = h(ctx, argv, stdin)
	if err == nil && res.ExitCode != 0 {
		err = &host.ExitError{Host: f.name, Argv: argv, Code: res.ExitCode, Stderr: res.Stderr}
	}
	if opts.Stdout != nil {
		if _, werr := opts.Stdout.Write(res.Stdout); werr != nil && err == nil {
			err = werr
		}
		res.Stdout = nil
	}
	if opts.Stderr != nil {
		if _, werr := opts.Stderr.Write(res.Stderr); werr != nil && err == nil {
			err = werr
		}
		res.Stderr = nil
	}
	return res, err
}

func firstOr(argv []string) string {
	if len(argv) == 0 {
		return ""
	}
	return argv[0]
}

func (f *Fake) builtin(name string, opts host.RunOptions) Handler {
	ok := func(out string) (host.RunResult, error) { return host.RunResult{Stdout: []byte(out)}, nil }
	switch name {
	case "true":
		return func(context.Context, []string, []byte) (host.RunResult, error) { return ok("") }
	case "false":
		return func(context.Context, []string, []byte) (host.RunResult, error) {
			return host.RunResult{ExitCode: 1}, nil
		}
	case "printf":
		return func(_ context.Context, argv []string, _ []byte) (host.RunResult, error) {
			if len(argv) < 2 {
				return host.RunResult{ExitCode: 1, Stderr: []byte("printf: missing format\n")}, nil
			}
			return ok(printf(argv[1], argv[2:]))
		}
	case "cat":
		return func(ctx context.Context, argv []string, stdin []byte) (host.RunResult, error) {
			if len(argv) == 1 {
				return ok(string(stdin))
			}
			var b strings.Builder
			for _, p := range argv[1:] {
				if p == "--" {
					continue
				}
				data, err := f.ReadFile(ctx, p)
				if err != nil {
					return host.RunResult{ExitCode: 1, Stderr: []byte("cat: " + err.Error() + "\n")}, nil
				}
				b.Write(data)
			}
			return ok(b.String())
		}
	case "pwd":
		return func(context.Context, []string, []byte) (host.RunResult, error) {
			d := opts.Dir
			if d == "" {
				d = "/"
			}
			return ok(d + "\n")
		}
	case "ln":
		return func(ctx context.Context, argv []string, _ []byte) (host.RunResult, error) {
			if len(argv) != 4 || argv[1] != "-s" {
				return host.RunResult{ExitCode: 1, Stderr: []byte("ln: the fake knows only ln -s TARGET PATH\n")}, nil
			}
			if err := f.Symlink(argv[2], argv[3]); err != nil {
				return host.RunResult{ExitCode: 1, Stderr: []byte("ln: " + err.Error() + "\n")}, nil
			}
			return ok("")
		}
	case "sleep":
		return func(ctx context.Context, argv []string, _ []byte) (host.RunResult, error) {
			d := time.Second
			if len(argv) > 1 {
				if s, err := strconv.ParseFloat(argv[1], 64); err == nil {
					d = time.Duration(s * float64(time.Second))
				}
			}
			select {
			case <-time.After(d):
				return ok("")
			case <-ctx.Done():
				return host.RunResult{ExitCode: -1}, fmt.Errorf("%s: sleep: %w", f.name, ctx.Err())
			}
		}
	case "chmod", "chown":
		return func(_ context.Context, argv []string, _ []byte) (host.RunResult, error) {
			if err := f.chattr(argv); err != nil {
				return host.RunResult{ExitCode: 1, Stderr: []byte(name + ": " + err.Error() + "\n")}, nil
			}
			return ok("")
		}
	case "env":
		return func(context.Context, []string, []byte) (host.RunResult, error) {
			env := slices.Clone(opts.Env)
			sort.Strings(env)
			return ok(strings.Join(env, "\n") + "\n")
		}
	}
	return func(context.Context, []string, []byte) (host.RunResult, error) {
		return host.RunResult{ExitCode: 127, Stderr: []byte(name + ": not found (no handler registered on the fake host)\n")}, nil
	}
}

// chattr implements chmod OCTAL [--] PATH... and chown USER[:GROUP] [--]
// PATH... on the fake's files.
func (f *Fake) chattr(argv []string) error {
	args := slices.DeleteFunc(slices.Clone(argv[1:]), func(a string) bool { return a == "--" })
	if len(args) < 2 {
		return fmt.Errorf("the fake knows only %s SPEC PATH [PATH ...]", argv[0])
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range args[1:] {
		n, ok := f.files[path.Clean(p)]
		if !ok {
			return fmt.Errorf("%s: %w", p, fs.ErrNotExist)
		}
		if argv[0] == "chmod" {
			m, err := strconv.ParseUint(args[0], 8, 32)
			if err != nil {
				return fmt.Errorf("the fake knows only octal modes, not %q", args[0])
			}
			n.mode = n.mode.Type() | fs.FileMode(m)&fs.ModePerm
			continue
		}
		owner, group, _ := strings.Cut(args[0], ":")
		if owner != "" {
			uid, err := f.id(f.users, owner)
			if err != nil {
				return err
			}
			n.uid = uid
		}
		if group != "" {
			gid, err := f.id(f.groups, group)
			if err != nil {
				return err
			}
			n.gid = gid
		}
	}
	return nil
}

// printf implements the %s, %% and \n, \t, \\, \0 subset of printf(1),
// reusing the format while arguments remain.
func printf(format string, args []string) string {
	var b strings.Builder
	for {
		used := false
		for i := 0; i < len(format); i++ {
			c := format[i]
			switch {
			case c == '%' && i+1 < len(format) && format[i+1] == 's':
				if len(args) > 0 {
					b.WriteString(args[0])
					args = args[1:]
				}
				used = true
				i++
			case c == '%' && i+1 < len(format) && format[i+1] == '%':
				b.WriteByte('%')
				i++
			case c == '\\' && i+1 < len(format):
				i++
				switch format[i] {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case '0':
					b.WriteByte(0)
				default:
					b.WriteByte(format[i])
				}
			default:
				b.WriteByte(c)
			}
		}
		if !used || len(args) == 0 {
			return b.String()
		}
	}
}
