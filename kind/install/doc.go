// Package install holds the kinds of the commands a platform runs for a
// site: its one-time install (Install,
// kind "install"): the platform's install command, run once, after the
// site's directory, settings, database and release, between its server's
// configuration checks and reloads (reconcile's AfterCheck), so that a
// refused run installs nothing and a new site is installed before it is
// served. The marker it writes in the site's directory (InstallMarker),
// observed like any path, is its only memory; a failed install writes
// none and the next run tries again.
//
// The update step (Update, kind "update", update.go) runs the platform's
// update command (drush updatedb, WordPress's wp_upgrade(), a platform's
// own) once per build of the platform's code, after a backup of the site;
// its marker (UpdateMarker) records the build. A site installed in the
// same run only records it. A migration runs it on its target, in the
// maintenance window, after the data moved (kind/migrate).
//
// What to run (wordpress's own script, a platform's install command) and
// its secret input are the builder's (package desired); this package
// runs it as the site's user, through runuser and env, never a shell.
package install
