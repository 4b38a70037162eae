package desired

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"

	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/kind/lb"
	"github.com/berthhq/berth/kind/release"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
)

// addLoadBalancers adds the configuration of every platform behind a load
// balancer (render.LB: kind lb-config on the load balancer) and orders it
// against the web servers' changes (see package kind/lb):
//
//   - a platform with a drained web server: every resource of the
//     drained server in this environment depends on the load balancer's
//     configuration, which then runs first (checked and reloaded by its
//     own Apply) — nothing is done on a drained server before its load
//     balancers stopped sending it requests;
//   - otherwise the configuration runs after every server's reloads and
//     depends on the platform's vhosts and releases on its web servers:
//     a server is (re-)added only once it converged in the run.
//
// A platform with two web servers or more in its load balancer's
// rotation (not drained) rolls its new builds over them (addRoll).
//
// A load balancer terminates TLS for the sites with tls.acme it serves:
// their issued certificates (certs, by domain, as certsOf read them) are
// installed in its cert_dir (lbCertFiles), and its configuration, which
// then serves them (render.LBOptions), depends on them.
//
// It runs last in Prepare, so the drained servers' databases, settings
// and installs wait too. hosts reaches the web servers, for the rolls.
func addLoadBalancers(d *reconcile.Desired, res *spec.Resolved, base string, hosts reconcile.Hosts, certs map[string]issuedCert) error {
	releases := map[string]*release.Release{}
	for _, r := range d.Resources {
		if rel, ok := r.(*release.Release); ok {
			releases[rel.ID()] = rel
		}
	}
	byServer := map[string][]reconcile.Resource{}
	for _, r := range d.Resources {
		byServer[r.Server()] = append(byServer[r.Server()], r)
	}
	var added []reconcile.Resource
	for _, s := range res.Servers {
		if s.LB == nil {
			continue
		}
		if s.Local() {
			s = s.WithBase(base)
		}
		opts, certIDs := render.LBOptions{Certificates: map[string]string{}}, map[string][]string{}
		for i := range res.Sites {
			site := &res.Sites[i]
			c, ok := certs[site.Domain]
			if !ok || !site.TLS.ACME || site.LB == nil || site.LB.Server != s.Name {
				continue
			}
			sum := sha256.Sum256(c.chain)
			opts.Certificates[site.Domain] = "sha256-" + hex.EncodeToString(sum[:16])
			files := lbCertFiles(&s, site, c, byServer[s.Name])
			for _, f := range files {
				certIDs[site.Platform] = append(certIDs[site.Platform], f.ID())
			}
			added = append(added, files...)
			byServer[s.Name] = append(byServer[s.Name], files...)
		}
		rendered, err := render.LB(res, &s, opts)
		if err != nil {
			return err
		}
		byPath := map[string]render.File{}
		for _, f := range rendered {
			byPath[f.Path] = f
		}
		if len(rendered) > 0 {
			dir := path.Dir(rendered[0].Path)
			if !hasPath(byServer[s.Name], dir) {
				conf := files.NewDir(files.DirSpec{ID: SharedDirID(dir, s.Name), Server: s.Name, Path: dir})
				added = append(added, conf)
				byServer[s.Name] = append(byServer[s.Name], conf)
			}
		}
		for i := range res.Platforms {
			pl := &res.Platforms[i]
			if pl.LB != s.Name {
				continue
			}
			f, ok := byPath[render.LBFile(&s, res.Environment, pl.Name)]
			if !ok {
				return fmt.Errorf("load balancer %s: no configuration rendered for platform %s", s.Name, pl.Name)
			}
			id := LBConfigID(pl.Name, s.Name)
			cs := lb.ConfigSpec{ID: id, Server: s.Name, Path: f.Path, Content: f.Content,
				Test: s.LB.Test, Reload: s.LB.Reload, PIDFile: s.LB.PIDFile,
				Deps: append([]string{SharedDirID(path.Dir(f.Path), s.Name)}, certIDs[pl.Name]...)}
			if s.Local() {
				cs.Dir = base
			}
			nodes := render.LBNodes(res, pl)
			for _, n := range nodes {
				cs.Draining = cs.Draining || n.Drain
			}
			roll, err := addRoll(res, &s, pl, f, releases, hosts, cs, opts)
			if err != nil {
				return err
			}
			if roll != nil {
				added = append(added, roll)
				if !cs.Draining {
					cs.Deps = append(cs.Deps, roll.ID()) // the file as the roll left it, then the run's own change
				}
			}
			if !cs.Draining {
				for _, n := range nodes {
					cs.Deps = append(cs.Deps, ReleaseID(pl.Name, n.Server))
					for j := range res.Sites {
						if site := &res.Sites[j]; site.Platform == pl.Name {
							cs.Deps = append(cs.Deps, SiteID(site.Domain, "vhost", n.Server))
						}
					}
				}
			}
			added = append(added, lb.NewConfig(cs))
			if cs.Draining {
				for _, n := range nodes {
					if !n.Drain {
						continue
					}
					for _, r := range byServer[n.Server] {
						if x, ok := r.(depender); ok {
							x.AddDeps(id)
						}
					}
				}
			}
		}
	}
	d.Resources = append(d.Resources, added...)
	return nil
}

