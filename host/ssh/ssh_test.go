package ssh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hostconformance"
	"github.com/berthhq/berth/internal/testenv"
)

func config(s *testenv.SSHServer, sudo bool) Config {
	return Config{
		Addr:           s.Addr,
		User:           s.User,
		KeyFiles:       []string{s.KeyFile},
		KnownHostsFile: s.KnownHostsFile,
		Sudo:           sudo,
	}
}

func newHost(t testing.TB, cfg Config) *Host {
	t.Helper()
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestConformance(t *testing.T) {
	s := testenv.SSHD(t)
	dir := filepath.Join(s.UserDir, "conformance")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	hostconformance.Run(t, hostconformance.Target{
		New: func(t *testing.T) host.Host {
			h, err := New(config(s, true))
			if err != nil {
				t.Fatal(err)
			}
			return h
		},
		Dir:       dir,
		OtherUser: s.User,
		Denied: func(t *testing.T, locked string) {
			hostconformance.CheckDenied(t, newHost(t, config(s, false)), locked)
		},
		FullDir: testenv.Tmpfs(t, 1<<20),
		InterruptBatch: func(t *testing.T, ops []host.BatchOp, after int) {
			h := newHost(t, config(s, true))
			h.batchCrash = after + 1
			res, err := h.WriteBatch(context.Background(), ops)
			if err == nil {
				t.Fatal("WriteBatch with the remote side killed succeeded")
			}
			done := 0
			for _, r := range res {
				if r.Done {
					done++
				}
			}
			if done != 1+after { // the directory, then the files renamed before the kill
				t.Fatalf("WriteBatch with the remote side killed reported %d ops done, want %d", done, 1+after)
			}
			t.Logf("cut off after %d files: %v", after, err)
		},
		Unreachable: func(t *testing.T) host.Host {
			cfg := config(s, true)
			cfg.Addr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
			h, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			return h
		},
	})
}

func TestHostKey(t *testing.T) {
	s := testenv.SSHD(t)
	_, other, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, err := ssh.NewPublicKey(other.Public())
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	cases := []struct {
		name        string
		knownHosts  string
		wantUnknown bool
	}{
		{"unknown host", "[127.0.0.2]:" + port + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(otherPub))) + "\n", true},
		{"empty file", "", true},
		{"changed key", "[127.0.0.1]:" + port + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(otherPub))) + "\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kh := filepath.Join(t.TempDir(), "known_hosts")
			if err := os.WriteFile(kh, []byte(c.knownHosts), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := config(s, false)
			cfg.KnownHostsFile = kh
			h := newHost(t, cfg)
			_, err := h.Run(context.Background(), []string{"true"}, host.RunOptions{})
			var hke *HostKeyError
			if !errors.As(err, &hke) {
				t.Fatalf("Run: %v, want a *HostKeyError", err)
			}
			if hke.Unknown != c.wantUnknown {
				t.Fatalf("Unknown = %v, want %v: %v", hke.Unknown, c.wantUnknown, err)
			}
			if errors.Is(err, host.ErrUnreachable) {
				t.Fatalf("a host key error must not look like an unreachable host: %v", err)
			}
			t.Log(err)
		})
	}
	if _, err := New(Config{Addr: s.Addr, User: s.User, KeyFiles: []string{s.KeyFile}, KnownHostsFile: "/nonexistent/known_hosts"}); err == nil {
		t.Fatal("New with a missing known_hosts file succeeded")
	}
}

