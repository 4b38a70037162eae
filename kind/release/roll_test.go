package release

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// rollWorld is platform app on fake servers web1..web3 behind load
// balancer lb1, with one log of what the releases' scripts, the load
// balancer (a fake Rotation) and the health checks did, in order.
type rollWorld struct {
	t     *testing.T
	env   *releaseEnv
	hosts reconciletest.Hosts
	mu    sync.Mutex
	log   []string
	// refuse names the server whose drain the load balancer refuses;
	// sick the server whose health check fails.
	refuse, sick string
}

func newRollWorld(t *testing.T) *rollWorld {
	w := &rollWorld{t: t, hosts: reconciletest.Hosts{"lb1": hosttest.New("lb1")}}
	for _, sn := range []string{"web1", "web2", "web3"} {
		f := hosttest.New(sn)
		newFakeShell(f).log = w.event
		if err := f.MkdirAll(context.Background(), "/srv/"+sn+"/app", 0o755); err != nil {
			t.Fatal(err)
		}
		w.hosts[sn] = f
	}
	w.env = newReleaseEnv(t, w.hosts, "/srv")
	return w
}

func (w *rollWorld) event(e string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.log = append(w.log, e)
}

// take returns the log so far and empties it.
func (w *rollWorld) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.log
	w.log = nil
	return l
}

func (w *rollWorld) Drain(_ context.Context, h host.Host, node string) error {
	if h != w.hosts["lb1"] {
		return errors.New("drained on another host than the load balancer")
	}
	if node == w.refuse {
		w.event("lb1: drain " + node + " refused")
		return errors.New("nginx: [emerg] refused")
	}
	w.event("lb1: drain " + node)
	return nil
}

func (w *rollWorld) Undrain(_ context.Context, _ host.Host, node string) error {
	w.event("lb1: undrain " + node)
	return nil
}

func (w *rollWorld) Settle(context.Context, host.Host) error {
	w.event("lb1: settle")
	return nil
}

func (w *rollWorld) health(_ context.Context, address, domain, path string, _ int) error {
	w.event(address + ": health " + domain + path)
	if address == w.sick {
		return fmt.Errorf("http://%s%s answered 500 Internal Server Error, want 2xx or 3xx", domain, path)
	}
	return nil
}

// desired is the platform at content v on the three servers, rolled.
func (w *rollWorld) desired(v string) (*reconcile.Desired, string) {
	d := w.env.desired(map[string]string{"index.php": "<?php echo '" + v + "';\n"}, 3, nil, "web1", "web2", "web3")
	var nodes []RollNode
	for _, r := range d.Resources {
		rel := r.(*Release)
		rel.MarkRolled()
		nodes = append(nodes, RollNode{Release: rel, Address: rel.Server()})
	}
	d.Resources = append(d.Resources, NewRoll(RollSpec{ID: "platform/app/roll@lb1", Server: "lb1", Platform: "app",
		Nodes: nodes, Probes: []Probe{{Domain: "a.example.com", Path: "/"}}, LB: w, Health: w.health, Hosts: w.hosts}))
	return d, nodes[0].Release.buildID
}

func (w *rollWorld) current(server string) string {
	obs, err := w.hosts[server].Observe(context.Background(), []string{w.env.current(server)})
	if err != nil {
		w.t.Fatal(err)
	}
	return obs[0].LinkTarget
}

// steps is the log of rolling build id over servers, in order.
func steps(id string, servers ...string) []string {
	var out []string
	for _, s := range servers {
		out = append(out, "lb1: drain "+s, s+": switch builds/"+id, s+": health a.example.com/", "lb1: undrain "+s, "lb1: settle")
	}
	return out
}

// shipsFirst checks that log starts with the build's ship to every
// server (in any order) and returns the rest.
func shipsFirst(t *testing.T, log []string, id string) []string {
	t.Helper()
	if len(log) < 3 {
		t.Fatalf("log %q: want the three ships first", log)
	}
	ships := slices.Sorted(slices.Values(log[:3]))
	if want := []string{"web1: ship " + id, "web2: ship " + id, "web3: ship " + id}; !slices.Equal(ships, want) {
		t.Fatalf("log starts with %q, want the build shipped to every server before any switch", log[:3])
	}
	return log[3:]
}

