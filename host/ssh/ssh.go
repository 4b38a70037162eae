package ssh

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/berthhq/berth/host"
)

// Config says how to reach and act on one remote host.
type Config struct {
	// Addr is "host" or "host:port"; the port defaults to 22.
	Addr string
	// User is the login user.
	User string
	// KeyFiles are private key files offered for authentication, in order.
	// Encrypted keys are refused: load them into ssh-agent instead.
	KeyFiles []string
	// Agent offers the keys of the ssh-agent at AgentSocket, or at
	// $SSH_AUTH_SOCK when AgentSocket is empty.
	Agent       bool
	AgentSocket string
	// KnownHostsFile is the known_hosts file the host key is checked
	// against (required). An unknown or changed key is an error; berth
	// never adds keys to it.
	KnownHostsFile string
	// Sudo runs every command and file operation through `sudo -n` (as
	// root), for a login user that is not root. sudo must not ask for a
	// password.
	Sudo bool
	// ConnectTimeout bounds dialling and the SSH handshake when the
	// caller's context has no earlier deadline. Default 15s.
	ConnectTimeout time.Duration
	// MaxSessions bounds the commands running at once on the connection;
	// OpenSSH refuses more than its MaxSessions (10 by default). Default 8.
	MaxSessions int
}

// Host is a remote machine reached over SSH. It is safe for concurrent use.
type Host struct {
	cfg     Config
	addr    string
	name    string
	signers []ssh.Signer
	hostKey ssh.HostKeyCallback
	sem     chan struct{}

	mu     sync.Mutex // guards client and closed; held while dialling
	client *ssh.Client
	closed bool

	// dials and sessions count connections and commands, for tests that
	// check reuse and round trips.
	dials, sessions atomic.Int64
	// batchCrash, when above 0, makes the remote side of WriteBatch kill
	// itself (SIGKILL) before its batchCrash-th rename: set by tests only.
	batchCrash int
	// perlName replaces "perl" as the interpreter of the batch scripts:
	// set by tests only, to exercise the fallback for hosts without perl.
	perlName string
}

var _ host.Host = (*Host)(nil)

// New checks cfg, reads the key files and the known_hosts file, and returns
// a Host. It does not connect: the first call does, and later calls reuse
// that connection.
func New(cfg Config) (*Host, error) {
	if cfg.Addr == "" {
		return nil, errors.New("ssh: no address: set the server's address")
	}
	if cfg.User == "" {
		return nil, fmt.Errorf("ssh %s: no user: set the login user", cfg.Addr)
	}
	addr := cfg.Addr
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(strings.Trim(addr, "[]"), "22")
	}
	h := &Host{cfg: cfg, addr: addr, name: cfg.User + "@" + addr}
	if h.cfg.ConnectTimeout <= 0 {
		h.cfg.ConnectTimeout = 15 * time.Second
	}
	if h.cfg.MaxSessions <= 0 {
		h.cfg.MaxSessions = 8
	}
	h.sem = make(chan struct{}, h.cfg.MaxSessions)
	if cfg.KnownHostsFile == "" {
		return nil, fmt.Errorf("ssh %s: no known_hosts file: set one holding the server's host key (ssh-keyscan can fetch it; check its fingerprint)", h.name)
	}
	kh, err := knownhosts.New(cfg.KnownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: read known_hosts: %w", h.name, err)
	}
	h.hostKey = kh
	for _, f := range cfg.KeyFiles {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("ssh %s: read key file: %w", h.name, err)
		}
		s, err := ssh.ParsePrivateKey(pem)
		if err != nil {
			var pm *ssh.PassphraseMissingError
			if errors.As(err, &pm) {
				return nil, fmt.Errorf("ssh %s: key file %s is encrypted: load it into ssh-agent (ssh-add %s) and enable the agent instead: %w", h.name, f, f, err)
			}
			return nil, fmt.Errorf("ssh %s: key file %s: %w", h.name, f, err)
		}
		h.signers = append(h.signers, s)
	}
	if len(h.signers) == 0 && !cfg.Agent {
		return nil, fmt.Errorf("ssh %s: no way to authenticate: give key files or enable ssh-agent", h.name)
	}
	return h, nil
}

// Name returns "user@host:port".
func (h *Host) Name() string { return h.name }