func TestConnectionReuseAndReconnect(t *testing.T) {
	s := testenv.SSHD(t)
	h := newHost(t, config(s, false))
	ctx := context.Background()
	for range 5 {
		if _, err := h.Run(ctx, []string{"true"}, host.RunOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.dials.Load(); n != 1 {
		t.Fatalf("5 commands dialled %d times, want 1 reused connection", n)
	}
	// Break the connection under the host: the next call re-dials.
	h.mu.Lock()
	h.client.Close()
	h.mu.Unlock()
	if _, err := h.Run(ctx, []string{"true"}, host.RunOptions{}); err != nil {
		t.Fatalf("Run after the connection broke: %v", err)
	}
	if n := h.dials.Load(); n != 2 {
		t.Fatalf("dials = %d after a broken connection, want 2", n)
	}
}

func TestObserveIsOneRoundTrip(t *testing.T) {
	s := testenv.SSHD(t)
	h := newHost(t, config(s, false))
	ctx := context.Background()
	var paths []string
	for i := range 2000 {
		p := filepath.Join(s.UserDir, fmt.Sprintf("f%d", i))
		if i%3 == 0 {
			if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		paths = append(paths, p)
	}
	before := h.sessions.Load()
	obs, err := h.Observe(ctx, paths)
	if err != nil {
		t.Fatal(err)
	}
	if n := h.sessions.Load() - before; n != 1 {
		t.Fatalf("Observe of %d paths used %d sessions, want 1", len(paths), n)
	}
	for i, o := range obs {
		if o.Exists != (i%3 == 0) {
			t.Fatalf("%s: %+v", paths[i], o)
		}
	}
}

func TestAgent(t *testing.T) {
	s := testenv.SSHD(t)
	raw, err := os.ReadFile(s.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.ParseRawPrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: key}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = agent.ServeAgent(keyring, c)
			}()
		}
	}()
	h := newHost(t, Config{Addr: s.Addr, User: s.User, Agent: true, AgentSocket: sock, KnownHostsFile: s.KnownHostsFile})
	res, err := h.Run(context.Background(), []string{"id", "-un"}, host.RunOptions{})
	if err != nil || strings.TrimSpace(string(res.Stdout)) != s.User {
		t.Fatalf("id -un through agent auth = %q, %v", res.Stdout, err)
	}
}

