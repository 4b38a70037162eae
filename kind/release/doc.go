// Package release holds the kind that deploys a platform's code
// (Release, kind "release"): one build per revision, made once on the
// controller (Artifact, under <state dir>/builds/), shipped to every
// server as one gzipped tar stream into <platform dir>/builds/<id>, a
// marker written last (BuildMarker), and only then is `current` switched
// (ln -s + mv -T). Old builds beyond the platform's keep_builds are
// pruned, never the live one.
//
// A release supersedes what older berths copied into `current` file by
// file: those inventory records are forgotten, not pruned through the
// link. The platform directory is the environment's own, so two
// environments on one server never share a `current` or a builds/.
//
// A platform behind a load balancer with two web servers or more in
// rotation rolls its builds (Roll, kind "release-roll", on the load
// balancer): its releases (MarkRolled) only ship a build while current
// links to another one, and the roll, once every server holds it,
// switches them one server at a time — drained from the load balancer
// (Rotation, implemented by kind/lb), switched, health-checked
// (HealthCheck: lb.Healthy), put back; a failed health check switches the
// server back and stops the roll. The roll is a reconcile.Follower: the
// plan's changes of its releases say which servers it takes.
//
// The package also names builds (BuildID) and hashes a path platform's
// tree (TreeHash) with the same rules export applies: what cannot be
// shipped is refused at plan and at build alike. Artifacts are the home
// of future build kinds (container images, say).
package release
