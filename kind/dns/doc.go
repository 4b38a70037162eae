// Package dns is the resource kind `zone`: the DNS zones of a sites repo
// (kind: Zone documents, with the records spec computes for the sites whose
// names fall in them), rendered by render.Zone and served by BIND on each
// zone's primary server. It depends only on reconcile's exported API: a
// Zone is a reconcile.Resource (embedding reconcile.Base) and a
// reconcile.BatchChecker, registered with reconcile.RegisterKind like the
// other kinds here: Sync (zone-sync), Xfer (zone-xfer), Conf for named's include file
// (zone-include) and TSIG key file (zone-key), and ChallengeZone
// (zone-challenge) for ACME DNS-01. Their Check never changes
// the resource: what Apply and Undo need travels in Change.Found.
//
// # Resources per DNS server and environment
//
// The builder (desired.Zones, called from desired.Prepare, which spells
// the IDs in desired/ids.go) makes, on every server with a bind service
// that serves a zone of the environment as primary or secondary: its zone
// directory (<zone_dir>), one Zone per zone the server is the primary of
// (<zone_dir>/<zone>.zone, ID zone/<zone>@<server>), and the include file
// (<include_file>, a Conf of service "bind") that lists the environment's
// zones as `zone "…" { type primary; file "…"; };`. zone_dir and
// include_file hold {env} by default, so environments that share a DNS
// server have their own zone files and include file, and one
// environment's run never rewrites or prunes another's zones; named.conf
// includes one file per environment.
//
// An include file is never deleted: named.conf includes it, and named
// refuses a configuration that includes a missing file (named-checkconf
// fails, a restart of named fails). When a server no longer serves any
// zone of an environment (the zones, the server's bind service, or the
// environment itself removed), berth writes its include file empty,
// checks named's configuration and runs `rndc reconfig` (when the server
// still has a bind service; otherwise the file is emptied with the data,
// and the plan says to reconfigure by hand), and forgets it. The key file
// is deleted.
//
// # Observation and the serial
//
// The engine observes every zone file's path with the server's other
// paths; ObserveBatch then reads the content of every zone file of the
// server in one command (a constant sh script given the paths as
// arguments), and notes the instant of the reading, which dates every
// serial of the batch. Check parses it with github.com/miekg/dns's zone parser
// ($INCLUDE refused), never by matching strings, and compares its records
// and SOA, serial aside, with the zone as berth renders it. The serial is
// derived from the zone on the server (NextSerial): unchanged content
// keeps it, changed content gets max(observed+1, date00). It survives a
// restart of berth, respects a serial edited higher on the server, and
// keeps rising past 99 changes in a day.
//
// # Plan
//
// A zone's Change carries a record-level diff in Change.Diff, as DNSControl
// previews it: "+ www.example.com. 300 IN A 203.0.113.10", "- …", and
// "~ example.com. 300 IN MX 10 mx1.example.com. → 10 mx2.example.com.";
// the text, --json and --markdown forms of a plan print it as they print
// a file's diff. The Reason counts added, changed and removed records and
// gives the serial's move.
//
// # Apply
//
// Apply writes the new zone as a temporary file beside the live one
// (host.TempPrefix, swept after a crash), runs named-checkzone on it, and
// only when named accepts it replaces the live file atomically
// (Host.WriteFile: temp + rename) and runs `rndc reload ZONE` for that one
// zone. A refused check leaves the live file, and so the zone named
// serves, as it was; the change fails with named-checkzone's own message,
// and the include file, which depends on every zone, is not rewritten in
// that run. If another service of the server fails its check, Undo puts
// the zone file back and reloads the zone.
//
// New and removed zones go through the include file and `rndc reconfig`,
// not `rndc addzone`/`delzone`: the include file is a plain file berth
// renders, checks with named-checkconf before reloading, diffs in the plan
// and restores like every other configuration file, so the engine's
// one-check-and-one-reload-per-service rule and its crash record
// (pending reloads) cover it unchanged; `reconfig` loads added zones and
// drops removed ones without reloading the others. addzone keeps its state
// in named's own NZD database instead, which berth would have to read
// back to know what it configured, needs allow-new-zones, and bypasses
// named-checkconf. The include file is taken over without --adopt: the
// repo names it as berth's, and named.conf needs it to exist (usually
// empty) before berth's first run.
//
// A zone removed from the repo is pruned from the inventory like a file:
// the include file stops listing it in phase 1 (checked and reconfigured),
// and the zone file itself is deleted in phase 2, with the data, only when
// every check of the run passed; a zone file berth did not create is kept.
//
// # Safety threshold
//
// Like octoDNS, a change that deletes or modifies more than Safety.Share
// (default 30 %) of the records of a zone of at least Safety.MinRecords
// (default 10), or that touches the apex NS set of an existing zone, is
// refused unless the run allows it: PlanOptions.Allow holding
// AllowChanges, which the CLI's --allow-dns-changes sets for one run of
// berth plan or apply (the daemon never does). The refusal is Check's
// error, wrapping ErrThreshold and reconcile.ErrPolicy, which the engine
// turns into a refusal of the whole plan, as it does for
// policy.max_deletions: nothing is applied anywhere, and the message names
// the zone, the share and the override.
//
// # ACME DNS-01 and the rendered zones
//
// BIND's dynamic updates keep a journal (.jnl) and fight a zone file that
// is rewritten under them, so berth never mixes the two in one zone. An
// earlier design put the challenge record into berth's own zone resource;
// it is dropped: the token is only known while the certificate kind's
// Apply runs, after the zones were planned (and kinds do not import each
// other), and rewriting a zone per challenge would bump its serial, wait
// for every secondary and reload the zone twice per certificate. Instead
// berth delegates the challenge names to small dynamic zones that only
// the ACME client changes:
//
//   - One challenge zone per name the CA validates: _acme-challenge.<name>
//     (spec.ChallengeName; a wildcard *.example.com and example.com share
//     _acme-challenge.example.com), for every name of every site with
//     tls: { acme: true, challenge: dns-01 }. One zone per name rather
//     than one per zone with CNAMEs from each name into it: the zone is
//     exactly where the CA looks, with no CNAME to keep in step, follow or
//     get wrong, and removing a site's name drops exactly its zone. BIND
//     serves thousands of small zones easily.
//   - The zone holding the name delegates it: an NS record per name server
//     of that zone at _acme-challenge.<name>, part of the rendered zone
//     (desired.Zones adds them; spec refuses static records at or below a
//     challenge name). The same primary and secondaries serve the
//     challenge zone, so the delegation is never lame once converged.
//   - ChallengeZone (kind zone-challenge, ID
//     zone-challenge/<zone>@<primary>) writes the zone's first content
//     (SOA and NS, TTL 60) into <zone_dir>/acme (mode 0770, group
//     services.dns.group: named writes the journal and its dumps there),
//     checked with named-checkzone, once, when the file is missing. Its
//     Check never compares the content, so berth never rewrites it: named
//     owns it from then on. A pruned one is deleted with its journal, with
//     the data, after the include file dropped it.
//   - The include file lists it on the primary with `update-policy {
//     grant "berth-acme-<env>" name "_acme-challenge.<name>." TXT; }`:
//     stricter than allow-update, the key may change only the TXT records
//     of that one name. Secondaries list it as `type secondary` with the
//     transfer key, like any zone (and an Xfer each); the primary notifies
//     them of every update.
//   - The key berth-acme-<env> (hmac-sha256) is generated into berth's
//     state store (desired.ACMETSIGSecretKey(env)) and written into the
//     key file beside the include file, with the transfer key; never into
//     a plan, a log or the repo.
//
// The certificate kind answers DNS-01 with acme.DNSUpdate, which
// desired.DNS01 fills in for a site: RFC 2136 updates signed with that key
// to the primary's services.dns.listen, adding (Present) and deleting
// (CleanUp) one TXT record each, so a wildcard's and its base name's
// answers live side by side; the CA is asked to validate only once the
// primary and every secondary serve the record (asked directly, not
// through a resolver), and DNSUpdate.Check, the pre-check, asks each of
// them for the challenge zone's SOA with authority before any order.
//
// # Secondaries
//
// A zone's secondaries are servers with a bind service too. The primary's
// include file gives the zone `allow-transfer { key K; }`, `notify
// explicit` and `also-notify` with each secondary's services.dns.listen;
// each secondary's include file lists the zone as `type secondary` with
// `primaries { <primary's listen> key K; }`. K is one TSIG key per
// environment (hmac-sha256, berth-xfer-<env>), generated into berth's state
// store (desired.TSIGSecretKey(env)) and written into a key file
// beside the include file, mode 0640 and group services.dns.group (hidden
// from plans like every file others may not read), never into the repo or
// a log.
//
// A Sync resource per zone and secondary (on the primary, ID
// zonesync/<zone>/<secondary>@<primary>) checks that the secondary serves
// the new serial. It is an after-reload change (reconcile's AfterReload):
// it runs once the primary's reloads succeeded and every server of the
// run finished its reloads, so the run that creates a zone or changes the
// primary's include file checks the secondary too. It sends the
// secondaries a NOTIFY again (`rndc notify ZONE`) and asks the
// secondary's SOA over DNS until it matches, for at most its wait
// (default 30 s). Its Check works the zone's serial out as the zone's own
// Check does, from the same batch dated at the same instant. A secondary
// that lags does not fail the run: the change returns a
// reconcile.KeptError marked Degraded whose warning reads `zone Z on
// secondary S lags (Degraded): ...` with the serials seen, listed in
// Result.Degraded, which makes the environment's status Degraded (package
// run); the next plan checks it again.
//
// The first transfer may fail while the primary is not yet reconfigured
// with the zone and the key (the servers converge in parallel, or the
// primary was unreachable), and named queues the primary's NOTIFY behind
// the secondary's retry timer (BIND's default for a zone never loaded:
// about a minute, then doubling). So each secondary also has an Xfer
// resource (zone-xfer, ID zonexfer/<zone>@<secondary>, on the secondary):
// planned when the two SOA serials differ over DNS, it runs after the
// reloads too and asks the secondary, on its own host, to `rndc retransfer
// ZONE` if it still lags; one that cannot be asked is a warning, and Sync
// reports the lag.
package dns
