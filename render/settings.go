package render

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/berthhq/berth/spec"
)

// SiteSecrets are the generated secrets a site's settings file holds. They
// are inputs: render stays pure, berth's state store generates and keeps
// them.
type SiteSecrets struct {
	DBPassword string // "" for a site without a database or on SQLite
	// Salts are drupal's hash_salt ("hash_salt") and wordpress's keys and
	// salts (WPSaltNames), by name.
	Salts map[string]string
}

// WPSaltNames are the keys and salts of wp-config.php.
var WPSaltNames = []string{"AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY",
	"AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"}

// SaltNames returns the names of the salts a platform type's settings
// file needs.
func SaltNames(platformType string) []string {
	switch platformType {
	case "drupal":
		return []string{"hash_salt"}
	case "wordpress":
		return WPSaltNames
	}
	return nil
}

// SettingsPath returns where a site's settings file lives on a web server,
// "" for a platform type without one (static):
//
//	drupal     <site dir>/settings.php  (the platform's sites/default/settings.php includes it)
//	wordpress  <site dir>/wp-config.php (the platform's wp-config.php includes it)
//	php        <site dir>/.env
func SettingsPath(site *spec.ResolvedSite, srv *spec.ResolvedServer) string {
	dir := Paths(site, srv).SiteDir
	switch site.Type {
	case "drupal":
		return path.Join(dir, "settings.php")
	case "wordpress":
		return path.Join(dir, "wp-config.php")
	case "php":
		return path.Join(dir, ".env")
	}
	return ""
}

// SQLitePath returns where a site's SQLite database lives on its web
// server: <dir>/<name>.sqlite, dir being the db service's dir or the
// site's own <site dir>/db.
func SQLitePath(site *spec.ResolvedSite, srv *spec.ResolvedServer) string {
	if site.DB == nil || site.DB.Type != "sqlite" {
		return ""
	}
	dir := path.Join(Paths(site, srv).SiteDir, "db")
	if srv.DB != nil && srv.DB.Dir != "" {
		dir = srv.DB.Dir
	}
	return path.Join(dir, site.DB.Name+".sqlite")
}

// secretRE is what berth's state store generates: printable ASCII
// without spaces. Secrets are not repo values, so no spec rule covers them.
var secretRE = regexp.MustCompile(`^[\x21-\x7e]{8,256}$`)

// Settings returns a site's settings file on a web server, nil for a
// platform type that has none. Mode 0640, owned by the web server's user
// (PHP runs as it) and group: it holds the database password.
func Settings(site *spec.ResolvedSite, srv *spec.ResolvedServer, sec SiteSecrets) (*File, error) {
	p := SettingsPath(site, srv)
	if p == "" {
		return nil, nil
	}
	if err := checkSettings(site, srv, sec); err != nil {
		return nil, fmt.Errorf("render the settings of site %q on server %q: %w", site.Domain, srv.Name, err)
	}
	var content string
	switch site.Type {
	case "drupal":
		content = drupalSettings(site, srv, sec)
	case "wordpress":
		content = wordpressSettings(site, srv, sec)
	case "php":
		content = envSettings(site, srv, sec)
	}
	// Only PHP reads it: the site's own user and group when the site is
	// isolated, so no other site's PHP can.
	run, private := SiteOwners(site, srv.HTTP)
	return &File{Path: p, Content: []byte(content), Mode: 0o640, Owner: run, Group: private}, nil
}

func checkSettings(site *spec.ResolvedSite, srv *spec.ResolvedServer, sec SiteSecrets) error {
	if err := check(site, srv); err != nil {
		return err
	}
	if db := site.DB; db != nil {
		if err := rule("db name", spec.RuleDBName, db.Name); err != nil {
			return err
		}
		if db.User != "" {
			if err := rule("db user", spec.RuleDBName, db.User); err != nil {
				return err
			}
		}
		if db.Type != "sqlite" && !secretRE.MatchString(sec.DBPassword) {
			return fmt.Errorf("the database password is missing or holds spaces or control characters")
		}
		if db.Host != "" {
			if err := rule("db host", spec.RuleHost, db.Host); err != nil {
				return err
			}
		}
		if db.Socket != "" {
			if err := rule("db socket", spec.RuleAbsPath, db.Socket); err != nil {
				return err
			}
		}
		if p := SQLitePath(site, srv); db.Type == "sqlite" {
			if err := rule("sqlite path", spec.RuleAbsPath, p); err != nil {
				return err
			}
		}
	}
	for _, n := range SaltNames(site.Type) {
		if !secretRE.MatchString(sec.Salts[n]) {
			return fmt.Errorf("secret %s is missing or holds spaces or control characters", n)
		}
	}
	return nil
}

