// Package backup is the backup operation: take, list, verify, prune and
// restore a site's backups, take the ones a schedule makes due, and the
// step that backs a removed site up before its deletion (DeletionStep,
// which the builder hands the engine as Desired.BeforeDelete).
//
// A site's backup is a directory <root>/<env>/<site>/<id>/ on the backup
// server holding one gzipped piece per part of the site's data (the
// database dump, the files tarball) and manifest.json, written last: a
// directory without a manifest is an unfinished backup and is ignored.
// Data flows from the server that holds it to the backup server through
// the controller, compressed and SHA-256 summed on the way; restore
// verifies every piece before it touches anything and takes a fresh
// backup first. Verify restore-tests a backup without touching the site:
// its dump loaded into a scratch database (ScratchName) that is always
// dropped, its tables checked against the dump, its files read back;
// berth backup verify and the daemon's schedule (backup.verify) run it.
//
// Operations sit beside the kinds: they import the engine (reconcile),
// the kinds (kind/database for the administrator's dump and load), host
// and state, never spec or render: where a site's data lives is resolved
// by the builder (desired.SiteDataOf) and handed in as SiteData and
// Store. Future operations (migrate, clone) get packages of their own
// next to this one.
package backup