// Close closes the connection. In-flight commands fail; later calls fail
// with host.ErrClosed.
func (h *Host) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	if h.client != nil {
		err := h.client.Close()
		h.client = nil
		if err != nil && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("ssh %s: close: %w", h.name, err)
		}
	}
	return nil
}

// HostKeyError is returned when the server's host key is not the one in
// known_hosts: Unknown when no key is recorded for the host, otherwise the
// key changed (or was revoked) — possibly a man-in-the-middle.
type HostKeyError struct {
	Host           string
	KnownHostsFile string
	Unknown        bool
	Revoked        bool
	Fingerprint    string // of the key the server offered
	Known          []string
	Err            error
}

func (e *HostKeyError) Error() string {
	switch {
	case e.Revoked:
		return fmt.Sprintf("ssh %s: host key %s is marked revoked in %s: refusing to connect", e.Host, e.Fingerprint, e.KnownHostsFile)
	case e.Unknown:
		return fmt.Sprintf("ssh %s: host key %s is not in %s: check the fingerprint with the server's administrator, then add it (ssh-keyscan -p PORT HOST >> %s)", e.Host, e.Fingerprint, e.KnownHostsFile, e.KnownHostsFile)
	default:
		return fmt.Sprintf("ssh %s: HOST KEY CHANGED: the server offered %s but %s records %s; this may be a man-in-the-middle attack — if the server was really reinstalled, remove the old line and add the new key",
			e.Host, e.Fingerprint, e.KnownHostsFile, strings.Join(e.Known, ", "))
	}
}

func (e *HostKeyError) Unwrap() error { return e.Err }

func (h *Host) checkHostKey(hostname string, remote net.Addr, key ssh.PublicKey) error {
	err := h.hostKey(hostname, remote, key)
	if err == nil {
		return nil
	}
	he := &HostKeyError{Host: h.name, KnownHostsFile: h.cfg.KnownHostsFile, Fingerprint: ssh.FingerprintSHA256(key), Err: err}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		he.Revoked = true
	case errors.As(err, &ke):
		he.Unknown = len(ke.Want) == 0
		for _, k := range ke.Want {
			he.Known = append(he.Known, fmt.Sprintf("%s %s (%s:%d)", k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Filename, k.Line))
		}
	}
	return he
}

// knownAlgorithms returns the host key algorithms known_hosts has keys of
// for this host, so the handshake asks for a key it can check.
func (h *Host) knownAlgorithms(remote net.Addr) []string {
	// An all-zero ed25519 key matches no known_hosts line, so knownhosts
	// answers with the list of keys it does hold for the host.
	probe, err := ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if !errors.As(h.hostKey(h.addr, remote, probe), &ke) {
		return nil
	}
	var algs []string
	seen := map[string]bool{}
	for _, k := range ke.Want {
		t := k.Key.Type()
		if seen[t] {
			continue
		}
		seen[t] = true
		if t == ssh.KeyAlgoRSA {
			algs = append(algs, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256)
		}
		algs = append(algs, t)
	}
	return algs
}

