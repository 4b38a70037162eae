// Package certificate is the certificate kind: one resource per site with
// tls: { acme: true }, on the site's first web server, that makes sure the
// site's certificate (its domain and aliases, one certificate per site) is
// issued and renewed by the environment's ACME CA.
//
// The kind decides and orders; it installs nothing itself. What it needs
// comes through its Issuer, which the builder (package desired)
// implements over package acme and the state store: the kind imports
// neither. Once a certificate is issued, the builder's next pass renders
// the chain and key into the server's cert_dir (files of kind/files, key
// 0600) and the site's vhost with its TLS listener, so installing,
// checking and reloading are the engine's one check and reload per
// server, with its inventory, undo and crash records; a web server whose
// installed chain or key differs from the store's is a file change there.
//
// Life cycle of one resource in one run:
//
//  1. ObserveBatch (once per server and plan, the server's certificates
//     sorted by ID): Issuer.Decide says for each whether an order is due
//     (no certificate yet, its names changed, the CA's renewal window
//     (ARI) has begun, one third of its lifetime left, expired), or why it
//     waits and until when (a backoff after failed orders, the CA's
//     limits). It counts the orders it plans against the CA's limits, so a
//     revision adding 400 sites plans the orders that fit now and shows the
//     rest waiting with their time. Nothing is sent to the CA but the
//     renewal-information request package acme's due logic makes.
//  2. Check turns the decision into a Change: + (first certificate) or ~
//     (renewal, names changed) with the reason, ~ "waiting until T" for a
//     certificate that waits, none when it is valid and not due.
//  3. Apply runs after the server's reloads (AfterReload), so the vhost
//     that serves the challenge path is live on every web server of the
//     site: Issuer.Ensure checks again (certmagic's rule: after taking the
//     lock, check whether the work is still needed), runs the pre-checks
//     (the names resolve to the site's web servers; the challenge path
//     answers on every one of them) and orders. A certificate that waits,
//     or whose pre-check failed, is a reconcile.KeptError marked Degraded:
//     the site stays served as it was, the run result and status say why
//     and until when, and the rest of the run is not failed.
//
// A resource whose site lost tls.acme or was removed is pruned from the
// inventory with a deletion that touches no host (its chain and key files
// are pruned as files): the certificate stays in the state store and is
// never renewed again, since nothing asks for it.
package certificate
