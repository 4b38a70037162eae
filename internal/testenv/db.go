package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// MariaDBServer is a running MariaDB with its own data directory, on
// 127.0.0.1:Port and the unix socket Socket. root has no password over the
// socket (unix_socket auth) and over TCP (--auth-root-authentication-method
// =normal with an empty password).
type MariaDBServer struct {
	Dir    string
	Port   int
	Addr   string
	Socket string
	Proc   *Proc
}

// MariaDB initialises a data directory and starts mariadbd; it is stopped
// when the test ends.
func MariaDB(t testing.TB) *MariaDBServer {
	t.Helper()
	return mariaDB(t, nil)
}

// MariaDBOn starts a MariaDB like MariaDB inside h's network namespace,
// listening on h.IP port 3306 (Addr), its socket on the shared filesystem:
// a database server of its own that web servers reach over the network.
func MariaDBOn(t testing.TB, h *NetHost) *MariaDBServer {
	t.Helper()
	return mariaDB(t, h)
}

func mariaDB(t testing.TB, h *NetHost) *MariaDBServer {
	t.Helper()
	bin := need(t, "mariadbd", "mariadb-server")
	install := need(t, "mariadb-install-db", "mariadb-server")
	d := tempRoot(t, "mariadb")
	m := &MariaDBServer{Dir: d, Socket: filepath.Join(d, "mysqld.sock")}
	ip, prefix := "127.0.0.1", []string(nil)
	if h != nil {
		ip, m.Port = h.IP, 3306
		prefix = []string{"ip", "netns", "exec", h.Netns} // it execs mariadbd: the PID is mariadbd's
	} else {
		m.Port = FreePort(t)
	}
	m.Addr = ip + ":" + strconv.Itoa(m.Port)
	// A private tmpdir: MariaDB's temporary tables go there, not into the
	// shared /tmp that other tests' processes clean.
	tmp := filepath.Join(d, "tmp")
	mkdir(t, tmp)
	run(t, install, "--no-defaults", "--user=root", "--datadir="+filepath.Join(d, "data"), "--tmpdir="+tmp,
		"--auth-root-authentication-method=normal", "--skip-test-db")
	m.Proc = start(t, "mariadbd "+m.Addr, filepath.Join(d, "stderr.log"), append(prefix, bin,
		"--no-defaults", "--user=root", "--datadir="+filepath.Join(d, "data"), "--tmpdir="+tmp,
		"--socket="+m.Socket, "--pid-file="+filepath.Join(d, "mysqld.pid"),
		"--port="+strconv.Itoa(m.Port), "--bind-address="+ip,
		"--log-error="+filepath.Join(d, "error.log"), "--skip-log-bin", "--skip-name-resolve"), nil)
	if err := waitTCP(m.Proc, m.Addr, 60*time.Second); err != nil {
		t.Fatalf("testenv: %v\n%s", err, tailFile(filepath.Join(d, "error.log"), 2000))
	}
	return m
}

// SQL runs statements with the mariadb client as root over the socket and
// returns its tab-separated output.
func (m *MariaDBServer) SQL(t testing.TB, sql string) string {
	t.Helper()
	return run(t, "mariadb", "--no-defaults", "--socket="+m.Socket, "-uroot", "--batch", "--skip-column-names", "-e", sql)
}

// PostgresServer is a running PostgreSQL 15 with its own data directory,
// on 127.0.0.1:Port (password auth, scram-sha-256) and a unix socket in
// SocketDir (trust). The superuser is User with Password.
type PostgresServer struct {
	Dir       string
	Port      int
	Addr      string
	SocketDir string
	User      string
	Password  string
	Proc      *Proc
}

// PostgresBin is where Debian installs PostgreSQL 15's server programs.
const PostgresBin = "/usr/lib/postgresql/15/bin"

// Postgres initialises a cluster and runs postgres in the foreground as
// the postgres user (it refuses root); it is stopped when the test ends.
func Postgres(t testing.TB) *PostgresServer {
	t.Helper()
	need(t, filepath.Join(PostgresBin, "postgres"), "postgresql")
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("testenv: PostgreSQL needs the postgres user (apt-get install postgresql): %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	asPostgres := func(c *exec.Cmd) {
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	d := tempRoot(t, "postgres")
	if err := os.Chown(d, uid, gid); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	var pw [12]byte
	_, _ = rand.Read(pw[:])
	p := &PostgresServer{Dir: d, Port: FreePort(t), SocketDir: d, User: "postgres", Password: hex.EncodeToString(pw[:])}
	p.Addr = "127.0.0.1:" + strconv.Itoa(p.Port)
	pwfile := filepath.Join(d, "pwfile")
	writeFile(t, pwfile, p.Password+"\n")
	if err := os.Chown(pwfile, uid, gid); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	initdb := exec.Command(filepath.Join(PostgresBin, "initdb"), "-D", filepath.Join(d, "data"), "-U", "postgres",
		"--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile="+pwfile, "-E", "UTF8", "--locale=C.UTF-8")
	asPostgres(initdb)
	initdb.Dir = d
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("testenv: initdb: %v\n%s", err, out)
	}
	p.Proc = start(t, "postgres "+p.Addr, filepath.Join(d, "server.log"), []string{filepath.Join(PostgresBin, "postgres"),
		"-D", filepath.Join(d, "data"), "-p", strconv.Itoa(p.Port), "-k", d,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"}, func(c *exec.Cmd) {
		asPostgres(c)
		c.Dir = d
	})
	p.Proc.StopSignal = syscall.SIGINT // fast shutdown: TERM waits for clients
	if err := waitTCP(p.Proc, p.Addr, 30*time.Second); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	// Accepting TCP, even on the socket, precedes accepting logins ("the
	// database system is starting up"): wait until pg_isready says so.
	sock := filepath.Join(d, ".s.PGSQL."+strconv.Itoa(p.Port))
	if err := waitFor(p.Proc, "socket "+sock+" accepting connections", 30*time.Second, func() bool {
		return exec.Command(filepath.Join(PostgresBin, "pg_isready"), "-q", "-h", d, "-p", strconv.Itoa(p.Port), "-U", "postgres").Run() == nil
	}); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return p
}

// SQL runs statements with psql as the superuser over the unix socket and
// returns its unaligned output.
func (p *PostgresServer) SQL(t testing.TB, sql string) string {
	t.Helper()
	return run(t, filepath.Join(PostgresBin, "psql"), "-h", p.SocketDir, "-p", strconv.Itoa(p.Port),
		"-U", p.User, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql)
}

// String describes the server for logs.
func (p *PostgresServer) String() string {
	return fmt.Sprintf("postgres %s (socket %s)", p.Addr, p.SocketDir)
}
