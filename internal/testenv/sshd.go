package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestUser is the non-root account the ssh helpers log in as. Its shell is
// /bin/sh (a root login runs root's slow shell start-up files) and it has
// passwordless sudo, so a test can act both as an unprivileged user and,
// through sudo, as root.
const TestUser = "berthtest"

// SSHServer is a running OpenSSH sshd that accepts TestUser with KeyFile.
type SSHServer struct {
	Addr           string // "127.0.0.1:PORT" or "10.x.y.z:22"
	User           string // TestUser
	KeyFile        string // the client's private key (ed25519, no passphrase)
	KnownHostsFile string // known_hosts holding the server's host key for Addr
	HostKeyFile    string // the server's private host key
	Dir            string // the server's files: config, keys, log
	// LogFile is sshd's log (LogLevel VERBOSE: one "Starting session"
	// line per command, which tests count as the server sees them).
	LogFile string
	// UserDir is an empty directory owned by User, for tests that act
	// without sudo.
	UserDir string
	Proc    *Proc
}

// SSHD starts sshd on 127.0.0.1 at a free high port and stops it when the
// test ends.
func SSHD(t testing.TB) *SSHServer {
	t.Helper()
	var last error
	for range 3 { // the free port can be taken between choosing and binding
		port := FreePort(t)
		s, err := startSSHD(t, "127.0.0.1", port, "")
		if err == nil {
			return s
		}
		last = err
	}
	t.Fatalf("testenv: sshd: %v", last)
	return nil
}

// startSSHD writes keys and config to a fresh directory and starts sshd
// listening on ip:port, inside network namespace netns when not empty.
func startSSHD(t testing.TB, ip string, port int, netns string) (*SSHServer, error) {
	t.Helper()
	sshd := need(t, "/usr/sbin/sshd", "openssh-server")
	keygen := need(t, "ssh-keygen", "openssh-client")
	need(t, "sudo", "sudo")
	u := ensureTestUser(t)
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("testenv: sshd needs /run/sshd: %v", err)
	}
	d := tempRoot(t, "sshd")
	s := &SSHServer{
		Addr:           net.JoinHostPort(ip, strconv.Itoa(port)),
		User:           TestUser,
		KeyFile:        filepath.Join(d, "client_key"),
		KnownHostsFile: filepath.Join(d, "known_hosts"),
		HostKeyFile:    filepath.Join(d, "hostkey"),
		Dir:            d,
		UserDir:        filepath.Join(d, "home"),
		LogFile:        filepath.Join(d, "sshd.log"),
	}
	run(t, keygen, "-q", "-t", "ed25519", "-N", "", "-C", "berth-test-host", "-f", s.HostKeyFile)
	run(t, keygen, "-q", "-t", "ed25519", "-N", "", "-C", "berth-test-client", "-f", s.KeyFile)
	pub, err := os.ReadFile(s.KeyFile + ".pub")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := os.WriteFile(filepath.Join(d, "authorized_keys"), pub, 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	hostPub, err := os.ReadFile(s.HostKeyFile + ".pub")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	f := strings.Fields(string(hostPub))
	if err := os.WriteFile(s.KnownHostsFile, []byte(knownHostsName(ip, port)+" "+f[0]+" "+f[1]+"\n"), 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := os.Mkdir(s.UserDir, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := os.Chown(s.UserDir, u.uid, u.gid); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	cfg := filepath.Join(d, "sshd_config")
	conf := fmt.Sprintf(`Port %d
ListenAddress %s
HostKey %s
PidFile %s
AuthorizedKeysFile %s
AllowUsers %s
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
MaxStartups 50:30:100
LogLevel VERBOSE
`, port, ip, s.HostKeyFile, filepath.Join(d, "sshd.pid"), filepath.Join(d, "authorized_keys"), TestUser)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if out, err := exec.Command(sshd, "-t", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("testenv: sshd -t rejects the generated config: %v\n%s", err, out)
	}
	argv := []string{sshd, "-D", "-e", "-f", cfg}
	if netns != "" {
		argv = append([]string{"ip", "netns", "exec", netns}, argv...)
	}
	s.Proc = start(t, "sshd "+s.Addr, s.LogFile, argv, nil)
	// Inside a namespace, the root namespace reaches the host through the
	// test bridge, so the same readiness check works.
	if err := waitTCP(s.Proc, s.Addr, 10*time.Second); err != nil {
		s.Proc.Stop()
		return nil, err
	}
	return s, nil
}

func knownHostsName(ip string, port int) string {
	if port == 22 {
		return ip
	}
	return fmt.Sprintf("[%s]:%d", ip, port)
}

// Stop stops sshd's listener by PID and waits for it. Sessions already
// open keep running, as with a real sshd restart; to make the host vanish
// use NetHost.Kill.
func (s *SSHServer) Stop() { s.Proc.Stop() }

type testUser struct{ uid, gid int }

// ensureTestUser creates TestUser (shell /bin/sh, no password but not
// locked, passwordless sudo) unless it exists.
func ensureTestUser(t testing.TB) testUser {
	t.Helper()
	unlock := lockFile(t, "user")
	defer unlock()
	if _, err := user.Lookup(TestUser); err != nil {
		run(t, "useradd", "--create-home", "--shell", "/bin/sh", TestUser)
		// With UsePAM no, sshd refuses a locked account ("!" password).
		run(t, "usermod", "-p", "*", TestUser)
	}
	sudoers := "/etc/sudoers.d/" + TestUser
	want := TestUser + " ALL=(ALL:ALL) NOPASSWD: ALL\n"
	if b, err := os.ReadFile(sudoers); err != nil || string(b) != want {
		if err := os.MkdirAll("/etc/sudoers.d", 0o755); err != nil {
			t.Fatalf("testenv: %v", err)
		}
		if err := os.WriteFile(sudoers, []byte(want), 0o440); err != nil {
			t.Fatalf("testenv: write %s: %v", sudoers, err)
		}
	}
	u, err := user.Lookup(TestUser)
	if err != nil {
		t.Fatalf("testenv: test user %s: %v", TestUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return testUser{uid, gid}
}
