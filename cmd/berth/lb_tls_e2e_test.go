package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testenv"
)

// TestLoadBalancedTLS: a site with tls.acme on the three-node cluster is
// served over HTTPS through its load balancer, which terminates TLS with
// a certificate Pebble issued over HTTP-01 answered by the load balancer
// itself (its acme_dir, ahead of proxying): the names resolve (in a real
// BIND, which Pebble and berth's pre-check both ask) to lb1 only. Plain
// HTTP redirects to HTTPS, HSTS goes out over TLS, every node answers
// behind it over plain HTTP (its redirects relative, so HTTPS stays), a
// PHP site's PHP sees HTTPS for what the load balancer took over it, no node holds the certificate or saw a
// challenge, and a second run has nothing to do.
func TestLoadBalancedTLS(t *testing.T) {
	c := newCluster(t)
	lbIP := c.lb.Host.IP
	zone := fmt.Sprintf("$TTL 60\n@ IN SOA ns1.example.com. hostmaster.example.com. 1 60 60 600 60\n@ IN NS ns1.example.com.\nns1 IN A 127.0.0.1\na IN A %[1]s\nwww.a IN A %[1]s\nb IN A %[1]s\n", lbIP)
	bind := testenv.BIND(t, map[string]string{"example.com": zone})
	pebble := testenv.Pebble(t, testenv.PebbleOptions{HTTPPort: 80, DNSServer: bind.Addr})
	roots := pebbleRoot(t, pebble)
	c.flags = append(c.flags, "--acme-ca-root", pebble.CACertFile, "--resolver", bind.Addr)

	certDir, acmeDir := filepath.Join(c.lb.Prefix, "certs"), filepath.Join(c.lb.Prefix, "acme")
	c.write("berth.yaml", fmt.Sprintf("environments:\n  production:\n    branch: main\n    acme: { directory: %s, email: ops@example.com }\n", pebble.DirectoryURL))
	lbFile := filepath.Join(c.repo, "servers", "lb1.yaml")
	data, err := os.ReadFile(lbFile)
	if err != nil {
		t.Fatal(err)
	}
	c.write("servers/lb1.yaml", strings.Replace(string(data), "    max_fails: 1\n",
		fmt.Sprintf("    max_fails: 1\n    tls_listen: %s:443\n    cert_dir: %s\n    acme_dir: %s\n", lbIP, certDir, acmeDir), 1))
	c.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: static\naliases: [www.a.example.com]\ntls: { acme: true }\nweb:\n  headers:\n    Strict-Transport-Security: max-age=300\n")

	c.write("code/docs/index.html", "docs\n")
	out := c.apply()
	if !strings.Contains(out, "+ site/a.example.com/certificate@lb1") {
		t.Errorf("apply does not order a.example.com's certificate on lb1:\n%s", out)
	}
	if strings.Contains(out, "certificate@web") || strings.Contains(out, "cert-key@web") || strings.Contains(out, "cert-chain@web") {
		t.Errorf("apply puts a certificate on a web server:\n%s", out)
	}

	// HTTPS through the load balancer, verified against Pebble's root,
	// for the name and its alias, answered by every node.
	get := func(name string) (*http.Response, error) {
		client := &http.Client{Timeout: 5 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots},
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					_, port, _ := net.SplitHostPort(addr)
					var d net.Dialer
					return d.DialContext(ctx, network, net.JoinHostPort(lbIP, port))
				}}}
		return client.Get(name)
	}
	nodes := map[string]bool{}
	for _, name := range []string{"a.example.com", "www.a.example.com"} {
		testenv.EventuallyWith(t, "https://"+name+"/ through the load balancer", 15*time.Second, func() (bool, string) {
			r, err := get("https://" + name + "/")
			if err != nil {
				return false, err.Error()
			}
			body, _ := io.ReadAll(r.Body)
			r.Body.Close()
			ok := r.StatusCode == 200 && strings.Contains(string(body), "static platform") && r.Header.Get("Strict-Transport-Security") == "max-age=300"
			return ok, fmt.Sprintf("%s %v %q", r.Status, r.Header, body)
		})
	}
	for range 9 {
		r, err := get("https://a.example.com/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].VerifyHostname("www.a.example.com") != nil {
			t.Fatalf("the served certificate does not hold www.a.example.com")
		}
		nodes[r.Header.Get("X-Berth-Node")] = true
	}
	if !nodes["web1"] || !nodes["web2"] || !nodes["web3"] {
		t.Errorf("HTTPS answered by %v, want web1, web2 and web3", nodes)
	}
	// A directory's trailing-slash redirect, made by a node that only
	// speaks plain HTTP, stays a path: the client stays on HTTPS.
	for range 6 {
		r, err := get("https://a.example.com/docs")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 301 || r.Header.Get("Location") != "/docs/" {
			t.Errorf("https://a.example.com/docs from %s: %s to %q, want 301 to /docs/", r.Header.Get("X-Berth-Node"), r.Status, r.Header.Get("Location"))
		}
	}

	// Plain HTTP redirects to HTTPS on the load balancer (bounded: a
	// worker of the configuration before the last reload may still take
	// a connection while it shuts down; a wrong configuration stays).
	testenv.EventuallyWith(t, "plain HTTP redirected to HTTPS by the load balancer", 10*time.Second, func() (bool, string) {
		r, err := get("http://www.a.example.com/x?y=1")
		if err != nil {
			return false, err.Error()
		}
		r.Body.Close()
		return r.StatusCode == 301 && r.Header.Get("Location") == "https://www.a.example.com/x?y=1", fmt.Sprintf("%s to %q", r.Status, r.Header.Get("Location"))
	})

	// The load balancer answered Pebble's challenges; no node saw one,
	// and the key is the LB's, 0600.
	lbLog, err := os.ReadFile(filepath.Join(c.lb.Prefix, "logs", "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !challengeAnswered(string(lbLog)) {
		t.Errorf("lb1's access log shows no HTTP-01 validation answered 200:\n%s", lbLog)
	}
	for i, n := range c.nodes {
		nodeLog, _ := os.ReadFile(filepath.Join(n.Prefix, "logs", "access.log"))
		if strings.Contains(string(nodeLog), "/.well-known/acme-challenge/") {
			t.Errorf("web%d saw a challenge request:\n%s", i+1, nodeLog)
		}
	}
	if fi, err := os.Stat(filepath.Join(certDir, "a.example.com.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("lb1's key: %v %v, want a 0600 file", fi, err)
	}

	if code, out, errOut := c.berth("plan"); code != 0 {
		t.Fatalf("plan after apply: exit %d, want 0 (nothing to do)\n%s\n%s", code, out, errOut)
	}

	// A PHP site behind the same load balancer: PHP on every node sees
	// HTTPS on and the https scheme for a request the load balancer took
	// over HTTPS, not over plain HTTP, and not for a request that claims
	// HTTPS (X-Forwarded-Proto) straight to a node rather than from the
	// load balancer.
	c.withPHP()
	c.write("platforms/app.yaml", "kind: Platform\nname: app\ntype: php\nisolation: false\nsource: { path: app }\nservers: [web1, web2, web3]\nlb: lb1\n")
	c.write("app/index.php", "<?php echo 'HTTPS=', $_SERVER['HTTPS'] ?? '', ' scheme=', $_SERVER['REQUEST_SCHEME'];\n")
	c.write("sites/b.yaml", "kind: Site\nname: b.example.com\nplatform: app\ntls: { acme: true, redirect_https: false }\n")
	c.apply()
	says := func(r *http.Response, err error) (string, string) {
		if err != nil {
			return "", err.Error()
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		return r.Header.Get("X-Berth-Node"), fmt.Sprintf("%d %s", r.StatusCode, body)
	}
	// Bounded: a worker of the configuration before the reload may still
	// take a connection while it shuts down (without b's certificate).
	testenv.EventuallyWith(t, "https://b.example.com/ through the load balancer, from every node", 15*time.Second, func() (bool, string) {
		nodes := map[string]bool{}
		for range 9 {
			node, got := says(get("https://b.example.com/"))
			if got != "200 HTTPS=on scheme=https" {
				return false, fmt.Sprintf("PHP on %q says %q", node, got)
			}
			nodes[node] = true
		}
		return len(nodes) == 3, fmt.Sprint(nodes)
	})
	for range 9 {
		if node, got := says(get("http://b.example.com/")); got != "200 HTTPS= scheme=http" {
			t.Errorf("PHP on %s over plain HTTP through the load balancer says %q", node, got)
		}
	}
	for i, n := range c.nodes {
		req, _ := http.NewRequest("GET", "http://"+n.Addr+"/", nil)
		req.Host = "b.example.com"
		req.Header.Set("X-Forwarded-Proto", "https")
		if _, got := says((&http.Client{Timeout: 5 * time.Second}).Do(req)); got != "200 HTTPS= scheme=http" {
			t.Errorf("PHP on web%d, asked straight with X-Forwarded-Proto https, says %q", i+1, got)
		}
	}

	// Without tls the site is proxied over plain HTTP again and its
	// certificate leaves the load balancer.
	c.siteHeader("plain")
	out = c.apply()
	c.serving()
	if a := c.ask(&http.Client{Timeout: 5 * time.Second}, "www.a.example.com"); a.err != nil || a.version != "plain" {
		t.Errorf("plain HTTP through the load balancer after tls was removed: %+v\n%s", a, out)
	}
	for _, f := range []string{"a.example.com.key", "a.example.com.crt"} {
		if _, err := os.Stat(filepath.Join(certDir, f)); !os.IsNotExist(err) {
			t.Errorf("%s is still on lb1 after tls was removed (%v)\n%s", f, err, out)
		}
	}
}

// challengeAnswered reports whether an nginx access log holds an HTTP-01
// validation (not berth's self-test) answered 200.
func challengeAnswered(log string) bool {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "GET /.well-known/acme-challenge/") && !strings.Contains(l, "berth-selftest-") && strings.Contains(l, "\" 200 ") {
			return true
		}
	}
	return false
}
