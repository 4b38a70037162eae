// Package desired is the desired-state layer: the one way from a resolved
// revision to what the engine converges. Prepare (desired.go) resolves the
// git platforms' code (code.go), builds every site's files and
// directories and the platforms' releases (build.go), adds databases and
// settings files with their generated secrets (build_db.go), installs
// (install.go), the Unix users of isolated PHP sites and the servers where
// berth cannot create them (users.go), the DNS zones with named's include
// and key files and the
// environment's TSIG key (zones.go), the sharing of cluster sites' files
// (filesync.go: copies from the platform's primary, checks of a shared
// path), the load balancers' configurations
// ordered against their web servers' changes for drain (lb.go), the
// sites moving to another web server (migrate.go: recognised from the
// inventory, their kind/migrate step, the source held until the grace
// period is over, Input.Now its clock; migrate_switch.go: their DNS
// records and load balancer routes kept on the source, at a lowered TTL,
// until the step's switch, which applies the zones and load balancer
// configurations the next run builds; migrate_db.go: the sites whose
// database moves to another db server while they stay on their web
// server, their settings kept at the source's database until the
// kind/migrate DBStep switches them), the certificates of the sites with
// tls.acme (certs.go: one kind/certificate resource per site whose Issuer
// orders through package acme, and, once the state store holds an issued
// certificate, its chain and key in the server's cert_dir and the vhost
// rendered with its TLS listener), the database pruner and the backup
// that precedes a
// removed site's deletion (guard.go), and returns the engine over the
// state store's inventory (store.go). berth plan, apply, verify and the
// daemon fill an Input and call it, so what the CLI plans is what the
// daemon converges; nothing else assembles a reconcile.Desired.
//
// Every resource ID and secret key is built in ids.go and nowhere else;
// the kinds receive their IDs from here. Where a site's data lives and
// where its backups go (sitedata.go: SiteDataOf, BackupStoreOf,
// ScheduledBackups; a cluster site's files on its primary or shared path,
// FileSyncsOf for the re-sync after a restore) is read from the resolved
// revision here too, for the backup operation.
//
// The layer imports spec, render, the kinds (kind/...), the backup
// operation (for the deletion guard), acme (the certificates' Issuer) and
// state (secrets, certificates and the inventory adapter); the engine (reconcile) imports none of them. A new
// kind's building goes in a file of its own here (zones.go and certs.go
// are; upstreams will be), called from Prepare. The desired state depends
// on the store's issued certificates: CertStamp says which a build served.
package desired
