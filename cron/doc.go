// Package cron runs the sites' scheduled commands (`cron:` of a site or
// its platform in the sites repo): when one is due, and how it runs on a
// host.
//
// A Job is one command of one site, built by package desired from the
// resolved environment (CronJobs): it runs on the first web server of the
// site, as the web server's user (through runuser, no shell, like a
// platform's install), in the site's document root, with BERTH_SETTINGS,
// BERTH_SITE and BERTH_SITE_DIR in its environment. The daemon decides
// when (Job.Due, from the start of its last recorded run) and records each
// run with its output and exit status in the run history; this package
// owns neither the clock nor the record.
//
// It imports host only.
package cron