// The roll's timeline: a first deploy switches every server at once
// (nothing of the platform is served yet); a new build is shipped to
// every server, then switched one server at a time (drain, switch,
// health, undrain), and applying again runs nothing.
func TestRollOrder(t *testing.T) {
	w := newRollWorld(t)
	d1, _ := w.desired("one")
	p := w.env.apply(d1)
	if got, want := reconciletest.Actions(p), "+platform/app/release@web1 +platform/app/release@web2 +platform/app/release@web3"; got != want {
		t.Fatalf("first plan %s, want %s", got, want)
	}
	if got := w.take(); len(got) != 6 || slices.ContainsFunc(got, func(e string) bool { return strings.HasPrefix(e, "lb1:") }) {
		t.Errorf("first deploy: %q, want three ships and switches and nothing on the load balancer", got)
	}

	d2, two := w.desired("two")
	p = w.env.plan(d2)
	if got, want := reconciletest.Actions(p), "~platform/app/roll@lb1 ~platform/app/release@web1 ~platform/app/release@web2 ~platform/app/release@web3"; got != want {
		t.Fatalf("plan of a new build %s, want %s", got, want)
	}
	if want := "roll release " + two + " over web1, web2, web3 (drain → switch → health → undrain)"; p.Changes[0].Reason != want {
		t.Errorf("the roll's reason is %q, want %q", p.Changes[0].Reason, want)
	}
	if _, err := w.env.engine.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if got, want := shipsFirst(t, w.take(), two), steps(two, "web1", "web2", "web3"); !slices.Equal(got, want) {
		t.Errorf("the roll did\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for _, sn := range []string{"web1", "web2", "web3"} {
		if got := w.current(sn); got != "builds/"+two {
			t.Errorf("%s: current -> %s, want builds/%s", sn, got, two)
		}
	}
	if p := w.env.apply(d2); !p.Empty() {
		t.Fatalf("plan after the roll: %s", reconciletest.Actions(p))
	}
	if got := w.take(); len(got) != 0 {
		t.Errorf("applying again did %q", got)
	}
}

// A roll that stops: a failed health check switches the server back and
// puts it back into the load balancer; a drain the load balancer refuses
// switches nothing. Either way the servers after it are not switched, the
// change fails saying why, and the next run rolls the servers that are
// left, not those already switched.
func TestRollStops(t *testing.T) {
	for _, tc := range []struct {
		name, sick, refuse string
		want               func(one, two string) []string
		why                string
	}{
		{name: "health check fails", sick: "web2",
			want: func(one, two string) []string {
				return append(steps(two, "web1"), "lb1: drain web2", "web2: switch builds/"+two, "web2: health a.example.com/",
					"web2: switch builds/"+one, "lb1: undrain web2", "lb1: settle")
			},
			why: "web2: http://a.example.com/ answered 500 Internal Server Error, want 2xx or 3xx after switching to release %[2]s: rolled back; web3 stays on release %[1]s"},
		{name: "drain refused", refuse: "web2",
			want: func(one, two string) []string { return append(steps(two, "web1"), "lb1: drain web2 refused") },
			why:  "web2: drain it from the load balancer (not switched): nginx: [emerg] refused; web3 stays on release %[1]s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newRollWorld(t)
			d1, one := w.desired("one")
			w.env.apply(d1)
			w.take()
			w.sick, w.refuse = tc.sick, tc.refuse
			d2, two := w.desired("two")
			res, err := w.env.engine.Apply(context.Background(), w.env.plan(d2))
			why := fmt.Sprintf(tc.why, one, two)
			if err == nil || res.Failed != 1 || !strings.Contains(err.Error(), why) {
				t.Fatalf("apply: %v (failed %d), want the roll failed with %q", err, res.Failed, why)
			}
			if got, want := shipsFirst(t, w.take(), two), tc.want(one, two); !slices.Equal(got, want) {
				t.Errorf("the roll did\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			for sn, want := range map[string]string{"web1": two, "web2": one, "web3": one} {
				if got := w.current(sn); got != "builds/"+want {
					t.Errorf("%s: current -> %s, want builds/%s", sn, got, want)
				}
			}

			// The next run rolls what is left.
			w.sick, w.refuse = "", ""
			p := w.env.plan(d2)
			if got, want := reconciletest.Actions(p), "~platform/app/roll@lb1 ~platform/app/release@web2 ~platform/app/release@web3"; got != want {
				t.Fatalf("next plan %s, want %s", got, want)
			}
			if _, err := w.env.engine.Apply(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			if got, want := w.take(), steps(two, "web2", "web3"); !slices.Equal(got, want) {
				t.Errorf("the next run did\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			if p := w.env.plan(d2); !p.Empty() {
				t.Errorf("plan after the finished roll: %s", reconciletest.Actions(p))
			}
		})
	}
}

// A release that is not rolled keeps today's switch; a rolled one with no
// current yet is switched at once; one shipped but held is a change that
// ships nothing more.
func TestRolledReleaseCheck(t *testing.T) {
	w := newRollWorld(t)
	d1, one := w.desired("one")
	w.env.apply(d1)
	w.take()
	d2, two := w.desired("two")
	p := w.env.plan(d2)
	for _, c := range p.Changes[1:] {
		if !strings.Contains(c.Reason, "is shipped; current switches from builds/"+one+" in the roll") {
			t.Errorf("%s: reason %q", c.ID, c.Reason)
		}
	}
	// Ship without the roll: the releases alone.
	d := &reconcile.Desired{Env: d2.Env, Revision: d2.Revision, MaxDeletions: 5, Service: d2.Service, Resources: d2.Resources[:3]}
	if _, err := w.env.engine.Apply(context.Background(), w.env.plan(d)); err != nil {
		t.Fatal(err)
	}
	if got := shipsFirst(t, w.take(), two); len(got) != 0 {
		t.Errorf("rolled releases without their roll switched: %q", got)
	}
	p = w.env.plan(d)
	for _, c := range p.Changes {
		if !strings.Contains(c.Reason, "build "+two+" is on the server; current switches from builds/"+one) {
			t.Errorf("%s held and shipped: reason %q", c.ID, c.Reason)
		}
	}
	if _, err := w.env.engine.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if got := w.take(); len(got) != 0 {
		t.Errorf("a shipped held release did %q again", got)
	}
}
