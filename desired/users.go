package desired

import (
	"fmt"
	"os"
	"slices"

	"github.com/berthhq/berth/kind/account"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
)

// Site isolation: each PHP site whose platform does not say isolation:
// false runs its PHP-FPM pool as its own Unix user (render.SiteUser),
// which owns the site's directories and settings file. The builder
// declares the user (kind/account) on every web server of the site; the
// site's directory and its pool depend on it, so the user exists before
// anything is chowned to it or php-fpm is asked to run as it, and is
// deleted with the site, in the data phase, after the pool is gone.

// isolate returns res with its sites as they run: a site on a server
// where berth cannot create users (usersAllowed) runs as the web
// server's user, not isolated, and a warning says so once per server.
// res itself is not changed.
func isolate(res *spec.Resolved) (*spec.Resolved, []string) {
	servers := map[string]spec.ResolvedServer{}
	for _, s := range res.Servers {
		servers[s.Name] = s
	}
	var warnings []string
	warned := map[string]bool{}
	var out *spec.Resolved
	shared := func(i int) {
		if out == nil {
			cp := *res
			cp.Sites = slices.Clone(res.Sites)
			out = &cp
		}
		out.Sites[i].Isolated = false
	}
	for i, site := range res.Sites {
		if !site.Isolated || site.PHP == "" {
			continue
		}
		for _, sn := range site.Servers {
			srv := servers[sn]
			if srv.DB != nil && srv.DB.Dir != "" && site.DB != nil && site.DB.Type == "sqlite" {
				// SQLite writes its journal beside the database: the
				// site's own user could not, in a directory all the
				// server's sites share.
				shared(i)
				warnings = append(warnings, fmt.Sprintf("site %s: its SQLite database is in %s, shared by the sites of server %s, so the site is not isolated (it runs as the web server's user): remove db.dir from the server to give each site its own database directory", site.Name, srv.DB.Dir, sn))
				break
			}
			if usersAllowed(&srv) {
				continue
			}
			shared(i)
			if !warned[sn] {
				warned[sn] = true
				who := "root"
				if srv.HTTP != nil {
					who = srv.HTTP.User
				}
				warnings = append(warnings, fmt.Sprintf("server %s: berth cannot create Unix users there (%s), so its PHP sites are not isolated: they run as the web server's user %s and can read each other's files; %s",
					sn, usersWhy(&srv), who, usersFix(&srv)))
			}
		}
	}
	if out == nil {
		return res, nil
	}
	return out, warnings
}

// usersAllowed reports whether berth can run useradd on srv: as root on
// this machine, or on a remote server as root or through sudo.
func usersAllowed(srv *spec.ResolvedServer) bool {
	if srv.Local() {
		return os.Geteuid() == 0
	}
	return srv.SSH.User == "" || srv.SSH.User == "root" || srv.SSH.Sudo
}

func usersWhy(srv *spec.ResolvedServer) string {
	if srv.Local() {
		return "it is this machine and berth does not run as root"
	}
	return fmt.Sprintf("its login user %s is not root and ssh.sudo is off", srv.SSH.User)
}

func usersFix(srv *spec.ResolvedServer) string {
	if srv.Local() {
		return "run berth as root to isolate them, or set isolation: false on their platforms to say that they share one user"
	}
	return "set ssh.sudo: true (with passwordless sudo) or log in as root to isolate them, or set isolation: false on their platforms"
}

// siteUser declares the Unix user of site on server when it is isolated
// and returns its ID; "" when the site runs as the web server's user.
func (b *builder) siteUser(site *spec.ResolvedSite, server string) string {
	name := render.SiteUser(site)
	if name == "" {
		return ""
	}
	id := UserID(site.Domain, name, server)
	b.add(account.New(account.UserSpec{ID: id, Server: server, Site: site.Domain, Name: name}))
	return id
}

// userDeps returns the dependency on a site's user (its ID, or "") of a
// resource that needs it (needs: the site's directory, which holds every
// other path the user owns, and its pool).
func userDeps(user string, needs bool) []string {
	if user == "" || !needs {
		return nil
	}
	return []string{user}
}
