package render

import (
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

// phpPool renders the site's PHP-FPM pool. The pool is named after the
// domain: php-fpm accepts letters, digits, dots and hyphens in a section
// name, and a domain is unique on a server.
func phpPool(in *input) []byte {
	site, p, h := in.site, in.paths, in.http
	var c conf
	c.line("%s", strings.TrimSuffix(header(";", site), "\n"))
	c.line("[%s]", site.Domain)
	c.line("user = %s", h.User)
	c.line("group = %s", h.Group)
	c.line("listen = %s", p.Socket)
	c.line("listen.owner = %s", h.User)
	c.line("listen.group = %s", h.Group)
	c.line("listen.mode = 0660")
	c.line("pm = ondemand")
	c.line("pm.max_children = %d", poolMaxChildren)
	c.line("pm.process_idle_timeout = %s", poolIdleTimeout)
	c.line("pm.max_requests = %d", poolMaxRequests)
	c.line("chdir = /")
	// The whole platform directory, not only current: PHP resolves the
	// current symlink before it compares paths.
	basedir := []string{p.PlatformDir + "/", p.SiteDir + "/", "/tmp/"}
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
	return []byte(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="robots" content="noindex">
<title>` + name + ` is disabled</title>
</head>
<body>
<h1>` + name + ` is disabled</h1>
<p>This site is not available at the moment.</p>
</body>
</html>
`)
}
