// Package run is one run of an environment, the same for `berth apply`,
// `berth verify` and the daemon (`berth serve`): prepare the revision's
// desired state (Prepare, through desired.Prepare, the only builder of
// one) → start the run's record → plan → let the caller approve → apply →
// record how it ended → derive the status (Converge). `berth plan` and the
// daemon's plan API stop after the plan (Prepared.Plan). The callers keep
// only what differs between them: where the revision comes from, how
// progress is shown (a reconcile.Hook: the CLI prints, the daemon logs),
// how approval is asked, and what they do with the outcome (the CLI prints
// a summary, the daemon updates its status API and metrics).
//
// Certificates (tls.acme): Prepare builds the environment's ACME client
// from berth.yaml's acme and the controller's TLS configuration (tls.go:
// the trust roots of a private CA, the pre-checks' resolver, never the
// repo's). A site's vhost serves HTTPS only once its certificate is
// issued, and a run orders certificates after its reloads, so a run whose
// first pass issued certificates makes a second pass through the same
// pipeline (desired.Prepare, plan, apply; its orders held) that installs
// them and serves the sites over HTTPS: the run ends with them served.
// Its changes are added to the run's plan and result (Outcome.Served).
// Prepared.Current tells the daemon when a kept desired state serves
// other certificates than the store holds.
//
// Status derivation lives here too, once (status.go): each site's sync
// (Synced, OutOfSync) and health (Healthy, Degraded) and the environment's,
// from a plan and the result of applying it (the daemon after each run,
// `berth status --observe`) or from the inventory alone (`berth status`).
//
// An environment that berth.yaml no longer declares but whose resources the
// inventory still holds is removed through the same pipeline (removed.go):
// its desired state is empty (spec.ResolveRemoved) and goes through
// desired.Prepare and the engine like any other, so the plan deletes
// only what that environment recorded, backs each of its sites' data up
// first, deletes data only after every configuration check passed, and is
// held to the stricter of the environment's last applied policy and the
// repo's. Nothing removes an environment on its own: `berth plan --env X`
// shows it, `berth apply --env X` does it, and the daemon reports such
// environments (Orphans) without touching them.
//
// Layer: below cmd/berth and daemon; it imports desired, reconcile, spec,
// state, acme and kind/certificate (its Kind, to count the issued).
package run