func (h *Host) dial(ctx context.Context) (*ssh.Client, error) {
	deadline := time.Now().Add(h.cfg.ConnectTimeout)
	ctxDeadline := false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxDeadline = d, true
	}
	// ctxErr reports the context's error, also when the connection's
	// deadline (taken from ctx) fired a moment before ctx's own timer.
	ctxErr := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if ctxDeadline && !time.Now().Before(deadline) {
			return context.DeadlineExceeded
		}
		return nil
	}
	d := net.Dialer{Deadline: deadline}
	conn, err := d.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		if cerr := ctxErr(); cerr != nil {
			return nil, fmt.Errorf("ssh %s: connect: %w: %w", h.name, host.ErrUnreachable, cerr)
		}
		return nil, fmt.Errorf("ssh %s: connect: %w: is the host up and sshd listening on that port? (%w)", h.name, host.ErrUnreachable, err)
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	auth := h.signers
	if h.cfg.Agent {
		sock := h.cfg.AgentSocket
		if sock == "" {
			sock = os.Getenv("SSH_AUTH_SOCK")
		}
		if sock == "" {
			conn.Close()
			return nil, fmt.Errorf("ssh %s: ssh-agent enabled but SSH_AUTH_SOCK is not set: start an agent or give key files", h.name)
		}
		ac, err := net.Dial("unix", sock)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("ssh %s: reach ssh-agent at %s: %w", h.name, sock, err)
		}
		defer ac.Close()
		as, err := agent.NewClient(ac).Signers()
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("ssh %s: list ssh-agent keys: %w", h.name, err)
		}
		auth = append(append([]ssh.Signer(nil), auth...), as...)
	}
	cc := &ssh.ClientConfig{
		User:              h.cfg.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(auth...)},
		HostKeyCallback:   h.checkHostKey,
		HostKeyAlgorithms: h.knownAlgorithms(conn.RemoteAddr()),
		Timeout:           h.cfg.ConnectTimeout,
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, h.addr, cc)
	if err != nil {
		conn.Close()
		var hke *HostKeyError
		switch {
		case errors.As(err, &hke):
			return nil, hke
		case ctxErr() != nil:
			return nil, fmt.Errorf("ssh %s: handshake: %w: %w", h.name, host.ErrUnreachable, ctxErr())
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, fmt.Errorf("ssh %s: authentication refused: check the user, the key files or agent, and the server's authorized_keys for that user: %w", h.name, err)
		default:
			return nil, fmt.Errorf("ssh %s: handshake: %w: %w", h.name, host.ErrUnreachable, err)
		}
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// conn returns the shared connection, dialling when there is none.
func (h *Host) conn(ctx context.Context) (*ssh.Client, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, fmt.Errorf("ssh %s: %w", h.name, host.ErrClosed)
	}
	if h.client != nil {
		return h.client, nil
	}
	h.dials.Add(1)
	c, err := h.dial(ctx)
	if err != nil {
		return nil, err
	}
	h.client = c
	go func() {
		_ = c.Wait()
		h.drop(c)
	}()
	return c, nil
}

// drop forgets c (if still current) so the next call re-dials.
func (h *Host) drop(c *ssh.Client) {
	h.mu.Lock()
	if h.client == c {
		h.client = nil
	}
	h.mu.Unlock()
	c.Close()
}

// session opens a session on the shared connection, re-dialling once when
// the connection turns out to be dead. The caller holds a slot of h.sem.
//
// The server frees a session slot a moment after the session ends on this
// side, so a burst of commands can find all of its MaxSessions slots taken:
// a refused session is retried with a short backoff for up to five seconds.
func (h *Host) session(ctx context.Context) (*ssh.Session, *ssh.Client, error) {
	refusedUntil := time.Now().Add(5 * time.Second)
	backoff := 2 * time.Millisecond
	for attempt := 0; ; attempt++ {
		c, err := h.conn(ctx)
		if err != nil {
			return nil, nil, err
		}
		s, err := c.NewSession()
		if err == nil {
			h.sessions.Add(1)
			return s, c, nil
		}
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) {
			if time.Now().After(refusedUntil) {
				return nil, nil, fmt.Errorf("ssh %s: open session: the server keeps refusing (is its MaxSessions lower than %d? lower MaxSessions in berth's ssh settings): %w", h.name, h.cfg.MaxSessions, err)
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil, nil, fmt.Errorf("ssh %s: open session: %w", h.name, ctx.Err())
			}
			backoff = min(2*backoff, 100*time.Millisecond)
			attempt--
			continue
		}
		h.drop(c)
		if attempt > 0 || ctx.Err() != nil {
			return nil, nil, fmt.Errorf("ssh %s: open session: %w: %w", h.name, host.ErrUnreachable, err)
		}
	}
}

// Run implements host.Host.
func (h *Host) Run(ctx context.Context, argv []string, opts host.RunOptions) (host.RunResult, error) {
	if err := host.CheckArgv(argv); err != nil {
		return host.RunResult{ExitCode: -1}, fmt.Errorf("ssh %s: %w", h.name, err)
	}
	line, err := h.commandLine(argv, opts)
	if err != nil {
		return host.RunResult{ExitCode: -1}, err
	}
	return h.exec(ctx, argv, line, opts.Stdin, opts.Stdout, opts.Stderr)
}

