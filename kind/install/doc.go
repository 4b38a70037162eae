// Package install holds the kind of a site's one-time install (Install,
// kind "install"): the platform's install command, run once, after the
// site's directory, settings, database and release, between its server's
// configuration checks and reloads (reconcile's AfterCheck), so that a
// refused run installs nothing and a new site is installed before it is
// served. The marker it writes in the site's directory (InstallMarker),
// observed like any path, is its only memory; a failed install writes
// none and the next run tries again.
//
// What to run (wordpress's own script, a platform's install command) and
// its secret input are the builder's (package desired); this package
// runs it as the site's user, through runuser and env, never a shell.
package install
