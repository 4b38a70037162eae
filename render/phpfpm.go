package render

import (
	"crypto/sha256"
	"encoding/hex"
	"html"
	"path"
	"strings"

	"github.com/berthhq/berth/spec"
)

// Pool settings every site gets. ondemand starts workers only for
// requests, so a server carries many idle sites cheaply.
const (
	poolMaxChildren = 8
	poolIdleTimeout = "10s"
	poolMaxRequests = 500
)

// SiteUser returns the Unix user an isolated PHP site's pool runs as (its
// group has the same name), "" for a site that runs as the web server's
// user (a static site, or one whose platform says isolation: false). It
// is the one spelling of the name: "berth-" and 16 hex digits of the
// SHA-256 of the environment and the domain, so that it is the same on
// every run and every server, 22 characters (useradd takes 32) of
// [a-z0-9-], distinct for the same domain in two environments.
func SiteUser(site *spec.ResolvedSite) string {
	if site.PHP == "" || !site.Isolated {
		return ""
	}
	sum := sha256.Sum256([]byte(site.Environment + "\x00" + site.Domain))
	return "berth-" + hex.EncodeToString(sum[:8])
}

// SiteOwners returns who owns a site's directories and private files:
// the site's own user when it is isolated (run is that user, private its
// group), else the web server's user and group.
func SiteOwners(site *spec.ResolvedSite, h *spec.ResolvedHTTP) (run, private string) {
	if u := SiteUser(site); u != "" {
		return u, u
	}
	return h.User, h.Group
}

// phpPool renders the site's PHP-FPM pool. The pool is named after the
// domain: php-fpm accepts letters, digits, dots and hyphens in a section
// name, and a domain is unique on a server.
func phpPool(in *input) []byte {
	site, p, h := in.site, in.paths, in.http
	run, group := SiteOwners(site, h)
	var c conf
	c.line("%s", strings.TrimSuffix(header(";", site), "\n"))
	c.line("[%s]", site.Domain)
	c.line("user = %s", run)
	c.line("group = %s", group)
	c.line("listen = %s", p.Socket)
	// The web server connects to the socket, whoever runs the pool.
	c.line("listen.owner = %s", h.User)
	c.line("listen.group = %s", h.Group)
	c.line("listen.mode = 0660")
	c.line("pm = ondemand")
	c.line("pm.max_children = %d", poolMaxChildren)
	c.line("pm.process_idle_timeout = %s", poolIdleTimeout)
	c.line("pm.max_requests = %d", poolMaxRequests)
	c.line("chdir = /")
	// The whole platform directory, not only current: PHP resolves the
	// current symlink before it compares paths. An isolated site has its
	// own temporary directory (inside its site directory) and not the
	// shared /tmp, where another site's files could be read or planted.
	basedir := []string{p.PlatformDir + "/", p.SiteDir + "/", "/tmp/"}
	if site.Isolated {
		basedir = []string{p.PlatformDir + "/", p.SiteDir + "/", p.TmpDir + "/"}
	}
	if !strings.HasPrefix(p.FilesDir, p.SiteDir+"/") {
		basedir = append(basedir, p.FilesDir+"/") // on the cluster's shared path
	}
	if db := SQLitePath(site, in.srv); db != "" && !strings.HasPrefix(db, p.SiteDir+"/") {
		basedir = append(basedir, path.Dir(db)+"/") // a SQLite dir outside the site's own
	}
	c.line("php_admin_value[open_basedir] = %s", strings.Join(basedir, ":"))
	if set := SettingsPath(site, in.srv); set != "" {
		// The code finds the site's settings file (settings.php,
		// wp-config.php, .env) through getenv('BERTH_SETTINGS').
		c.line("env[BERTH_SETTINGS] = %s", set)
	}
	c.line("php_admin_value[upload_tmp_dir] = %s", p.TmpDir)
	c.line("php_admin_value[session.save_path] = %s", p.TmpDir)
	if site.Isolated {
		// tempnam() and sys_get_temp_dir() too, instead of /tmp.
		c.line("php_admin_value[sys_temp_dir] = %s", p.TmpDir)
		c.line("env[TMPDIR] = %s", p.TmpDir)
	}
	// Debian cleans only its own session directory by cron.
	c.line("php_admin_value[session.gc_probability] = 1")
	if s := site.Web.ClientMaxBodySize; s != "" {
		c.line("php_admin_value[upload_max_filesize] = %s", sizeUnit(s))
		c.line("php_admin_value[post_max_size] = %s", sizeUnit(s))
	}
	return []byte(c.b.String())
}

// disabledPage is the page a disabled site answers with. It names the site
// by its own (possibly international) name.
func disabledPage(site *spec.ResolvedSite) []byte {
	name := html.EscapeString(site.Name)
	var style, contact string
	// A client's site carries the client's colour and support contact,
	// each checked again by its rule before it is written.
	if b := site.Brand; b != nil {
		if b.Color != "" && spec.RuleColor.Check(b.Color) == nil {
			style = "<style>h1 { color: " + b.Color + "; }</style>\n"
		}
		if spec.RuleText.Check(b.Name) == nil {
			contact = "<p>" + html.EscapeString(b.Name)
			if b.Support != "" && spec.RuleEmail.Check(b.Support) == nil {
				s := html.EscapeString(b.Support)
				contact += ` · <a href="mailto:` + s + `">` + s + `</a>`
			}
			contact += "</p>\n"
		}
	}
	return []byte(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="robots" content="noindex">
<title>` + name + ` is disabled</title>
` + style + `</head>
<body>
<h1>` + name + ` is disabled</h1>
<p>This site is not available at the moment.</p>
` + contact + `</body>
</html>
`)
}

// maintenancePage is the page a site answers with during its maintenance
// window (Options.Maintenance).
func maintenancePage(site *spec.ResolvedSite) []byte {
	name := html.EscapeString(site.Name)
	return []byte(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="robots" content="noindex">
<title>` + name + ` is under maintenance</title>
</head>
<body>
<h1>` + name + ` is under maintenance</h1>
<p>This site is being moved and is back in a few minutes.</p>
</body>
</html>
`)
}
