package spec

import (
	"fmt"
	"slices"
)

// Shared files of a web cluster. A platform on several servers says how
// the files directory (uploads) of each of its sites is shared by them:
//
//	files: { mode: shared, path: /srv/shared }  # a file system already mounted there on every server
//	files: { mode: sync, primary: web1 }        # berth copies web1's files to the others on every run
//
// In shared mode a site's files directory is <path>/<domain>/files on
// every server (its backups are taken there, on the first server); berth
// checks with a marker file that the path is the same file system on every
// server before it touches the site's files. In sync mode each server
// keeps <web_root>/sites/<domain>/files and berth copies the primary's to
// the others (deletions included) on every run and after a restore; the
// site's backups are taken from the primary. Without files, each server
// keeps its own.

// The modes of a platform's files.
const (
	FilesShared = "shared"
	FilesSync   = "sync"
)

// PlatformFiles is how a platform's servers share its sites' files.
type PlatformFiles struct {
	Mode    string `yaml:"mode" json:"mode,omitempty" berth:"required,enum=shared|sync" doc:"shared: the sites' files live under path, a file system already mounted there on every server of the platform; sync: berth copies the sites' files from the primary server to the others on every run and after a restore (deletions included)."`
	Path    string `yaml:"path" json:"path,omitempty" doc:"shared: the directory, mounted on every server, that holds <domain>/files of each site; berth checks with a marker file that it is the same file system everywhere." rule:"abs-path"`
	Primary string `yaml:"primary" json:"primary,omitempty" doc:"sync: the server whose files are copied to the platform's other servers (one of its servers); the sites' backups are taken from it." rule:"name"`
	// Transport rsync copies with rsync's own protocol, relayed by berth
	// between the two servers' connections, when both have rsync.
	Transport string `yaml:"transport" json:"transport,omitempty" berth:"enum=tar|rsync" doc:"sync: how the files travel from the primary to each server through berth's SSH connections: tar (default), or rsync when it is installed on both ends (tar otherwise)."`
}

// ResolvedFiles is a platform's files mode in one environment.
type ResolvedFiles struct {
	Mode string `json:"mode"` // FilesShared | FilesSync
	// Path is the shared directory (shared mode).
	Path string `json:"path,omitempty"`
	// Primary is the server the files are copied from (sync mode); in
	// shared mode the platform's first server, where the marker is written
	// and backups are taken.
	Primary string `json:"primary"`
	// Transport is how synced files travel: FilesTar or FilesRsync.
	Transport string `json:"transport,omitempty"`
}

// The transports of synced files.
const (
	FilesTar   = "tar"
	FilesRsync = "rsync"
)

// resolveFiles returns the files mode of platform p in env, whose web
// servers there are servers; nil when p declares none.
func resolveFiles(p *Platform, servers []string, env string) (*ResolvedFiles, error) {
	f := p.Files
	if f == nil {
		return nil, nil
	}
	r := &ResolvedFiles{Mode: f.Mode, Path: f.Path, Primary: f.Primary}
	switch f.Mode {
	case FilesShared:
		r.Primary = servers[0]
	case FilesSync:
		r.Transport = f.Transport
		if r.Transport == "" {
			r.Transport = FilesTar
		}
		if !slices.Contains(servers, f.Primary) {
			return nil, fmt.Errorf("%s: platform %q: files.primary %q is not one of its web servers in environment %q; name one of %v", p.At("files.primary"), p.Name, f.Primary, env, servers)
		}
	}
	return r, nil
}

// filesChecks reports the problems of the platforms' files: a mode
// without its field or with the other mode's, and a primary that is not
// one of the platform's servers.
func (c *checker) filesChecks() {
	for _, p := range c.r.Platforms {
		f := p.Files
		if f == nil {
			continue
		}
		subject := subjectOf("platform", p.Name)
		switch f.Mode {
		case FilesShared:
			if f.Path == "" {
				c.missingKey(&p.Meta, "files", subject, "files mode shared needs path: the directory mounted on every server of the platform")
			}
			if f.Primary != "" {
				c.keyAt(&p.Meta, "files.primary", subject, "primary is for files mode sync; shared files are the same on every server")
			}
			if f.Transport != "" {
				c.keyAt(&p.Meta, "files.transport", subject, "transport is for files mode sync; shared files are not copied")
			}
		case FilesSync:
			if f.Primary == "" {
				c.missingKey(&p.Meta, "files", subject, "files mode sync needs primary: the server whose files are copied to the others")
			} else if !slices.Contains(p.Servers, f.Primary) {
				c.at(&p.Meta, "files.primary", subject, "server %q is not one of the platform's servers%s", f.Primary, didYouMean(f.Primary, p.Servers))
			}
			if f.Path != "" {
				c.keyAt(&p.Meta, "files.path", subject, "path is for files mode shared; in sync mode each server keeps the site's files in its own site directory")
			}
		}
	}
}
