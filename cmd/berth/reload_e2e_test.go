package main

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestDefaultReloadSignalsTheMaster: a server whose nginx reload is the
// default is reloaded by SIGHUP to the PID in its pid_file, after one
// nginx -t, on real nginx. The command `nginx -s reload` would have read
// nginx's compiled-in pid file and failed (no nginx runs there): the site
// answering after the apply proves the signal went to this nginx. A
// pid_file that does not exist falls back to the default command, which
// fails here with nginx's own message and reloads nothing.
func TestDefaultReloadSignalsTheMaster(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pidFile func(prefix string) string
		ok      bool
	}{
		{"pid file", func(prefix string) string { return filepath.Join(prefix, "logs", "nginx.pid") }, true},
		{"no pid file", func(prefix string) string { return filepath.Join(prefix, "logs", "missing.pid") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newWebFixture(t, webKind{name: "nginx", http: "nginx"})
			_, port, _ := net.SplitHostPort(f.addr)
			f.write("servers/web.yaml", fmt.Sprintf(`kind: Server
name: web
address: local
services:
  http:
    type: nginx
    listen: 127.0.0.1:%s
    conf_dir: %s
    web_root: %s
    user: nobody
    group: nogroup
    test: [nginx, -p, %q, -c, conf/nginx.conf, -t]
    pid_file: %s
`, port, f.confDir, f.webRoot, f.nginx.Prefix, tc.pidFile(f.nginx.Prefix)))
			code, out, errOut := f.berth("apply", "--auto-approve")
			if !tc.ok {
				if code == 0 || !strings.Contains(out+errOut, "nginx -s reload") {
					t.Fatalf("apply with a missing pid file: exit %d, want the failed fallback nginx -s reload\n%s\n%s", code, out, errOut)
				}
				return
			}
			if code != 0 {
				t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
			}
			if !strings.Contains(out, "reloaded: web/http") {
				t.Errorf("nginx not reloaded:\n%s", out)
			}
			f.get("b.example.com", "/", func(r *http.Response, _ string) bool { return r.Header.Get("X-Site") == "b" })
		})
	}
}
