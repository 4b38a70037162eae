package desired

import (
	"fmt"
	"slices"

	"github.com/berthhq/berth/kind/filesync"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
)

// addFileSharing adds what shares the files directories of the sites of
// the platforms with files (spec/files.go, kind/filesync):
//
//   - sync mode: per site and web server other than the primary, the copy
//     of the primary's files directory, after both directories exist;
//   - shared mode: per platform and web server other than the first, the
//     check that the shared path is the first server's file system, on
//     which the site's files directory on that server depends (nothing is
//     done to it on a server that fails the check).
//
// It runs before addLoadBalancers, so that a drained server's copies wait
// for its load balancers too.
func addFileSharing(d *reconcile.Desired, res *spec.Resolved, base string, hosts reconcile.Hosts) error {
	byID := map[string]reconcile.Resource{}
	for _, r := range d.Resources {
		byID[r.ID()] = r
	}
	for i := range res.Platforms {
		pl := &res.Platforms[i]
		f := pl.Files
		if f == nil || f.Mode != spec.FilesShared {
			continue
		}
		for _, sn := range pl.Servers[1:] {
			check := filesync.NewShared(filesync.SharedSpec{ID: SharedFilesID(pl.Name, sn), Server: sn, First: pl.Servers[0],
				Path: f.Path, Platform: pl.Name, Hosts: hosts})
			d.Resources = append(d.Resources, check)
			for j := range res.Sites {
				site := &res.Sites[j]
				if site.Platform != pl.Name {
					continue
				}
				dir, ok := byID[FilesDirID(site.Domain, sn)].(depender)
				if !ok {
					return fmt.Errorf("site %s: no files directory on %s to share", site.Domain, sn)
				}
				dir.AddDeps(check.ID())
			}
		}
	}
	copies, err := fileSyncs(res, base, hosts, "")
	if err != nil {
		return err
	}
	for _, c := range copies {
		d.Resources = append(d.Resources, c)
	}
	return nil
}

// fileSyncs returns the copies of the files of the sites of res whose
// platform syncs them (only site's, by domain, unless it is ""), each
// depending on the files directories it copies from and into.
func fileSyncs(res *spec.Resolved, base string, hosts reconcile.Hosts, site string) ([]*filesync.Sync, error) {
	servers := map[string]spec.ResolvedServer{}
	for _, srv := range res.Servers {
		if srv.Local() {
			srv = srv.WithBase(base)
		}
		servers[srv.Name] = srv
	}
	var out []*filesync.Sync
	for i := range res.Sites {
		s := &res.Sites[i]
		f := s.Files
		if f == nil || f.Mode != spec.FilesSync || site != "" && s.Domain != site {
			continue
		}
		if !slices.Contains(s.Servers, f.Primary) {
			return nil, fmt.Errorf("site %s: files.primary %s is not one of its web servers", s.Name, f.Primary)
		}
		primary := servers[f.Primary]
		from := render.Paths(s, &primary).FilesDir
		for _, sn := range s.Servers {
			if sn == f.Primary {
				continue
			}
			srv := servers[sn]
			out = append(out, filesync.NewSync(filesync.SyncSpec{ID: FilesSyncID(s.Domain, sn), Site: s.Domain,
				Server: sn, Dir: render.Paths(s, &srv).FilesDir, Primary: f.Primary, PrimaryDir: from, Hosts: hosts, Rsync: f.Transport == spec.FilesRsync,
				Deps: []string{FilesDirID(s.Domain, sn), FilesDirID(s.Domain, f.Primary)}}))
		}
	}
	return out, nil
}
