package desired

import (
	"fmt"
	"io/fs"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/kind/release"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
)

// VhostWarning is the number of sites on one web server above which a plan
// warns: nginx took 5 s to check and 7 s to reload 10,000 PHP vhosts.
const VhostWarning = 5000

// buildDesired returns the first part of the desired state of one resolved
// environment (Prepare adds the rest): per site and web server the
// directories and files render produces, the shared directories they live
// in, and a release (a build of the platform's code and its `current`
// link) per platform and web server. repo is the sites repo, read for
// platforms whose source is a path in it; base is berth's state directory,
// under which a local server's relative paths live, its service commands
// run, and platforms are built; code is the code of git platforms, by
// platform name, as resolveCode returned it; certs are the issued
// certificates of sites with tls.acme, by domain (certsOf): such a site
// is served over HTTPS with its chain and key installed. It does no
// network I/O: a git platform missing from code gets a warning instead of
// a release.
func buildDesired(res *spec.Resolved, revision string, repo fs.FS, base string, code map[string]PlatformCode, certs map[string]issuedCert) (*reconcile.Desired, error) {
	b := &builder{byID: map[string]reconcile.Resource{}, byPath: map[string]map[string]string{}}
	servers := map[string]spec.ResolvedServer{}
	for _, s := range res.Servers {
		if s.Local() {
			s = s.WithBase(base)
		}
		servers[s.Name] = s
	}

	if len(res.Platforms) > 0 && render.ReservedEnvironment(res.Environment) {
		return nil, fmt.Errorf("environment %q: berth keeps the builds of older versions under <web_root>/platforms/<platform>/%s, so no environment with platforms can have that name: rename it in berth.yaml", res.Environment, res.Environment)
	}
	for _, pl := range res.Platforms {
		if pl.Source.Dir != "" {
			continue // code already on the servers, served in place: no release
		}
		art, err := b.artifact(pl, repo, base, code)
		if err != nil {
			return nil, err
		}
		for _, sn := range pl.Servers {
			srv := servers[sn]
			if srv.HTTP == nil {
				continue
			}
			current := render.Paths(&spec.ResolvedSite{Platform: pl.Name, Environment: res.Environment}, &srv).Current
			// <platform dir> is this environment's alone; its parents
			// (<web_root>/platforms/<platform> and up) are shared with
			// the other environments on the server.
			b.sharedDirs(sn, path.Dir(current), srv.HTTP.WebRoot)
			if art == nil {
				b.warn(fmt.Sprintf("platform %s: its git source was not resolved, so its code is not deployed; its sites are configured on %s but serve no new code until %s holds it", pl.Name, sn, current))
				continue
			}
			b.add(release.New(release.ReleaseSpec{ID: ReleaseID(pl.Name, sn), Server: sn,
				Platform: pl.Name, Current: current, Keep: pl.KeepBuilds,
				Legacy: path.Join(srv.HTTP.WebRoot, "platforms", pl.Name, "current")}, art))
		}
	}

	vhosts := map[string]int{}
	for i := range res.Sites {
		site := &res.Sites[i]
		for _, sn := range site.Servers {
			srv := servers[sn]
			if srv.HTTP == nil {
				return nil, fmt.Errorf("site %s: server %s has no web server", site.Name, sn)
			}
			cert, issued := certs[site.Domain]
			// Behind a load balancer the certificate is the LB's (lb.go).
			issued = issued && site.TLS.ACME && site.LB == nil
			dirs, rendered, err := render.SiteWith(site, &srv, render.Options{Certificate: issued})
			if err != nil {
				return nil, err // it names the site and the server
			}
			paths := render.Paths(site, &srv)
			b.sharedDirs(sn, path.Dir(paths.SiteDir), srv.HTTP.WebRoot)
			b.sharedDirs(sn, path.Dir(paths.Vhost), "")
			if paths.Socket != "" {
				b.sharedDirs(sn, path.Dir(paths.Socket), "") // PHP-FPM creates the socket, not its directory
			}
			vhosts[sn]++
			user := b.siteUser(site, sn) // "" or its ID: created before what it owns or runs
			for _, d := range dirs {
				b.dir(files.DirSpec{ID: siteID(site, sn, d.Path, paths), Server: sn, Site: site.Domain,
					Path: d.Path, Mode: d.Mode, Owner: d.Owner, Group: d.Group, Deps: userDeps(user, d.Path == paths.SiteDir)})
			}
			for _, f := range rendered {
				b.sharedDirs(sn, path.Dir(f.Path), "")
				b.file(files.FileSpec{ID: siteID(site, sn, f.Path, paths), Server: sn, Site: site.Domain,
					Path: f.Path, Content: f.Content, Mode: f.Mode, Owner: f.Owner, Group: f.Group, Service: f.Service,
					Deps: userDeps(user, f.Path == paths.Pool)})
			}
			if issued {
				b.certFiles(site, sn, paths, cert)
			}
		}
	}
	b.link()
	for _, sn := range slices.Sorted(maps.Keys(vhosts)) {
		if n := vhosts[sn]; n > VhostWarning {
			b.warn(fmt.Sprintf("server %s carries %d sites; above ~%d vhosts one nginx takes seconds to check and reload and doubles its memory while reloading: consider sharding the sites over more web servers", sn, n, VhostWarning))
		}
	}

	d := &reconcile.Desired{
		Env:          res.Environment,
		Revision:     revision,
		MaxDeletions: res.MaxDeletions,
		Resources:    b.list,
		Warnings:     b.warnings,
		Service: func(server, name string) (reconcile.Service, error) {
			srv, ok := servers[server]
			if !ok {
				return reconcile.Service{}, fmt.Errorf("server %s is no longer in environment %s: reload %s on it by hand", server, res.Environment, name)
			}
			return serviceOf(srv, name, base)
		},
	}
	return d, nil
}

