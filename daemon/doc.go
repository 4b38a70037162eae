// Package daemon is `berth serve`: one long-running process that keeps
// every environment of a sites repo converged to its Git branch.
//
// It owns the loop of design.md: triggers (start-up, poll with jitter,
// webhook pushes, file watch, drift timer, manual API call) are coalesced
// per environment into at most one run in flight and one queued; a run
// fetches, skips when the branch head is already applied (and no drift
// check is due), loads and validates the revision (an invalid one makes the
// environment Stalled, keeps the last good revision applied and changes
// nothing), then runs it through package run — the run life cycle berth
// apply runs: prepare (desired.Prepare), record the start, plan, apply,
// record the end, derive the status — from the Config (hosts, git
// platforms' resolver, berth's version) berth serve fills as the CLI fills
// its own, and updates its status and metrics from the outcome;
// Daemon.Plan plans an environment the same way without applying or
// recording. It runs the environments berth.yaml on the config branch
// declares, read again (berth.yaml alone, spec.LoadConfig) after any pass
// whose fetch moved that branch: a new environment gets a worker and a
// run, a removed one's worker stops; an environment whose branch is gone
// is Stalled. One it no longer declares whose resources are still on the
// servers is listed by Status as PhaseOrphaned and left alone (berth apply
// --env removes it, see package run). Applies of different environments never overlap, so two
// environments never write the same host file at once.
//
// Each environment keeps in memory the desired state of the revision it
// last built (warm.go): a drift check or a poll of that same revision (a
// retry after a failed apply) observes the hosts and plans against it
// without reading, validating, resolving or rendering the repo again;
// the inventory and pending reloads are still read per plan. A new
// revision, a manual run, a secret stored or deleted since the build (the
// store's SecretsStamp), a certificate issued since (run.Prepared.Current:
// its site is served over HTTPS now) or a git platform resolving to
// another commit builds it anew; so does a restart.
//
// Certificates: each environment's ACME client is built from berth.yaml's
// acme and Config.TLS (the operator's trust roots of a private CA and the
// pre-checks' resolver). Every drift check plans the certificates like
// any run: one that is due (ARI window, one third of its lifetime left) is
// renewed and served in that run. After every run the status lists the
// certificates (EnvStatus.Certificates: expiry, issuer, next renewal or
// attempt, last error) and berth_certificate_expiry_timestamp_seconds is
// set per site. It never goes to disk: it holds the
// revision's secrets.
//
// Scheduled jobs (jobs.go, verify.go, datafrom.go), on Config.Schedule's
// timer and Config.Now's clock, never overlap an apply: the sites' due
// backups, the restore test of each site's newest backup when
// backup.verify makes it due (backup.Backups.Verify, the code of berth
// backup verify; the status's Verifications), the sites' cron commands,
// and the copies of data down of the environment's data_from and its
// sites' own (desired.SyncData, the code of berth sync-data; trigger
// sync-data SITE, due by the site's schedule from the last one in the
// run history); each is a run
// with the result job-done or job-failed, and a failing one is notified
// (the backups' pass as backup-failed, the others as job-failed; one
// message per change). After the backups, each scheduled site's newest
// backup is read from its manifests (backup.Backups.Manifests, nothing
// hashed): older than StaleFactor times its schedule sends backup-stale
// once, a fresh one again recovered once (backupstale.go).
//
// Notifications (notify.go) go to Config.Notifier: --notify-file's
// webhooks, and those berth.yaml names for the environment, set each
// time a revision is resolved (their URLs read on the controller from
// url_file or url_env, checked by spec's webhook-url rule, registered
// with redact, never logged).
//
// Site health (health.go): every Config.Health each environment's sites
// are checked on each web server (kind/lb's probe through run.CheckNodes,
// a failure asked again after a second), from the desired state of the
// last run; Healthy, Degraded or Down per site in the status with each
// server's answer, berth_site_up, one site-down or site-up notification
// per change, and one certificate-expiring when a certificate enters its
// last 14 days.
//
// Commit statuses (statuses.go): with Config.Statuses (package forge:
// Gitea and Forgejo, GitHub, GitLab), a
// run of a new commit sets berth/ENV on it: pending, then success or
// failure linking to the run's dashboard page under Config.PublicURL; a
// commit that does not validate gets failure.
//
// Operator actions (actions.go): BackupNow and RestoreNow run one site's
// backup or restore in the background, never during a run, recorded as
// runs; LiveLog gives the log of a run in progress (the dashboard's live
// run page); Sites and Clients publish what the dashboard shows of the
// revision last built, without secrets.
//
// It also owns the daemon's HTTP surface: the JSON status API (read with a
// read or operator token, or one of the store's tokens, see Access; the
// admin's token management in tokens.go), health endpoints, Prometheus
// metrics, and the wrapper that counts webhook requests. Every API answer
// leaves through one writer that redacts the secrets the process knows
// (package redact); the logger it is given must write through such a
// writer too (berth serve's does). Where revisions come from (Git, a directory) and how webhooks
// are verified is package source's; the engine is package reconcile's.
package daemon
