package release

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/internal/failpoint"
	"github.com/berthhq/berth/reconcile"
)

// KindRoll is the roll of a platform's new build over its web servers
// behind a load balancer, one server at a time.
const KindRoll = "release-roll"

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindRoll, Prune: func(rec reconcile.Record) reconcile.Resource {
		return &Roll{Base: reconcile.PrunedBase(KindRoll, rec)}
	}})
}

// Rotation is a platform's load balancer as a roll takes its web servers
// out and puts them back. Each method runs on the load balancer's host h
// (the roll's server); each write is checked by the load balancer and
// reloaded, and one it refuses is put back before the error returns.
type Rotation interface {
	// Drain makes the load balancer send node no new request.
	Drain(ctx context.Context, h host.Host, node string) error
	// Undrain puts node back: every web server of the platform in. The
	// file then differs from the desired one (by a comment), so that a run
	// cut off before the reload took effect is seen by the next one,
	// which writes and reloads it again.
	Undrain(ctx context.Context, h host.Host, node string) error
	// Settle writes the desired file, the configuration the load
	// balancer runs since the last Undrain: nothing is reloaded.
	Settle(ctx context.Context, h host.Host) error
}

// HealthCheck asks a site on one web server over HTTP: GET path with Host
// set to domain, sent to address (host:port of the server's sites). It
// returns an error saying what answered when the status is not status
// (any 2xx or 3xx when 0).
type HealthCheck func(ctx context.Context, address, domain, path string, status int) error

// Probe is one site a roll checks on each web server after switching it.
type Probe struct {
	Domain, Path string
	Status       int // 0: any 2xx or 3xx
}

// RollNode is one web server of a roll: the platform's release on it and
// where its sites answer.
type RollNode struct {
	Release *Release
	Address string
}

// RollSpec describes the roll of one platform.
type RollSpec struct {
	// Server is the load balancer: the roll's changes of its
	// configuration run there.
	ID, Server, Platform string
	// Nodes are the web servers in the order the roll takes them.
	Nodes  []RollNode
	Probes []Probe
	LB     Rotation
	Health HealthCheck
	// Hosts reaches the web servers.
	Hosts reconcile.Hosts
	Deps  []string
}

// Roll switches a platform's `current` to a new build on its web servers
// behind a load balancer one server at a time, so that the load balancer
// always has servers that answer:
//
//  1. every server's Release (Rolled) ships the build first: the roll
//     depends on them, and on the sites' vhosts, so it starts only once
//     every server holds the build and reloaded its configuration (it is
//     an after-reload change of the load balancer, which runs once every
//     server of the run finished its reloads);
//  2. then, for each server whose release the plan holds back, in order:
//     the load balancer drains it (its configuration with the server
//     marked down, checked and reloaded), current switches (ln -s + mv
//     -T: atomic), every site of the platform is health-checked on the
//     server directly (its Host, its health path and status), and the
//     load balancer takes it back;
//  3. a server whose health check fails stops the roll: its current
//     switches back to the build it had, it is taken back into the load
//     balancer, the servers after it are not switched, and the change
//     fails saying which site answered what, and which servers stay on
//     which build.
//
// PHP needs no reload: its document root is nginx's $realpath_root, so the
// next request after the switch runs the new build's files (render's doc).
//
// Crash consistency: each server is on its old or its new build (the
// switch is one rename); a run cut off mid-roll leaves the releases not
// yet switched held back, and the next run's roll takes them. A load
// balancer file the roll left drained, or put back without its reload
// known done, differs from the desired one, so the next run's lb-config
// change writes and reloads it (see Rotation.Undrain).
//
// The roll is a Follower: it observes nothing itself; the plan's changes
// of its releases say which servers it switches (Follow).
type Roll struct {
	reconcile.Base
	platform string
	nodes    []RollNode
	probes   []Probe
	lb       Rotation
	health   HealthCheck
	hosts    reconcile.Hosts
}

