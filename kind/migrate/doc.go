// Package migrate holds the kind that moves a site's data to the web
// server the revision now places it on, and switches it there safely
// (kind "migrate", one resource per migrating site, on the target). The
// builder (desired/migrate.go) recognises the migration, keeps the
// source's inventory records while it runs and during its grace period
// (reconcile.Migration), and gives the step what it needs; the engine
// runs the step after the target's new vhost, pool and settings are
// checked and reloaded (AfterReload), so the step's sequence is below. A
// cluster site leaves several web servers (Spec.OtherSources: each shows
// the maintenance page in step 3 and is disabled in step 6, its own vhost
// put back by a revert; the marker is on Source, the files' primary) and
// moves to several (Spec.OtherTargets: the files copied to each in steps
// 2 and 4 unless shared, each health-checked in step 5, each one's new
// configuration removed by a revert):
//
//  0. before anything of the move is written on the target (its
//     resources depend on it), Start (kind "migrate-start", start.go), a
//     resource of the source, writes the marker that the move started
//     (MovingName): a site the revision keeps on a server it was on is
//     taken for a move only with it (else it is a cluster losing a node),
//     so a run cut off anywhere after it finds the move to finish;
//  1. a backup of the site on the source (the deletion guard's backup);
//  2. a copy of the site's files directory from the source to the target,
//     while the source still serves (kind/filesync's copy); then, when
//     the site's records are in a zone berth serves and change (the
//     builder publishes them with the source's addresses at a lowered
//     TTL until the switch, desired/migrate_switch.go), the wait for the
//     resolvers' caches: until the lowered TTL was published for the
//     zone's normal TTL (Spec.SwitchWait, counted from the marker's
//     start, which Start writes after the zone is published), the step
//     stops here with a reconcile.WaitError: not failed, not reverted,
//     the source serving; the daemon runs again at its time;
//  3. the maintenance page on the source: its vhost answers 503 with
//     Retry-After (render.Options.Maintenance), checked and reloaded;
//  4. a final copy of the files (what was written since the first);
//     when the database moves too (Spec.CopyDB: another db server, or
//     the SQLite file of the web server), a fresh dump of the source's
//     loaded into the target's; then the install's and the update
//     step's markers copied into the target's site directory (Carry);
//     then the platform's update step on the target (Spec.Update: the
//     new code against the moved data);
//  5. the health check of the site on the target by Host header;
//  6. the switch: the site's DNS records and load balancer routes are
//     pointed at the target (Spec.Switch: the builder's zone and
//     load balancer resources as they are once switched, applied by
//     their own Apply, checked and reloaded; the next run plans the same
//     and finds them converged), then a marker in the source's site
//     directory records that the move is done and when (MarkerName,
//     Marker), then the source's vhost is rendered disabled (its data
//     kept) and reloaded.
//
// Failpoints (internal/failpoint) name the step's boundaries:
// mid-migrate:copied (after the first copy), mid-migrate:maintenance (the
// maintenance page up), mid-migrate:database (the database copied),
// mid-migrate:dns (DNS and load balancers switched, not yet recorded),
// mid-migrate:switched (the switch recorded, the
// source not yet disabled); cmd/berth's migration test kills apply at
// them and at the engine's after-reload (the target reloaded, before the
// step).
//
// The source's database is only read: a revert leaves it as it was, and
// it serves again with it. The target's database is replaced as a whole
// by every attempt.
//
// A failure in steps 2 to 6 before the switch is recorded reverts (a
// failed Switch puts the DNS and load balancers back first): the
// source's own vhost is put back
// and reloaded (it serves again as before), the target's new vhost and
// pool are removed and its services reloaded, and the step fails with
// the reason; the next run tries again. Every step is safe to repeat: a
// copy copies only what differs, the maintenance page is rewritten, and a
// step whose marker is already there only re-disables the source.
//
// DBStep (kind "migrate-db", dbmove.go) moves a site's database to
// another db server while the site stays on its web servers (one, or
// several: a cluster), as one resource on the site's first web server
// (site.Servers[0]: its site directory holds the markers), which reaches
// the others through DBSpec.Hosts. The builder (desired/migrate_db.go)
// renders the site's settings on every web server pointing at the
// source's database until the move is recorded done (DBMarkerName in the
// first web server's site directory), holds the source's database
// through the grace period, then retires it after its backup (into the
// site's own backup store, desired/guard.go). The step: the marker that
// the move started (DBMovingName); the site's own vhost kept on every web
// server (in its site directory there); a backup of the site with the
// source's database; the maintenance page on the site's vhost on every
// web server, then a wait until every one of them steadily answers it
// (mid-migrate-db:maintenance); a fresh dump of the source loaded into
// the target (mid-migrate-db:copied); the settings of every web server
// pointed at the target by the builder's settings resources (each
// applied by its own Apply) and PHP-FPM reloaded on each
// (mid-migrate-db:settings); the switch recorded
// (mid-migrate-db:switched); the own vhost back on every web server; a
// health check by Host header on every web server; the kept vhosts
// removed, then the moving marker (a run cut off after the switch finds
// the marker and only cleans up; the engine puts the own vhosts back, as
// the revision renders them). A failure before the switch is recorded
// points the settings of every web server back at the source (only
// read), reloads PHP-FPM on each, forgets the switch and puts the own
// vhost back on each; a failed health check on any web server does so
// after the maintenance page is up again on every one and the target's
// database is copied back to the source (what the site wrote there since
// the switch is not lost). The switch is recorded before the site serves
// again, so a rerun never renders the settings back at the source once
// the target took writes.
package migrate
