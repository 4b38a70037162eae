package desired

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berthhq/berth/acme"
	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/kind/certificate"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// ACME is how the certificates of an environment's sites with tls.acme
// are obtained: the CA client, which run builds from berth.yaml's acme and
// the controller's configuration (its trust roots of a private CA, never
// the repo's), and how the pre-checks reach the names and the web servers.
type ACME struct {
	// Client orders from the environment's CA with its account.
	Client *acme.Client
	// Resolver resolves the sites' names for the pre-check that they
	// point at the site's web servers; nil: the system's resolver.
	Resolver *net.Resolver
	// Probe is the HTTP client of the challenge path's self-test; nil: a
	// client with a 10 s timeout.
	Probe *http.Client
	// SelfTestWait bounds how long the self-test waits for a web server
	// that was just reloaded to serve the challenge path (nginx reloads
	// asynchronously); default 15 s.
	SelfTestWait time.Duration
	// Hold plans no order: every certificate is left as it is. It is the
	// second pass of a run that issued certificates (run.Converge), which
	// only serves them; the certificates that wait are the next run's.
	Hold bool
}

// issuedCert is a site's certificate as the state store holds it: what
// the vhost serves and the files install.
type issuedCert struct {
	chain, key []byte
}

// certsOf reads the issued certificates of res's sites with tls.acme from
// store, by domain, and a stamp of them: the desired state depends on
// them (the vhost's TLS listener, the chain and key files).
func certsOf(ctx context.Context, store *state.Store, res *spec.Resolved) (map[string]issuedCert, string, error) {
	out := map[string]issuedCert{}
	h := sha256.New()
	if store == nil {
		return out, "", nil
	}
	for i := range res.Sites {
		s := &res.Sites[i]
		if !s.TLS.ACME {
			continue
		}
		key := CertificateKey(res.Environment, s.Domain)
		c, err := store.Certificate(ctx, key)
		if errors.Is(err, state.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		if len(c.CertPEM) == 0 || len(c.KeyPEM) == 0 {
			continue
		}
		out[s.Domain] = issuedCert{chain: c.CertPEM, key: c.KeyPEM}
		sum := sha256.Sum256(c.CertPEM)
		fmt.Fprintf(h, "%s %x\n", key, sum)
	}
	return out, hex.EncodeToString(h.Sum(nil)), nil
}

// CertStamp returns a stamp of the issued certificates of res's sites in
// store: a desired state built when it was different serves other
// certificates (the daemon builds anew when it changed).
func CertStamp(ctx context.Context, store *state.Store, res *spec.Resolved) (string, error) {
	_, stamp, err := certsOf(ctx, store, res)
	return stamp, err
}

// certFiles adds a site's issued certificate on one web server: the
// chain (0644) and key (0600) in the server's cert_dir (0700, shared by
// the server's sites), checked and reloaded with the web server.
func (b *builder) certFiles(site *spec.ResolvedSite, server string, paths render.SitePaths, c issuedCert) {
	dir := path.Dir(paths.CertChain)
	if _, ok := b.byPath[server][dir]; !ok {
		b.dir(files.DirSpec{ID: SharedDirID(dir, server), Server: server, Path: dir, Mode: 0o700})
	}
	b.sharedDirs(server, path.Dir(dir), "")
	b.file(files.FileSpec{ID: SiteID(site.Domain, "cert-key", server), Server: server, Site: site.Domain,
		Path: paths.CertKey, Content: c.key, Mode: 0o600, Service: render.ServiceHTTP})
	b.file(files.FileSpec{ID: SiteID(site.Domain, "cert-chain", server), Server: server, Site: site.Domain,
		Path: paths.CertChain, Content: c.chain, Mode: 0o644, Service: render.ServiceHTTP})
}

// addCertificates adds one certificate resource per site with tls.acme,
// on its first web server (kind/certificate), ordering through a; for a
// site behind a load balancer, on the load balancer, which answers its
// HTTP-01 challenges and which its names must resolve to.
func addCertificates(d *reconcile.Desired, res *spec.Resolved, base string, store *state.Store, hosts reconcile.Hosts, a *ACME) {
	var sites []*spec.ResolvedSite
	for i := range res.Sites {
		if s := &res.Sites[i]; s.TLS.ACME && len(s.Servers) > 0 {
			sites = append(sites, s)
		}
	}
	if len(sites) == 0 {
		return
	}
	if a == nil || a.Client == nil {
		d.Warnings = append(d.Warnings, fmt.Sprintf("%d site(s) with tls.acme in environment %s, but this berth has no ACME client for it: no certificate is ordered; they are served over plain HTTP", len(sites), res.Environment))
		return
	}
	servers := map[string]spec.ResolvedServer{}
	for _, s := range res.Servers {
		if s.Local() {
			s = s.WithBase(base)
		}
		servers[s.Name] = s
	}
	iss := &issuer{acme: a, store: store, hosts: hosts, res: res, base: base, sites: map[string]certSite{}, planned: map[string][][]string{}}
	for _, s := range sites {
		cs := certSite{site: s}
		// DNS-01: the challenge zones and their include file come first.
		deps := DNS01Deps(res, s)
		if s.LB != nil {
			// TLS terminates on the load balancer: it answers HTTP-01
			// (from its acme_dir, once its configuration serves the
			// challenge path), the names resolve to it, and the
			// certificate is ordered from it.
			lbSrv := servers[s.LB.Server]
			if lbSrv.LB == nil {
				continue
			}
			deps = append(deps, LBConfigID(s.Platform, lbSrv.Name))
			key := CertificateKey(res.Environment, s.Domain)
			iss.sites[key] = lbCertSite(s, &lbSrv)
			d.Resources = append(d.Resources, certificate.New(certificate.Spec{
				ID: CertificateID(s.Domain, lbSrv.Name), Server: lbSrv.Name, Deps: deps,
				Request: certificate.Request{Key: key, Site: s.Domain, Names: append([]string{s.Domain}, s.Aliases...)},
				Issuer:  iss,
			}))
			continue
		}
		for _, sn := range s.Servers {
			srv := servers[sn]
			if srv.HTTP == nil {
				continue
			}
			deps = append(deps, SiteID(s.Domain, "vhost", sn))
			cs.webroots = append(cs.webroots, webroot{server: sn, dir: render.Paths(s, &srv).ACMEDir, probe: listenProbe(&srv, srv.HTTP.Listen)})
			cs.addrs = publicAddrs(cs.addrs, &srv)
		}
		key := CertificateKey(res.Environment, s.Domain)
		iss.sites[key] = cs
		d.Resources = append(d.Resources, certificate.New(certificate.Spec{
			ID: CertificateID(s.Domain, s.Servers[0]), Server: s.Servers[0], Deps: deps,
			Request: certificate.Request{Key: key, Site: s.Domain, Names: append([]string{s.Domain}, s.Aliases...)},
			Issuer:  iss,
		}))
	}
}

// lbCertSite is what ordering the certificate of site s, behind load
// balancer lbSrv, needs: the LB answers HTTP-01 from its acme_dir (probed
// on its plain listen) and the names resolve to its public addresses.
func lbCertSite(s *spec.ResolvedSite, lbSrv *spec.ResolvedServer) certSite {
	return certSite{site: s,
		webroots: []webroot{{server: lbSrv.Name, dir: render.LBACMEDir(lbSrv, s.Domain), probe: listenProbe(lbSrv, lbSrv.LB.Listen)}},
		addrs:    publicAddrs(nil, lbSrv)}
}

// publicAddrs adds srv's public addresses to addrs, once each.
func publicAddrs(addrs []netip.Addr, srv *spec.ResolvedServer) []netip.Addr {
	for _, p := range srv.PublicAddresses {
		if ip, err := netip.ParseAddr(p); err == nil && !slices.Contains(addrs, ip.Unmap()) {
			addrs = append(addrs, ip.Unmap())
		}
	}
	return addrs
}

// listenProbe is where the controller reaches a server's plain HTTP
// listen (its web server's, or its load balancer's) for the self-test:
// its listen address, else its public or plain address (or 127.0.0.1 for
// a local server).
func listenProbe(srv *spec.ResolvedServer, listen string) string {
	addr, port, _ := spec.SplitListen(listen)
	if addr == "" || addr == "0.0.0.0" || addr == "::" {
		switch {
		case srv.Local():
			addr = "127.0.0.1"
		case len(srv.PublicAddresses) > 0:
			addr = srv.PublicAddresses[0]
		default:
			addr = srv.Address
		}
	}
	return net.JoinHostPort(addr, port)
}

// certSite is what ordering one site's certificate needs: where each of
// its web servers serves the challenge path, and the addresses its names
// must resolve to.
type certSite struct {
	site     *spec.ResolvedSite
	webroots []webroot
	addrs    []netip.Addr
}

type webroot struct {
	server, dir, probe string
}

// issuer is kind/certificate's Issuer over package acme. It keeps, per
// server, the name sets its latest Decide planned to order: a plan's
// later decisions, on every server, count them against the CA's limits.
type issuer struct {
	acme  *ACME
	store *state.Store
	hosts reconcile.Hosts
	res   *spec.Resolved
	base  string // the state directory
	sites map[string]certSite

	mu      sync.Mutex
	planned map[string][][]string
}

func (i *issuer) Decide(ctx context.Context, server string, reqs []certificate.Request) ([]certificate.Decision, error) {
	if i.acme.Hold {
		return make([]certificate.Decision, len(reqs)), nil
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	var others [][]string
	for s, ns := range i.planned {
		if s != server {
			others = append(others, ns...)
		}
	}
	var mine [][]string
	out := make([]certificate.Decision, len(reqs))
	for n, r := range reqs {
		d, err := i.acme.Client.Decide(ctx, r.Key, r.Names, append(slices.Clip(others), mine...))
		if err != nil {
			return nil, fmt.Errorf("certificate %s: %w", r.Key, err)
		}
		if d.Order {
			mine = append(mine, r.Names)
		}
		out[n] = certificate.Decision{Order: d.Order, Renewal: d.Renewal, Reason: strings.ReplaceAll(d.Reason, "\n", "; "), Until: d.Until}
	}
	i.planned[server] = mine
	return out, nil
}

func (i *issuer) Ensure(ctx context.Context, r certificate.Request) (bool, error) {
	cs, ok := i.sites[r.Key]
	if !ok {
		return false, fmt.Errorf("certificate %s: not a site of this revision", r.Key)
	}
	req := acme.Request{ID: r.Key, Names: r.Names}
	// DNS-01 through berth's own challenge zones (tls.challenge: dns-01):
	// the pre-check is that they are ours and served.
	up, err := DNS01(ctx, i.res, cs.site, ZoneOptions{StateDir: i.base, Secrets: i.store})
	if err != nil {
		return false, fmt.Errorf("certificate %s: DNS-01: %w", r.Key, err)
	}
	if up != nil {
		req.DNS01 = up
		req.Precheck = func(ctx context.Context) error { return up.Check(ctx, r.Names) }
		return i.ensure(ctx, r, req)
	}
	var roots webroots
	var probes []string
	for _, w := range cs.webroots {
		h, err := i.hosts.Host(ctx, w.server)
		if err != nil {
			return false, fmt.Errorf("HTTP-01 on server %s: %w", w.server, err)
		}
		roots.add(h, w.dir)
		probes = append(probes, w.probe)
	}
	req.HTTP01 = roots
	req.Precheck = func(ctx context.Context) error { return i.precheck(ctx, cs, roots, probes, r.Names) }
	return i.ensure(ctx, r, req)
}

// ensure runs req through the CA client: a wait or a failed pre-check is
// the certificate's WaitError (the site stays Degraded, the run goes on).
func (i *issuer) ensure(ctx context.Context, r certificate.Request, req acme.Request) (bool, error) {
	res, err := i.acme.Client.Ensure(ctx, req)
	var wait *acme.WaitError
	var pre *acme.PrecheckError
	switch {
	case errors.As(err, &wait):
		reason := wait.Reason
		if wait.Err != nil {
			reason += ": " + oneLine(wait.Err)
		}
		return false, &certificate.WaitError{Until: wait.Until, Reason: reason}
	case errors.As(err, &pre):
		why := "pre-check failed, nothing sent to the CA: " + oneLine(pre.Err)
		i.recordPrecheck(ctx, r, why)
		return false, &certificate.WaitError{Reason: why}
	case err != nil:
		return false, err
	}
	return res.Issued, nil
}

// precheck runs before any order: every name resolves to the site's web
// servers, and every web server answers the challenge path under every
// name (waiting, within SelfTestWait, for a reload to take effect).
func (i *issuer) precheck(ctx context.Context, cs certSite, roots webroots, probes, names []string) error {
	resolver := cmp.Or(i.acme.Resolver, net.DefaultResolver)
	want := cs.addrs
	if len(want) == 0 {
		return errors.New("berth does not know the addresses of the site's web servers or load balancer: set public_addresses on them")
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resolves := acme.ResolvesTo(rctx, resolver, names, want)
	if cs.site.LB != nil {
		resolves = acme.ResolvesToLB(rctx, resolver, names, want, cs.site.LB.Server)
	}
	if resolves != nil {
		return resolves
	}
	probe := i.acme.Probe
	if probe == nil {
		probe = &http.Client{Timeout: 10 * time.Second}
	}
	deadline := time.Now().Add(cmp.Or(i.acme.SelfTestWait, 15*time.Second))
	for {
		err := roots.selfTest(ctx, probe, probes, names)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// recordPrecheck keeps a failed pre-check as the certificate's last error
// in the store, for status; it changes nothing Ensure decides on.
func (i *issuer) recordPrecheck(ctx context.Context, r certificate.Request, why string) {
	if i.store == nil {
		return
	}
	c, err := i.store.Certificate(ctx, r.Key)
	if errors.Is(err, state.ErrNotFound) {
		c, err = state.Certificate{ID: r.Key, Names: r.Names}, nil
	}
	if err != nil {
		return
	}
	c.LastError = why
	_ = i.store.PutCertificate(context.WithoutCancel(ctx), c)
}

// webroots answer HTTP-01 on every web server of a site, each with the
// challenge directory of its own web root (a lego challenge.Provider).
type webroots []*acme.Webroot

func (ws *webroots) add(h host.Host, dir string) {
	for _, w := range *ws {
		if w.Dir == dir {
			w.Hosts = append(w.Hosts, h)
			return
		}
	}
	*ws = append(*ws, &acme.Webroot{Hosts: []host.Host{h}, Dir: dir})
}

func (ws webroots) Present(ctx context.Context, domain, token, keyAuth string) error {
	for _, w := range ws {
		if err := w.Present(ctx, domain, token, keyAuth); err != nil {
			return err
		}
	}
	return nil
}

func (ws webroots) CleanUp(ctx context.Context, domain, token, keyAuth string) error {
	var errs []error
	for _, w := range ws {
		errs = append(errs, w.CleanUp(ctx, domain, token, keyAuth))
	}
	return errors.Join(errs...)
}

func (ws webroots) selfTest(ctx context.Context, client *http.Client, probes, names []string) error {
	var errs []error
	for _, w := range ws {
		errs = append(errs, w.SelfTest(ctx, client, probes, names))
	}
	return errors.Join(errs...)
}

// CertificateLine is one site's certificate as `berth status` and the API
// show it.
type CertificateLine struct {
	Site      string    `json:"site"`
	Names     []string  `json:"names"`
	Issuer    string    `json:"issuer,omitempty"`
	NotAfter  time.Time `json:"expires,omitzero"`
	RenewAt   time.Time `json:"next_renewal,omitzero"`
	Waiting   time.Time `json:"next_attempt,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// Certificates returns the certificates of res's sites with tls.acme as
// the state store holds them, sorted by site: expiry, issuer, when it is
// renewed next (or the next attempt of one that waits) and the last
// error. A site without one yet is listed with what is known.
func Certificates(ctx context.Context, store *state.Store, res *spec.Resolved) ([]CertificateLine, error) {
	var out []CertificateLine
	for i := range res.Sites {
		s := &res.Sites[i]
		if !s.TLS.ACME {
			continue
		}
		l := CertificateLine{Site: s.Domain, Names: append([]string{s.Domain}, s.Aliases...)}
		c, err := store.Certificate(ctx, CertificateKey(res.Environment, s.Domain))
		switch {
		case errors.Is(err, state.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			l.LastError = c.LastError
			if c.NextAttempt.After(time.Now()) {
				l.Waiting = c.NextAttempt
			}
			if len(c.CertPEM) > 0 {
				l.Names, l.NotAfter, l.RenewAt = c.Names, c.NotAfter, c.RenewAt
				l.Issuer = issuerOf(c.CertPEM)
			}
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b CertificateLine) int { return strings.Compare(a.Site, b.Site) })
	return out, nil
}

// issuerOf is the issuer of the first certificate of a PEM chain.
func issuerOf(chain []byte) string {
	b, _ := pem.Decode(chain)
	if b == nil {
		return ""
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return ""
	}
	return c.Issuer.String()
}

// oneLine is err's message on one line: errors.Join puts each name's
// problem on a line of its own, status shows one line per site.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
