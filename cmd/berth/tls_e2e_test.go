package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthhq/berth/acme"
	"github.com/berthhq/berth/daemon"
	"github.com/berthhq/berth/internal/testenv"
	berthrun "github.com/berthhq/berth/run"
	"github.com/berthhq/berth/state"
)

// tlsWorld is the example sites repo (production) served by a real nginx
// and PHP-FPM on server "local", its names in a real BIND, its
// certificates from a real Pebble that validates HTTP-01 against that
// nginx and resolves through that BIND; plus elsewhere.example.org,
// whose name points at an address that is not ours.
type tlsWorld struct {
	*phpWeb
	bind    *testenv.BINDServer
	pebble  *testenv.PebbleServer
	tlsPort int
	certDir string
	roots   *x509.CertPool // Pebble's issuing root
}

// tlsNames are the example's production names with a certificate, and
// what each answers over HTTPS.
var tlsNames = map[string]int{
	"example.com": 200, "www.example.com": 301, "docs.example.com": 200,
	"xn--bcher-kva.example.com": 503, "app.example.org": 200, "shop.example.org": 200,
}

func newTLSWorld(t *testing.T) *tlsWorld {
	t.Helper()
	w := &tlsWorld{phpWeb: newPHPWeb(t), tlsPort: testenv.FreePort(t)}
	w.certDir = filepath.Join(w.base, "certs")
	zone := func(origin string, names ...string) string {
		z := fmt.Sprintf("$TTL 60\n@ IN SOA ns1.%[1]s. hostmaster.%[1]s. 1 60 60 600 60\n@ IN NS ns1.%[1]s.\nns1 IN A 127.0.0.1\n", origin)
		for _, n := range names {
			z += n + " IN A 127.0.0.1\n"
		}
		return z
	}
	w.bind = testenv.BIND(t, map[string]string{
		"example.com": zone("example.com", "@", "www", "docs", "xn--bcher-kva"),
		"example.org": zone("example.org", "app", "shop") + "elsewhere IN A 192.0.2.7\n",
	})
	w.pebble = testenv.Pebble(t, testenv.PebbleOptions{HTTPPort: w.nginx.Port, DNSServer: w.bind.Addr})

	testenv.CopyTree(t, filepath.Join("..", "..", "examples", "sites-repo"), w.repo)
	if err := os.Remove(filepath.Join(w.repo, "servers", "local.yaml")); err != nil {
		t.Fatal(err)
	}
	srv := strings.Replace(w.webServer("  db: { type: sqlite }\n"), "name: web\naddress: local\n", "name: local\naddress: local\npublic_addresses: [127.0.0.1]\n", 1)
	srv = strings.Replace(srv, "    type: nginx\n", fmt.Sprintf("    type: nginx\n    tls_listen: 127.0.0.1:%d\n    cert_dir: %s\n", w.tlsPort, w.certDir), 1)
	w.write("servers/local.yaml", srv)
	cfg, err := os.ReadFile(filepath.Join(w.repo, "berth.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	w.setCA(t, strings.Replace(string(cfg), "directory: letsencrypt, ", "directory: CA, ", 1), w.pebble)
	w.write("sites/elsewhere.yaml", "kind: Site\nname: elsewhere.example.org\nplatform: static-site\n")
	w.flags = []string{"--acme-ca-root", w.pebble.CACertFile, "--resolver", w.bind.Addr}
	w.roots = pebbleRoot(t, w.pebble)
	return w
}

// setCA writes berth.yaml with production's CA directory (written CA in
// cfg) set to p's.
func (w *tlsWorld) setCA(t *testing.T, cfg string, p *testenv.PebbleServer) {
	t.Helper()
	w.write("berth.yaml.tmpl", cfg)
	w.write("berth.yaml", strings.Replace(cfg, "directory: CA, ", "directory: "+p.DirectoryURL+", ", 1))
	if err := os.Remove(filepath.Join(w.repo, "berth.yaml.tmpl")); err != nil {
		t.Fatal(err)
	}
}

// pebbleRoot fetches the root that issues the certificates of p's run.
func pebbleRoot(t *testing.T, p *testenv.PebbleServer) *x509.CertPool {
	t.Helper()
	minica, err := os.ReadFile(p.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(minica)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(p.RootsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	root, _ := io.ReadAll(resp.Body)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(root) {
		t.Fatalf("pebble's root: %q", root)
	}
	return roots
}

// https asks name over HTTPS on the TLS listen, verifying the certificate
// against Pebble's root; it returns the answer's status, its Location and
// HSTS headers, and the served leaf's serial.
func (w *tlsWorld) https(name string) (int, http.Header, string, error) {
	c := &http.Client{Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: w.roots},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, "127.0.0.1:"+strconv.Itoa(w.tlsPort))
			}}}
	resp, err := c.Get(fmt.Sprintf("https://%s:%d/", name, w.tlsPort))
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header, resp.TLS.PeerCertificates[0].SerialNumber.String(), nil
}