// serviceOf returns the check and reload commands of a server's service:
// "http" for the web server, "php-fpm:VERSION" for one PHP version's FPM.
func serviceOf(srv spec.ResolvedServer, name, base string) (reconcile.Service, error) {
	dir := ""
	if srv.Local() {
		dir = base
	}
	switch {
	case name == "http" && srv.HTTP != nil:
		return reconcile.Service{Name: name, Test: srv.HTTP.Test, Reload: srv.HTTP.Reload, PIDFile: srv.HTTP.PIDFile, Dir: dir}, nil
	case name == render.ServiceLB:
		if svc, ok := lbService(srv, dir); ok {
			return svc, nil
		}
	case strings.HasPrefix(name, "php-fpm:") && srv.PHP != nil:
		v := srv.PHP.For(strings.TrimPrefix(name, "php-fpm:"))
		return reconcile.Service{Name: name, Test: v.Test, Reload: v.Reload, Dir: dir}, nil
	}
	return reconcile.Service{}, fmt.Errorf("server %s has no service %q", srv.Name, name)
}

// siteID names a site's resource after its role: site/DOMAIN/vhost@web1.
func siteID(site *spec.ResolvedSite, server, p string, paths render.SitePaths) string {
	role := ""
	switch p {
	case paths.SiteDir:
		role = "dir"
	case paths.Vhost:
		role = "vhost"
	case paths.Pool:
		role = "php-pool"
	case paths.Htpasswd:
		role = "htpasswd"
	case paths.FilesDir:
		role = "files-dir"
	case paths.TmpDir:
		role = "tmp-dir"
	case paths.DisabledDir:
		role = "disabled-dir"
	case path.Join(paths.DisabledDir, "index.html"):
		role = "disabled-page"
	default:
		if rel, ok := strings.CutPrefix(p, paths.SiteDir+"/"); ok {
			role = "path:" + rel
		} else {
			role = "path:" + p
		}
	}
	return SiteID(site.Domain, role, server)
}

type builder struct {
	list     []reconcile.Resource
	byID     map[string]reconcile.Resource
	byPath   map[string]map[string]string // server -> path -> ID
	warnings []string
}

func (b *builder) add(r reconcile.Resource) {
	if _, dup := b.byID[r.ID()]; dup {
		return // a shared directory declared by several sites
	}
	b.byID[r.ID()] = r
	b.list = append(b.list, r)
	if b.byPath[r.Server()] == nil {
		b.byPath[r.Server()] = map[string]string{}
	}
	b.byPath[r.Server()][r.Path()] = r.ID()
}

func (b *builder) dir(s files.DirSpec) {
	if id, ok := b.byPath[s.Server][s.Path]; ok && id != s.ID {
		return // the directory is already managed under another name
	}
	b.add(files.NewDir(s))
}

func (b *builder) file(s files.FileSpec) { b.add(files.NewFile(s)) }

func (b *builder) warn(w string) { b.warnings = append(b.warnings, w) }

// sharedDirs declares dir and its parents up to and including stop (or
// just dir when stop is "") as directories shared by many sites. They are
// created when missing and adopted, never deleted, when they exist.
func (b *builder) sharedDirs(server, dir, stop string) {
	for {
		if _, ok := b.byPath[server][dir]; !ok {
			b.add(files.NewDir(files.DirSpec{ID: SharedDirID(dir, server), Server: server, Path: dir}))
		}
		if stop == "" || dir == stop || !strings.HasPrefix(dir, stop+"/") {
			return
		}
		dir = path.Dir(dir)
	}
}

// artifact returns the one build of a platform that its releases on every
// server share; nil for a git platform whose code was not resolved.
func (b *builder) artifact(pl spec.ResolvedPlatform, repo fs.FS, base string, code map[string]PlatformCode) (*release.Artifact, error) {
	var pc PlatformCode
	switch {
	case pl.Source.Path != "":
		var err error
		if pc, err = pathCode(repo, pl); err != nil {
			return nil, err
		}
	default:
		var ok bool
		if pc, ok = code[pl.Name]; !ok {
			return nil, nil
		}
	}
	return release.NewArtifact(release.ArtifactSpec{Platform: pl.Name, Rev: pc.Rev, Source: pc.Source, Tree: pc.Tree,
		Build: pl.Build, Dir: filepath.Join(base, "builds", pl.Name), Keep: pl.KeepBuilds}), nil
}

// link makes every resource depend on the resource of its closest managed
// parent directory, so directories are created before what they hold.
func (b *builder) link() {
	for _, r := range b.list {
		paths := b.byPath[r.Server()]
		for p := path.Dir(r.Path()); p != "/" && p != "."; p = path.Dir(p) {
			if id, ok := paths[p]; ok {
				if x, ok := r.(depender); ok {
					x.AddDeps(id)
				}
				break
			}
		}
	}
}

// depender is a resource whose dependencies the builder adds to
// (reconcile.Base provides it).
type depender interface{ AddDeps(ids ...string) }