// commandLine builds the remote command: [sudo -n --] [sh -c 'cd' DIR]
// [env K=V...] argv, every word quoted.
func (h *Host) commandLine(argv []string, opts host.RunOptions) (string, error) {
	var words []string
	if h.cfg.Sudo {
		words = append(words, "sudo", "-n", "--")
	}
	if opts.Dir != "" {
		words = append(words, "sh", "-c", `cd -- "$1" || exit 126; shift; exec "$@"`, "berth-cd", opts.Dir)
	}
	if len(opts.Env) > 0 {
		words = append(words, "env")
		for _, kv := range opts.Env {
			k, _, ok := strings.Cut(kv, "=")
			if !ok || k == "" || strings.ContainsAny(k, "\x00") {
				return "", fmt.Errorf("ssh %s: environment entry %q is not KEY=VALUE", h.name, kv)
			}
			words = append(words, kv)
		}
		if strings.Contains(argv[0], "=") {
			return "", fmt.Errorf("ssh %s: program name %q holds '=' and cannot follow environment settings", h.name, argv[0])
		}
	}
	return join(append(words, argv...)), nil
}

// exec runs one command line in a new session and collects its result.
func (h *Host) exec(ctx context.Context, argv []string, line string, stdin io.Reader, stdout, stderr io.Writer) (host.RunResult, error) {
	res := host.RunResult{ExitCode: -1}
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	case <-ctx.Done():
		return res, fmt.Errorf("ssh %s: %s: %w", h.name, argv[0], ctx.Err())
	}
	s, c, err := h.session(ctx)
	if err != nil {
		return res, err
	}
	defer s.Close()
	var outBuf, errBuf bytes.Buffer
	s.Stdin = stdin
	s.Stdout, s.Stderr = &outBuf, &errBuf
	if stdout != nil {
		s.Stdout = stdout
	}
	if stderr != nil {
		s.Stderr = io.MultiWriter(stderr, &errBuf)
	}
	if err := s.Start(line); err != nil {
		h.drop(c)
		return res, fmt.Errorf("ssh %s: start %s: %w: %w", h.name, argv[0], host.ErrUnreachable, err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// TERM, not KILL: sudo relays TERM to the command, but dies of KILL
		// and leaves the command running.
		_ = s.Signal(ssh.SIGTERM)
		s.Close()
		<-done
		if stdout == nil {
			res.Stdout = outBuf.Bytes()
		}
		res.Stderr = errBuf.Bytes()
		return res, fmt.Errorf("ssh %s: %s: %w", h.name, argv[0], ctx.Err())
	}
	if stdout == nil {
		res.Stdout = outBuf.Bytes()
	}
	if stderr == nil {
		res.Stderr = errBuf.Bytes()
	}
	if err == nil {
		res.ExitCode = 0
		return res, nil
	}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		if ee.Signal() != "" {
			return res, fmt.Errorf("ssh %s: %s killed by signal %s: %s", h.name, argv[0], ee.Signal(), strings.TrimSpace(errBuf.String()))
		}
		res.ExitCode = ee.ExitStatus()
		return res, &host.ExitError{Host: h.name, Argv: argv, Code: res.ExitCode, Stderr: errBuf.Bytes()}
	}
	// No exit status: the connection died under the command.
	h.drop(c)
	return res, fmt.Errorf("ssh %s: %s: connection lost: %w: %w", h.name, argv[0], host.ErrUnreachable, err)
}

// script runs one of the embedded file-operation scripts with args.
func (h *Host) script(ctx context.Context, op, script string, stdin io.Reader, stdout io.Writer, args ...string) (host.RunResult, error) {
	argv := append([]string{"sh", "-c", script, "berth-" + op}, args...)
	if h.cfg.Sudo {
		argv = append([]string{"sudo", "-n", "--"}, argv...)
	}
	return h.exec(ctx, argv, join(argv), stdin, stdout, nil)
}

// classify maps the message of a failed file operation to the error it
// wraps, so errors.Is works the same as with the local driver.
func classify(stderr []byte) error {
	s := string(stderr)
	switch {
	case strings.Contains(s, "No space left on device"):
		return syscall.ENOSPC
	case strings.Contains(s, "Permission denied"), strings.Contains(s, "Operation not permitted"):
		return fs.ErrPermission
	case strings.Contains(s, "exists and is not a directory"):
		return syscall.ENOTDIR
	case strings.Contains(s, "No such file or directory"), strings.Contains(s, "Not a directory"):
		return fs.ErrNotExist
	case strings.Contains(s, "Directory not empty"): // rmdir, LC_ALL=C
		return host.ErrNotEmpty
	case strings.Contains(s, "Read-only file system"):
		return syscall.EROFS
	case strings.Contains(s, "sudo:"):
		return errSudo
	}
	return nil
}

var errSudo = errors.New("sudo refused: give the login user passwordless sudo (NOPASSWD) or turn sudo off")