// served waits (bounded: reloads are asynchronous) until every TLS name
// answers over HTTPS as it should, and returns the serial served per name.
func (w *tlsWorld) served(t *testing.T) map[string]string {
	t.Helper()
	serials := map[string]string{}
	for name, want := range tlsNames {
		testenv.EventuallyWith(t, "https://"+name+"/ answers "+strconv.Itoa(want), 15*time.Second, func() (bool, string) {
			code, h, serial, err := w.https(name)
			if err != nil {
				return false, err.Error()
			}
			serials[name] = serial
			ok := code == want
			if name == "www.example.com" {
				ok = ok && h.Get("Location") == fmt.Sprintf("https://example.com:%d/", w.tlsPort)
			}
			if name == "example.com" {
				ok = ok && h.Get("Strict-Transport-Security") == "max-age=31536000"
			}
			return ok, fmt.Sprintf("%d %v", code, h)
		})
	}
	return serials
}

func (w *tlsWorld) status(t *testing.T) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"status", "--env", "production", "--repo", w.repo, "--state-dir", w.stateDir}, w.flags...), &stdout, &stderr)
	out, errOut := stdout.String(), stderr.String()
	if code != 0 {
		t.Fatalf("status: exit %d\n%s\n%s", code, out, errOut)
	}
	return out
}

