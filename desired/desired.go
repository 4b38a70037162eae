package desired

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// Input is everything the desired state of one environment at one
// revision depends on, besides the hosts' own state. `berth plan`,
// `apply`, `verify` and the daemon (`berth serve`) each fill one and call
// Prepare: it is the only way from a resolved spec to a Desired, so what
// the CLI plans is what the daemon converges.
type Input struct {
	// Resolved is the environment, resolved from Repo.
	Resolved *spec.Resolved
	// Revision names the revision of the sites repo (a commit, or a plain
	// directory's content hash).
	Revision string
	// Repo holds the sites repo's files at Revision; platforms whose
	// source is a path are read from it.
	Repo fs.FS
	// StateDir is berth's state directory: base of a local server's
	// relative paths, where its service commands run and platforms build.
	StateDir string
	// Store keeps the generated secrets (database passwords, salts, admin
	// passwords) and the inventory the engine plans against. A read-only
	// store plans new secrets as generated at apply.
	Store *state.Store
	// Code resolves git platforms (it may fetch); nil deploys none, and
	// the plan warns for each.
	Code Code
	// Hosts connects to the environment's servers: the engine's and the
	// deletion backups'.
	Hosts reconcile.Hosts
	// Version is berth's version, recorded in the manifests of deletion
	// backups.
	Version string
	// ACME obtains the certificates of the sites with tls.acme (run
	// builds it); nil orders none, and the plan warns.
	ACME *ACME
	// Now is the clock of migrations' grace periods; nil: time.Now.
	Now func() time.Time
	// DataConsent says whether another environment gives its data to a
	// clone of this one (consent.go); nil: none does.
	DataConsent DataConsent
}

// Prepare resolves the code of the git platforms of in and builds the
// complete desired state of the revision — every site's files and
// directories, the platforms' releases, databases and settings files,
// installs, update steps and clones, the DNS zones (zones.go), the certificates of the sites with tls.acme and
// their installed chains and keys (certs.go), and the backup that precedes a removed site's deletion — and
// the engine that plans and applies it over in.Store's inventory, its
// progress reported to hook (nil: none).
func Prepare(ctx context.Context, in Input, hook reconcile.Hook) (*reconcile.Engine, *reconcile.Desired, error) {
	code, err := resolveCode(ctx, in.Resolved, in.Code)
	if err != nil {
		return nil, nil, err
	}
	held, holdWarnings, err := applyHolds(ctx, in.Store, in.Resolved) // holds.go
	if err != nil {
		return nil, nil, err
	}
	res, isolation := isolate(held) // users.go
	inv := StoreInventory(in.Store)
	recs, err := inv.Records(ctx, res.Environment)
	if err != nil {
		return nil, nil, fmt.Errorf("read the inventory of %s: %w", res.Environment, err)
	}
	moves, err := findMoves(ctx, res, recs, in.StateDir, in.Hosts) // migrate.go
	if err != nil {
		return nil, nil, err
	}
	dbMoves, err := findDBMoves(ctx, res, recs, in.StateDir, in.Hosts, moves) // migrate_db.go
	if err != nil {
		return nil, nil, err
	}
	now := in.Now
	if now == nil {
		now = time.Now
	}
	res = keepOldNames(widenGrants(res, moves), moves, now())
	certs, _, err := certsOf(ctx, in.Store, res)
	if err != nil {
		return nil, nil, err
	}
	d, err := buildDesired(res, in.Revision, in.Repo, in.StateDir, code, certs)
	if err != nil {
		return nil, nil, err
	}
	d.Warnings = append(append(d.Warnings, holdWarnings...), isolation...)
	if note := dataFromNote(ctx, res, in.Store, now()); note != "" { // datafrom.go
		d.Warnings = append(d.Warnings, note)
	}
	addCertificates(d, res, in.StateDir, in.Store, in.Hosts, in.ACME)
	if err := addDatabases(ctx, d, res, in.StateDir, in.Store); err != nil {
		return nil, nil, err
	}
	// A site whose database moves keeps its settings at the source's
	// until the step switches them (migrate_db.go).
	if err := preSwitchSettings(ctx, d, res, dbMoves, in.StateDir, in.Store); err != nil {
		return nil, nil, err
	}
	backups := &backup.Backups{Hosts: in.Hosts, Version: in.Version}
	addInstalls(d, res, in.StateDir, in.Store, moving(res, moves))
	updates := addUpdates(d, res, in.StateDir, in.Revision, backups, moving(res, moves))                                           // update.go
	if err := addClones(d, res, in.StateDir, in.Revision, in.Repo, backups, in.DataConsent, moving(res, moves), now); err != nil { // clone.go
		return nil, nil, err
	}
	// The zones and load balancers point a moving site at its source
	// until its switch, which the step does (migrate_switch.go).
	view, switches := switchView(res, moves, now())
	if err := addZones(ctx, d, view, in.StateDir, in.Store); err != nil {
		return nil, nil, err
	}
	if err := addFileSharing(d, res, in.StateDir, in.Hosts); err != nil { // filesync.go
		return nil, nil, err
	}
	if err := addLoadBalancers(d, view, in.StateDir, in.Hosts, certs); err != nil {
		return nil, nil, err
	}
	if err := addSwitches(ctx, d, res, moves, switches, in.StateDir, in.Store, in.Hosts, inv, in.Revision, certs, now()); err != nil {
		return nil, nil, err
	}
	d.BeforeDelete = deletionBackups(backups, res, in.Revision, in.StateDir)
	if err := addMigrations(d, res, moves, updates, recs, in.StateDir, in.Revision, in.Hosts, backups, now); err != nil { // migrate.go
		return nil, nil, err
	}
	if err := addDBMigrations(d, res, dbMoves, in.StateDir, in.Revision, in.Hosts, inv, backups, now); err != nil { // migrate_db.go
		return nil, nil, err
	}
	e := &reconcile.Engine{Hosts: in.Hosts, Inventory: inv, Hook: hook}
	return e, d, nil
}
