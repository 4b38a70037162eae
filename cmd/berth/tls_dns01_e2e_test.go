package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testenv"
)

// TestTLSWildcardOverDNS01: a site with a wildcard alias and tls: {
// challenge: dns-01 } gets its certificate from Pebble through berth's
// own zone on a real BIND (the _acme-challenge zone berth renders and
// updates with its TSIG key) in one berth apply, and serves every name
// under the wildcard over HTTPS; a second apply sends no order.
func TestTLSWildcardOverDNS01(t *testing.T) {
	w := newPHPWeb(t)
	tlsPort := testenv.FreePort(t)
	b := testenv.BINDWith(t, nil, testenv.BINDOptions{Includes: []string{filepath.Join(w.base, "berth-production.conf")}})
	pebble := testenv.Pebble(t, testenv.PebbleOptions{HTTPPort: w.nginx.Port, DNSServer: b.Addr})

	w.write("berth.yaml", fmt.Sprintf("environments:\n  production:\n    branch: main\n    acme: { directory: %s, email: hostmaster@example.test }\n", pebble.DirectoryURL))
	srv := strings.Replace(w.webServer(""), "name: web\naddress: local\n", "name: web\naddress: local\npublic_addresses: [127.0.0.1]\n", 1)
	srv = strings.Replace(srv, "    type: nginx\n", fmt.Sprintf("    type: nginx\n    tls_listen: 127.0.0.1:%d\n    cert_dir: %s\n", tlsPort, filepath.Join(w.base, "certs")), 1)
	w.write("servers/web.yaml", srv)
	w.write("servers/ns1.yaml", fmt.Sprintf(`kind: Server
name: ns1
address: local
services:
  dns:
    type: bind
    listen: %[4]s
    zone_dir: %[1]s/zones/{env}
    include_file: %[1]s/berth-{env}.conf
    rndc: [rndc, -c, %[2]s]
    check_conf: [named-checkconf, %[3]s]
`, w.base, b.RNDCConf, b.Conf, b.Addr))
	w.write("zones/example.test.yaml", "kind: Zone\nname: example.test\ncontact: hostmaster@example.test\nns: [ns1.example.test]\nttl: 60\nprimary: ns1\nrecords:\n  - { name: ns1, type: A, value: 127.0.0.1 }\n")
	w.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web]\n")
	w.write("code/index.html", "<h1>wild</h1>\n")
	w.write("sites/wild.yaml", "kind: Site\nname: wild.example.test\naliases: ['*.wild.example.test']\nplatform: static\ndns: {}\ntls: { acme: true, challenge: dns-01 }\n")
	w.flags = append(w.flags, "--acme-ca-root", pebble.CACertFile, "--resolver", b.Addr)

	code, out, errOut := w.berth("apply", "--auto-approve")
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"+ site/wild.example.test/certificate@web", "zone-challenge/"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	if n := pebble.Orders(t); n != 1 {
		t.Errorf("%d orders reached Pebble, want 1", n)
	}
	roots := pebbleRoot(t, pebble)
	client := &http.Client{Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, "127.0.0.1:"+strconv.Itoa(tlsPort))
			}}}
	for _, name := range []string{"wild.example.test", "a.wild.example.test", "anything-else.wild.example.test"} {
		testenv.EventuallyWith(t, "https://"+name+"/", 15*time.Second, func() (bool, string) {
			resp, err := client.Get(fmt.Sprintf("https://%s:%d/", name, tlsPort))
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			// An alias redirects to the main name; the main name serves.
			return resp.StatusCode == 200 && strings.Contains(string(body), "wild") || resp.StatusCode == 301, fmt.Sprintf("%d %s", resp.StatusCode, body)
		})
	}

	code, out, errOut = w.berth("apply", "--auto-approve")
	if code != 0 || pebble.Orders(t) != 1 {
		t.Errorf("second apply: exit %d, %d orders (want 0, 1)\n%s\n%s", code, pebble.Orders(t), out, errOut)
	}
}
