// Package acme obtains and renews the TLS certificates of berth's sites
// from an ACME certificate authority (Let's Encrypt in production, Pebble
// in tests), with github.com/go-acme/lego/v5, and keeps within the CA's
// limits by design.
//
// It is a support package of the certificate kind: it sits with the
// operations, imports state (accounts, certificates and orders live in the
// state store), host (challenge files are written through host.Host, so
// the web servers may be remote) and github.com/miekg/dns (DNS-01
// updates, CAA lookups), and nothing above it: no engine, no daemon, no
// run, no cmd. Package desired imports it to hand the certificate kind a
// site's DNSUpdate (desired.DNS01).
//
// # Accounts
//
// One account per CA directory URL and contact e-mail. Its private key is
// generated once and stored in the state store before the CA sees it; the
// account's URL is recorded once the CA registered it, so the CA is asked
// to register it only once. Keys are secrets: the state store registers
// every key it reads or stores with package redact, and no error or log
// line of this package carries one.
//
// # Ensure: at most one order, and only when due
//
// Client.Ensure makes a certificate for a request's names exist and stay
// valid. It sends nothing to the CA while the stored certificate is valid
// for the same names and not due; due means:
//
//   - the CA's renewal information (ARI, RFC 9773) suggests a window and
//     the uniformly random time picked in it has passed (asked again at
//     that time when it comes before the next poll, else at most every
//     ARIPoll, or after the CA's Retry-After), and the new order names the
//     certificate it replaces;
//   - or, from a CA without ARI, one third of the certificate's lifetime is
//     left (RenewAt, 2/3 of the way from NotBefore to NotAfter).
//
// Designed for 45-day certificates: the fallback renews 15 days before
// expiry, and the ARI poll interval is hours.
//
// # Decide: what Ensure would do, for a plan
//
// Client.Decide says what Ensure would do now (order, and why; or wait,
// and until when) without ordering, counting the orders a plan already
// decided against the limits: a plan of many new certificates orders the
// ones that fit and shows the rest waiting. It asks the CA nothing but the
// renewal information the due logic asks, and records no poll on a
// read-only store (berth plan).
//
// # Limits and backoff
//
// Before any order, Ensure counts the orders recorded in the state store
// for the CA directory and refuses, with a *WaitError that says until when,
// an order beyond Limits: orders per account per 3 hours, certificates per
// registered domain per 7 days, identical name sets per 7 days. A failed
// order backs this certificate off (Backoff: minutes, then hours, at most a
// day; the CA's Retry-After when it rate-limits us is respected; a CA that
// cannot be reached at all backs off the same way, without an order), recorded
// as NextAttempt in the state store: repeated calls before then send
// nothing and return a *WaitError. Other certificates are not held up.
//
// # Challenges
//
// HTTP-01 is answered by a Webroot: it writes the key authorization to
// <dir>/.well-known/acme-challenge/<token> on every web server of the site
// (all nodes of a cluster) through host.Host, files 0644 in directories
// 0755, and removes them after validation. The vhost serves that
// directory ahead of any application routing. Tokens are checked against
// the base64url alphabet before they become a path.
//
// DNS-01, needed for wildcard names and for names that do not point at
// the site yet, is answered by a DNSUpdate: RFC 2136 dynamic updates,
// signed with a TSIG key, of the challenge zone _acme-challenge.<name>
// berth renders on the primary of the zone holding the name (package
// kind/dns says why a dynamic child zone). Present adds one TXT record,
// CleanUp deletes that record only; the CA is asked to validate once the
// primary and every secondary serve it (DNSUpdate.Served replaces lego's
// propagation check through the system's resolvers). A Request may carry
// both providers; the shared lego client is given exactly the request's.
//
// # Pre-checks
//
// A Request's Precheck runs after the limits and before any order; when it
// fails, Ensure returns a *PrecheckError naming the reason ("x resolves to
// 198.51.100.7, not to one of the site's web servers") and sends nothing to
// the CA, records no backoff, and the next call checks again. ResolvesTo
// checks the names against the site's public addresses with berth's
// resolvers; Webroot.SelfTest serves a probe through the challenge path of
// every web server, under every name, as the CA will.
// DNSUpdate.Check is the DNS-01 pre-check: every name's challenge zone is
// one of berth's and each of its servers answers for it with authority.
//
// With Config.IssuerDomain set (letsencrypt.org for Let's Encrypt),
// Ensure first checks the names' CAA records (RFC 8659) with the
// configured resolver, as the CA will before issuing: a record set that
// names only other CAs is a pre-check failure ("the CAA records at
// example.com let only sectigo.com issue"), and nothing is sent.
//
// # Trust
//
// The trust roots of a CA's directory (a private CA such as Pebble) come
// from berth's configuration on the controller through Config.HTTPClient,
// never from a sites repo.
package acme