// addRoll returns the roll of platform pl's new builds over its web
// servers behind load balancer lb (release.Roll), nil when it has fewer
// than two in the load balancer's rotation (drained ones are not): its
// releases then switch at once, as without a load balancer. The releases
// of the servers in rotation are marked rolled: they ship, and the roll
// switches them one at a time, each drained from the load balancer (f
// with the server marked down, rendered by render.LBDrained), then
// health-checked with every site of the platform, then put back. cs is
// the load balancer's configuration, whose check and reload the roll
// uses.
func addRoll(res *spec.Resolved, lbSrv *spec.ResolvedServer, pl *spec.ResolvedPlatform, f render.File, releases map[string]*release.Release, hosts reconcile.Hosts, cs lb.ConfigSpec, opts render.LBOptions) (*release.Roll, error) {
	var nodes []release.RollNode
	out := map[string][]byte{}
	for _, n := range render.LBNodes(res, pl) {
		rel := releases[ReleaseID(pl.Name, n.Server)]
		if n.Drain || rel == nil {
			continue
		}
		drained, err := render.LBDrained(res, lbSrv, pl, n.Server, opts)
		if err != nil {
			return nil, err
		}
		out[n.Server] = drained.Content
		nodes = append(nodes, release.RollNode{Release: rel, Address: n.Address})
	}
	if len(nodes) < 2 {
		return nil, nil
	}
	var probes []release.Probe
	var deps []string
	for i := range res.Sites {
		site := &res.Sites[i]
		if site.Platform != pl.Name {
			continue
		}
		probes = append(probes, release.Probe{Domain: site.Domain, Path: site.Health.Path, Status: site.Health.Status})
		for _, n := range nodes {
			deps = append(deps, SiteID(site.Domain, "vhost", n.Release.Server()))
		}
	}
	for _, n := range nodes {
		n.Release.MarkRolled()
	}
	return release.NewRoll(release.RollSpec{ID: RollID(pl.Name, lbSrv.Name), Server: lbSrv.Name, Platform: pl.Name,
		Nodes: nodes, Probes: probes, Hosts: hosts, Health: lb.Healthy, Deps: deps,
		LB: lb.NewRotation(lb.RotationSpec{Path: f.Path, In: f.Content, Out: out,
			Test: cs.Test, Reload: cs.Reload, PIDFile: cs.PIDFile, Dir: cs.Dir})}), nil
}

// lbCertFiles returns the resources that install a site's issued
// certificate on its load balancer lb: the chain (0644) and key (0600) in
// the LB's cert_dir (0700, and its parent, unless have already holds
// them). They name no service: the load balancer's configuration, which
// depends on them and carries a stamp of the certificate, checks and
// reloads it in its own Apply; and a removed certificate's files are
// deleted without a check of the configuration that still names them
// (the configuration's own change drops them in the same run).
func lbCertFiles(lbSrv *spec.ResolvedServer, site *spec.ResolvedSite, c issuedCert, have []reconcile.Resource) []reconcile.Resource {
	var out []reconcile.Resource
	chain, key := render.LBCertChain(lbSrv, site.Domain), render.LBCertKey(lbSrv, site.Domain)
	dir := path.Dir(chain)
	dirID := idAt(have, dir)
	if dirID == "" {
		parentID := idAt(have, path.Dir(dir))
		if parentID == "" {
			parentID = SharedDirID(path.Dir(dir), lbSrv.Name)
			out = append(out, files.NewDir(files.DirSpec{ID: parentID, Server: lbSrv.Name, Path: path.Dir(dir)}))
		}
		dirID = SharedDirID(dir, lbSrv.Name)
		out = append(out, files.NewDir(files.DirSpec{ID: dirID, Server: lbSrv.Name, Path: dir, Mode: 0o700, Deps: []string{parentID}}))
	}
	out = append(out,
		files.NewFile(files.FileSpec{ID: LBCertID(site.Domain, "key", lbSrv.Name), Server: lbSrv.Name, Site: site.Domain,
			Path: key, Content: c.key, Mode: 0o600, Deps: []string{dirID}}),
		files.NewFile(files.FileSpec{ID: LBCertID(site.Domain, "chain", lbSrv.Name), Server: lbSrv.Name, Site: site.Domain,
			Path: chain, Content: c.chain, Mode: 0o644, Deps: []string{dirID}}))
	return out
}

// idAt is the ID of the resource of rs at path p, "" when none is.
func idAt(rs []reconcile.Resource, p string) string {
	for _, r := range rs {
		if r.Path() == p {
			return r.ID()
		}
	}
	return ""
}

// LBCertID names the chain or key (part) of a site's certificate on its
// load balancer.
func LBCertID(domain, part, server string) string { return SiteID(domain, "lb-cert-"+part, server) }

// lbService is the check and reload of a server's load balancer.
func lbService(srv spec.ResolvedServer, dir string) (reconcile.Service, bool) {
	if srv.LB == nil {
		return reconcile.Service{}, false
	}
	return reconcile.Service{Name: render.ServiceLB, Test: srv.LB.Test, Reload: srv.LB.Reload, PIDFile: srv.LB.PIDFile, Dir: dir}, true
}

func hasPath(rs []reconcile.Resource, p string) bool {
	for _, r := range rs {
		if r.Path() == p {
			return true
		}
	}
	return false
}
