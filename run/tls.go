package run

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/berthhq/berth/acme"
	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// TLS is the controller's configuration of certificate ordering: the
// operator's, never the sites repo's (a repo cannot make berth trust a
// CA, nor choose whom berth asks where a name points).
type TLS struct {
	// CARootFile, when set, is a PEM file of the roots berth trusts for
	// the ACME directory's HTTPS (a private CA's, Pebble's); "": the
	// system's roots. (berth apply/serve --acme-ca-root,
	// $BERTH_ACME_CA_ROOT.)
	CARootFile string
	// Resolver, when set, is the DNS server ("IP:port") the pre-checks
	// ask where the sites' names point; "": the system's resolver.
	// (--resolver, $BERTH_RESOLVER.)
	Resolver string
	// Now is the clock of the certificates' decisions; nil: time.Now.
	Now func() time.Time
	// Limits are the CA's limits; zero fields take Let's Encrypt's.
	Limits acme.Limits
	// SelfTestWait bounds the challenge path's self-test (default 15 s).
	SelfTestWait time.Duration
}

// acmeFor returns how res's certificates are obtained: a client of the
// environment's CA (berth.yaml's acme) with the account kept in store,
// and the pre-checks' resolver; nil when the environment declares no CA.
func (t TLS) acmeFor(res *spec.Resolved, store *state.Store) (*desired.ACME, error) {
	if res.ACME == nil || store == nil {
		return nil, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if t.CARootFile != "" {
		pem, err := os.ReadFile(t.CARootFile)
		if err != nil {
			return nil, fmt.Errorf("read the ACME CA roots: %w; fix --acme-ca-root (or $BERTH_ACME_CA_ROOT)", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate; --acme-ca-root (or $BERTH_ACME_CA_ROOT) names the roots of the ACME directory's HTTPS", t.CARootFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	resolver := t.Resolver
	if _, _, err := net.SplitHostPort(resolver); resolver != "" && err != nil {
		resolver = net.JoinHostPort(resolver, "53")
	}
	c, err := acme.New(acme.Config{DirectoryURL: res.ACME.DirectoryURL, Email: res.ACME.Email, Store: store,
		HTTPClient: &http.Client{Transport: tr, Timeout: time.Minute}, Limits: t.Limits, Now: t.Now,
		IssuerDomain: issuerDomain(res.ACME.DirectoryURL), Resolver: resolver})
	if err != nil {
		return nil, fmt.Errorf("environment %s: %w", res.Environment, err)
	}
	a := &desired.ACME{Client: c, SelfTestWait: t.SelfTestWait}
	if t.Resolver != "" {
		addr := t.Resolver
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr = net.JoinHostPort(addr, "53")
		}
		a.Resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}
	}
	return a, nil
}

// issuerDomain is the CA's identity in CAA records, for the pre-check
// that no CAA record of a site's names forbids the CA: letsencrypt.org
// for Let's Encrypt's directories; "" (no CAA check) for a CA berth does
// not know.
func issuerDomain(directory string) string {
	for _, u := range spec.ACMEDirectories {
		if directory == u {
			return "letsencrypt.org"
		}
	}
	return ""
}