// NewRoll returns the roll of a platform; it depends on its releases.
func NewRoll(s RollSpec) *Roll {
	deps := slices.Clone(s.Deps)
	for _, n := range s.Nodes {
		deps = append(deps, n.Release.ID())
	}
	return &Roll{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindRoll, ID: s.ID, Server: s.Server, Deps: deps}),
		platform: s.Platform, nodes: s.Nodes, probes: s.Probes, lb: s.LB, health: s.Health, hosts: s.Hosts}
}

// AfterReload: the roll runs once every server finished its reloads
// (reconcile's afterReloader).
func (r *Roll) AfterReload() bool { return !r.Absent() }

func (r *Roll) Observe() []string { return nil }

func (r *Roll) Check(ctx context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	if r.Absent() {
		c := r.NewChange(reconcile.Delete, "the platform no longer rolls over a load balancer: nothing on the server to remove; forgotten")
		return c, nil
	}
	return r.NewChange(reconcile.None, ""), nil
}

// finishTimeout bounds what a roll does to put a server back (switch it
// back, undrain it) once the run was cancelled.
const finishTimeout = 2 * time.Minute

// rollStep is one server the roll switches.
type rollStep struct {
	node     RollNode
	from, to string // link targets: builds/<id>
}

// rollPlan is what a roll's change carries to Apply (Change.Found).
type rollPlan struct {
	steps []rollStep
}

// Follow makes the roll's change from its releases' changes: the servers
// whose release is held back for the roll (shipped by it, current still
// on another build), in the roll's order.
func (r *Roll) Follow(_ context.Context, own reconcile.Change, deps map[string]*reconcile.Change) (reconcile.Change, error) {
	if r.Absent() {
		return own, nil
	}
	var p rollPlan
	var build string
	for _, n := range r.nodes {
		c := deps[n.Release.ID()]
		if c == nil || c.Action != reconcile.Update {
			continue
		}
		pr, _ := c.Found.(*prior)
		if pr == nil || !pr.held {
			continue
		}
		build = n.Release.buildID
		p.steps = append(p.steps, rollStep{node: n, from: pr.obs.LinkTarget, to: n.Release.linkTarget(n.Release.buildID)})
	}
	if len(p.steps) == 0 {
		return r.NewChange(reconcile.None, ""), nil
	}
	var names []string
	var diff strings.Builder
	for _, s := range p.steps {
		names = append(names, s.node.Release.Server())
		fmt.Fprintf(&diff, "  %s: drain; %s -> %s (was %s); health of %s; undrain\n", s.node.Release.Server(), s.node.Release.current(), s.to, s.from, r.probeNames())
	}
	c := r.NewChange(reconcile.Update, fmt.Sprintf("roll release %s over %s (drain → switch → health → undrain)", build, strings.Join(names, ", ")))
	c.Diff = diff.String()
	c.Found = &p
	return c, nil
}

func (r *Roll) probeNames() string {
	var s []string
	for _, p := range r.probes {
		s = append(s, p.Domain+p.Path)
	}
	if len(s) == 0 {
		return "no site"
	}
	return strings.Join(s, ", ")
}

// Apply rolls the build over the servers of the plan, one at a time (see
// Roll). h is the load balancer's host.
func (r *Roll) Apply(ctx context.Context, h host.Host, c *reconcile.Change) error {
	if c.Action == reconcile.Delete {
		return nil
	}
	p, _ := c.Found.(*rollPlan)
	if p == nil {
		return fmt.Errorf("roll of platform %s: its plan was not recorded", r.platform)
	}
	var rolled []string
	for i, s := range p.steps {
		err := ctx.Err()
		if err != nil {
			err = fmt.Errorf("%s: not switched: the run was cancelled: %w", s.node.Release.Server(), err)
		} else {
			err = r.step(ctx, h, s)
		}
		if err != nil {
			if stay := staying(p.steps[i+1:]); stay != "" {
				err = fmt.Errorf("%w; %s", err, stay)
			}
			return err
		}
		rolled = append(rolled, s.node.Release.Server())
	}
	// The load balancer was reloaded twice per server (Result.Reloads).
	c.Reloaded = append(c.Reloaded, fmt.Sprintf("lb (roll of platform %s over %s)", r.platform, strings.Join(rolled, ", ")))
	return nil
}

