package desired

import (
	"fmt"

	"github.com/berthhq/berth/kind/account"
	"github.com/berthhq/berth/kind/database"
)

// Every resource ID and secret key berth uses is built here, and only
// here: the builder, the deletion guards and the tests call these, and
// the kinds receive their IDs from the builder. An ID is stable across
// runs and carries no environment (the inventory is kept per
// environment); a secret key carries the environment, since two
// environments' sites never share a password.

// SiteID names a site's resource after its role on a server:
// site/DOMAIN/ROLE@SERVER (roles: dir, vhost, php-pool, htpasswd,
// files-dir, tmp-dir, disabled-dir, disabled-page, settings, install,
// backup, migrate, migrate-start, certificate, cert-chain, cert-key, path:REL for other rendered
// paths).
func SiteID(domain, role, server string) string {
	return fmt.Sprintf("site/%s/%s@%s", domain, role, server)
}

// SettingsID names a site's settings file on a web server.
func SettingsID(domain, server string) string { return SiteID(domain, "settings", server) }

// SiteDirID names a site's directory on a web server.
func SiteDirID(domain, server string) string { return SiteID(domain, "dir", server) }

// InstallID names a site's install on its first web server.
func InstallID(domain, server string) string { return SiteID(domain, "install", server) }

// CloneID names a site's clone from its clone_from, on its first web
// server.
func CloneID(domain, server string) string { return SiteID(domain, "clone", server) }

// UpdateID names a site's update step on its first web server.
func UpdateID(domain, server string) string { return SiteID(domain, "update", server) }

// MigrateID names a site's migration step, on its target web server.
func MigrateID(domain, server string) string { return SiteID(domain, "migrate", server) }

// MigrateStartID names the mark on a site's source that its move started.
func MigrateStartID(domain, server string) string { return SiteID(domain, "migrate-start", server) }

// BackupID names the step that backs a removed site up on server (the
// backup server), also when the step cannot be planned (a conflict).
func BackupID(domain, server string) string { return SiteID(domain, "backup", server) }

// DatabaseID names a site's database: site/DOMAIN/db:NAME@SERVER (the
// database server, or the web server for SQLite). Its format is the
// database kinds' (database.ID): their pruner reads the database's name
// back from an inventory record's ID (database.NameOfID).
func DatabaseID(domain, name, server string) string { return database.ID(domain, name, server) }

// UserID names the Unix user an isolated PHP site runs as on a web server:
// site/DOMAIN/user:NAME@SERVER, NAME from render.SiteUser (the one
// spelling of the name). Its format is the account kind's (account.ID):
// its pruner reads the user's name back from an inventory record's ID.
func UserID(domain, name, server string) string { return account.ID(domain, name, server) }

// SharedDirID names a directory no site owns (<web_root>/sites, the
// vhost directory, a platform's directory...): dir:PATH@SERVER.
func SharedDirID(dir, server string) string { return fmt.Sprintf("dir:%s@%s", dir, server) }

// ReleaseID names the release of a platform on a server. It carries no
// environment: the inventory is kept per environment, and an environment's
// release keeps its ID when its path moved to the environment's own
// platform directory (see release.ReleaseSpec.Legacy).
func ReleaseID(platform, server string) string {
	return fmt.Sprintf("platform/%s/release@%s", platform, server)
}

// RollID names the roll of a platform's releases over its web servers,
// on its load balancer: platform/PLATFORM/roll@SERVER (the load balancer).
func RollID(platform, server string) string {
	return fmt.Sprintf("platform/%s/roll@%s", platform, server)
}

// DBSecretKey is the key of a site's database password.
func DBSecretKey(env, site string) string { return "db/" + env + "/" + site }

// SaltSecretKey is the key of a salt of a site's settings file.
func SaltSecretKey(env, site, name string) string { return "salt/" + env + "/" + site + "/" + name }

// AdminSecretKey is the key of a site's generated admin password.
func AdminSecretKey(env, site string) string { return "admin/" + env + "/" + site }

// ZoneID names a DNS zone on its primary: zone/ZONE@SERVER.
func ZoneID(zone, server string) string { return "zone/" + zone + "@" + server }

// ZoneSyncID names the check that a zone's secondary serves its serial, a
// resource of the primary: zonesync/ZONE/SECONDARY@PRIMARY.
func ZoneSyncID(zone, secondary, primary string) string {
	return "zonesync/" + zone + "/" + secondary + "@" + primary
}

// ZoneXferID names the retransfer of zone by its secondary (dns.Xfer).
func ZoneXferID(zone, secondary string) string {
	return "zonexfer/" + zone + "@" + secondary
}

// ZoneDirID names the directory of an environment's zone files on a DNS
// server.
func ZoneDirID(server string) string { return "dns/zone-dir@" + server }

// ZoneIncludeID names berth's include file (the zones named serves) on a
// DNS server.
func ZoneIncludeID(server string) string { return "dns/include@" + server }

// ZoneKeyID names the TSIG key file of the zone transfers on a DNS server.
func ZoneKeyID(server string) string { return "dns/key@" + server }

// TSIGSecretKey is the key of an environment's TSIG secret, which
// authenticates the transfers of its zones to their secondaries.
func TSIGSecretKey(env string) string { return "dns/tsig/" + env }

// ChallengeZoneID names a dynamic challenge zone (_acme-challenge.NAME)
// on its primary: zone-challenge/ZONE@SERVER.
func ChallengeZoneID(zone, server string) string { return "zone-challenge/" + zone + "@" + server }

// ChallengeZoneDirID names the directory of the challenge zones on a DNS
// server (render.ChallengeZoneDir).
func ChallengeZoneDirID(server string) string { return "dns/challenge-dir@" + server }

// ACMEKeyName is the name of the TSIG key of an environment's challenge
// zones: the only key their update-policy lets change them.
func ACMEKeyName(env string) string { return "berth-acme-" + env }

// ACMETSIGSecretKey is the key of the secret of ACMEKeyName(env).
func ACMETSIGSecretKey(env string) string { return "dns/acme-tsig/" + env }

// LBConfigID names the configuration of a platform on its load balancer:
// lb/PLATFORM@SERVER (the load balancer).
func LBConfigID(platform, server string) string {
	return fmt.Sprintf("lb/%s@%s", platform, server)
}

// CertificateID names the certificate resource of a site, on its first
// web server (kind/certificate).
func CertificateID(domain, server string) string { return SiteID(domain, "certificate", server) }

// CertificateKey names a site's certificate in the state store: it
// carries the environment, since two environments' sites never share one.
func CertificateKey(env, domain string) string { return env + "/" + domain }

// FilesSyncID names the copy of a site's files directory from its
// platform's primary to another web server (kind/filesync).
func FilesSyncID(domain, server string) string { return SiteID(domain, "files-sync", server) }

// FilesDirID names a site's files directory on a web server.
func FilesDirID(domain, server string) string { return SiteID(domain, "files-dir", server) }

// SharedFilesID names the check that a platform's shared files path is
// the same file system on server as on its first server:
// platform/PLATFORM/files-shared@SERVER.
func SharedFilesID(platform, server string) string {
	return fmt.Sprintf("platform/%s/files-shared@%s", platform, server)
}
