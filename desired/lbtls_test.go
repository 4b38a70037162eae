package desired

import (
	"context"
	"io/fs"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/berthhq/berth/acme"
	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/kind/certificate"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/kind/lb"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// prepareTLSCluster prepares site a.example.com (tls.acme) and
// b.example.com (no TLS) on web1 and web2 behind lb1, which terminates
// TLS; with chain set, the store holds a.example.com's certificate with
// that chain.
func prepareTLSCluster(t *testing.T, chain string) (*reconcile.Desired, *spec.Resolved) {
	t.Helper()
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	writeFiles(t, repo, map[string]string{
		"berth.yaml": "environments:\n  production: { branch: main, acme: { directory: https://ca.example.net/dir, email: ops@example.com } }\n",
		"servers/lb.yaml": "kind: Server\nname: lb1\naddress: 192.0.2.5\nservices:\n  lb: { type: nginx, tls_listen: 443 }\n---\n" +
			"kind: Server\nname: web1\naddress: 192.0.2.11\nservices:\n  http: { type: nginx }\n---\n" +
			"kind: Server\nname: web2\naddress: 192.0.2.12\nservices:\n  http: { type: nginx }\n",
		"platforms/app.yaml": "kind: Platform\nname: app\ntype: static\nsource: { path: code }\nservers: [web1, web2]\nlb: lb1\n",
		"code/index.html":    "hello\n",
		"sites/a.yaml":       "kind: Site\nname: a.example.com\nplatform: app\naliases: [www.a.example.com]\ntls: { acme: true }\n",
		"sites/b.yaml":       "kind: Site\nname: b.example.com\nplatform: app\n",
	})
	fsys, err := source.OpenDirFS(repo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	loaded, err := spec.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	res, err := spec.Resolve(loaded, "production")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stateDir := filepath.Join(base, "state")
	store, err := state.Open(ctx, stateDir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if chain != "" {
		if err := store.PutCertificate(ctx, state.Certificate{ID: CertificateKey("production", "a.example.com"), Names: []string{"a.example.com", "www.a.example.com"},
			CertPEM: []byte(chain), KeyPEM: []byte("test key\n"), NotAfter: time.Now().Add(90 * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	client, err := acme.New(acme.Config{DirectoryURL: "https://ca.example.net/dir", Email: "ops@example.com", Store: store})
	if err != nil {
		t.Fatal(err)
	}
	_, d, err := Prepare(ctx, Input{Resolved: res, Revision: "rev1", Repo: fsys, StateDir: stateDir,
		Store: store, Hosts: oneHost{hosttest.New("web")}, ACME: &ACME{Client: client}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d, res
}

// A site with tls.acme behind a load balancer has its certificate on the
// load balancer: ordered there once the LB's configuration (which serves
// the challenge path) is applied, its chain and key installed in the LB's
// cert_dir (key 0600) before the configuration that serves them, and
// none on the web servers; the site without TLS gets nothing.
func TestPrepareLBCertificate(t *testing.T) {
	for _, issued := range []bool{false, true} {
		chain := ""
		if issued {
			chain = "test chain\n"
		}
		d, _ := prepareTLSCluster(t, chain)
		byID := map[string]reconcile.Resource{}
		var certs []*certificate.Certificate
		var cfg *lb.Config
		for _, r := range d.Resources {
			byID[r.ID()] = r
			switch r := r.(type) {
			case *certificate.Certificate:
				certs = append(certs, r)
			case *lb.Config:
				cfg = r
			}
			if r.Server() != "lb1" && (r.Path() == "/etc/ssl/berth" || filepath.Dir(r.Path()) == "/etc/ssl/berth") {
				t.Errorf("issued %v: %s puts %s on a web server", issued, r.ID(), r.Path())
			}
		}
		if len(certs) != 1 || certs[0].ID() != CertificateID("a.example.com", "lb1") || certs[0].Server() != "lb1" {
			t.Fatalf("issued %v: certificates %v, want one, a.example.com's on lb1", issued, certs)
		}
		if !slices.Contains(certs[0].Deps(), LBConfigID("app", "lb1")) {
			t.Errorf("issued %v: the certificate does not wait for the load balancer's configuration: %v", issued, certs[0].Deps())
		}
		key, chain := LBCertID("a.example.com", "key", "lb1"), LBCertID("a.example.com", "chain", "lb1")
		if !issued {
			if byID[key] != nil || byID[chain] != nil || slices.Contains(cfg.Deps(), key) {
				t.Errorf("not issued: certificate files on the load balancer")
			}
			continue
		}
		for _, c := range []struct {
			id, path, content string
			mode              fs.FileMode
		}{{key, "/etc/ssl/berth/a.example.com.key", "test key\n", 0o600}, {chain, "/etc/ssl/berth/a.example.com.crt", "test chain\n", 0o644}} {
			want := files.NewFile(files.FileSpec{ID: c.id, Server: "lb1", Site: "a.example.com", Path: c.path, Content: []byte(c.content),
				Mode: c.mode, Deps: []string{SharedDirID("/etc/ssl/berth", "lb1")}})
			if !reflect.DeepEqual(byID[c.id], want) {
				t.Errorf("%s: %+v, want %+v", c.id, byID[c.id], want)
			}
			if !slices.Contains(cfg.Deps(), c.id) {
				t.Errorf("the load balancer's configuration does not wait for %s: %v", c.id, cfg.Deps())
			}
		}
		wantDir := files.NewDir(files.DirSpec{ID: SharedDirID("/etc/ssl/berth", "lb1"), Server: "lb1", Path: "/etc/ssl/berth", Mode: 0o700, Deps: []string{SharedDirID("/etc/ssl", "lb1")}})
		if got := byID[SharedDirID("/etc/ssl/berth", "lb1")]; !reflect.DeepEqual(got, wantDir) {
			t.Errorf("cert_dir on lb1: %+v, want %+v", got, wantDir)
		}
	}
}

// The LB answers HTTP-01 for a site behind it: the webroot is the LB's
// acme_dir for the site, probed on the LB's plain listen, and the names
// must resolve to the LB's addresses, not the web servers'.
func TestLBCertSite(t *testing.T) {
	_, res := prepareTLSCluster(t, "")
	var site *spec.ResolvedSite
	for i := range res.Sites {
		if res.Sites[i].Domain == "a.example.com" {
			site = &res.Sites[i]
		}
	}
	var lbSrv *spec.ResolvedServer
	for i := range res.Servers {
		if res.Servers[i].Name == "lb1" {
			lbSrv = &res.Servers[i]
		}
	}
	cs := lbCertSite(site, lbSrv)
	want := []webroot{{server: "lb1", dir: "/var/lib/berth/acme/a.example.com", probe: "192.0.2.5:80"}}
	if !slices.Equal(cs.webroots, want) {
		t.Errorf("webroots %+v, want %+v", cs.webroots, want)
	}
	if !slices.Equal(cs.addrs, []netip.Addr{netip.MustParseAddr("192.0.2.5")}) {
		t.Errorf("addresses %v, want the LB's 192.0.2.5", cs.addrs)
	}
}

// A renewed certificate changes the load balancer's configuration (a
// stamp of the chain), whose own check and reload then serve it: its
// files name no service.
func TestLBConfigFollowsCertificate(t *testing.T) {
	hash := func(chain string) string {
		d, _ := prepareTLSCluster(t, chain)
		for _, r := range d.Resources {
			if c, ok := r.(*lb.Config); ok {
				return c.Record().Hash
			}
		}
		t.Fatal("no load balancer configuration")
		return ""
	}
	first, same, renewed := hash("chain one\n"), hash("chain one\n"), hash("chain two\n")
	if first == "" || first != same || first == renewed {
		t.Errorf("configuration hashes: %q, %q for the same chain, %q for a renewed one; want equal, then different", first, same, renewed)
	}
}
