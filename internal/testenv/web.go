package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// NginxServer is a running nginx with its own prefix, listening on
// 127.0.0.1:Port with a default server that answers 404. Site
// configurations go in SitesDir/*.conf; call Reload after changing them.
type NginxServer struct {
	Prefix   string
	Port     int
	Addr     string // "127.0.0.1:PORT"
	SitesDir string
	Proc     *Proc
	bin      string
}

// Nginx starts nginx in the foreground and stops it when the test ends.
func Nginx(t testing.TB) *NginxServer {
	t.Helper()
	bin := need(t, "nginx", "nginx-light")
	d := tempRoot(t, "nginx")
	n := &NginxServer{Prefix: d, Port: FreePort(t), SitesDir: filepath.Join(d, "sites"), bin: bin}
	n.Addr = "127.0.0.1:" + strconv.Itoa(n.Port)
	for _, sub := range []string{"conf", "logs", "tmp", "sites"} {
		mkdir(t, filepath.Join(d, sub))
	}
	conf := fmt.Sprintf(`worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  access_log logs/access.log;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  server_names_hash_bucket_size 128; server_names_hash_max_size 8192;
  server { listen 127.0.0.1:%d default_server; return 404; }
  include %s/*.conf;
}
`, n.Port, n.SitesDir)
	writeFile(t, filepath.Join(d, "conf", "nginx.conf"), conf)
	if err := n.Test(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	n.Proc = start(t, "nginx "+n.Addr, filepath.Join(d, "logs", "stderr.log"),
		[]string{bin, "-p", d, "-c", "conf/nginx.conf", "-g", "daemon off;"}, nil)
	n.Proc.StopSignal = syscall.SIGQUIT // graceful
	if err := waitTCP(n.Proc, n.Addr, 10*time.Second); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return n
}

// Test runs `nginx -t` on the configuration.
func (n *NginxServer) Test() error {
	out, err := exec.Command(n.bin, "-p", n.Prefix, "-c", "conf/nginx.conf", "-t").CombinedOutput()
	if err != nil {
		return fmt.Errorf("nginx -t: %w: %s", err, out)
	}
	return nil
}

// Reload asks nginx to reload its configuration. It returns before the new
// configuration is live: poll for the answer you expect.
func (n *NginxServer) Reload() error {
	out, err := exec.Command(n.bin, "-p", n.Prefix, "-c", "conf/nginx.conf", "-s", "reload").CombinedOutput()
	if err != nil {
		return fmt.Errorf("nginx -s reload: %w: %s", err, out)
	}
	return nil
}

// ApacheServer is a running apache2 with its own ServerRoot, listening on
// 127.0.0.1:Port. Site configurations go in SitesDir/*.conf.
type ApacheServer struct {
	Root     string
	Port     int
	Addr     string
	SitesDir string
	Proc     *Proc
	bin      string
}

// Apache starts apache2 in the foreground and stops it when the test ends.
// modules names extra modules to load (e.g. "headers", "proxy_fcgi"), from
// /usr/lib/apache2/modules/mod_NAME.so.
func Apache(t testing.TB, modules ...string) *ApacheServer {
	t.Helper()
	bin := need(t, "apache2", "apache2")
	d := tempRoot(t, "apache")
	a := &ApacheServer{Root: d, Port: FreePort(t), SitesDir: filepath.Join(d, "sites"), bin: bin}
	a.Addr = "127.0.0.1:" + strconv.Itoa(a.Port)
	for _, sub := range []string{"conf", "logs", "run", "sites", "htdocs"} {
		mkdir(t, filepath.Join(d, sub))
	}
	writeFile(t, filepath.Join(d, "htdocs", "index.html"), "berth test apache\n")
	conf := fmt.Sprintf(`ServerRoot %[1]s
ServerName localhost
PidFile run/httpd.pid
DefaultRuntimeDir run
Mutex file:run
ErrorLog logs/error.log
Listen 127.0.0.1:%[2]d
User nobody
Group nogroup
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
%[3]s
TypesConfig /etc/mime.types
DocumentRoot %[1]s/htdocs
<Directory %[1]s/htdocs>
  Require all granted
</Directory>
IncludeOptional %[1]s/sites/*.conf
`, d, a.Port, loadModules(modules))
	writeFile(t, filepath.Join(d, "conf", "httpd.conf"), conf)
	if err := a.Test(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	a.Proc = start(t, "apache2 "+a.Addr, filepath.Join(d, "logs", "stderr.log"),
		[]string{bin, "-d", d, "-f", "conf/httpd.conf", "-DFOREGROUND"}, nil)
	if err := waitTCP(a.Proc, a.Addr, 10*time.Second); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return a
}

func loadModules(names []string) string {
	var b strings.Builder
	for _, m := range names {
		fmt.Fprintf(&b, "LoadModule %s_module /usr/lib/apache2/modules/mod_%s.so\n", m, m)
	}
	return b.String()
}

// Test runs `apache2 -t` on the configuration.
func (a *ApacheServer) Test() error {
	out, err := exec.Command(a.bin, "-d", a.Root, "-f", "conf/httpd.conf", "-t").CombinedOutput()
	if err != nil {
		return fmt.Errorf("apache2 -t: %w: %s", err, out)
	}
	return nil
}

// Graceful asks apache2 to reload its configuration (SIGUSR1).
func (a *ApacheServer) Graceful() error {
	if err := a.Proc.Cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return fmt.Errorf("apache2 graceful: %w", err)
	}
	return nil
}

// PHPFPMServer is a running php-fpm 8.2 with one pool ("site1", as user
// nobody) listening on the unix socket Socket.
type PHPFPMServer struct {
	Dir    string
	Socket string
	Proc   *Proc
	argv   []string
}

// PHPFPM starts php-fpm in the foreground and stops it when the test ends.
func PHPFPM(t testing.TB) *PHPFPMServer {
	t.Helper()
	return phpFPM(t, nil)
}

// PHPFPMOn starts php-fpm like PHPFPM, inside h's network namespace: its
// PHP connects to other hosts from h's address (its unix sockets are on
// the shared filesystem, as PHPFPM's).
func PHPFPMOn(t testing.TB, h *NetHost) *PHPFPMServer {
	t.Helper()
	return phpFPM(t, h)
}

func phpFPM(t testing.TB, h *NetHost) *PHPFPMServer {
	t.Helper()
	bin := need(t, "php-fpm8.2", "php8.2-fpm")
	d := tempRoot(t, "php-fpm")
	mkdir(t, filepath.Join(d, "run"))
	mkdir(t, filepath.Join(d, "log"))
	p := &PHPFPMServer{Dir: d, Socket: filepath.Join(d, "run", "site1.sock")}
	conf := fmt.Sprintf(`[global]
pid = %[1]s/run/php-fpm.pid
error_log = /proc/self/fd/2
daemonize = no
[site1]
user = nobody
group = nogroup
listen = %[2]s
listen.owner = nobody
listen.group = nogroup
listen.mode = 0660
pm = ondemand
pm.max_children = 4
`, d, p.Socket)
	cfg := filepath.Join(d, "php-fpm.conf")
	writeFile(t, cfg, conf)
	if out, err := exec.Command(bin, "-t", "-y", cfg).CombinedOutput(); err != nil {
		t.Fatalf("testenv: php-fpm -t: %v\n%s", err, out)
	}
	p.argv = []string{bin, "-F", "-y", cfg}
	if h != nil {
		// ip netns exec execs php-fpm itself: the PID is its master's.
		p.argv = append([]string{"ip", "netns", "exec", h.Netns}, p.argv...)
	}
	p.run(t)
	return p
}

// run starts php-fpm and waits until its pool accepts connections.
func (p *PHPFPMServer) run(t testing.TB) {
	t.Helper()
	p.Proc = start(t, "php-fpm", filepath.Join(p.Dir, "log", "stderr.log"), p.argv, nil)
	// The socket file appears before php-fpm accepts on it: wait for a
	// connection, not for the file.
	if err := waitFor(p.Proc, "socket "+p.Socket, 10*time.Second, func() bool {
		c, err := net.Dial("unix", p.Socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	}); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

// Start starts php-fpm again, with the same configuration, after
// p.Proc.Stop (the pools berth wrote into included directories too).
func (p *PHPFPMServer) Start(t testing.TB) {
	t.Helper()
	p.run(t)
}

func mkdir(t testing.TB, d string) {
	t.Helper()
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}