// staying says which servers stay on which release when a roll stops
// before them: "web2, web3 stay on release X".
func staying(steps []rollStep) string {
	var builds []string
	servers := map[string][]string{}
	for _, s := range steps {
		b := path.Base(s.from)
		if servers[b] == nil {
			builds = append(builds, b)
		}
		servers[b] = append(servers[b], s.node.Release.Server())
	}
	var out []string
	for _, b := range builds {
		verb := "stays"
		if len(servers[b]) > 1 {
			verb = "stay"
		}
		out = append(out, fmt.Sprintf("%s %s on release %s", strings.Join(servers[b], ", "), verb, b))
	}
	return strings.Join(out, "; ")
}

// step rolls one server: drain, switch, health, undrain; on a failed
// health check, switch back and undrain.
func (r *Roll) step(ctx context.Context, lb host.Host, s rollStep) error {
	rel := s.node.Release
	node := rel.Server()
	nh, err := r.hosts.Host(ctx, node)
	if err != nil {
		return fmt.Errorf("%s: connect (not drained, not switched): %w", node, err)
	}
	if err := r.lb.Drain(ctx, lb, node); err != nil {
		return fmt.Errorf("%s: drain it from the load balancer (not switched): %w", node, err)
	}
	// From here on, whatever happens, the server goes back in: switched,
	// or on its old build again, even when the run is cancelled (fin).
	fin, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	undrain := func(cause error) error {
		err := r.lb.Undrain(fin, lb, node)
		if err == nil {
			err = r.lb.Settle(fin, lb)
		}
		switch {
		case err != nil && cause != nil:
			return fmt.Errorf("%w; and putting it back into the load balancer failed (the next run does): %v", cause, err)
		case err != nil:
			return fmt.Errorf("%s: switched to release %s and healthy, but putting it back into the load balancer failed (the next run does): %w", node, rel.buildID, err)
		}
		return cause
	}
	if _, err := run(ctx, nh, "sh", "-c", switchScript, "sh", rel.current(), s.to, rel.marker(rel.buildID), ""); err != nil {
		return undrain(fmt.Errorf("%s: switch %s to %s (the old build stays live): %w", node, rel.current(), s.to, err))
	}
	failpoint.Hit("mid-roll") // drained and switched, not yet checked
	if err := r.healthy(ctx, s.node); err != nil {
		back := "rolled back"
		if _, berr := run(fin, nh, "sh", "-c", switchScript, "sh", rel.current(), s.from, path.Join(path.Dir(rel.current()), s.from, BuildMarker), ""); berr != nil {
			back = fmt.Sprintf("and switching it back to %s failed: %v", s.from, berr)
		}
		return undrain(fmt.Errorf("%s: %w after switching to release %s: %s", node, err, rel.buildID, back))
	}
	if err := undrain(nil); err != nil {
		return err
	}
	// The old build stays among the keep newest: it went live last.
	if err := rel.prune(ctx, nh, rel.keep, rel.buildID); err != nil {
		return fmt.Errorf("%s: %w", node, err)
	}
	return nil
}

// healthy checks every site of the platform on the server.
func (r *Roll) healthy(ctx context.Context, n RollNode) error {
	var errs []string
	for _, p := range r.probes {
		if err := r.health(ctx, n.Address, p.Domain, p.Path, p.Status); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func (r *Roll) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }

func (r *Roll) Record() reconcile.Record { return r.NewRecord() }
