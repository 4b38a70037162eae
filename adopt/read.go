package adopt

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/kind/database"
	"github.com/berthhq/berth/spec"
)

// Found is what Read found on a server.
type Found struct {
	Vhosts []Vhost
	Pools  []Pool
	// Dirs holds, for every document root a vhost names, whether it is a
	// directory on the server.
	Dirs map[string]bool
	// Databases are the db service's databases; nil without one.
	Databases []string
	// DBUsers are the names of the db service's users.
	DBUsers []string
	// Problems are files that could not be read or parsed: each is
	// listed, none stops the others.
	Problems []Skip
}

// listScript lists the *.conf files (NUL-terminated) of each directory it
// is given as an argument; the first must be a directory (else exit 3),
// the others may be missing. Paths reach it as arguments, never in the
// script's text.
const listScript = `[ -d "$1" ] || exit 3
for d; do
  if [ -d "$d" ]; then find "$d" -maxdepth 1 -type f -name '*.conf' -print0 || exit 1; fi
done`

// maxConfig is the largest configuration file Read parses.
const maxConfig = 1 << 20

// Read reads srv's hand-made sites through h: the files of the web
// server's conf_dir and of the pool_dir of PHP version php (listed by one
// command and read in one ReadFiles), then whether their document roots are
// directories (one Observe), then the db service's databases and users
// (one catalogue query). srv's paths are absolute (a local server's joined to
// berth's state directory). Nothing is written.
func Read(ctx context.Context, h host.Host, srv spec.ResolvedServer, php string) (*Found, error) {
	f := &Found{Dirs: map[string]bool{}}
	if srv.HTTP == nil {
		return nil, fmt.Errorf("server %s has no http service: berth import reads a web server's sites", srv.Name)
	}
	dirs := []string{srv.HTTP.ConfDir}
	poolDir := ""
	if srv.PHP != nil {
		poolDir = srv.PHP.For(php).PoolDir
		dirs = append(dirs, poolDir)
	}
	res, err := h.Run(ctx, append([]string{"sh", "-c", listScript, "sh"}, dirs...), host.RunOptions{})
	if res.ExitCode == 3 {
		return nil, fmt.Errorf("server %s: conf_dir %s is not a directory: set services.http.conf_dir to where the web server's sites are", srv.Name, srv.HTTP.ConfDir)
	}
	if err != nil {
		return nil, fmt.Errorf("server %s: list %s: %w (%s)", srv.Name, strings.Join(dirs, ", "), err, bytes.TrimSpace(res.Stderr))
	}
	var paths []string
	for p := range strings.SplitSeq(string(res.Stdout), "\x00") {
		if p != "" {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	data, err := h.ReadFiles(ctx, paths)
	if err != nil {
		return nil, fmt.Errorf("server %s: read its configuration files: %w", srv.Name, err)
	}
	for _, d := range data {
		switch {
		case d.Err != nil:
			f.Problems = append(f.Problems, Skip{What: d.Path, Reason: fmt.Sprintf("cannot be read: %v", d.Err)})
			continue
		case len(d.Data) > maxConfig:
			f.Problems = append(f.Problems, Skip{What: d.Path, Reason: fmt.Sprintf("larger than %d bytes: not parsed", maxConfig)})
			continue
		}
		var err error
		switch dir := path.Dir(d.Path); {
		case dir == srv.HTTP.ConfDir && srv.HTTP.Type == "apache":
			var vs []Vhost
			vs, err = ParseApache(d.Path, d.Data)
			f.Vhosts = append(f.Vhosts, vs...)
		case dir == srv.HTTP.ConfDir:
			var vs []Vhost
			vs, err = ParseNginx(d.Path, d.Data)
			f.Vhosts = append(f.Vhosts, vs...)
		case dir == poolDir:
			var ps []Pool
			ps, err = ParsePools(d.Path, d.Data)
			f.Pools = append(f.Pools, ps...)
		}
		if err != nil {
			f.Problems = append(f.Problems, Skip{What: d.Path, Reason: fmt.Sprintf("does not parse: %v", err)})
		}
	}

	var roots []string
	for _, v := range f.Vhosts {
		if v.Root != "" && path.IsAbs(v.Root) && !slices.Contains(roots, v.Root) {
			roots = append(roots, v.Root)
		}
	}
	if len(roots) > 0 {
		obs, err := h.Observe(ctx, roots)
		if err != nil {
			return nil, fmt.Errorf("server %s: observe the document roots: %w", srv.Name, err)
		}
		for _, o := range obs {
			f.Dirs[o.Path] = o.IsDir()
		}
	}

	if srv.DB != nil && (srv.DB.Type == "mariadb" || srv.DB.Type == "mysql" || srv.DB.Type == "postgresql") {
		cat, err := database.NewAdmin(*srv.DB).Catalogue(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("server %s: %w", srv.Name, err)
		}
		f.Databases, f.DBUsers = cat.Databases, cat.Users
	}
	return f, nil
}