func TestKeyFiles(t *testing.T) {
	s := testenv.SSHD(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	encrypted := filepath.Join(t.TempDir(), "encrypted")
	if err := os.WriteFile(encrypted, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	unauthorized := filepath.Join(t.TempDir(), "unauthorized")
	block, _ = ssh.MarshalPrivateKey(priv, "")
	if err := os.WriteFile(unauthorized, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Addr: s.Addr, User: s.User, KeyFiles: []string{encrypted}, KnownHostsFile: s.KnownHostsFile}); err == nil || !strings.Contains(err.Error(), "ssh-agent") {
		t.Fatalf("New with an encrypted key: %v, want advice to use ssh-agent", err)
	}
	h := newHost(t, Config{Addr: s.Addr, User: s.User, KeyFiles: []string{unauthorized}, KnownHostsFile: s.KnownHostsFile})
	_, err = h.Run(context.Background(), []string{"true"}, host.RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "authentication refused") || errors.Is(err, host.ErrUnreachable) {
		t.Fatalf("Run with a key the server does not know: %v", err)
	}
	if _, err := New(Config{Addr: s.Addr, User: s.User, KnownHostsFile: s.KnownHostsFile}); err == nil {
		t.Fatal("New with neither keys nor agent succeeded")
	}
}

func TestConnectTimeout(t *testing.T) {
	// A listener that accepts TCP but never speaks SSH.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	s := testenv.SSHD(t) // for key and known_hosts files only
	cfg := config(s, false)
	cfg.Addr = l.Addr().String()
	h := newHost(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = h.Run(ctx, []string{"true"}, host.RunOptions{})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, host.ErrUnreachable) {
		t.Fatalf("Run against a silent server: %v, want ErrUnreachable and DeadlineExceeded", err)
	}
}

func TestQuote(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "''"},
		{"plain", "plain"},
		{"/a/b-c_d.e", "/a/b-c_d.e"},
		{"a b", "'a b'"},
		{"it's", `'it'"'"'s'`},
		{"$(x)", "'$(x)'"},
		{"A=B", "'A=B'"},
		{"~", "'~'"},
		{"a\nb", "'a\nb'"},
	}
	for _, c := range cases {
		if got := quote(c.in); got != c.want {
			t.Errorf("quote(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

// TestWriteBatchIsOneRoundTrip writes 3,000 files in 1,000 directories
// (the shape of a first converge of 1,000 sites) through sudo, and reads
// 1,000 of them back: one session each.
func TestWriteBatchIsOneRoundTrip(t *testing.T) {
	s := testenv.SSHD(t)
	h := newHost(t, config(s, true))
	ctx := context.Background()
	ops, files := siteOps(s.UserDir, 1000)
	if _, err := h.Run(ctx, []string{"true"}, host.RunOptions{}); err != nil { // log in first
		t.Fatal(err)
	}
	before, logged := h.sessions.Load(), serverSessions(t, s)
	res, err := h.WriteBatch(ctx, ops)
	if err != nil {
		t.Fatal(err)
	}
	if n := h.sessions.Load() - before; n != 1 {
		t.Fatalf("WriteBatch of %d ops used %d sessions, want 1", len(ops), n)
	}
	if n := serverSessions(t, s) - logged; n != 1 {
		t.Fatalf("sshd logged %d sessions for a WriteBatch of %d ops, want 1", n, len(ops))
	}
	for i, r := range res {
		if !r.Done {
			t.Fatalf("op %d: %v", i, r.Err)
		}
	}
	before = h.sessions.Load()
	data, err := h.ReadFiles(ctx, files[:1000])
	if err != nil {
		t.Fatal(err)
	}
	if n := h.sessions.Load() - before; n != 1 {
		t.Fatalf("ReadFiles of 1,000 files used %d sessions, want 1", n)
	}
	for i, d := range data {
		if d.Err != nil || string(d.Data) != files[i] {
			t.Fatalf("%s: %q, %v", files[i], d.Data, d.Err)
		}
	}
	obs, err := h.Observe(ctx, files[len(files)-3:])
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range obs {
		if !o.IsRegular() || o.Owner != s.User || o.Mode.Perm() != 0o640 {
			t.Fatalf("%s: %+v, want a regular file 0640 owned by %s", o.Path, o, s.User)
		}
	}
}

// serverSessions counts the sessions sshd has started, from its log.
func serverSessions(t *testing.T, s *testenv.SSHServer) int {
	t.Helper()
	b, err := os.ReadFile(s.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "Starting session")
}

// siteOps returns, for n sites under dir, a directory and two files each
// (a docroot index owned by the test user, and a vhost in one shared
// directory), and the paths of the files.
func siteOps(dir string, n int) ([]host.BatchOp, []string) {
	sites := filepath.Join(dir, "sites")
	ops := []host.BatchOp{host.DirOp(sites, host.WriteOptions{Mode: 0o755})}
	var files []string
	for i := range n {
		root := filepath.Join(dir, "www", fmt.Sprintf("site%05d.example", i))
		index, vhost := filepath.Join(root, "index.html"), filepath.Join(sites, fmt.Sprintf("site%05d.conf", i))
		files = append(files, index, vhost)
		ops = append(ops,
			host.DirOp(root, host.WriteOptions{Mode: 0o755, Owner: testenv.TestUser}),
			host.FileOp(index, []byte(index), host.WriteOptions{Mode: 0o640, Owner: testenv.TestUser}),
			host.FileOp(vhost, []byte(vhost), host.WriteOptions{Mode: 0o640, Owner: testenv.TestUser}))
	}
	return ops, files
}

// TestWriteBatchWithoutPerl runs WriteBatch and ReadFiles on a host
// whose batch interpreter is missing: they fall back to one command per
// op, with the same outcomes.
func TestWriteBatchWithoutPerl(t *testing.T) {
	s := testenv.SSHD(t)
	h := newHost(t, config(s, true))
	h.perlName = "berth-no-such-perl"
	ctx := context.Background()
	d := filepath.Join(s.UserDir, "noperl")
	ops := []host.BatchOp{
		host.FileOp(d+"/a", []byte("a"), host.WriteOptions{Mode: 0o600}),
		host.DirOp(d, host.WriteOptions{Mode: 0o750}),
		host.FileOp(d+"/missing/b", []byte("b"), host.WriteOptions{}),
		host.RemoveOp(d + "/never"),
	}
	before := h.sessions.Load()
	res, err := h.WriteBatch(ctx, ops)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("WriteBatch without perl: %v, want the missing directory's fs.ErrNotExist", err)
	}
	if n := h.sessions.Load() - before; n != 1+int64(len(ops)) {
		t.Errorf("WriteBatch without perl used %d sessions, want 1 (the try) + one per op", n)
	}
	want := []bool{true, true, false, true}
	for i, r := range res {
		if r.Done != want[i] {
			t.Errorf("op %d (%s): Done %v (%v), want %v", i, r.Path, r.Done, r.Err, want[i])
		}
	}
	files, err := h.ReadFiles(ctx, []string{d + "/a", d + "/missing/b"})
	if err != nil || string(files[0].Data) != "a" || !errors.Is(files[1].Err, fs.ErrNotExist) {
		t.Fatalf("ReadFiles without perl: %+v, %v", files, err)
	}
}