// TestTLSEndToEnd: berth apply orders, installs and serves a certificate
// for every site of the example with tls.acme, from Pebble over HTTP-01,
// in one run; a name that does not point at us fails its pre-check
// without an order and without holding the others up; nothing is ordered
// again by a second apply nor by a restarted berth serve; a renewal the
// CA's renewal information asks for changes the served certificate
// without a failed handshake; a CA that rejects every order backs off,
// the sites wait with the time and stay served, and runs inside the
// backoff send nothing; a site that loses tls loses its files.
func TestTLSEndToEnd(t *testing.T) {
	w := newTLSWorld(t)

	// 1. One apply: five certificates (example.com with its alias, docs,
	// bücher, app, shop), served over HTTPS; elsewhere's pre-check fails.
	code, out, errOut := w.berth("apply", "--auto-approve")
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"+ site/example.com/certificate@local", "+ site/elsewhere.example.org/certificate@local",
		"elsewhere.example.org resolves to 192.0.2.7, not to one of the site's web servers", "pre-check failed, nothing sent to the CA"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	if n := w.pebble.Orders(t); n != 5 {
		t.Fatalf("%d orders reached Pebble, want 5 (none for elsewhere.example.org)", n)
	}
	first := w.served(t)
	// Plain HTTP redirects to HTTPS, without HSTS, but still answers the
	// challenge path; elsewhere, without a certificate, is served over HTTP.
	r, _ := w.get("docs.example.com", "/manual/?q=1", func(r *http.Response, _ string) bool { return r.StatusCode == 301 })
	if loc := r.Header.Get("Location"); loc != fmt.Sprintf("https://docs.example.com:%d/manual/?q=1", w.tlsPort) || r.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("HTTP answer: Location %q, HSTS %q", loc, r.Header.Get("Strict-Transport-Security"))
	}
	w.get("example.com", acme.ChallengePath+"nothing", func(r *http.Response, _ string) bool { return r.StatusCode == 404 })
	w.get("elsewhere.example.org", "/", func(r *http.Response, _ string) bool { return r.StatusCode == 200 })
	info, err := os.Stat(filepath.Join(w.certDir, "example.com.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", info, err)
	}
	if info, err := os.Stat(w.certDir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("cert dir: %v %v", info, err)
	}
	st := w.status(t)
	for _, want := range []string{"example.com", "expires ", "elsewhere.example.org", "none issued yet; last error: pre-check failed"} {
		if !strings.Contains(st, want) {
			t.Errorf("berth status lacks %q:\n%s", want, st)
		}
	}

	// 2. Apply again: no order; only elsewhere's pre-check runs again.
	code, out, errOut = w.berth("apply", "--auto-approve")
	if code != 0 || !strings.Contains(out, "Plan: 0 to add, 1 to change, 0 to destroy.") || !strings.Contains(out, "~ site/elsewhere.example.org/certificate@local") {
		t.Fatalf("second apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := w.pebble.Orders(t); n != 5 {
		t.Fatalf("the second apply sent %d orders", n-5)
	}

	// 3. A restarted berth (berth serve, a new process on the same state):
	// still no order; its API shows the certificates.
	p := startServe(t, "--repo", w.repo, "--env", "production", "--state-dir", w.stateDir, "--poll", "0", "--drift-interval", "0",
		"--acme-ca-root", w.pebble.CACertFile, "--resolver", w.bind.Addr)
	sts := p.until("berth serve ran production", func(s map[string]daemon.EnvStatus) bool {
		return s["production"].LastRun != nil && s["production"].Phase == daemon.PhaseSynced && len(s["production"].Certificates) > 0
	})
	if n := w.pebble.Orders(t); n != 5 {
		t.Fatalf("a restarted berth sent %d orders", n-5)
	}
	certs := 0
	for _, c := range sts["production"].Certificates {
		if !c.NotAfter.IsZero() && strings.Contains(c.Issuer, "Pebble") {
			certs++
		}
	}
	if certs != 5 {
		t.Errorf("the API shows %d issued certificates: %+v", certs, sts["production"].Certificates)
	}
	p.stop()

	// 4. Renewal: Pebble's renewal information says the window of
	// example.com's certificate has begun; at the next check of it (the
	// clock seam: 7 hours on, past the ARI poll interval), the same
	// pipeline renews it, and a request loop sees no failed handshake.
	w.setRenewalWindow(t, "example.com", time.Now().Add(-2*time.Hour))
	var failed atomic.Int64
	var loops atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, _, _, err := w.https("example.com"); err != nil {
				failed.Add(1)
				t.Logf("handshake during the renewal: %v", err)
			}
			loops.Add(1)
		}
	})
	w.converge(t, time.Now().Add(7*time.Hour))
	testenv.EventuallyWith(t, "example.com serves its renewed certificate", 15*time.Second, func() (bool, string) {
		_, _, serial, err := w.https("example.com")
		return err == nil && serial != first["example.com"], fmt.Sprint(serial, err)
	})
	close(stop)
	wg.Wait()
	if failed.Load() > 0 || loops.Load() == 0 {
		t.Errorf("%d of %d requests failed during the renewal", failed.Load(), loops.Load())
	}
	if n := w.pebble.Orders(t); n != 6 {
		t.Errorf("%d orders after the renewal, want 6", n)
	}
	if _, _, serial, _ := w.https("docs.example.com"); serial != first["docs.example.com"] {
		t.Errorf("docs.example.com was renewed too")
	}

	// 5. A CA that rejects every order (its HTTP-01 validation reaches a
	// port nobody listens on): each site backs off and waits, with the
	// time, still served with its certificate; the run completes; runs
	// inside the backoff send nothing.
	reject := testenv.Pebble(t, testenv.PebbleOptions{HTTPPort: testenv.FreePort(t), DNSServer: w.bind.Addr})
	cfg, _ := os.ReadFile(filepath.Join(w.repo, "berth.yaml"))
	w.write("berth.yaml", strings.Replace(string(cfg), w.pebble.DirectoryURL, reject.DirectoryURL, 1))
	w.flags = []string{"--acme-ca-root", reject.CACertFile, "--resolver", w.bind.Addr}
	code, out, errOut = w.berth("apply", "--auto-approve")
	if code != 0 || !strings.Contains(out, "certificate waiting: order for ") || !strings.Contains(out, "next order not before ") {
		t.Fatalf("apply against a rejecting CA: exit %d\n%s\n%s", code, out, errOut)
	}
	rejected := reject.Orders(t)
	if rejected == 0 {
		t.Fatalf("no order reached the rejecting CA:\n%s", out)
	}
	w.served(t)
	code, out, errOut = w.berth("apply", "--auto-approve")
	if code != 0 || !strings.Contains(out, "~ site/example.com/certificate@local  (waiting until ") {
		t.Fatalf("apply inside the backoff: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := reject.Orders(t); n != rejected {
		t.Errorf("runs inside the backoff sent %d orders", n-rejected)
	}
	if st := w.status(t); !strings.Contains(st, "waiting, next attempt ") {
		t.Errorf("berth status does not show the wait:\n%s", st)
	}

	// 6. A site that loses tls: its chain and key leave the host (the
	// certificate stays in the store, never renewed), it is served over
	// plain HTTP again.
	w.write("sites/docs.yaml", "kind: Site\nname: docs.example.com\nplatform: static-site\ntls: { acme: false }\n")
	code, out, errOut = w.berth("apply", "--auto-approve")
	if code != 0 || !strings.Contains(out, "- site/docs.example.com/certificate@local") {
		t.Fatalf("apply without docs' tls: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, f := range []string{"docs.example.com.crt", "docs.example.com.key"} {
		if _, err := os.Stat(filepath.Join(w.certDir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still on the host: %v", f, err)
		}
	}
	w.get("docs.example.com", "/", func(r *http.Response, _ string) bool { return r.StatusCode == 200 })
	store, err := state.Open(context.Background(), w.stateDir, state.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if c, err := store.Certificate(context.Background(), "production/docs.example.com"); err != nil || len(c.CertPEM) == 0 {
		t.Errorf("docs' certificate left the store: %v", err)
	}
}

// setRenewalWindow makes Pebble's renewal information of name's current
// certificate suggest a window that began at start.
func (w *tlsWorld) setRenewalWindow(t *testing.T, name string, start time.Time) {
	t.Helper()
	chain, err := os.ReadFile(filepath.Join(w.certDir, name+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := pem.Decode(chain)
	ari, _ := json.Marshal(map[string]any{"suggestedWindow": map[string]string{
		"start": start.UTC().Format(time.RFC3339), "end": start.Add(time.Hour).UTC().Format(time.RFC3339)}})
	body, _ := json.Marshal(map[string]string{"Certificate": string(pem.EncodeToMemory(leaf)), "ARIResponse": string(ari)})
	minica, _ := os.ReadFile(w.pebble.CACertFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(minica)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Post(strings.TrimSuffix(w.pebble.RootsURL, "/roots/0")+"/set-renewal-info/", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("set-renewal-info: %s %s", resp.Status, b)
	}
}

// converge runs production through package run, as berth apply and berth
// serve do, with the certificates' clock at now.
func (w *tlsWorld) converge(t *testing.T, now time.Time) {
	t.Helper()
	ctx := context.Background()
	f := envFlags{env: "production", repo: w.repo, stateDir: w.stateDir}
	l, err := f.load(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(ctx, w.stateDir, state.Options{Command: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	conn := newConnector(l.res, sshOptions{})
	defer conn.Close()
	p, err := berthrun.Prepare(ctx, berthrun.Input{Input: l.input(store, &f, conn),
		TLS: berthrun.TLS{CARootFile: w.pebble.CACertFile, Resolver: w.bind.Addr, Now: func() time.Time { return now }}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Converge(ctx, berthrun.Options{Trigger: "test"})
	if err != nil {
		t.Fatalf("converge: %v", err)
	}
	if out.Served == nil || !strings.Contains(string(mustJSON(out.Plan)), "renew for example.com, www.example.com: the CA's renewal window has begun") {
		t.Fatalf("the run renewed nothing: %s", mustJSON(out.Plan))
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
