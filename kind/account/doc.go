// Package account is the resource kind of the Unix users berth creates on
// a web server: one per isolated PHP site (see render.SiteUser), which
// its PHP-FPM pool runs as and its directories and settings file belong
// to, so that no site's PHP reads another's files.
//
// A user is observed with one getent per server (BatchChecker), created
// with useradd (a system user with a group of its name, no home, no
// login shell) and deleted with userdel. berth deletes only a user its
// inventory records as created by it: a user that existed before is
// recorded as adopted and kept. The user is deleted with its site, in the
// data phase of the run (after the configuration phase removed its pool
// and reloaded PHP-FPM); while the removed pool's workers are still exiting,
// userdel is retried for a few seconds, then their leftovers are sent
// SIGTERM, and a user still busy after that is kept with a warning for
// the next run.
package account
