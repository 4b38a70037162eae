package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"sync"

	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
	berthrun "github.com/berthhq/berth/run"
	"github.com/berthhq/berth/spec"
)

// warmState is the desired state of the revision an environment last
// built, kept in memory (never on disk: it holds the revision's secrets)
// so that a drift check or a poll of the same revision observes the hosts
// and compares without loading, validating or rendering the repo again.
//
// It is reused only while everything it was built from is unchanged:
//   - the revision (a new one builds anew; a revision that fails to load
//     or build drops it);
//   - berth's version, state directory, hosts and git platform resolver:
//     fixed for the daemon's life, which is the cache's;
//   - the certificates it serves: those the store holds must be the same
//     (run.Prepared.Current), or a site whose certificate a run issued
//     would be planned back to plain HTTP;
//   - the secrets it holds (database passwords, salts): the store's
//     SecretsStamp, taken after the build, must be the same (nothing else
//     can write the store while berth serve holds its lock; a restored
//     state directory means a restarted daemon, whose cache is empty);
//   - no migration: where one stands is read from the hosts when
//     building (desired's findMoves), so a revision with migrations
//     builds anew each run;
//   - the code of its git platforms: each reuse resolves them again (a
//     platform following a branch moves without a commit to the sites
//     repo) and builds anew, with the code just resolved, when one moved.
//
// What the engine reads per plan is not part of it and stays fresh: the
// hosts (observed every run; the local host's file hashes are reused only
// while a file shows no change, see local.HashCache), the inventory (kept
// in memory while the store shows no write since, see
// desired.CachedInventory) and the pending reloads. A manual trigger
// always builds anew. Resources can be reused because
// neither Check nor the engine changes them (see reconcile).
type warmState struct {
	rev      string
	res      *spec.Resolved
	prepared *berthrun.Prepared
	hosts    *hostSlot
	secrets  string
	code     map[string]string // git platform -> commit it was built with
}

// hostSlot is the Hosts a kept desired state was built with (its engine's
// and its deletion backups'): each run plugs its own connections in and
// unplugs them when it ends.
type hostSlot struct {
	mu    sync.Mutex
	hosts reconcile.Hosts
}

var errNoRun = errors.New("no run in progress holds connections to the servers")

func (s *hostSlot) Host(ctx context.Context, server string) (host.Host, error) {
	s.mu.Lock()
	h := s.hosts
	s.mu.Unlock()
	if h == nil {
		return nil, fmt.Errorf("server %s: %w", server, errNoRun)
	}
	return h.Host(ctx, server)
}

func (s *hostSlot) set(h reconcile.Hosts) {
	s.mu.Lock()
	s.hosts = h
	s.mu.Unlock()
}

// connect plugs fresh connections to the servers of res into slot; the
// returned func unplugs and closes them.
func (d *Daemon) connect(slot *hostSlot, res *spec.Resolved) func() {
	hosts, closeHosts := d.cfg.Hosts(res)
	slot.set(hosts)
	return func() {
		slot.set(nil)
		closeHosts()
	}
}

// resolvedCode is a git platform's code already resolved.
type resolvedCode struct {
	rev  string
	tree fs.FS
}

// recordingCode resolves git platforms through code, except those in
// given (resolved just before, while checking a kept state), and records
// the commit each one resolved to.
type recordingCode struct {
	code  desired.Code
	given map[string]resolvedCode
	mu    sync.Mutex
	revs  map[string]string
}

func (c *recordingCode) Resolve(ctx context.Context, pl spec.ResolvedPlatform) (string, fs.FS, error) {
	rev, tree := c.given[pl.Name].rev, c.given[pl.Name].tree
	if rev == "" {
		var err error
		if rev, tree, err = c.code.Resolve(ctx, pl); err != nil {
			return "", nil, err
		}
	}
	c.mu.Lock()
	c.revs[pl.Name] = rev
	c.mu.Unlock()
	return rev, tree, nil
}

// build builds the desired state of rev (fsys, resolved as res) through
// run.Prepare, as berth plan and apply do, and returns it as the state to
// keep; given holds git platforms' code already resolved.
func (w *envWorker) build(ctx context.Context, rev string, fsys fs.FS, res *spec.Resolved, given map[string]resolvedCode) (*warmState, error) {
	d := w.d
	ws := &warmState{rev: rev, res: res, hosts: &hostSlot{}}
	var code desired.Code
	rc := &recordingCode{given: given, revs: map[string]string{}}
	if d.cfg.Code != nil {
		rc.code = d.cfg.Code()
		code = rc
	}
	// The engine and the deletion backups keep the slot, which each run
	// plugs its connections into; the build itself reads the hosts only
	// for what the revision alone does not say — where a site's migration
	// stands (its markers on the servers it leaves) — through connections
	// of its own, closed when it is built. A build without them would
	// take a migrating site's source for a server the site just left and
	// prune it.
	defer d.connect(ws.hosts, res)()
	p, err := berthrun.Prepare(ctx, berthrun.Input{Input: desired.Input{Resolved: res, Revision: rev, Repo: fsys, StateDir: d.cfg.StateDir,
		Store: d.cfg.Store, Code: code, Hosts: ws.hosts, Version: d.cfg.Version, DataConsent: d.dataConsent()}, TLS: d.cfg.TLS})
	if err != nil {
		return nil, err
	}
	if ws.secrets, err = d.cfg.Store.SecretsStamp(ctx); err != nil {
		return nil, err
	}
	// Drift checks of this revision plan against the inventory kept in
	// memory until a run writes it.
	p.Engine.Inventory = desired.CachedInventory(d.cfg.Store)
	ws.prepared, ws.code = p, maps.Clone(rc.revs)
	return ws, nil
}

// reusable says whether the kept state ws still holds what a build of rev
// would: same revision, same secrets, same code of its git platforms.
// When a git platform moved it returns false with the code it resolved,
// for the build to use. An error (the store or a git platform could not
// be read) makes the caller build anew, which reports it.
func (w *envWorker) reusable(ctx context.Context, ws *warmState, rev string) (bool, map[string]resolvedCode) {
	if ws == nil || ws.rev != rev {
		return false, nil
	}
	if ws.prepared != nil && ws.prepared.Desired != nil && len(ws.prepared.Desired.Migrations) > 0 {
		// A move's state is read from its source at each build (started,
		// switched, its grace period over): a kept desired state would
		// point its DNS and load balancers back at the source after the
		// switch.
		return false, nil
	}
	if stamp, err := w.d.cfg.Store.SecretsStamp(ctx); err != nil || stamp != ws.secrets {
		return false, nil
	}
	if ok, err := ws.prepared.Current(ctx); err != nil || !ok {
		return false, nil // a certificate was issued: its site is served over HTTPS now
	}
	if w.d.cfg.Code == nil {
		return true, nil
	}
	code := w.d.cfg.Code()
	fresh := map[string]resolvedCode{}
	same := true
	for _, pl := range ws.res.Platforms {
		if pl.Source.Git == "" {
			continue
		}
		r, tree, err := code.Resolve(ctx, pl)
		if err != nil {
			return false, nil
		}
		fresh[pl.Name] = resolvedCode{rev: r, tree: tree}
		same = same && ws.code[pl.Name] == r
	}
	if !same {
		return false, fresh
	}
	return true, nil
}

// runOf returns a copy of ws's prepared state for one run: its own engine
// reporting to hook, over the kept desired state.
func (ws *warmState) runOf(hook reconcile.Hook) *berthrun.Prepared {
	p := *ws.prepared
	e := *p.Engine
	e.Hook = hook
	p.Engine = &e
	return &p
}
