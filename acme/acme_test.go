package acme

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	legolog "github.com/go-acme/lego/v5/log"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/redact"
	"github.com/berthhq/berth/state"
)

// counter counts the requests that reach the CA.
type counter struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// world is a real Pebble validating HTTP-01 against a real nginx, its
// names resolved by a real BIND.
type world struct {
	pebble   *testenv.PebbleServer
	nginx    *testenv.NginxServer
	tlsPort  int
	webroot  string // served under /.well-known/acme-challenge/
	certDir  string
	store    *state.Store
	requests *counter
	client   *http.Client
	dns      string // the test BIND, the resolver of the pre-checks
}

func newWorld(t *testing.T) *world {
	t.Helper()
	bind := testenv.BIND(t, map[string]string{"example.test": `$TTL 60
@ IN SOA ns1.example.test. hostmaster.example.test. 1 60 60 600 60
@ IN NS ns1.example.test.
ns1 IN A 127.0.0.1
a IN A 127.0.0.1
www.a IN A 127.0.0.1
b IN A 127.0.0.1
c IN A 127.0.0.1
elsewhere IN A 192.0.2.7
`})
	w := &world{nginx: testenv.Nginx(t), tlsPort: testenv.FreePort(t), webroot: testenv.Dir(t), certDir: t.TempDir(), dns: bind.Addr}
	w.pebble = testenv.Pebble(t, testenv.PebbleOptions{HTTPPort: w.nginx.Port, DNSServer: bind.Addr})
	// The application answers 403 to everything: the challenge location
	// comes first (coolify#6271).
	w.site(t, "")
	roots := x509.NewCertPool()
	pem, err := os.ReadFile(w.pebble.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	roots.AppendCertsFromPEM(pem)
	w.requests = &counter{next: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	w.client = &http.Client{Transport: w.requests, Timeout: time.Minute}
	st, err := state.Open(context.Background(), t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w.store = st
	return w
}

// site writes the vhost of a.example.test: HTTP with the challenge
// location, and HTTPS with chain and key when tlsFiles is set.
func (w *world) site(t *testing.T, tlsFiles string) {
	t.Helper()
	conf := fmt.Sprintf(`server {
  listen 127.0.0.1:%d;
  server_name a.example.test www.a.example.test b.example.test nx.example.test;
  location ^~ /.well-known/acme-challenge/ { root %s; default_type text/plain; }
  location / { return 403; }
}
`, w.nginx.Port, w.webroot)
	if tlsFiles != "" {
		conf += fmt.Sprintf(`server {
  listen 127.0.0.1:%d ssl;
  server_name a.example.test www.a.example.test;
  ssl_certificate %[2]s/chain.pem;
  ssl_certificate_key %[2]s/key.pem;
  location / { return 200 "tls ok\n"; }
}
`, w.tlsPort, tlsFiles)
	}
	if err := os.WriteFile(filepath.Join(w.nginx.SitesDir, "a.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.nginx.Test(); err != nil {
		t.Fatal(err)
	}
	if err := w.nginx.Reload(); err != nil {
		t.Fatal(err)
	}
	// The reload is live once the site answers its challenge path.
	probe := filepath.Join(w.webroot, ChallengePath, "probe")
	if err := os.MkdirAll(filepath.Dir(probe), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(probe, []byte("probe"), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.EventuallyWith(t, "nginx serves the challenge path of a.example.test", 10*time.Second, func() (bool, string) {
		req, _ := http.NewRequest("GET", "http://"+w.nginx.Addr+ChallengePath+"probe", nil)
		req.Host = "a.example.test"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	if tlsFiles != "" {
		testenv.EventuallyWith(t, "nginx serves a.example.test over TLS", 10*time.Second, func() (bool, string) {
			_, err := w.served(t)
			return err == nil, fmt.Sprint(err)
		})
	}
}

func (w *world) newClient(t *testing.T, now func() time.Time, limits Limits) *Client {
	t.Helper()
	c, err := New(Config{DirectoryURL: w.pebble.DirectoryURL, Email: "hostmaster@example.test", Store: w.store, HTTPClient: w.client, Now: now, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// served returns the serial of the certificate nginx serves for
// a.example.test over TLS, verified against Pebble's root of this run.
func (w *world) served(t *testing.T) (string, error) {
	t.Helper()
	resp, err := w.client.Get(w.pebble.RootsURL)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(root) {
		t.Fatalf("Pebble's root at %s does not parse", w.pebble.RootsURL)
	}
	conn, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(w.tlsPort), &tls.Config{ServerName: "a.example.test", RootCAs: pool})
	if err != nil {
		return "", fmt.Errorf("TLS handshake with nginx for a.example.test: %w", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

func TestEnsureOnPebble(t *testing.T) {
	var logs bytes.Buffer
	saved := legolog.Default()
	legolog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { legolog.SetDefault(saved) })

	w := newWorld(t)
	ctx := context.Background()
	h := local.New()
	webroot := &Webroot{Hosts: []host.Host{h}, Dir: w.webroot}
	req := Request{ID: "production/a.example.test", Names: []string{"a.example.test", "www.a.example.test"}, HTTP01: webroot}
	start := time.Now()
	clock := start
	now := func() time.Time { return clock }
	c := w.newClient(t, now, Limits{})

	// First call: an account, an order, a certificate.
	r, err := c.Ensure(ctx, req)
	if err != nil {
		t.Fatalf("first Ensure: %v", err)
	}
	if !r.Issued || r.Replaced != "" {
		t.Fatalf("first Ensure: issued %v, replaced %q; want a new certificate", r.Issued, r.Replaced)
	}
	first := r.Certificate
	if got := strings.Join(first.Names, " "); got != "a.example.test www.a.example.test" {
		t.Fatalf("names %q", got)
	}
	if accounts, _ := w.store.ACMEAccounts(ctx); accounts != 1 {
		t.Fatalf("%d accounts stored, want 1", accounts)
	}
	if want := renewAt(first.NotBefore, first.NotAfter); !first.RenewAt.Equal(want) || first.CheckAt.After(first.RenewAt) {
		t.Fatalf("RenewAt %v (want %v), CheckAt %v", first.RenewAt, want, first.CheckAt)
	}
	if err := Install(ctx, h, first, filepath.Join(w.certDir, "chain.pem"), filepath.Join(w.certDir, "key.pem")); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{"key.pem": 0o600, "chain.pem": 0o644} {
		fi, err := os.Stat(filepath.Join(w.certDir, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Fatalf("%s: %v, mode %v, want %v", name, err, fi.Mode().Perm(), mode)
		}
	}
	w.site(t, w.certDir)
	servedFirst, err := w.served(t)
	if err != nil {
		t.Fatal(err)
	}

	// The same certificate again, names in another order, from the same
	// client and from a new one (a restart): not one request reaches the
	// CA, and there is still one account.
	before := w.requests.n.Load()
	for i, cl := range []*Client{c, w.newClient(t, now, Limits{})} {
		again := Request{ID: req.ID, Names: []string{"a.example.test", "www.a.example.test", "a.example.test"}, HTTP01: webroot}
		r, err := cl.Ensure(ctx, again)
		if err != nil || r.Issued || !bytes.Equal(r.Certificate.CertPEM, first.CertPEM) {
			t.Fatalf("client %d, valid certificate: issued %v, err %v; want the stored one", i, r.Issued, err)
		}
	}
	if n := w.requests.n.Load() - before; n != 0 {
		t.Fatalf("%d requests reached the CA for a valid certificate that is not due", n)
	}

	// Past CheckAt, the CA's renewal information is asked, and its window
	// has not begun: no order, the next check is recorded.
	clock = start.Add(ARIPoll + time.Minute)
	r, err = c.Ensure(ctx, req)
	if err != nil || r.Issued {
		t.Fatalf("ARI check: issued %v, err %v; want no order", r.Issued, err)
	}
	if w.requests.n.Load() == before {
		t.Fatal("ARI check: no request reached the CA")
	}
	if !r.Certificate.CheckAt.After(clock) {
		t.Fatalf("ARI check: next check %v is not after now %v", r.Certificate.CheckAt, clock)
	}
	orders, _ := w.store.ACMEOrders(ctx, w.pebble.DirectoryURL, time.Time{})
	if len(orders) != 1 {
		t.Fatalf("%d orders recorded, want 1", len(orders))
	}

	// Revoked: Pebble's renewal information says renew now, and the new
	// order replaces the old certificate (RFC 9773).
	if err := c.lego.Certificate.Revoke(ctx, first.CertPEM); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(ARIPoll + time.Minute)
	r, err = c.Ensure(ctx, req)
	if err != nil || !r.Issued || r.Replaced == "" || r.Replaced == "(no renewal information)" {
		t.Fatalf("renewal by ARI: issued %v, replaced %q, err %v", r.Issued, r.Replaced, err)
	}
	second := r.Certificate
	if err := Install(ctx, h, second, filepath.Join(w.certDir, "chain.pem"), filepath.Join(w.certDir, "key.pem")); err != nil {
		t.Fatal(err)
	}
	if err := w.nginx.Reload(); err != nil {
		t.Fatal(err)
	}
	testenv.EventuallyWith(t, "nginx serves the renewed certificate", 10*time.Second, func() (bool, string) {
		s, err := w.served(t)
		return err == nil && s != servedFirst, fmt.Sprint(s, err)
	})

	// One third of the lifetime left: renewed without asking the CA's
	// renewal information first.
	clock = second.RenewAt.Add(time.Minute)
	r, err = c.Ensure(ctx, req)
	if err != nil || !r.Issued || r.Replaced == "" {
		t.Fatalf("renewal at 2/3 of the lifetime: issued %v, replaced %q, err %v", r.Issued, r.Replaced, err)
	}

	// A name that does not resolve: the order fails, the certificate backs
	// off with the time recorded, and calls inside the backoff send nothing.
	nx := Request{ID: "production/nx.example.test", Names: []string{"nx.example.test"}, HTTP01: webroot}
	_, err = c.Ensure(ctx, nx)
	var wait *WaitError
	if !errors.As(err, &wait) || wait.Err == nil {
		t.Fatalf("failed order: got %v, want a *WaitError with the CA's error", err)
	}
	if want := clock.Add(Backoff(1)); !wait.Until.Equal(want) {
		t.Fatalf("backoff until %v, want %v", wait.Until, want)
	}
	stored, err := w.store.Certificate(ctx, nx.ID)
	if err != nil || stored.Failures != 1 || !stored.NextAttempt.Equal(wait.Until) || stored.LastError == "" {
		t.Fatalf("stored after failure: %+v, %v", stored, err)
	}
	before = w.requests.n.Load()
	clock = clock.Add(Backoff(1) / 2)
	for _, cl := range []*Client{c, w.newClient(t, now, Limits{})} {
		if _, err := cl.Ensure(ctx, nx); !errors.As(err, &wait) || wait.Err != nil {
			t.Fatalf("inside the backoff: got %v, want a *WaitError without a new failure", err)
		}
	}
	if n := w.requests.n.Load() - before; n != 0 {
		t.Fatalf("%d requests reached the CA inside the backoff", n)
	}

	// The budget: the clock is two months on, so one certificate for
	// example.test was issued in the last 7 days (the failed order does not
	// count); with a limit of one, another is refused before anything is
	// sent.
	tight := w.newClient(t, now, Limits{CertsPerDomainPerWeek: 1})
	_, err = tight.Ensure(ctx, Request{ID: "production/b.example.test", Names: []string{"b.example.test"}, HTTP01: webroot})
	if !errors.As(err, &wait) || !strings.Contains(wait.Reason, "example.test") {
		t.Fatalf("over budget: got %v, want a *WaitError naming example.test", err)
	}
	if n := w.requests.n.Load() - before; n != 0 {
		t.Fatalf("%d requests reached the CA over budget", n)
	}

	// Pre-checks: names that resolve elsewhere or whose vhost does not
	// serve the challenge path send nothing to the CA; a good one passes.
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, w.dns)
	}}
	ours := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	for _, tc := range []struct {
		names []string
		want  string // "" passes
	}{
		{[]string{"elsewhere.example.test"}, "elsewhere.example.test resolves to 192.0.2.7, not to one of the site's web servers (127.0.0.1)"},
		{[]string{"missing.example.test"}, "missing.example.test does not resolve"},
		{[]string{"c.example.test"}, "challenge path of c.example.test on " + w.nginx.Addr + " answers 404 Not Found"},
		{[]string{"a.example.test", "www.a.example.test"}, ""},
	} {
		check := func(ctx context.Context) error {
			if err := ResolvesTo(ctx, resolver, tc.names, ours); err != nil {
				return err
			}
			return webroot.SelfTest(ctx, nil, []string{w.nginx.Addr}, tc.names)
		}
		if tc.want == "" {
			if err := check(ctx); err != nil {
				t.Fatalf("pre-check of %v: %v", tc.names, err)
			}
			continue
		}
		before := w.requests.n.Load()
		_, err := c.Ensure(ctx, Request{ID: "production/" + tc.names[0], Names: tc.names, HTTP01: webroot, Precheck: check})
		var pe *PrecheckError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("pre-check of %v: got %v, want a *PrecheckError with %q", tc.names, err, tc.want)
		}
		if n := w.requests.n.Load() - before; n != 0 {
			t.Fatalf("pre-check of %v failed but %d requests reached the CA", tc.names, n)
		}
		if _, err := w.store.Certificate(ctx, "production/"+tc.names[0]); !errors.Is(err, state.ErrNotFound) {
			t.Fatalf("pre-check of %v failed but a backoff was recorded: %v", tc.names, err)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(w.webroot, ChallengePath)); len(left) != 1 { // the test's own probe
		t.Fatalf("challenge files left behind: %v", left)
	}

	// Keys are secrets: registered for redaction, never in lego's log.
	acct, err := w.store.ACMEAccount(ctx, w.pebble.DirectoryURL, "hostmaster@example.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]string{"account key": acct.KeyPEM, "first key": string(first.KeyPEM), "second key": string(second.KeyPEM)} {
		if strings.Contains(redact.String(key), strings.Split(key, "\n")[1]) {
			t.Errorf("%s is not registered with redact", name)
		}
		body := strings.Join(strings.Split(strings.TrimSpace(key), "\n")[1:2], "")
		if strings.Contains(logs.String(), body) {
			t.Errorf("%s appears in lego's log", name)
		}
	}
	if !strings.Contains(logs.String(), "a.example.test") {
		t.Errorf("lego's log was not captured: %q", logs.String())
	}
}