// opError turns the failure of a file operation into an error for the
// operator.
func (h *Host) opError(op, p string, err error) error {
	var ee *host.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("ssh %s: %s %s: %w", h.name, op, p, err)
	}
	msg := strings.TrimSpace(string(ee.Stderr))
	if msg == "" {
		msg = fmt.Sprintf("exit status %d", ee.Code)
	}
	if cause := classify(ee.Stderr); cause != nil {
		if cause == fs.ErrPermission && !h.cfg.Sudo {
			msg += " (the login user may not do this: fix ownership, or turn on sudo for this server)"
		}
		return fmt.Errorf("ssh %s: %s %s: %s: %w", h.name, op, p, msg, cause)
	}
	return fmt.Errorf("ssh %s: %s %s: %s", h.name, op, p, msg)
}

func (h *Host) checkPath(p string) error {
	if err := host.CheckPath(p); err != nil {
		return fmt.Errorf("ssh %s: %w", h.name, err)
	}
	return nil
}

// ReadFile implements host.Host.
func (h *Host) ReadFile(ctx context.Context, p string) ([]byte, error) {
	if err := h.checkPath(p); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := h.script(ctx, "read", readScript, nil, &buf, p); err != nil {
		return nil, h.opError("read", p, err)
	}
	return buf.Bytes(), nil
}

// WriteFile implements host.Host.
func (h *Host) WriteFile(ctx context.Context, p string, data []byte, opts host.WriteOptions) error {
	if err := h.checkPath(p); err != nil {
		return err
	}
	owner := opts.Owner
	if opts.Group != "" {
		owner += ":" + opts.Group
	}
	mode := strconv.FormatUint(uint64(unixMode(opts.FileMode())), 8)
	dir := path.Dir(p)
	_, err := h.script(ctx, "write", writeScript, bytes.NewReader(data), nil, dir, p, mode, owner)
	if err != nil {
		err = h.opError("write", p, err)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w (is the parent directory %s missing? create it first)", err, dir)
		}
		return err
	}
	return nil
}

// SweepTemp implements host.Host: one session, the directories on its
// standard input.
func (h *Host) SweepTemp(ctx context.Context, dirs []string) ([]string, error) {
	if len(dirs) == 0 {
		return nil, ctx.Err()
	}
	var in bytes.Buffer
	for _, d := range dirs {
		if err := h.checkPath(d); err != nil {
			return nil, fmt.Errorf("sweep temporary files: %w", err)
		}
		in.WriteString(d)
		in.WriteByte(0)
	}
	var out bytes.Buffer
	if _, err := h.script(ctx, "sweep", sweepScript, &in, &out); err != nil {
		return nil, h.opError("sweep temporary files in", fmt.Sprintf("(%d directories)", len(dirs)), err)
	}
	var removed []string
	for _, p := range strings.Split(out.String(), "\x00") {
		if p != "" {
			removed = append(removed, p)
		}
	}
	return removed, nil
}

// Remove implements host.Host.
func (h *Host) Remove(ctx context.Context, p string) error {
	if err := h.checkPath(p); err != nil {
		return err
	}
	if _, err := h.script(ctx, "remove", removeScript, nil, nil, p); err != nil {
		return h.opError("remove", p, err)
	}
	return nil
}

// MkdirAll implements host.Host.
func (h *Host) MkdirAll(ctx context.Context, p string, perm fs.FileMode) error {
	if err := h.checkPath(p); err != nil {
		return err
	}
	mode := strconv.FormatUint(uint64(perm&fs.ModePerm), 8)
	if _, err := h.script(ctx, "mkdir", mkdirScript, nil, nil, p, mode); err != nil {
		return h.opError("mkdir", p, err)
	}
	return nil
}

// EnsureDir implements host.Host in one command.
func (h *Host) EnsureDir(ctx context.Context, p string, opts host.WriteOptions) error {
	if err := h.checkPath(p); err != nil {
		return err
	}
	owner := opts.Owner
	if opts.Group != "" {
		owner += ":" + opts.Group
	}
	mode := strconv.FormatUint(uint64(unixMode(opts.FileMode())), 8)
	if _, err := h.script(ctx, "ensure-dir", ensureDirScript, nil, nil, p, mode, owner); err != nil {
		return h.opError("ensure directory", p, err)
	}
	return nil
}

// unixMode converts permission and set-id bits of m to their octal form.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m & fs.ModePerm)
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}