// phpString is a single-quoted PHP string literal.
func phpString(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// hostNames are the site's domain and aliases.
func hostNames(site *spec.ResolvedSite) []string {
	return append([]string{site.Domain}, site.Aliases...)
}

func drupalSettings(site *spec.ResolvedSite, srv *spec.ResolvedServer, sec SiteSecrets) string {
	var b strings.Builder
	b.WriteString("<?php\n")
	b.WriteString(header("//", site))
	b.WriteString("// The site's PHP-FPM pool sets BERTH_SETTINGS to this file; the platform's\n")
	b.WriteString("// sites/default/settings.php includes it:\n")
	b.WriteString("//   if (getenv('BERTH_SETTINGS')) { include getenv('BERTH_SETTINGS'); }\n\n")
	if db := site.DB; db != nil {
		b.WriteString("$databases['default']['default'] = [\n")
		switch db.Type {
		case "sqlite":
			fmt.Fprintf(&b, "  'driver' => 'sqlite',\n  'database' => %s,\n", phpString(SQLitePath(site, srv)))
		default:
			driver := "mysql"
			if db.Type == "postgresql" {
				driver = "pgsql"
			}
			fmt.Fprintf(&b, "  'driver' => '%s',\n  'database' => %s,\n  'username' => %s,\n  'password' => %s,\n",
				driver, phpString(db.Name), phpString(db.User), phpString(sec.DBPassword))
			if db.Socket != "" {
				fmt.Fprintf(&b, "  'host' => 'localhost',\n  'unix_socket' => %s,\n", phpString(db.Socket))
			} else {
				fmt.Fprintf(&b, "  'host' => %s,\n  'port' => %d,\n", phpString(db.Host), db.Port)
			}
			b.WriteString("  'prefix' => '',\n")
			if driver == "mysql" {
				b.WriteString("  'collation' => 'utf8mb4_unicode_ci',\n")
			}
		}
		b.WriteString("];\n")
	}
	fmt.Fprintf(&b, "$settings['hash_salt'] = %s;\n", phpString(sec.Salts["hash_salt"]))
	b.WriteString("$settings['trusted_host_patterns'] = [\n")
	for _, n := range hostNames(site) {
		pat := "^" + strings.ReplaceAll(n, ".", `\.`) + "$"
		if rest, ok := strings.CutPrefix(n, "*."); ok {
			pat = `^.+\.` + strings.ReplaceAll(rest, ".", `\.`) + "$"
		}
		fmt.Fprintf(&b, "  %s,\n", phpString(pat))
	}
	b.WriteString("];\n")
	rel := "sites/" + site.Domain + "/files"
	fmt.Fprintf(&b, "$settings['file_public_path'] = %s;\n", phpString(rel))
	fmt.Fprintf(&b, "$settings['file_private_path'] = %s;\n", phpString(path.Join(Paths(site, srv).SiteDir, "private")))
	fmt.Fprintf(&b, "$settings['file_temp_path'] = %s;\n", phpString(Paths(site, srv).TmpDir))
	return b.String()
}

func wordpressSettings(site *spec.ResolvedSite, srv *spec.ResolvedServer, sec SiteSecrets) string {
	var b strings.Builder
	b.WriteString("<?php\n")
	b.WriteString(header("//", site))
	b.WriteString("// The platform's wp-config.php includes it (getenv('BERTH_SETTINGS')) before\n")
	b.WriteString("// wp-settings.php.\n\n")
	def := func(name, v string) { fmt.Fprintf(&b, "define(%s, %s);\n", phpString(name), phpString(v)) }
	if db := site.DB; db != nil && db.Type != "sqlite" {
		def("DB_NAME", db.Name)
		def("DB_USER", db.User)
		def("DB_PASSWORD", sec.DBPassword)
		if db.Socket != "" {
			def("DB_HOST", "localhost:"+db.Socket)
		} else {
			def("DB_HOST", db.Host+":"+strconv.Itoa(db.Port))
		}
		def("DB_CHARSET", "utf8mb4")
		def("DB_COLLATE", "")
	}
	for _, n := range WPSaltNames {
		def(n, sec.Salts[n])
	}
	scheme := "http"
	if site.TLS.ACME {
		scheme = "https"
	}
	def("WP_HOME", scheme+"://"+site.Domain)
	def("WP_SITEURL", scheme+"://"+site.Domain)
	b.WriteString("$table_prefix = 'wp_';\n")
	return b.String()
}

// envSettings is a php platform's .env: KEY=VALUE lines, values in
// single quotes (read by phpdotenv, parse_ini_file and sh alike).
func envSettings(site *spec.ResolvedSite, srv *spec.ResolvedServer, sec SiteSecrets) string {
	var b strings.Builder
	b.WriteString(header("#", site))
	kv := func(k, v string) { fmt.Fprintf(&b, "%s='%s'\n", k, v) }
	kv("SITE_DOMAIN", site.Domain)
	names := hostNames(site)
	slices.Sort(names[1:])
	kv("SITE_HOSTS", strings.Join(names, ","))
	kv("SITE_FILES_DIR", Paths(site, srv).FilesDir)
	if db := site.DB; db != nil {
		switch db.Type {
		case "sqlite":
			kv("DB_DRIVER", "sqlite")
			kv("DB_PATH", SQLitePath(site, srv))
		default:
			driver := "mysql"
			if db.Type == "postgresql" {
				driver = "pgsql"
			}
			kv("DB_DRIVER", driver)
			if db.Socket != "" {
				kv("DB_SOCKET", db.Socket)
			} else {
				kv("DB_HOST", db.Host)
				kv("DB_PORT", strconv.Itoa(db.Port))
			}
			kv("DB_NAME", db.Name)
			kv("DB_USER", db.User)
			kv("DB_PASSWORD", sec.DBPassword)
		}
	}
	return b.String()
}
