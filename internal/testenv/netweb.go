package testenv

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// NetNginx is an nginx running inside the network namespace of a
// simulated machine of Hosts, with its own prefix on the shared file
// system. It listens on port 80 of every address of its host (a default
// server answers 404); site configurations go in SitesDir/*.conf. Its
// commands (Test, Reload) must run inside the namespace too, as berth's
// do over SSH: nginx -t binds the listen addresses.
type NetNginx struct {
	Host     *NetHost
	Prefix   string
	Addr     string // IP:80
	SitesDir string
	PIDFile  string // the master's PID file, for a reload by SIGHUP
	// TestArgv is `nginx -t` of this prefix, for the http or lb service
	// of a sites repo.
	TestArgv []string
	Proc     *Proc
}

// NginxOn starts nginx in the foreground inside h's namespace, as root
// (workers as nobody), and stops it by PID when the test ends.
func NginxOn(t testing.TB, h *NetHost) *NetNginx {
	t.Helper()
	bin := need(t, "nginx", "nginx-light")
	d := tempRoot(t, "nginx")
	n := &NetNginx{Host: h, Prefix: d, Addr: net.JoinHostPort(h.IP, "80"), SitesDir: filepath.Join(d, "sites"),
		PIDFile: filepath.Join(d, "logs", "nginx.pid")}
	for _, sub := range []string{"conf", "logs", "tmp", "sites"} {
		mkdir(t, filepath.Join(d, sub))
	}
	writeFile(t, filepath.Join(d, "conf", "nginx.conf"), fmt.Sprintf(`worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  access_log logs/access.log;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  server_names_hash_bucket_size 128; server_names_hash_max_size 8192;
  server { listen 80 default_server; return 404; }
  include %s/*.conf;
}
`, n.SitesDir))
	n.TestArgv = []string{bin, "-p", d, "-c", "conf/nginx.conf", "-t"}
	inNS := func(argv ...string) []string { return append([]string{"ip", "netns", "exec", h.Netns}, argv...) }
	if out, err := exec.Command(inNS(n.TestArgv...)[0], inNS(n.TestArgv...)[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("testenv: nginx -t in %s: %v\n%s", h.Netns, err, out)
	}
	// ip netns exec execs nginx itself: the PID is nginx's master.
	n.Proc = start(t, "nginx "+n.Addr, filepath.Join(d, "logs", "stderr.log"),
		inNS(bin, "-p", d, "-c", "conf/nginx.conf", "-g", "daemon off;"), nil)
	n.Proc.StopSignal = syscall.SIGQUIT // graceful
	if err := waitTCP(n.Proc, n.Addr, 10*time.Second); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return n
}
