// Package lb holds the kind of a load balancer's configuration: one file
// per platform and environment on the load balancer (its upstream of web
// servers and a server block per site, rendered by render.LB), kind
// "lb-config".
//
// A change of it checks and reloads the load balancer itself, in its own
// Apply (write, test, reload; a failed test puts the old file back and
// reloads nothing), so that the engine's stages order it against the web
// servers' changes:
//
//   - draining (a web server of the upstream has drain: true): an
//     ordinary change of phase 1, on which every change of the drained
//     server depends (desired adds the dependency): by the time anything
//     is done on the drained server, the load balancer checked and
//     reloaded a configuration that sends it nothing (reconcile's
//     cross-server dependencies; when the load balancer's change fails or
//     is not run, nothing runs on the drained server);
//   - otherwise an after-reload change (reconcile's afterReloader): it
//     runs once every server of the run finished its reloads, and it
//     depends on the vhosts and releases of its web servers, so a server
//     is re-added (undrained, or added to a new cluster) only after it
//     converged in the same run; when one of them failed, the load
//     balancer keeps its old configuration.
//
// Rotation is the same file as a platform's roll rewrites it (see
// release.Roll): each web server in turn marked down, then every one back
// in (with a last comment line, so that a run cut off before that reload
// took effect leaves the next run a change of the file), then the desired
// file without reload. The roll runs before the file's own change of the
// run, which depends on it. Probe (health.go) is the health check of a
// site on one web server, by Host, straight to it: the roll's and berth
// status --observe's.
//
// For its sites with tls.acme the load balancer terminates TLS (render.LB
// with the issued certificates): their chains and keys are ordinary files
// on it (service "lb") that the configuration depends on, and each site's
// certificate resource, on the load balancer, depends on the
// configuration, which serves the HTTP-01 challenge path from the load
// balancer's acme_dir before anything is ordered.
//
// A deletion (a platform no longer behind the load balancer) is an
// ordinary file deletion of phase 1 whose service ("lb") the engine
// checks and reloads.
package lb
